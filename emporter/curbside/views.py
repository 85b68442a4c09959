"""The patron's side: choose a time to collect a bag, give it up, say "I'm here"."""

import datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from emporter.dates import long_date
from emporter.errors import ServiceError
from emporter.holds.models import Bag, Status
from emporter.http import post_only
from emporter.network.models import LENDING_MODES
from emporter.patrons.models import of_household
from emporter.patrons.selectors import signed_in_patron

from . import selectors, services
from .models import LIVE, Appointment


def _own_bag(request, bag_id: int) -> Bag:
    patron = signed_in_patron(request)
    return get_object_or_404(Bag.objects.select_related("branch", "patron"), of_household(patron), pk=bag_id)


def _when(starts_at: datetime.datetime) -> str:
    return long_date(starts_at, "l j F, H:i")


@login_required
def times(request, bag_id: int):
    bag = _own_bag(request, bag_id)
    if request.method == "POST":
        try:
            starts_at = datetime.datetime.fromisoformat(request.POST.get("starts_at", ""))
        except ValueError:
            messages.error(request, ServiceError("slot_unavailable").message)
            return redirect("curbside:times", bag.pk)
        if timezone.is_naive(starts_at):
            starts_at = timezone.make_aware(starts_at)
        try:
            services.book(bag=bag, starts_at=starts_at)
        except ServiceError as error:
            messages.error(request, error.message)
            return redirect("curbside:times", bag.pk)
        messages.success(
            request,
            _("Booked: %(when)s at %(branch)s. Your bag %(label)s will be ready at the door.")
            % {"when": _when(starts_at), "branch": bag.branch.name, "label": bag.label},
        )
        return redirect("patrons:account")
    if not bag.requests.filter(status=Status.READY).exists():
        # Collected, expired or cancelled since the email linking here was sent.
        return render(request, "curbside/times.html", {"bag": bag, "nothing_waits": True})
    if bag.branch.service_mode not in LENDING_MODES:
        # No time to book (services.book refuses), nor a deadline to meet: said as the
        # account page says it, the bag waiting there until the library reopens.
        return render(request, "curbside/times.html", {"bag": bag, "library_closed": True})
    live = Appointment.objects.filter(bag=bag, state__in=LIVE).select_related("slot").first()
    context = {"bag": bag, "days": selectors.available(bag=bag), "appointment": live}
    return render(request, "curbside/times.html", context)


@post_only
@login_required
def cancel(request, bag_id: int):
    bag = _own_bag(request, bag_id)
    live = Appointment.objects.filter(bag=bag, state__in=LIVE).first()
    if live is not None and services.cancel(appointment=live):
        messages.success(request, _("Your pickup time is cancelled: come whenever the library is open."))
    return redirect("patrons:account")


@post_only
@login_required
def here(request, bag_id: int):
    bag = _own_bag(request, bag_id)
    try:
        services.i_am_here(bag=bag)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("The door knows you are here: your bag %(label)s is on its way.") % {"label": bag.label},
        )
    return redirect("patrons:account")


@post_only
@login_required
def not_here(request, bag_id: int):
    bag = _own_bag(request, bag_id)
    if services.not_here(bag=bag):
        messages.success(request, _("The door no longer expects you: come back whenever you like."))
    return redirect("patrons:account")
