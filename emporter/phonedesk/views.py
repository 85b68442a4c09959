"""The phone desk: find the caller, fill this call's basket, confirm for them. Every form
works without JavaScript; phonedesk.js only adds keyboard shortcuts."""

import datetime
import logging
import re
import uuid
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from emporter.catalogue.models import Record
from emporter.dates import long_date
from emporter.errors import ServiceError
from emporter.holds import policy
from emporter.holds.models import HOLDING_COPY, Bag, Channel, Request, Status
from emporter.holds.services import (
    KEEP_AT_MOST_DAYS,
    Outcome,
    cancel_request,
    change_pickup,
    keep_bag_until,
    pickup_changeable,
    place_requests,
)
from emporter.http import post_only
from emporter.inputs import one_line, parse_day, parse_id, parse_ids, without_control_chars
from emporter.network.models import Branch
from emporter.notices.selectors import can_be_told, refused_address
from emporter.patrons.models import Patron, Role
from emporter.patrons.permissions import role_required
from emporter.patrons.search import MAX_PATRONS, find_patrons, name_too_short

from . import basket, selectors

desk_required = role_required(Role.PHONE_DESK)
CONFIRM_KEY = re.compile(r"[0-9a-f]{32}")

audit = logging.getLogger("emporter.audit")


def _outcomes_key(patron_id: int) -> str:
    return f"phonedesk:outcomes:{patron_id}"


def _reason_missing_key(patron_id: int) -> str:
    return f"phonedesk:reason_missing:{patron_id}"


def _patron_url(patron_id: int, **params) -> str:
    url = reverse("phonedesk:patron", args=[patron_id])
    params = {k: v for k, v in params.items() if v}
    return f"{url}?{urlencode(params)}" if params else url


@desk_required
def find(request):
    # Control characters (a NUL makes PostgreSQL fail) are no part of what a caller says.
    q = without_control_chars(request.GET.get("q", "")).strip()
    # One more than shown: "20 match" would be untrue of 25 namesakes, the caller unlisted.
    patrons = find_patrons(q, limit=MAX_PATRONS + 1)
    more = len(patrons) > MAX_PATRONS
    patrons = patrons[:MAX_PATRONS]
    if q:  # who looked whom up: the search shows cards, emails and phone numbers
        found = f"{len(patrons)} shown, more matched" if more else f"{len(patrons)} found"
        audit.info("phone desk: %s searched patrons %r: %s", request.user.pk, q, found)
    if len(patrons) == 1:
        return redirect("phonedesk:patron", patrons[0].pk)
    context = {
        "q": q,
        "patrons": patrons,
        "more": more,
        "too_short": name_too_short(q) if q else False,
    }
    return render(request, "phonedesk/find.html", context)


def _query(params) -> str:
    """The catalogue query, without the slash a "/" shortcut may have typed before it."""
    return without_control_chars(params.get("q", "")).strip().lstrip("/").strip()


@desk_required
def patron(request, patron_id: int):
    patron = get_object_or_404(Patron.objects.select_related("home_branch"), pk=patron_id)
    # The phone desk may open any patron of the network (callers phone any library):
    # who looked at whom is kept, for a patron who asks (their data, their rights).
    audit.info("phone desk: %s opened patron %s", request.user.pk, patron.pk)
    q = _query(request.GET)
    in_scope = list(selectors.scope(request.user).order_by("-is_central", "name"))
    options = selectors.pickup_branches(in_scope)
    pickup = selectors.default_pickup(patron, options)
    active = selectors.active_requests(patron)
    scope_ids = {b.pk for b in in_scope}
    for hold in active:
        # Asked as the move and the cancel themselves ask: a closed library's requests are
        # any desk's to move or cancel.
        hold.may_cancel = selectors.may_handle(request.user, hold, in_scope=scope_ids)
        hold.may_move = hold.may_cancel and pickup_changeable(hold)
    in_basket = basket.ids(request.session, patron.pk)
    by_id = Record.objects.in_bulk(in_basket)
    records = [by_id[i] for i in in_basket if i in by_id]
    # "Here" is where the documents will be collected, not necessarily the home library.
    here = pickup or patron.home_branch
    where = selectors.availability(in_basket, here=here)
    hits, total = selectors.search_catalogue(q, here=here) if q else ([], 0)
    rules = policy.limits_for(patron)  # the patron's limit, wherever they collect
    context = {
        "patron": patron,
        "card_expired": patron.card_expires and patron.card_expires < timezone.localdate(),
        "can_be_told": can_be_told(patron),
        "refused_address": refused_address(patron),
        # A parent calling for a child: one click to the child's page, and back.
        "children": list(patron.children_by_name()),
        "q": q,
        "hits": hits,
        "total": total,
        "basket": [(r, where[r.pk]) for r in records],
        "in_basket": set(in_basket),
        "requested": {r.record_id for r in active},
        "active": active,
        # A patron who cannot come in time asks for their bag to be kept longer.
        "bags": selectors.ready_bags(patron),
        "keep_max": timezone.localdate() + datetime.timedelta(days=KEEP_AT_MOST_DAYS),
        "limit": rules.max_active,
        # An open surprise bag holds places too (holds.policy.promised_places).
        "promised": (promised := policy.promised_places(patron)),
        "after_confirm": len(active) + len(records) + promised,
        "pickup_options": options,
        "pickup": pickup,
        "here": here,
        "scope": scope_ids,
        "outcomes": request.session.pop(_outcomes_key(patron.pk), []),
        # The request whose cancellation lacked a reason, said beside its field.
        "reason_missing": request.session.pop(_reason_missing_key(patron.pk), None),
        # One key per rendering of the form: a double submit replays the first one.
        "confirm_key": uuid.uuid4().hex,
    }
    return render(request, "phonedesk/patron.html", context)


@desk_required
@post_only
def add(request, patron_id: int):
    patron = get_object_or_404(Patron, pk=patron_id)
    ids = parse_ids([request.POST.get("record", "")])
    record = get_object_or_404(Record, pk=ids[0] if ids else None)
    if record.pk in basket.ids(request.session, patron.pk):
        messages.info(request, _("Already in the basket: %(title)s") % {"title": record.title})
    elif basket.add(request.session, patron.pk, record.pk):
        messages.success(request, _("Added to the basket: %(title)s") % {"title": record.title})
    else:
        messages.error(request, ServiceError("basket_full").message)
    return redirect(_patron_url(patron.pk, q=_query(request.POST), after=record.pk))


@desk_required
@post_only
def remove(request, patron_id: int):
    patron = get_object_or_404(Patron, pk=patron_id)
    basket.remove(request.session, patron.pk, parse_ids(request.POST.getlist("record")))
    return redirect(_patron_url(patron.pk, q=_query(request.POST)) + "#basket")


@desk_required
@post_only
def confirm(request, patron_id: int):
    # Not the patron's checks (holds.views.confirm_basket), on purpose: here a librarian
    # places only for pickup within their scope, and a form without its key (a double
    # submit would place twice) or with more than a basket holds is refused and said;
    # the patron's page chooses for whom and cuts an overfull basket instead.
    patron = get_object_or_404(Patron, pk=patron_id)
    back = _patron_url(patron.pk) + "#basket"
    pickup = Branch.objects.filter(pk__in=parse_ids([request.POST.get("pickup_branch", "")])).first()
    if pickup is None:
        messages.error(request, ServiceError("choose_pickup_for_patron").message)
        return redirect(back)
    if not selectors.scope(request.user).filter(pk=pickup.pk).exists():
        messages.error(request, ServiceError("pickup_out_of_scope", branch=pickup).message)
        return redirect(back)
    key = request.POST.get("confirm_key", "")
    if not CONFIRM_KEY.fullmatch(key):
        messages.error(request, ServiceError("form_out_of_date").message)
        return redirect(back)
    record_ids = parse_ids(request.POST.getlist("record"))
    # Each document is placed in its own transaction: no more than a basket holds.
    if len(record_ids) > basket.MAX_ITEMS:
        messages.error(request, ServiceError("too_many_at_once", count=basket.MAX_ITEMS).message)
        return redirect(back)
    titles = Record.objects.in_bulk(record_ids)
    if not titles:
        messages.error(request, ServiceError("basket_empty").message)
        return redirect(back)
    outcomes = place_requests(
        patron=patron,
        record_ids=[i for i in record_ids if i in titles],
        pickup_branch=pickup,
        channel=Channel.PHONE,
        actor=request.user,
        idempotency_key=f"phone:{key}",
    )
    basket.remove(request.session, patron.pk, [o.record_id for o in outcomes if o.out_of_basket])
    request.session[_outcomes_key(patron.pk)] = [_summary(o, titles[o.record_id]) for o in outcomes]
    return redirect(_patron_url(patron.pk) + "#outcomes")


def _summary(outcome: Outcome, record: Record) -> dict:
    """What to read out to the caller, kept in the session until the next page shows it."""
    hold = outcome.request
    if not outcome.ok and outcome.error.code == "idempotency_key_reused":
        # The same form sent again after a change (another library, say): nothing was
        # placed twice. An API header's name means nothing at a desk; what the first did does.
        text = _("This basket was already confirmed: see the current requests below.")
    elif not outcome.ok:
        text = outcome.error.message
    elif hold.status == Status.WAITING:
        text = _("On the waiting list: no copy is on the shelf now.")
    elif hold.status not in HOLDING_COPY:
        # The same form sent again after its request was cancelled (on this call) or
        # closed: where it is now, not a copy set aside that no longer is.
        text = _("Its request is now: %(status)s.") % {"status": hold.get_status_display()}
    elif hold.copy.call_number:
        text = _("Set aside: call number %(call_number)s, at %(branch)s.") % {
            "call_number": hold.copy.call_number,
            "branch": hold.copy.branch.name,
        }
    else:
        text = _("Set aside: copy %(barcode)s, at %(branch)s.") % {
            "barcode": hold.copy.barcode,
            "branch": hold.copy.branch.name,
        }
    if outcome.replayed:
        text = _("Already placed by this same confirmation.") + " " + text
    return {
        "title": record.title,
        "ok": outcome.ok,
        "code": outcome.error.code if outcome.error else "",
        "text": text,
    }


@desk_required
@post_only
def keep_bag(request, patron_id: int, bag_id: int):
    """Keep a ready bag on the hold shelf longer: the patron phones, ill or away."""
    bag = get_object_or_404(Bag.objects.select_related("branch"), pk=bag_id, patron_id=patron_id)
    back = redirect(_patron_url(patron_id) + "#requests")
    if not selectors.scope(request.user).filter(pk=bag.branch_id).exists():
        messages.error(request, ServiceError("bag_out_of_scope", branch=bag.branch).message)
        return back
    until = parse_day(request.POST.get("until", ""))
    if until is None:
        messages.error(request, ServiceError("keep_day_missing").message)
        return back
    try:
        bag = keep_bag_until(bag_id=bag.pk, until=until, actor=request.user)
    except ServiceError as error:
        if not _already_kept(error, bag, until):
            messages.error(
                request, _("Bag %(label)s: %(error)s") % {"label": bag.label, "error": error.message}
            )
            return back
    messages.success(
        request,
        _("Bag %(label)s is kept until %(date)s.") % {"label": bag.label, "date": long_date(until)},
    )
    return back


def _already_kept(error: ServiceError, bag: Bag, until: datetime.date) -> bool:
    """Sent twice (a double click, a slow page): the first kept the bag until that very
    day, and "choose a later day" would tell the caller it failed, as cancel() knows."""
    return error.code == "keep_not_later" and Bag.objects.filter(pk=bag.pk, hold_until=until).exists()


@desk_required
@post_only
def cancel(request, patron_id: int, request_id: int):
    hold = get_object_or_404(
        Request.objects.select_related("record", "pickup_branch"), pk=request_id, patron_id=patron_id
    )
    # Done: back to the list of requests, where it shows. Refused: to the top, where the
    # message says why (from the list, it was a screen above, out of sight).
    back, refused = redirect(_patron_url(patron_id) + "#requests"), redirect(_patron_url(patron_id))
    reason = one_line(request.POST.get("reason", ""))
    if not reason:  # spaces pass the browser's "required"
        # Said beside the reason field, which takes the focus: the message at the top of
        # the page left a screen-reader user in the search box, unsure which field.
        request.session[_reason_missing_key(patron_id)] = hold.pk
        return redirect(_patron_url(patron_id) + f"#reason-{hold.pk}")
    if not selectors.may_handle(request.user, hold):
        messages.error(request, ServiceError("cancel_out_of_scope", branch=hold.pickup_branch).message)
        return refused
    try:
        # Asked by the caller: the patron's own cancellation (no "the library had to
        # cancel" email); otherwise the library's, and the patron is told why.
        by_staff = request.POST.get("asked") != "1"
        cancel_request(request=hold, actor=request.user, reason=reason, by_staff=by_staff)
    except ServiceError as error:
        if (
            error.code == "not_cancellable"
            and Request.objects.filter(pk=hold.pk, status=Status.CANCELLED).exists()
        ):
            # Sent twice (a slow page clicked again, a reload after a time-out), or
            # cancelled by the patron meanwhile: the answer on screen is what the caller
            # is told, and "can no longer be cancelled" would tell them it failed.
            messages.info(request, _("Already cancelled: %(title)s") % {"title": hold.record.title})
            return back
        messages.error(request, f"{hold.record.title} — {error.message}")
        return refused
    else:
        messages.success(request, _("Cancelled: %(title)s") % {"title": hold.record.title})
    return back


@desk_required
@post_only
def change_pickup_view(request, patron_id: int, request_id: int):
    """The caller would rather collect at another library (theirs has closed, say)."""
    hold = get_object_or_404(
        Request.objects.select_related("record", "pickup_branch"), pk=request_id, patron_id=patron_id
    )
    back, refused = redirect(_patron_url(patron_id) + "#requests"), redirect(_patron_url(patron_id))
    in_scope = selectors.scope(request.user)
    branch = in_scope.accepting_requests().filter(pk=parse_id(request.POST.get("branch"))).first()
    if branch is None or not selectors.may_handle(request.user, hold):
        messages.error(request, ServiceError("choose_pickup_in_scope").message)
        return refused
    if branch.pk == hold.pickup_branch_id:  # a form older than the last change: nothing to move
        messages.info(
            request,
            _("“%(title)s” is already to be collected at %(branch)s.")
            % {"title": hold.record.title, "branch": branch.name},
        )
        return back
    try:
        change_pickup(request=hold, branch=branch, actor=request.user)
    except ServiceError as error:
        messages.error(request, f"{hold.record.title} — {error.message}")
        return refused
    else:
        messages.success(
            request,
            _("“%(title)s” will be collected at %(branch)s.")
            % {"title": hold.record.title, "branch": branch.name},
        )
    return back
