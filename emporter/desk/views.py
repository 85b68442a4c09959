"""The door screens: scan a card (or type a name) and hand the bag over, the hold
shelf, returns (and missing copies found again) and receipts; and the patron's renew
button.

Every page works without JavaScript; desk.js only keeps the scan box focused, counts
the ticked documents on the hand-over button and disables it once pressed."""

import datetime
import logging
import uuid
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from emporter.catalogue.models import Copy, CopyStatus
from emporter.curbside import selectors as curbside
from emporter.dates import long_date
from emporter.errors import ServiceError
from emporter.holds.models import Status
from emporter.http import post_only
from emporter.inputs import parse_ids, typed
from emporter.network.models import Branch
from emporter.notices import receipts
from emporter.notices.models import State as NoticeState
from emporter.notices.outbox import address_refused
from emporter.patrons.models import NoticeChannel, Patron, Role
from emporter.patrons.permissions import branches_for, has_role, role_required
from emporter.patrons.search import find_patrons, name_too_short
from emporter.patrons.selectors import signed_in_patron
from emporter.picking import selectors as picking_selectors
from emporter.picking import services as picking

from . import selectors, services
from .forms import BarcodeForm, HandoverForm
from .models import Loan

door_required = role_required(Role.DOOR_DESK)
# Nonces of the hand-over forms this librarian already sent, with the loans they made.
DONE_KEY = "door_handovers"
DONE_KEPT = 50


audit = logging.getLogger("emporter.audit")


def door_branch_view(view):
    """The view acts at one branch: the user must be door staff there (403 otherwise).
    One role query: a door scan is on the hot path."""

    @wraps(view)
    def wrapped(request, branch_id: int, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "staff_login")
        branch = get_object_or_404(Branch, pk=branch_id)
        if not has_role(request.user, Role.DOOR_DESK, branch.pk):
            raise PermissionDenied
        return view(request, branch, *args, **kwargs)

    return wrapped


def _door_url(branch: Branch, card: str = "") -> str:
    url = reverse("desk:door", args=[branch.pk])
    return f"{url}?{urlencode({'card': card})}" if card else url


def _receipt_url(branch: Branch, patron_id: int, loan_ids: list[int]) -> str:
    url = reverse("desk:receipt", args=[branch.pk, patron_id])
    return f"{url}?{urlencode({'loans': ','.join(map(str, loan_ids))})}"


@door_required
def index(request):
    branches = list(branches_for(request.user, Role.DOOR_DESK))
    if len(branches) == 1:
        return redirect("desk:door", branches[0].pk)
    return render(request, "desk/index.html", {"branches": branches})


@door_branch_view
def door(request, branch: Branch):
    card = typed(request.GET.get("card"), max_length=30)
    context = {"branch": branch, "tab": "door", "card": card, "nonce": uuid.uuid4().hex}
    if not card:
        # Between patrons: who says they are at the door, and who is expected today.
        context["arrivals"] = curbside.arrivals(branch)
        context["booked_today"] = curbside.booked_today(branch)
    if card:
        patron = selectors.find_patron(card)
        if patron is None:
            return _find_by_name(request, branch, card, context)
        # Who opened whose account, as the phone desk writes it (a card scanned or typed).
        audit.info("door: %s opened patron %s at %s", request.user.pk, patron.pk, branch.code)
        context["door"] = selectors.door_view(patron=patron, branch=branch)
        context["button_labels"] = _handover_labels(len(context["door"].ready))
    return render(request, "desk/door.html", context)


def _find_by_name(request, branch: Branch, q: str, context: dict):
    """Not a card: the patron gave their name (or phone number), as the "ready" email
    invites them to. One patron with a bag here: their bag; several: a list to choose."""
    matches = selectors.patrons_with_a_bag(q, branch=branch)
    if matches:
        audit.info("door: %s searched patrons with a bag %r: %d found", request.user.pk, q, len(matches))
    if not matches:
        # Nothing ready here: the only patron of that name still gets their page, which
        # says where their documents are, or that they were handed over already.
        anyone = find_patrons(q)
        audit.info("door: %s searched patrons %r: %d found", request.user.pk, q, len(anyone))
        if len(anyone) == 1:
            return redirect(_door_url(branch, anyone[0].card_number))
    if len(matches) == 1:
        return redirect(_door_url(branch, matches[0].patron.card_number))
    if matches:
        return render(request, "desk/door.html", context | {"matches": matches})
    ready = selectors.ready_copy(q, branch=branch)
    if ready is not None:
        # A document's barcode scanned in the card field (it happens with a bag in hand):
        # its bag's patron, said so.
        messages.info(
            request,
            _("%(barcode)s is a document of bag %(label)s: here is its patron.")
            % {"barcode": q, "label": ready.bag.label},
        )
        return redirect(_door_url(branch, ready.patron.card_number))
    if any(c.isdigit() for c in q):
        context["error"] = ServiceError("unknown_card", card=q).message
    elif name_too_short(q):  # not even looked for: see patrons.search
        context["error"] = ServiceError("name_too_short").message
    else:
        context["error"] = ServiceError("nobody_ready_named", name=q).message
    return render(request, "desk/door.html", context, status=404)


def _handover_labels(count: int) -> list[str]:
    """The hand-over button's text for 0 to ``count`` ticked documents: desk.js shows
    the one for the boxes ticked, in the page's language and its plural rules."""
    labels = [_("Tick the documents to hand over")]
    for n in range(1, count + 1):
        labels.append(
            # The msgid the template used before: its translations stay.
            ngettext("Hand over %(counter)s document", "Hand over %(counter)s documents", n) % {"counter": n}
        )
    return labels


@post_only
@door_branch_view
def hand_over(request, branch: Branch):
    form = HandoverForm(request.POST)
    card = typed(request.POST.get("card"), max_length=30)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, errors[0])
        return redirect(_door_url(branch, card))
    done = request.session.get(DONE_KEY, {})
    nonce = form.cleaned_data["nonce"]
    if nonce in done:
        messages.info(request, _("Already handed over: nothing was lent twice."))
        return redirect(_receipt_url(branch, *done[nonce]))
    patron = selectors.find_patron(form.cleaned_data["card"])
    if patron is None:
        messages.error(request, ServiceError("unknown_card", card=card).message)
        return redirect(_door_url(branch))
    try:
        result = services.hand_over(
            patron=patron,
            branch=branch,
            actor=request.user,
            request_ids=form.cleaned_data["requests"],
            override_blocks=form.cleaned_data["override"],
        )
    except ServiceError as error:
        messages.error(request, _staff_message(error, box=_("Hand over anyway")))
        return redirect(_door_url(branch, card))
    again = list(Loan.objects.filter(request__in=result.already_collected).values_list("pk", flat=True))
    loan_ids = [loan.pk for loan in result.loans] + again
    _say_take_out(request, branch, patron, form.cleaned_data["requests"], result)
    if not loan_ids:
        messages.warning(request, _("Nothing is ready for this card here any more."))
        return redirect(_door_url(branch, card))
    if result.loans:
        count = len(result.loans)
        messages.success(
            request,
            ngettext("%(count)s document handed over.", "%(count)s documents handed over.", count)
            % {"count": count},
        )
    if again:
        messages.info(request, _("Already handed over: nothing was lent twice."))
    _remember(request, nonce, patron.pk, loan_ids)
    return redirect(_receipt_url(branch, patron.pk, loan_ids))


def _say_take_out(request, branch: Branch, patron: Patron, ticked: list[int], result) -> None:
    """What was ticked and could not be lent, its request cancelled since the page was
    shown: named, to be taken out of the bag before it leaves with the patron."""
    lent = {loan.request_id for loan in result.loans} | {r.pk for r in result.already_collected}
    for left in selectors.ticked_not_lent(patron_ids=patron.household_ids(), ticked=ticked, lent=lent):
        said = {"title": left.record.title, "barcode": left.copy.barcode, "label": left.bag.label}
        if left.copy.branch_id != branch.pk:
            text = _(
                "Not lent, its request cancelled meanwhile: take “%(title)s” (%(barcode)s) out of bag "
                "%(label)s and send it back to %(name)s."
            )
            said["name"] = left.copy.branch.name
        else:
            text = _(
                "Not lent, its request cancelled meanwhile: take “%(title)s” (%(barcode)s) out of bag "
                "%(label)s and scan it at Returns."
            )
        messages.warning(request, text % said)


@post_only
@door_branch_view
def lend_expired(request, branch: Branch):
    """The patron came after their bag expired: what is still on the hold shelf is lent
    all the same (services.lend_expired), then the receipt, as after a hand-over."""
    card = typed(request.POST.get("card"), max_length=30)
    patron = selectors.find_patron(card)
    if patron is None:
        messages.error(request, ServiceError("unknown_card", card=card).message)
        return redirect(_door_url(branch))
    request_ids = parse_ids(request.POST.getlist("requests"))
    if not request_ids:  # every box unticked: said as the hand-over says it
        messages.error(request, ServiceError("lend_none_ticked").message)
        return redirect(_door_url(branch, card))
    try:
        loans = services.lend_expired(
            patron=patron,
            branch=branch,
            request_ids=request_ids,
            actor=request.user,
            # The same staff decision as the hand-over's: the page offers it when needed.
            override_blocks=request.POST.get("override") == "1",
        )
    except ServiceError as error:
        messages.error(request, _staff_message(error, box=_("Lend anyway")))
        return redirect(_door_url(branch, card))
    # The same form sent again (a reload after a time-out, a second press): what the
    # first lent, to this household, said as the hand-over says it, receipt and all. An
    # expired request has a loan only from here (services.lend_expired lends it once).
    again = list(
        Loan.objects.filter(
            request__in=request_ids,
            request__status=Status.EXPIRED,
            patron_id__in=patron.household_ids(),
            branch=branch,
        )
        .exclude(pk__in=[loan.pk for loan in loans])
        .values_list("pk", flat=True)
    )
    if not loans and not again:
        messages.warning(
            request, _("Nothing was lent: those documents are no longer on the hold shelf for this card.")
        )
        return redirect(_door_url(branch, card))
    if loans:
        count = len(loans)
        messages.success(
            request,
            ngettext("%(count)s document lent.", "%(count)s documents lent.", count) % {"count": count},
        )
    if again:
        messages.info(request, _("Already lent: nothing was lent twice."))
    return redirect(_receipt_url(branch, patron.pk, [loan.pk for loan in loans] + again))


def _staff_message(error: ServiceError, *, box: str) -> str:
    """The service speaks to patrons; at the door, say what the librarian can do (tick
    ``box``, the override of the form sent: the page has one per form), and whose card
    it is when it is a child's whose documents the guardian collects."""
    name = error.params.get("name")
    reason = error.params.get("reason", "")
    if name and error.code == "patron_blocked":
        return _("%(name)s is blocked (%(reason)s): tick “%(box)s” to lend all the same.") % {
            "name": name,
            "reason": reason,
            "box": box,
        }
    if name and error.code == "card_expired":
        said = _("%(name)s's card has expired: tick “%(box)s” to lend all the same.")
        return said % {"name": name, "box": box}
    if error.code == "patron_blocked":
        return _("This patron is blocked (%(reason)s): tick “%(box)s” to lend all the same.") % {
            "reason": reason,
            "box": box,
        }
    if error.code == "card_expired":
        return _("This card has expired: tick “%(box)s” to lend all the same.") % {"box": box}
    return error.message


def _remember(request, nonce: str, patron_id: int, loan_ids: list[int]) -> None:
    done = request.session.get(DONE_KEY, {})
    done[nonce] = [patron_id, loan_ids]
    request.session[DONE_KEY] = dict(list(done.items())[-DONE_KEPT:])


def _receipt(branch: Branch, patron_id: int, raw_ids: str):
    patron = get_object_or_404(Patron, pk=patron_id)
    ids = parse_ids(raw_ids.split(","))
    # The patron's loans and their children's only: a loan anonymised since names no one,
    # and must not put someone else's titles on this receipt.
    loans = [
        loan
        for loan in selectors.receipt_loans(loan_ids=ids, branch=branch)
        if loan.patron_id is not None and patron.pk in (loan.patron_id, loan.patron.guardian_id)
    ]
    return patron, loans


def _audit_receipt(request, what: str, branch: Branch, patron: Patron, loans: list) -> None:
    # As the door's look-ups are: a receipt names a patron and what they borrowed.
    audit.info("door: %s %s patron %s's receipt at %s: %d loans", request.user.pk, what, patron.pk,
               branch.code, len(loans))  # fmt: skip


@door_branch_view
def receipt(request, branch: Branch, patron_id: int):
    patron, loans = _receipt(branch, patron_id, request.GET.get("loans", ""))
    _audit_receipt(request, "showed", branch, patron, loans)
    if not loans:
        # A receipt is of loans made here to this household: without one, the page would
        # name any patron of the network by id, unaudited (the door's look-up is audited).
        messages.info(request, _("There is nothing on this receipt."))
        return redirect(_door_url(branch))
    context = {
        "branch": branch,
        "patron": patron,
        "loans": loans,
        "loan_ids": request.GET.get("loans", ""),
        "still_waiting": selectors.still_waiting(patron=patron, branch=branch),
        # Not to an address the mail server refused as unknown: it would fail at once.
        "receipt_to": _receipt_reader(patron),
        # When the documents were lent, not when the page is shown: a reprint says the same.
        "checked_out_at": max((loan.checked_out_at for loan in loans), default=None),
    }
    return render(request, "desk/receipt.html", context)


def _receipt_reader(patron):
    reader = patron.written_to(NoticeChannel.EMAIL)  # a child's receipt goes to the guardian
    return None if reader is None or address_refused(reader) else reader


@post_only
@door_branch_view
def email_receipt(request, branch: Branch, patron_id: int):
    patron, loans = _receipt(branch, patron_id, request.POST.get("loans", ""))
    _audit_receipt(request, "emailed", branch, patron, loans)
    reader = patron.written_to(NoticeChannel.EMAIL)  # a child's receipt goes to the guardian
    if not loans:
        messages.error(request, ServiceError("receipt_empty").message)
    elif reader is None:
        messages.error(request, ServiceError("no_email_address").message)
    elif address_refused(reader):
        # It would fail at once: the mail server refused that address as unknown.
        messages.error(request, ServiceError("email_refused", email=reader.email).message)
    else:
        # Through the outbox: sent within a minute by the worker, tried again if the mail
        # server is down, and never twice for the same loans.
        notice, new = receipts.queue_receipt(patron=patron, loans=loans)
        email = {"email": reader.email}
        if new:
            messages.success(request, _("The receipt will be emailed to %(email)s within a minute.") % email)
        elif notice.state == NoticeState.SENT:
            messages.info(request, _("This receipt was already emailed to %(email)s.") % email)
        else:
            messages.info(request, _("This receipt is already on its way to %(email)s.") % email)
    return redirect(
        _receipt_url(branch, patron.pk, [loan.pk for loan in loans]) if loans else _door_url(branch)
    )


@door_branch_view
def shelf(request, branch: Branch):
    due = request.GET.get("due", "")
    due = due if due in selectors.DEADLINE_FILTERS else ""
    by_time = request.GET.get("order") == "time"
    context = {
        "branch": branch,
        "tab": "shelf",
        "due": due,
        "by_time": by_time,
        "today": timezone.localdate(),
        "bags": selectors.hold_shelf(branch=branch, due=due, by_time=by_time),
        "in_transit": selectors.in_transit_to(branch),
        "coming_home": selectors.coming_home(branch),
        "back": selectors.back_to_shelves(branch=branch),
        "back_days": selectors.BACK_TO_SHELVES_DAYS,
    }
    return render(request, "desk/shelf.html", context)


@door_branch_view
def returns(request, branch: Branch):
    """One scan box for what comes in at the door: a return, or a transfer arriving."""
    context = {"branch": branch, "tab": "returns"}
    if request.method == "POST":
        form = BarcodeForm(request.POST)
        if not form.is_valid():
            context["error"] = form.errors["barcode"][0]
        else:
            barcode = Copy.objects.barcode_as_typed(form.cleaned_data["barcode"])
            context.update(_check_in(request, branch, barcode))
    return render(request, "desk/returns.html", context, status=422 if "error" in context else 200)


def _check_in(request, branch: Branch, barcode: str) -> dict:
    try:
        returned = services.check_in(barcode=barcode, branch=branch, actor=request.user)
    except ServiceError as error:
        if error.code != "not_on_loan":
            return {"error": error.message, "barcode": barcode}
        return _not_a_return(request, branch, barcode, error)
    if returned.loan is None:
        _remember_check_in(request, branch, returned.copy)
    return {"returned": returned, "served": returned.served}


# Copies this screen checked in lately that had no loan of ours (lent at a desk of the
# library system): nothing in the database says when, and a second scan of one (the
# scanner's double, a reload) must read as done, as for our loans (returned_here_lately).
CHECKED_IN_KEY = "desk_checked_in"
CHECKED_IN_KEPT = 20


def _remember_check_in(request, branch: Branch, copy: Copy) -> None:
    kept = request.session.get(CHECKED_IN_KEY, [])[-(CHECKED_IN_KEPT - 1) :]
    request.session[CHECKED_IN_KEY] = [*kept, [branch.pk, copy.pk, timezone.now().isoformat()]]


def _checked_in_lately(request, branch: Branch, copy: Copy) -> datetime.datetime | None:
    since = timezone.now() - selectors.RETURNED_AGAIN_WITHIN
    for branch_id, copy_id, at in reversed(request.session.get(CHECKED_IN_KEY, [])):
        moment = datetime.datetime.fromisoformat(at)
        if (branch_id, copy_id) == (branch.pk, copy.pk) and moment >= since:
            return moment
    return None


def _not_a_return(request, branch: Branch, barcode: str, not_on_loan: ServiceError) -> dict:
    """Perhaps a copy sent here for a patron's bag, or coming home; else say what the
    copy is (missing, in a bag) rather than only what it is not."""
    try:
        received = picking.receive(branch=branch, barcode=barcode, actor=request.user)
    except ServiceError as not_for_a_bag:
        if not_for_a_bag.code == "send_on":
            # On its way to a patron waiting at another library: served at its return
            # here a moment ago and scanned again (the scanner's double, a reload), or
            # off the van at the wrong door. Said every time, or it would be shelved and
            # that patron would wait for nothing.
            return {
                "send_on": {"copy": selectors.scanned_copy(barcode), "branch": not_for_a_bag.params["branch"]}
            }
    else:
        # Already in its bag here (scanned twice): the bag, as for any copy in a bag.
        return {"in_bag": received} if getattr(received, "already_in_bag", False) else {"received": received}
    copy = selectors.scanned_copy(barcode)
    loan = selectors.returned_here_lately(copy, branch=branch) if copy else None
    if loan and not _to_receive_home(copy, branch):
        # Scanned again (the scanner's double, a reload): said as done, not as an error,
        # nor as a copy coming home whose request was cancelled (it had none).
        return {"returned_again": _returned_again(copy, branch, loan.returned_at)}
    try:
        home, served = services.receive_home(barcode=barcode, branch=branch, actor=request.user)
    except ServiceError as not_home:
        if not_home.code == "send_home":  # on its way back to its own library
            return {"send_home": {"barcode": barcode, "branch": not_home.params["home"]}}
    else:
        return {"home": home, "served": served}
    if copy and copy.status == CopyStatus.MISSING:
        return {"missing": copy}
    if copy and copy.in_bag:
        return {"in_bag": copy.in_bag}
    if copy and (moment := _checked_in_lately(request, branch, copy)):
        return {"returned_again": _returned_again(copy, branch, moment)}
    return {"error": not_on_loan.message, "barcode": barcode}


def _to_receive_home(copy: Copy, branch: Branch) -> bool:
    """A copy of this library, in transit or on its hold shelf and not in a bag here
    (those were answered before): its return served a request since over (cancelled,
    expired), and this scan brings it home (``services.receive_home``), however soon
    after the return; "already checked in" would leave it so for good."""
    return copy.branch_id == branch.pk and copy.status in (CopyStatus.IN_TRANSIT, CopyStatus.HOLD_SHELF)


def _returned_again(copy: Copy, branch: Branch, at: datetime.datetime) -> dict:
    """A return scanned again: said done, and where the copy goes, as the first scan
    said; a copy of another library is on its way home, not back on a shelf here."""
    send_to = copy.branch if copy.status == CopyStatus.IN_TRANSIT and copy.branch_id != branch.pk else None
    return {"copy": copy, "at": at, "send_to": send_to}


@door_branch_view
def bag_label(request, branch: Branch, bag_id: int):
    """One bag's label, for a bag the returns screen filled (the morning's labels are
    printed with the pick run): a document trapped for a patron with no bag here yet."""
    from emporter.picking import pdf  # (fpdf: half a second to import, paid here only)

    bags = picking_selectors.bags_to_label(branch, bag_id=bag_id)
    if not bags:
        raise Http404
    body = pdf.bag_labels(branch=branch, bags=bags, name_style=branch.label_name_style)
    response = HttpResponse(body, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="label-{bags[0].label}.pdf"'
    return response


@post_only
@door_branch_view
def put_back(request, branch: Branch):
    """The one button under a missing copy scanned at Returns."""
    form = BarcodeForm(request.POST)
    context = {"branch": branch, "tab": "returns"}
    if not form.is_valid():
        context["error"] = form.errors["barcode"][0]
        return render(request, "desk/returns.html", context, status=422)
    barcode = Copy.objects.barcode_as_typed(form.cleaned_data["barcode"])
    try:
        found = services.put_back_found(barcode=barcode, branch=branch, actor=request.user)
    except ServiceError as error:
        context["error"] = error.message
    else:
        if found is None:
            context["error"] = ServiceError("not_missing", barcode=barcode).message
        else:
            context["found"] = found
    return render(request, "desk/returns.html", context, status=422 if "error" in context else 200)


@post_only
@login_required
def renew(request, loan_id: int):
    patron = signed_in_patron(request)
    # Their own loan, or a child's in their care: renewed on the child's card.
    loan = get_object_or_404(
        Loan.objects.select_related("copy__record", "patron"),
        pk=loan_id,
        patron_id__in=patron.household_ids(),
    )
    try:
        # A child's card refusing is said as theirs, not "your card".
        loan = services.renew(loan=loan, patron=loan.patron, theirs=loan.patron_id != patron.pk)
    except ServiceError as error:
        messages.error(request, f"{loan.copy.record.title}: {error.message}")
    else:
        date = long_date(loan.due_date, "l j F Y")
        messages.success(
            request,
            _("%(title)s is renewed until %(date)s.") % {"title": loan.copy.record.title, "date": date},
        )
    return redirect("patrons:account")
