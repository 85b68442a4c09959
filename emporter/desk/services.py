"""At the door: hand over a patron's bag in one action; returns, and missing copies
found again; renewals; privacy.

A handover locks the requests it collects, so a second scan or a repeated click finds
them already collected and lends nothing twice; the partial unique index on open
loans per copy is the database's own guarantee.
"""

import datetime
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import DateTimeField, Exists, F, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce, Greatest, Trunc
from django.utils import timezone

from emporter import adminlog
from emporter.catalogue.models import Copy, CopyStatus
from emporter.curbside import services as curbside
from emporter.errors import ServiceError
from emporter.holds.lifecycle import transition_all
from emporter.holds.models import ACTIVE, HOLDING_COPY, UNCOLLECTED, Bag, Request, RequestEvent, Status
from emporter.holds.services import (
    check_patron,
    close_as_lent,
    close_bag_if_done,
    forget_patrons,
    release_copy_in_hand,
)
from emporter.holds.waiting import may_be_served_from
from emporter.network import calendar
from emporter.network.models import Branch
from emporter.patrons.models import LoanHistory, Patron
from emporter.picking import services as picking

from . import selectors
from .models import Loan, LoanPolicy

ANONYMISE_BATCH = 500


@dataclass
class Handover:
    loans: list[Loan] = field(default_factory=list)
    already_collected: list[Request] = field(default_factory=list)


def loan_policy(doc_type: str) -> LoanPolicy:
    return loan_policies({doc_type})[doc_type]


def loan_policies(doc_types: set[str]) -> dict[str, LoanPolicy]:
    """The loan policy of each document type, the default one (no type) for the others,
    in one query."""
    rows: dict[str, LoanPolicy] = {}
    for row in LoanPolicy.objects.filter(doc_type__in=[*doc_types, ""]).order_by("-pk"):
        rows[row.doc_type] = row  # the first row of a type wins, as .first() had it
    default = rows.get("") or LoanPolicy()
    return {t: rows.get(t, default) for t in doc_types}


def hand_over(
    *,
    patron: Patron,
    branch: Branch,
    actor=None,
    request_ids: Iterable[int] | None = None,
    override_blocks: bool = False,
) -> Handover:
    """Check out the ready documents (all, or those chosen) and close emptied bags.

    The card scanned and the card of each child whose documents are lent must be in good
    standing (``check_borrowers``), unless staff override: one decision for them all."""
    if not override_blocks:
        check_patron(patron)
    result = Handover()
    # The patron and the children in their care, by id: an OR across the patrons join
    # would read every bag of the branch instead of this household's (the index).
    household = patron.household_ids()
    with transaction.atomic():
        wanted = Request.objects.select_for_update(of=("self",)).filter(
            patron_id__in=household,
            pickup_branch=branch,
            status__in=[Status.READY, Status.COLLECTED],
        )
        if request_ids is not None:
            wanted = wanted.filter(pk__in=list(request_ids))
        else:
            wanted = wanted.filter(status=Status.READY)
        to_lend = []
        for request in wanted.select_related("copy", "bag", "patron").order_by("pk"):
            if request.status == Status.COLLECTED:
                result.already_collected.append(request)
            else:
                to_lend.append(request)
        if not override_blocks:
            # Raised before anything is written: the transaction lends nothing.
            check_borrowers(patron, [r.patron for r in to_lend])
        result.loans = _lend(requests=to_lend, branch=branch, actor=actor)
        bags = Bag.objects.filter(patron_id__in=household, branch=branch, state=Bag.State.OPEN)
        for bag_id in bags.order_by("pk").values_list("pk", flat=True):
            close_bag_if_done(bag_id=bag_id)
        # The patron came: their pickup times (and "I'm here") are over. After the bags:
        # bag, then appointment, then slot is the order "I'm here" and booking lock in.
        curbside.done_for_bags(bag_ids={r.bag_id for r in to_lend if r.bag_id})
    return result


def check_borrowers(patron: Patron, borrowers: Iterable[Patron]) -> None:
    """A guardian collects their children's documents with their own card, but each
    document is lent to its own patron's card: each of those cards is checked as the
    scanned one is (``check_patron``: blocked, expired). The error names the child whose
    card it is (``name``), for the door to say whose card stops the hand-over."""
    seen = {patron.pk}
    for borrower in sorted(borrowers, key=lambda p: (p.last_name, p.first_name, p.pk)):
        if borrower.pk in seen:
            continue
        seen.add(borrower.pk)
        try:
            check_patron(borrower)
        except ServiceError as error:
            error.params["name"] = f"{borrower.first_name} {borrower.last_name}".strip()
            raise


def _lend(*, requests: list[Request], branch: Branch, actor) -> list[Loan]:
    """Each request moves through the lifecycle; copies and loans are written in bulk
    (a bag of 8 is one UPDATE and one INSERT, not 8 of each)."""
    transition_all(requests, Status.COLLECTED, actor=actor, reason="handover")
    Copy.objects.filter(pk__in=[r.copy_id for r in requests]).update(
        status=CopyStatus.ON_LOAN, updated_at=timezone.now()
    )
    return _write_loans(requests=requests, branch=branch, actor=actor)


def lend_expired(
    *, patron: Patron, branch: Branch, request_ids: Iterable[int], actor=None, override_blocks: bool = False
) -> list[Loan]:
    """A patron come for a bag that expired: its documents still on the hold shelf here,
    wanted by no one else, are lent all the same, as a Koha desk checks out an item whose
    hold has lapsed. The requests stay expired (that is what happened); each gets its loan.
    The patron's own request for a title lent so is filled (closed, its copy freed):
    one copy of a title per patron, as at placement (``already_on_loan``).

    Only copies of this library still on its hold shelf and held by no request (not
    taken out and scanned at returns yet: ``selectors.expired_here``), and only when
    nobody waits for the title: the waiting list is served first, at returns."""
    if not override_blocks:
        check_patron(patron)
    # What the door offers (selectors.expired_here: one rule for the page and for this).
    offered = selectors.expired_here(patron_ids=patron.household_ids(), branch=branch)
    wanted = set(request_ids)
    chosen = [r for r in offered if r.pk in wanted and not r.waited_for]
    if not override_blocks:
        check_borrowers(patron, [r.patron for r in chosen])
    ids = [r.pk for r in chosen]
    held = Request.objects.filter(copy=OuterRef("pk"), status__in=HOLDING_COPY)
    with transaction.atomic():
        requests = list(
            Request.objects.select_for_update(of=("self",))
            .filter(pk__in=ids, status=Status.EXPIRED, loan__isnull=True)
            .select_related("copy")
            .order_by("pk")
        )
        # Requests before copies, as the hand-over locks them.
        filled = _active_for_same_titles(requests)
        at_home = _titles_at_home(requests)
        # Guarded: only from the hold shelf of this library, held for no one, taken by
        # no request since (in another bag now), once, and not a second copy of a title
        # the patron has at home (handed over meanwhile).
        lent = []
        for request in requests:
            if (request.patron_id, request.record_id) in at_home:
                continue
            taken = (
                Copy.objects.filter(pk=request.copy_id, branch=branch, status=CopyStatus.HOLD_SHELF)
                .exclude(Exists(held))
                .exclude(Exists(Request.objects.filter(copy=OuterRef("pk"), placed_at__gt=request.closed_at)))
                .update(status=CopyStatus.ON_LOAN, updated_at=timezone.now())
            )
            if taken:
                lent.append(request)
                # Two expired bags of one title (asked again, expired again): one copy.
                at_home.add((request.patron_id, request.record_id))
        _close_filled(filled, lent, actor=actor)
        return _write_loans(requests=lent, branch=branch, actor=actor) if lent else []


def _active_for_same_titles(requests: list[Request]) -> list[Request]:
    """The active requests of these requests' patrons for the same titles (one a patron
    and title at most), locked in id order: a new request for a title whose expired bag
    is now being lent holds another copy, or waits for one."""
    same = Q(pk__in=[])
    for request in requests:
        same |= Q(patron_id=request.patron_id, record_id=request.record_id)
    mine = Request.objects.select_for_update(of=("self",)).filter(same, status__in=ACTIVE)
    return list(mine.order_by("pk"))


def _titles_at_home(requests: list[Request]) -> set[tuple[int, int]]:
    """(patron, title) of these requests that the patron already has on loan."""
    loans = Loan.objects.filter(
        patron_id__in={r.patron_id for r in requests},
        copy__record_id__in={r.record_id for r in requests},
        returned_at__isnull=True,
    )
    return set(loans.values_list("patron_id", "copy__record_id"))


def _close_filled(active: list[Request], lent: list[Request], *, actor) -> None:
    """One copy of a title per patron, as Koha fills a patron's own hold at check-out:
    their request for a title just lent is closed, untold, and its copy freed for the
    next patron (``holds.services.close_as_lent``)."""
    barcodes = {(r.patron_id, r.record_id): r.copy.barcode for r in lent}
    for request in active:
        if (request.patron_id, request.record_id) in barcodes:
            close_as_lent(request=request, actor=actor, note=barcodes[request.patron_id, request.record_id])


def _write_loans(*, requests: list[Request], branch: Branch, actor) -> list[Loan]:
    rules = loan_policies({r.copy.doc_type for r in requests})
    today = timezone.localdate()
    staff = actor if actor and actor.is_authenticated else None
    # Due back on a day this library is open; one calendar look-up per loan length.
    due = {days: calendar.due_date(branch, today, days) for days in {p.loan_days for p in rules.values()}}
    return Loan.objects.bulk_create(
        Loan(
            copy_id=r.copy_id,
            patron_id=r.patron_id,
            request=r,
            branch=branch,
            checked_out_by=staff,
            due_date=due[rules[r.copy.doc_type].loan_days],
        )
        for r in requests
    )


@dataclass
class Returned:
    copy: Copy
    loan: Loan | None = None  # None: lent by the library system, not by us
    served: Request | None = None  # the waiting request it went to, if any

    @property
    def sent_home(self) -> bool:
        return self.copy.status == CopyStatus.IN_TRANSIT


def check_in(*, barcode: str, branch: Branch, actor=None) -> Returned:
    """A document comes back: close its loan; the copy goes back on the shelf or to the
    next waiting request (then it is on that branch's next pick run).

    Returned at another library than its own, it first travels home (in transit, not
    requestable, not on any pick list: no one could pull it from its home shelves), and
    serves the waiting list when it arrives there (``receive_home``).

    A copy the catalogue import says is on loan, with no loan of ours, was lent at a desk
    of the library system: it is checked in all the same, as Koha's check-in does."""
    barcode = barcode.strip()
    with transaction.atomic():
        loan = (
            Loan.objects.select_for_update(of=("self",))
            .select_related("copy")
            .filter(copy__barcode=barcode, returned_at__isnull=True)
            .first()
        )
        if loan is None:
            return _check_in_lent_elsewhere(barcode=barcode, branch=branch, actor=actor)
        now = timezone.now()
        Loan.objects.filter(pk=loan.pk).update(returned_at=now, returned_branch=branch)
        loan.returned_at, loan.returned_branch = now, branch
        if _forgotten_at_return(loan):
            anonymise_loans(Loan.objects.filter(pk=loan.pk))
        else:
            # The patron choosing "forget" while this return was being written: their
            # page's forgetting could not see it yet. Looked at again once it is in.
            loan_id = loan.pk
            transaction.on_commit(lambda: _forget_if_chosen_meanwhile(loan_id), robust=True)
        served = _back_in(copy=loan.copy, branch=branch, actor=actor)
        return Returned(copy=loan.copy, loan=loan, served=served)


def _check_in_lent_elsewhere(*, barcode: str, branch: Branch, actor) -> Returned:
    # Locked and guarded by its status: a second scan of the same copy finds it on the
    # shelf (or in transit) and is told it is not on loan.
    copy = (
        Copy.objects.select_for_update(of=("self",))
        .select_related("record", "branch")
        .filter(barcode=barcode)
        .first()
    )
    if copy is None:
        raise ServiceError("unknown_barcode", barcode=barcode)
    if copy.status != CopyStatus.ON_LOAN:
        raise ServiceError("not_on_loan", barcode=barcode)
    return Returned(copy=copy, served=_back_in(copy=copy, branch=branch, actor=actor))


def _back_in(*, copy: Copy, branch: Branch, actor) -> Request | None:
    """At home the copy is free again; elsewhere it travels home first."""
    if copy.branch_id != branch.pk:
        Copy.objects.filter(pk=copy.pk).update(status=CopyStatus.IN_TRANSIT, updated_at=timezone.now())
        copy.status = CopyStatus.IN_TRANSIT
        return None
    served = release_copy_in_hand(copy=copy, actor=actor)
    copy.refresh_from_db(fields=["status"])
    return served


def receive_home(*, barcode: str, branch: Branch, actor=None) -> tuple[Copy, Request | None]:
    """A copy comes back to its own shelves without a loan to close: from another library
    (in transit: returned there, or not collected there), or out of a bag here whose
    request was cancelled or expired (still on the hold shelf, held for no one). It goes
    on the shelf, or to the next waiting request, as if it had been returned here.

    Scanned at another library on its way home, it is not received: ``send_home``
    says where to send it."""
    barcode = barcode.strip()
    with transaction.atomic():
        copy = (
            Copy.objects.select_for_update(of=("self",))
            .select_related("record", "branch")
            .filter(barcode=barcode, status__in=[CopyStatus.IN_TRANSIT, CopyStatus.HOLD_SHELF])
            # In transit for a patron's bag is picking.receive's business, not a return.
            .exclude(requests__status__in=HOLDING_COPY)
            .first()
        )
        if copy is None:
            if not Copy.objects.filter(barcode=barcode).exists():
                raise ServiceError("unknown_barcode", barcode=barcode)
            raise ServiceError("not_in_transit", barcode=barcode)
        # Out of its bag for good, in hand here: the closed requests it was in no longer
        # say it is there (holds.services.still_in_a_bag), whatever happens to it next.
        # Also on its way home from another library's bag: no longer work on that shelf.
        Request.objects.filter(copy=copy, bag__isnull=False, status__in=UNCOLLECTED).update(bag=None)
        if copy.branch_id == branch.pk:
            # The copy as it came (from a bag here, or from the van): the screen says which.
            return copy, release_copy_in_hand(copy=copy, actor=actor)
    raise ServiceError("send_home", barcode=barcode, home=copy.branch.name)


@dataclass
class FoundAgain:
    copy: Copy
    served: Request | None = None  # the waiting request it went to, if any
    sent_home: bool = False  # found at another library: it travels home first


def put_back_found(*, barcode: str, branch: Branch, actor=None) -> FoundAgain | None:
    """A copy marked missing turns up at the door. At its own library it goes back on the
    shelf, or to the next waiting request (``picking.put_back``). Found at another one it
    travels home first, as a return there does, and ``receive_home`` shelves it there.

    None when it is not missing (any more): someone put it back meanwhile."""
    with transaction.atomic():
        # Locked, so the status read here is the one put_back's guarded update sees.
        copy = (
            Copy.objects.select_for_update(of=("self",))
            .select_related("record", "branch")
            .filter(barcode=barcode.strip())
            .first()
        )
        if copy is None:
            raise ServiceError("unknown_barcode", barcode=barcode)
        if copy.status != CopyStatus.MISSING:
            return None
        if copy.branch_id == branch.pk:
            served = picking.put_back(copy=copy, actor=actor)
            copy.refresh_from_db(fields=["status"])
            return FoundAgain(copy=copy, served=served)
        Copy.objects.filter(pk=copy.pk).update(status=CopyStatus.IN_TRANSIT, updated_at=timezone.now())
        copy.status = CopyStatus.IN_TRANSIT
        return FoundAgain(copy=copy, sent_home=True)


def renew(
    *,
    loan: Loan,
    patron: Patron,
    override_blocks: bool = False,
    theirs: bool = False,
    key: str | None = None,
) -> Loan:
    """One more loan period, if the policy allows it and nobody waits for the title.

    A blocked or expired card renews nothing, as Koha's RestrictionBlockRenewing and
    BlockExpiredPatronOpacActions have it: the same errors as a request or a hand-over
    (``check_patron``), read from the database, not from the patron object passed.
    Only staff may override (``override_blocks``); the patron's own renew button never does.
    ``theirs``: a guardian renews a child's loan, and is told of the child's card.

    Asked twice, it renews once, and the second ask is answered the loan as renewed:
    - with a ``key`` this loan was renewed with (the API's Idempotency-Key, without
      spaces: a retry that lost its answer), whatever has changed since;
    - without a key, the same day it was renewed, while a renewal is left (a double tap
      on the account page's button; once none is left, ``not_renewable`` as ever). Each
      renewal moves the due date a whole period (from the due date or today, whichever
      is later), so a second one the same day is never the no-op Koha's too-soon rule
      refuses: it would spend a renewal the patron most likely did not mean to.
    A new key is a new renewal, the same day too: the app says it is."""
    today = timezone.localdate()
    with transaction.atomic():
        loan = (
            Loan.objects.select_for_update(of=("self",))
            .select_related("copy", "branch", "patron")
            .get(pk=loan.pk, patron=patron)
        )
        if key and key in loan.renew_keys.split():
            return loan
        if not override_blocks:
            check_patron(loan.patron, theirs=theirs)
        rules = loan_policy(loan.copy.doc_type)
        if loan.returned_at or loan.renewals >= rules.max_renewals:
            raise ServiceError("not_renewable")
        if not key and loan.renewed_on == today:
            return loan
        # Only a waiter this copy could go to once returned (the queue's rule), as Koha
        # blocks a renewal only for a hold the item could fill: not one at a library
        # lending only its own copies, nor one the queue passes over for now.
        waiting = Request.objects.filter(record_id=loan.copy.record_id, status=Status.WAITING)
        if waiting.filter(may_be_served_from(loan.copy.branch_id)).exists():
            raise ServiceError("requested_by_someone_else")
        due = calendar.due_date(loan.branch, max(loan.due_date, today), rules.loan_days)
        keys = f"{loan.renew_keys} {key}".strip() if key else loan.renew_keys
        # Guarded by the count read: two asks at once renew once, wherever the row lock
        # above is not taken. The one that finds it changed starts again from what is there.
        renewed = Loan.objects.filter(pk=loan.pk, renewals=loan.renewals, returned_at__isnull=True).update(
            due_date=due, renewals=loan.renewals + 1, renewed_on=today, renew_keys=keys
        )
        if not renewed:
            return renew(loan=loan, patron=patron, override_blocks=override_blocks, theirs=theirs, key=key)
    loan.due_date, loan.renewals, loan.renewed_on, loan.renew_keys = due, loan.renewals + 1, today, keys
    return loan


def anonymise_loans(loans) -> int:
    """Forget who borrowed these loans: the loan loses its patron, and so does the
    collected request behind it (holds.services.forget_patrons), else the patron's
    account would still list it and the request would still say who. The loan keeps its
    request: the statistics count loans of requests, and people by pseudonym. Their
    times are blurred (``_blur_loan_times``, ``_blur_closings``)."""
    ids = list(loans.filter(anonymised=False).values_list("pk", flat=True))
    for start in range(0, len(ids), ANONYMISE_BATCH):
        batch = ids[start : start + ANONYMISE_BATCH]
        with transaction.atomic():
            request_ids = list(
                Loan.objects.filter(pk__in=batch, request__isnull=False).values_list("request_id", flat=True)
            )
            forget_patrons(request_ids=request_ids)
            _blur_closings(request_ids)
            adminlog.forget_lines(Loan, batch)
            Loan.objects.filter(pk__in=batch).update(patron=None, anonymised=True)
            _blur_loan_times(batch)
    return len(ids)


def _blur_loan_times(loan_ids: list[int], now=None) -> None:
    """Forgotten loans keep the day they went out and came back, not the moment: one
    hand-over's loans share its instant, and those still naming the borrower would name
    this one's (the statistics read the day only: ``stats.selectors.loans_per_day``). A
    return of the last minutes keeps its moment a while: the returns screen reads it to
    tell a scanner's double send (``selectors.returned_here_lately``); the hourly
    ``blur_recent_returns`` takes it to the day after."""
    settled = (now or timezone.now()) - selectors.RETURNED_AGAIN_WITHIN
    out, back = defaultdict(list), defaultdict(list)
    rows = Loan.objects.filter(pk__in=loan_ids).values_list("pk", "checked_out_at", "returned_at")
    for pk, checked_out_at, returned_at in rows:
        out[_day_start(checked_out_at)].append(pk)
        if returned_at and returned_at < settled:
            back[_day_start(returned_at)].append(pk)
    for day, pks in out.items():
        Loan.objects.filter(pk__in=pks).update(checked_out_at=day)
    for day, pks in back.items():
        Loan.objects.filter(pk__in=pks).update(returned_at=day)


# How far back the hourly pass looks for forgotten returns still at their moment: a
# scheduler down for longer leaves older ones as they are.
BLUR_LOOKBACK_DAYS = 2


def blur_recent_returns(now=None) -> int:
    """Loans forgotten at their return (the default), returned over a quarter of an hour
    ago, keep the day only, as those forgotten later do: a patron's stack comes back
    within a minute or two, while some of its loans may still name them. Read through
    an index of forgotten loans by return (desk/0009). Returns how many were blurred."""
    now = now or timezone.now()
    settled = now - selectors.RETURNED_AGAIN_WITHIN
    days = [timezone.localdate(now) - datetime.timedelta(days=n) for n in range(BLUR_LOOKBACK_DAYS + 1)]
    midnights = [_day_start(day) for day in days]  # those blurred already
    ids = list(
        Loan.objects.filter(anonymised=True, returned_at__gte=midnights[-1], returned_at__lt=settled)
        .exclude(returned_at__in=midnights)
        .values_list("pk", flat=True)
    )
    for start in range(0, len(ids), ANONYMISE_BATCH):
        _blur_loan_times(ids[start : start + ANONYMISE_BATCH], now=now)
    return len(ids)


def _day_start(moment: datetime.datetime | datetime.date) -> datetime.datetime:
    """The library's midnight starting ``moment``'s day (or that day's)."""
    day = timezone.localdate(moment) if isinstance(moment, datetime.datetime) else moment
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _blur_closings(request_ids: list[int]) -> None:
    """A forgotten loan's request closed at the hand-over, to the microsecond, as did the
    visit's other requests: its closing, and its events from then on (the admin shows
    them), go back to the hour, or to when it was ready if that is later (the statistics'
    wait to collect stays right to the hour, and never below nothing). Two statements
    for a whole batch, the events first: they are matched by the closing still there."""
    closed = Request.objects.filter(pk__in=request_ids, closed_at__isnull=False)
    blurred = _blurred_closing()
    RequestEvent.objects.filter(request__in=closed, at__gte=F("request__closed_at")).update(
        at=Subquery(Request.objects.filter(pk=OuterRef("request_id")).values(blurred=blurred)[:1])
    )
    closed.update(closed_at=blurred)


def _blurred_closing():
    """A request's closing to the hour (in UTC, as stored: the same hour wherever the
    offset is whole hours), or when it was ready if later."""
    hour = Trunc("closed_at", "hour", output_field=DateTimeField(), tzinfo=datetime.UTC)
    return Greatest(hour, Coalesce("ready_at", hour))


def _forgotten_at_return(loan: Loan) -> bool:
    """Whether a loan forgets its borrower the moment it is returned: the patron's own
    choice first (Koha's patron privacy), else the loan policy's."""
    choice = Patron.objects.filter(pk=loan.patron_id).values_list("loan_history", flat=True).first()
    if choice == LoanHistory.KEEP:
        return False
    return choice == LoanHistory.FORGET or loan_policy(loan.copy.doc_type).anonymise_after_days == 0


def _forget_if_chosen_meanwhile(loan_id: int) -> None:
    loans = Loan.objects.filter(pk=loan_id, anonymised=False, patron__loan_history=LoanHistory.FORGET)
    anonymise_loans(loans)


def anonymise_returned(now=None, *, limit: int = ANONYMISE_BATCH) -> int:
    """Forget who borrowed returned documents once their policy's delay has passed, or at
    once for patrons who asked to be forgotten; never for patrons who asked to keep
    their history (until they change their mind). At most ``limit`` loans a call (the
    scheduler calls again while a call does a full batch: after an upgrade that shortens
    the rules, months of loans are due at once)."""
    now = now or timezone.now()
    returned = Loan.objects.filter(returned_at__lte=now, anonymised=False)
    due = [returned.filter(patron__loan_history=LoanHistory.FORGET)]
    returned = returned.exclude(patron__loan_history=LoanHistory.KEEP)
    for rules in LoanPolicy.objects.all():
        loans = returned.filter(returned_at__lte=now - datetime.timedelta(days=rules.anonymise_after_days))
        if rules.doc_type:
            loans = loans.filter(copy__doc_type=rules.doc_type)
        else:
            specific = LoanPolicy.objects.exclude(doc_type="").values("doc_type")
            loans = loans.exclude(copy__doc_type__in=specific)
        due.append(loans)
    if not LoanPolicy.objects.filter(doc_type="").exists():
        # No default row: the built-in default forgets at return.
        due.append(returned.exclude(copy__doc_type__in=LoanPolicy.objects.values("doc_type")))
    count = 0
    for loans in due:
        if count >= limit:
            break
        ids = list(loans.values_list("pk", flat=True)[: limit - count])
        count += anonymise_loans(Loan.objects.filter(pk__in=ids))
    return count
