import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from emporter.catalogue.models import Record
from emporter.errors import ServiceError
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.views import current_patron

from . import basket, services
from .models import Channel, Request
from .selectors import active_count


def _pickup_branches():
    return Branch.objects.filter(service_mode=ServiceMode.CLICK_COLLECT)


@require_POST
def add_to_basket(request, record_id: int):
    record = get_object_or_404(Record, pk=record_id)
    if basket.add(request.session, record.pk):
        messages.success(request, _("“%(title)s” is in your basket.") % {"title": record.title})
    return redirect(request.POST.get("next") or "holds:basket")


@require_POST
def remove_from_basket(request, record_id: int):
    basket.remove(request.session, record_id)
    return redirect("holds:basket")


def show_basket(request):
    patron = current_patron(request)
    branches = _pickup_branches()
    default_branch = patron.home_branch_id if patron else None
    if default_branch not in {b.pk for b in branches}:
        default_branch = branches[0].pk if branches else None
    context = {
        "records": basket.records(request.session),
        "patron": patron,
        "branches": branches,
        "default_branch": default_branch,
        "active": active_count(patron) if patron else 0,
        # One key per rendering of the form: a double click submits it twice, the
        # second submission replays the first instead of placing anything again.
        "confirm_key": uuid.uuid4().hex,
    }
    return render(request, "holds/basket.html", context)


@login_required
@require_POST
def confirm_basket(request):
    patron = current_patron(request)
    if patron is None:
        raise Http404
    branch = get_object_or_404(_pickup_branches(), pk=request.POST.get("pickup_branch"))
    record_ids = [int(i) for i in request.POST.getlist("record") if i.isdigit()]
    outcomes = services.place_requests(
        patron=patron,
        record_ids=record_ids,
        pickup_branch=branch,
        channel=Channel.ONLINE,
        actor=request.user,
        idempotency_key=request.POST.get("confirm_key") or None,
    )
    basket.clear(request.session, [o.record_id for o in outcomes if o.ok])
    titles = Record.objects.in_bulk([o.record_id for o in outcomes])
    for outcome in outcomes:
        title = titles[outcome.record_id].title if outcome.record_id in titles else "?"
        if outcome.ok:
            messages.success(request, _("Requested: %(title)s") % {"title": title})
        else:
            messages.error(request, f"{title} — {outcome.error.message}")
    return redirect("patrons:account")


@login_required
@require_POST
def cancel(request, request_id: int):
    patron = current_patron(request)
    # Another patron's request is "not found", not "forbidden": its existence is private.
    hold = get_object_or_404(Request, pk=request_id, patron=patron)
    try:
        services.cancel_request(request=hold, actor=request.user)
    except ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, _("Your request for “%(title)s” is cancelled.") % {"title": hold.record.title}
        )
    return redirect("patrons:account")
