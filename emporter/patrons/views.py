from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views import i18n
from django.views.decorators.debug import sensitive_post_parameters

from emporter.api import tokens
from emporter.api.tokens import apps_of
from emporter.curbside.selectors import bags_of
from emporter.desk.selectors import (
    RETURNED_SHOWN,
    history_rules,
    loans_of_each,
    returned_loans_count,
    returned_loans_of,
)
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.errors import ServiceError
from emporter.holds.selectors import active_requests_of_each, card_refusal, requests_of
from emporter.holds.services import pickup_changeable
from emporter.http import post_only, safe_next
from emporter.inputs import parse_id, typed
from emporter.network.models import Branch
from emporter.notices.selectors import can_be_told, refused_address
from emporter.privacy import services as privacy

from . import services, throttle
from .backends import client_address
from .context_processors import staff_menu
from .forms import ChangePinForm, PatronLoginForm, StaffLoginForm
from .models import LoanHistory, NoticeChannel, Patron
from .selectors import current_patron, signed_in_patron


def _next_url(request, default="patrons:account"):
    return safe_next(request, request.POST.get("next") or request.GET.get("next")) or default


@sensitive_post_parameters("pin")
def patron_login(request):
    form = PatronLoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        card = form.cleaned_data["card_number"]
        try:
            patron = services.authenticate_patron(
                request=request, card_number=card, pin=form.cleaned_data["pin"], known_browsers=True
            )
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            login(request, patron.user, backend="emporter.patrons.backends.SignInBackend")
            response = redirect(_next_url(request))
            # This browser is the card's from now on: a lock from anywhere will not hold against it.
            throttle.remember_card(request, response, card, patron.user.password)
            return response
    return render(request, "patrons/login.html", {"form": form, "next": _next_url(request, "")})


@post_only
def patron_logout(request):
    logout(request)
    # Said: on a shared computer, the next person must not wonder whose account is open.
    messages.success(request, _("You are signed out."))
    return redirect("home")


@post_only
def set_language(request):
    """Django's language switch; for a signed-in patron, also the language of their
    emails (their notices are written in ``Patron.language``), as they would expect
    after choosing it."""
    # Django turns "next" into the chosen language's address by resolving it in the
    # language active here, which for this unprefixed URL is French: "/en/account/"
    # did not resolve, and English patrons could not come back to French. It is
    # resolved in the language of its own prefix instead.
    path = urlsplit(request.POST.get("next", "")).path
    with translation.override(translation.get_language_from_path(path) or settings.LANGUAGE_CODE):
        response = i18n.set_language(request)
    patron = current_patron(request)
    if patron is not None:
        services.set_language(patron=patron, language=typed(request.POST.get("language"), max_length=10))
    return response


@login_required
def account(request):
    patron = current_patron(request)
    if patron is None:
        return redirect("home")
    # The children in the patron's care, with their requests under way (a surprise bag asked
    # for a child lands there: the guardian must see it, and may cancel).
    kids = list(Patron.objects.filter(guardian=patron).order_by("first_name", "pk"))
    kids_requests = active_requests_of_each(kids)
    children = [(child, kids_requests[child.pk]) for child in kids]
    # And their loans, to see when they are due and renew them (Koha shows a guarantor
    # their guarantees' checkouts): the child's own card is what is checked on renewing.
    loans = loans_of_each([patron, *kids])  # theirs and the children's, in one query
    children_loans = [(child, loans[child.pk], card_refusal(child, theirs=True)) for child in kids]
    own = requests_of(patron)
    for r in [*own, *(r for child_requests in dict(children).values() for r in child_requests)]:
        # Until a document leaves its shelf, it may be collected at another library.
        r.pickup_changeable = pickup_changeable(r)
    default_days, by_type = history_rules()  # how long the library's rules keep a loan
    returned = returned_loans_of(patron)
    context = {
        "patron": patron,
        # Ready bags first: when to come, and "I'm here" at the door.
        "bags": bags_of([patron.pk, *(child.pk for child in kids)]),
        "requests": own,
        "loans": loans[patron.pk],
        "children": [(child, requests) for child, requests in children if requests],
        "children_loans": [entry for entry in children_loans if entry[1]],
        # Open surprise bags, theirs and the children's (one query): their places count
        # against the limit before a librarian composes them, so they are said here.
        "surprise_bags": list(
            SurpriseRequest.objects.filter(patron__in=[patron, *kids], status=SurpriseStatus.OPEN)
            .select_related("patron", "pickup_branch")
            .order_by("created_at", "pk")
        ),
        "pickup_branches": list(Branch.objects.accepting_requests()),
        "apps": list(apps_of(patron.user)),
        # Why the card can neither request nor renew: said once at the top of the account,
        # instead of renew buttons that would each be refused.
        "standing": card_refusal(patron),
        # No address for their notices: said here, where their requests say when they are ready.
        "can_be_told": can_be_told(patron),
        "refused_address": refused_address(patron),
        # How notices go now: by email for one who chose texts and has no mobile left.
        "told_by": NoticeChannel(patron.telling_channel).label,
        "history_days": settings.REQUEST_HISTORY_DAYS,
        "returned_loans": returned,
        # Counted only when the list is full: a long history is said, not cut silently.
        "returned_total": returned_loans_count(patron) if len(returned) == RETURNED_SHOWN else len(returned),
        "library_history_days": default_days,
        "library_history_by_type": by_type,
        "loan_history_choices": LoanHistory.choices,
    }
    return render(request, "patrons/account.html", context)


@login_required
@post_only
def sign_out_apps(request):
    """End the API tokens of the patron's card: one app, or every one."""
    patron = signed_in_patron(request)
    token_id = parse_id(request.POST.get("token"))
    if token_id is None and request.POST.get("all") != "1":
        return redirect(reverse("patrons:account") + "#apps")  # neither one nor all: nothing
    ended = tokens.sign_out_apps(user=patron.user, token_id=token_id)
    if ended:
        messages.success(
            request,
            ngettext("%(count)s app is signed out.", "%(count)s apps are signed out.", ended)
            % {"count": ended},
        )
    return redirect(reverse("patrons:account") + "#apps")


@login_required
@post_only
def loan_history(request):
    """The patron's choice for their returned loans (Koha's patron privacy): kept, the
    library's rules, or forgotten at return. Forgetting starts with what is kept now."""
    patron = signed_in_patron(request)
    choice = request.POST.get("loan_history")
    if choice not in LoanHistory.values:
        return redirect("patrons:account")
    privacy.choose_loan_history(patron=patron, choice=choice)
    messages.success(request, _("Your choice for your loan history is saved."))
    # The top of the page, where the message is: a sighted patron sees it.
    return redirect("patrons:account")


@sensitive_post_parameters("old_pin", "new_pin", "confirm_pin")
@login_required
def change_pin(request):
    patron = current_patron(request)
    if patron is None:
        return redirect("home")
    form = ChangePinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.change_pin(
                patron=patron,
                old_pin=form.cleaned_data["old_pin"],
                new_pin=form.cleaned_data["new_pin"],
                address=client_address(request),
                browser=throttle.known_card(request, patron.card_number, lambda: patron.user.password),
            )
        except ServiceError as error:
            form.add_error(None, error.message)
        else:
            login(request, patron.user, backend="emporter.patrons.backends.SignInBackend")
            messages.success(request, _("Your PIN has been changed."))
            response = redirect("patrons:account")
            # The new PIN ends every other browser's trust; this one, which knew the old, keeps it.
            throttle.remember_card(request, response, patron.card_number, patron.user.password)
            return response
    return render(request, "patrons/change_pin.html", {"form": form})


class StaffLoginView(LoginView):
    template_name = "patrons/staff_login.html"
    authentication_form = StaffLoginForm

    def form_valid(self, form):
        response = super().form_valid(form)
        # This browser is the name's from now on: a lock from anywhere will not hold against it.
        username = form.cleaned_data["username"]
        throttle.remember_name(self.request, response, username, form.get_user().password)
        return response

    def get_redirect_url(self):
        # Not a view that takes POST only: after a sign-in the browser would GET it.
        return safe_next(self.request, super().get_redirect_url())

    def get_default_redirect_url(self):
        # Without a "next", straight to the first screen of the menu (a picker's pick
        # lists, a door librarian's door) rather than the patrons' home page; a manager
        # or an administrator to the service's figures (today's workload, what is late).
        screens = [url for url, _label in staff_menu(self.request)["staff_menu"]]
        stats = reverse("stats:dashboard")
        if stats in screens:
            return stats
        return screens[0] if screens else super().get_default_redirect_url()
