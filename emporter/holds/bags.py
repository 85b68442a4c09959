"""Bags on the hold shelf: a patron's ready documents put in one labelled bag, held until
a deadline on the pickup library's calendar, kept longer by staff, expired when not
collected, and forgotten once empty.
"""

import datetime
import logging

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from emporter import adminlog
from emporter.catalogue.models import Copy, CopyStatus
from emporter.dates import long_date
from emporter.errors import ServiceError
from emporter.folding import fold
from emporter.network.calendar import nth_working_day, works_on
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.models import Patron

from . import policy
from .lifecycle import record_event, transition
from .models import HOLDING_COPY, Bag, Request, Status
from .waiting import free_held_copy, release_copy

logger = logging.getLogger(__name__)


def close_bag_if_done(*, bag_id: int | None) -> bool:
    """Close the bag once nothing ready is left in it (handed over, expired, cancelled).

    The bag row is locked before looking: two documents of one bag cancelled at once
    would otherwise each see the other still ready, and leave an empty bag open.
    Callers lock their requests first, then the bag (as ``make_ready`` does)."""
    if bag_id is None:
        return False
    if Bag.objects.select_for_update().filter(pk=bag_id, state=Bag.State.OPEN).first() is None:
        return False
    if Request.objects.filter(bag_id=bag_id, status=Status.READY).exists():
        return False
    Bag.objects.filter(pk=bag_id).update(state=Bag.State.CLOSED, closed_at=timezone.now())
    return True


def _bag_for(*, patron: Patron, branch: Branch) -> Bag:
    """The patron's open bag at ``branch``, created with a free label if needed.

    Labels are the initial of the surname and a number (``M007``): staff shelve bags
    alphabetically, the way patrons give their name at the door."""
    open_bags = Bag.objects.filter(branch=branch, state=Bag.State.OPEN)
    bag = open_bags.filter(patron=patron).first()
    if bag:
        return bag
    # Two pickers may be filling bags at this branch at once: the branch row lock makes
    # choosing a free label and creating the bag one step. Then look again.
    # FOR NO KEY UPDATE: a plain FOR UPDATE would also block the foreign-key checks of
    # every transaction writing a row that points at this branch (an event, a request).
    Branch.objects.select_for_update(no_key=True).filter(pk=branch.pk).first()
    bag = open_bags.filter(patron=patron).first()
    if bag:
        return bag
    initial = _initial(patron.last_name) or "X"
    used = set(open_bags.filter(label__startswith=initial).values_list("label", flat=True))
    # And the labels of bags closed (expired, cancelled) whose documents are still in
    # them until staff take them out: this library's copies on the hold shelf, other
    # libraries' waiting for the van home (free_held_copy). Two "D001" side by side
    # would be one too many.
    # The one rule for "still in its bag" (still_in_a_bag, as the door and the "back to
    # the shelves" list read it): a copy a later request took since is not this bag's.
    left_in_it = Request.objects.filter(
        still_in_a_bag(), bag=OuterRef("pk"), status__in=[Status.EXPIRED, Status.CANCELLED]
    )
    left_on_shelf = Bag.objects.filter(
        Exists(left_in_it), branch=branch, state=Bag.State.CLOSED, label__startswith=initial
    )
    used |= set(left_on_shelf.values_list("label", flat=True))
    number = next(n for n in range(1, 10_000) if f"{initial}{n:03d}" not in used)
    return Bag.objects.create(patron=patron, branch=branch, label=f"{initial}{number:03d}")


def _initial(name: str) -> str:
    # Folded as names are everywhere: Øvergaard under O and Łukasiewicz under L, where
    # dropping what is not ASCII shelved them under their second letter (V, U).
    first = fold(name.strip())[:1]
    return first.upper() if first.isascii() and first.isalpha() else ""


def make_ready(*, request: Request, actor=None, today=None) -> Request:
    """The copy is at the pickup branch: put it in the patron's bag with a deadline.

    The deadline is the end of the N-th open day of the pickup branch after today
    (N from the policy), so the closed days and holidays known today never eat into it.
    One entered later moves the deadline only when it falls on the last day
    (``spare_closed_last_days``, Koha's ExpireReservesOnHolidays): a deadline set is
    not recomputed, and staff may have set it by hand. A bag has one
    deadline, the one its label and the patron's email give: the latest of its
    documents', and every ready document in it is held until then."""
    today = today or timezone.localdate()
    rules = policy.resolve(branch=request.pickup_branch, category=request.patron.category)
    hold_until = hold_deadline(request.pickup_branch, today, rules.hold_days)
    # Locks in the order the others take them. The open bag's ready requests first (the
    # door's hand-over locks a household's ready requests, then changes their copies);
    # then the copy, which locks its title's record (the availability triggers); then the
    # branch, to label a new bag (a return changes its copy, then labels a bag). Any other
    # order, a picker and the door, or a picker and a return, on one title each held what
    # the other waited for.
    _lock_ready_in_open_bag(patron=request.patron, branch=request.pickup_branch)
    Copy.objects.filter(pk=request.copy_id).update(status=CopyStatus.HOLD_SHELF, updated_at=timezone.now())
    bag, hold_until = _put_in_bag(patron=request.patron, branch=request.pickup_branch, hold_until=hold_until)
    return transition(request, Status.READY, actor=actor, reason="found", bag=bag, hold_until=hold_until)


def _lock_ready_in_open_bag(*, patron: Patron, branch: Branch) -> None:
    ready = Request.objects.filter(
        bag__patron=patron, bag__branch=branch, bag__state=Bag.State.OPEN, status=Status.READY
    )
    list(ready.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))


def hold_deadline(branch: Branch, today: datetime.date, days: int) -> datetime.date:
    """The end of the ``days``-th open day of ``branch`` after today. A library whose
    hours are not entered yet (switched to click and collect first) holds for ``days``
    days it works on (``works_on``: every day but its closed dates), so never until a
    holiday. A calendar with no such days in a year holds for ``days`` calendar days: the
    picker, copy in hand, must not get an error page for it."""
    try:
        return nth_working_day(branch, today + datetime.timedelta(days=1), days)
    except ValueError as error:
        logger.warning("hold deadline in calendar days: %s", error)
        return today + datetime.timedelta(days=days)


def copy_in_hand(*, request: Request, at_branch_id: int, actor=None) -> Request:
    """The copy ``request`` holds is in a librarian's hand at ``at_branch_id``: pulled
    from its shelf, or scanned at returns for the request it just went to (a return, a
    copy back home, a missing copy found). Into the patron's bag if they collect here,
    else on its way to their library; as Koha traps a hold at check-in, so a copy never
    waits on a trolley for a picker who would look for it on its shelf."""
    if request.pickup_branch_id == at_branch_id:
        return make_ready(request=request, actor=actor)
    Copy.objects.filter(pk=request.copy_id).update(status=CopyStatus.IN_TRANSIT, updated_at=timezone.now())
    return transition(request, Status.PLACED, actor=actor, reason="in_transit")


def release_copy_in_hand(*, copy: Copy, actor=None) -> Request | None:
    """``release_copy`` for a copy a librarian holds at its own library (a return, a
    copy back home, a missing copy found): the request it goes to gets it at once
    (``copy_in_hand``). Returns the request served, if any."""
    served = release_copy(copy=copy, actor=actor)
    if served is None:
        return None
    return copy_in_hand(request=served, at_branch_id=copy.branch_id, actor=actor)


def _put_in_bag(*, patron: Patron, branch: Branch, hold_until: datetime.date) -> tuple[Bag, datetime.date]:
    """The patron's open bag at ``branch`` and its deadline, moved to ``hold_until`` if
    that is later, with the deadline of every ready document in it.

    Locks, in the order cancel, expiry and hand-over take them: the bag's ready requests,
    then the bag (a bag locked first, then a request, would deadlock with a cancel). A bag
    closed meanwhile (its last document handed over) is not filled: a new one is opened."""
    for _attempt in range(3):
        bag = _bag_for(patron=patron, branch=branch)
        ready = Request.objects.filter(bag=bag, status=Status.READY)
        list(ready.select_for_update(of=("self",)).order_by("pk").values_list("pk", flat=True))
        bag = Bag.objects.select_for_update().filter(pk=bag.pk, state=Bag.State.OPEN).first()
        if bag is not None:
            break
    else:
        raise ServiceError("conflict")
    deadline = max(bag.hold_until or hold_until, hold_until)
    if bag.hold_until != deadline:
        Bag.objects.filter(pk=bag.pk).update(hold_until=deadline)
    # Guarded: only ready documents, and only to move a deadline later.
    ready.filter(hold_until__lt=deadline).update(hold_until=deadline)
    return bag, deadline


# How long past today a librarian may keep a bag (a patron ill or away phones): beyond,
# its documents are better back on the shelves for others.
KEEP_AT_MOST_DAYS = 30


def keep_bag_until(*, bag_id: int, until: datetime.date, actor=None, today=None) -> Bag:
    """Keep an open bag on the hold shelf until ``until``, a later open day of its library
    within KEEP_AT_MOST_DAYS, as Koha's and Evergreen's staff move a waiting hold's expiry.
    Its ready documents follow; each gets an event (who, when). The reminder goes again
    on the eve of the new last day. Locks as ``_put_in_bag``."""
    today = today or timezone.localdate()
    with transaction.atomic():
        ready = Request.objects.filter(bag_id=bag_id, status=Status.READY)
        requests = list(ready.select_for_update(of=("self",)).order_by("pk"))
        bag = Bag.objects.select_for_update(of=("self",)).select_related("branch").get(pk=bag_id)
        if bag.state != Bag.State.OPEN or not requests:
            raise ServiceError("bag_not_ready")
        if until <= max(bag.hold_until or today, today):
            raise ServiceError("keep_not_later", date=long_date(bag.hold_until or today))
        if until > today + datetime.timedelta(days=KEEP_AT_MOST_DAYS):
            raise ServiceError("keep_too_long", days=KEEP_AT_MOST_DAYS)
        if not works_on(bag.branch, until):
            raise ServiceError("keep_closed_day", branch=bag.branch.name, date=long_date(until))
        Bag.objects.filter(pk=bag.pk).update(hold_until=until)
        ready.update(hold_until=until)
        for request in requests:
            request.hold_until = until
            record_event(request, old=Status.READY, actor=actor, reason="hold_extended")
        bag.hold_until = until
    return bag


def expire_overdue(*, today=None, actor=None, limit: int = 500, spare: bool = True) -> int:
    """Ready requests past their deadline expire, at most ``limit`` a call (the scheduler
    calls it again while it finds a full batch: a morning of 60,000 bags at a few
    milliseconds each must not hold every other job for minutes); their copies go where
    they now belong (``free_held_copy``), emptied bags close, and the patron is told (the
    event feeds the notice). Safe to run often. ``spare``: first hold to the next open
    day the bags whose last day turned out closed (``spare_closed_last_days``); the
    scheduler does it once a turn, not before each batch."""
    today = today or timezone.localdate()
    if spare:
        spare_closed_last_days(today)
    expired = 0
    # Nobody can collect at a closed library: its bags wait, and get their days back
    # when it reopens (extend_after_reopening).
    overdue = (
        Request.objects.filter(status=Status.READY, hold_until__lt=today)
        .exclude(pickup_branch__service_mode=ServiceMode.CLOSED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for request_id in list(overdue[:limit]):
        with transaction.atomic():
            request = (
                Request.objects.select_for_update(of=("self",)).select_related("copy").get(pk=request_id)
            )
            # Kept longer meanwhile (the phone desk, keep_bag_until): read again, locked.
            if request.status != Status.READY or (request.hold_until and request.hold_until >= today):
                continue
            transition(request, Status.EXPIRED, actor=actor, reason="expired")
            free_held_copy(copy=request.copy, pickup_branch_id=request.pickup_branch_id, actor=actor)
            close_bag_if_done(bag_id=request.bag_id)
            expired += 1
    return expired


def spare_closed_last_days(today: datetime.date) -> int:
    """A bag whose last day turned out closed (a strike, a holiday entered after the bag
    was made, hours changed) is held to the next open day: its patron could not come
    that day (Koha's ExpireReservesOnHolidays). Done as soon as the closing is known, not
    once the day has passed: the reminder, the account page and the door then show the
    right day. Read per library and last day (a few hundred pairs however many bags).
    Locks in the order of ``_put_in_bag``: the bag's ready requests, then the bag."""
    spared = 0
    open_bags = Bag.objects.filter(state=Bag.State.OPEN, hold_until__isnull=False).exclude(
        branch__service_mode=ServiceMode.CLOSED
    )
    pairs = list(open_bags.values_list("branch_id", "hold_until").distinct().order_by())
    branches = Branch.objects.in_bulk({branch_id for branch_id, _ in pairs})
    for branch_id, last_day in pairs:
        try:
            # Its last day itself when that is open (or, its hours not entered yet, not a
            # closed date: ``works_on``): nothing to do.
            later = nth_working_day(branches[branch_id], last_day, 1)
        except ValueError:
            continue  # no day it works on within a year: nothing to hold it to
        if later == last_day or later < today:
            continue  # its last day is open, or the next open day is gone too: over
        for bag in open_bags.filter(branch_id=branch_id, hold_until=last_day):
            spared += _hold_bag_to(bag, last_day, later)
    return spared


def _hold_bag_to(bag: Bag, last_day: datetime.date, later: datetime.date) -> int:
    with transaction.atomic():
        ready = Request.objects.filter(bag=bag, status=Status.READY)
        held = list(ready.select_for_update(of=("self",)).order_by("pk"))
        if not Bag.objects.filter(pk=bag.pk, state=Bag.State.OPEN, hold_until=last_day).update(
            hold_until=later
        ):
            return 0  # collected or moved meanwhile
        _move_deadlines(held, later)
    return 1


def _move_deadlines(requests: list[Request], deadline: datetime.date) -> None:
    """Ready ``requests`` (locked) are held until ``deadline`` where that is later, each
    with an event: a client syncing the requests changed since a time (the API's
    ``since``) sees the new last day. No email tells it (the reminder gives the day)."""
    for request in requests:
        if request.hold_until is None or request.hold_until < deadline:
            Request.objects.filter(pk=request.pk).update(hold_until=deadline)
            record_event(request, old=Status.READY, reason="hold_extended")


def extend_after_reopening(*, branch: Branch, today=None) -> int:
    """The bags that waited at ``branch`` while it was closed are held as if they had
    just been put on its shelf (the policy's open days from tomorrow, as ``make_ready``
    counts), when that is later than their deadline. Returns how many bags were given
    days back."""
    today = today or timezone.localdate()
    extended = 0
    bags = Bag.objects.filter(branch=branch, state=Bag.State.OPEN).select_related("patron")
    for bag in bags:
        rules = policy.resolve(branch=branch, category=bag.patron.category)
        deadline = hold_deadline(branch, today, rules.hold_days)
        with transaction.atomic():
            ready = Request.objects.filter(bag=bag, status=Status.READY)
            held = list(ready.select_for_update(of=("self",)).order_by("pk"))
            if not Bag.objects.filter(pk=bag.pk, hold_until__lt=deadline).update(hold_until=deadline):
                continue
            _move_deadlines(held, deadline)
            extended += 1
    return extended


def still_in_a_bag() -> Q:
    """Closed requests (a condition on Request) whose copy is still in their bag: on the
    hold shelf, or travelling home from it, held by no other request. The bag's label is
    what tells staff where it is (``_bag_for`` keeps it from a new bag): such a request
    keeps its patron and bag until the copy is scanned out."""
    holder = Request.objects.filter(copy=OuterRef("copy_id"), status__in=HOLDING_COPY)
    # Taken by a later request since (scanned out, lent, returned elsewhere, in another
    # bag now): where it is is no longer this request's doing.
    later = Request.objects.filter(copy=OuterRef("copy_id"), placed_at__gt=OuterRef("closed_at"))
    in_bag = Q(bag__isnull=False, copy__status__in=[CopyStatus.HOLD_SHELF, CopyStatus.IN_TRANSIT])
    return in_bag & ~Q(Exists(holder)) & ~Q(Exists(later))


def forget_empty_bags(bag_ids=None, *, limit: int = 500) -> int:
    """Delete closed bags no request is in any longer (of ``bag_ids``, or any, ``limit``
    at most): a bag names its patron, and its closing time is the loan's to the second (a
    join would name the borrower of a forgotten loan). Their pickup appointments go with
    them. Returns how many bags were deleted."""
    bags = Bag.objects.filter(state=Bag.State.CLOSED).exclude(
        Exists(Request.objects.filter(bag=OuterRef("pk")))
    )
    if bag_ids is not None:
        bags = bags.filter(pk__in=bag_ids)
    else:
        bags = Bag.objects.filter(pk__in=list(bags.values_list("pk", flat=True)[:limit]))
    adminlog.forget_lines(Bag, list(bags.values_list("pk", flat=True)))
    return bags.delete()[1].get(Bag._meta.label, 0)
