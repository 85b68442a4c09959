"""The waiting list: requests that wait for a copy, and the copies that come to them.

A copy comes free at its library (a return, a cancellation, an expiry: ``release_copy``,
``free_held_copy``) and goes to the oldest waiting request that may take it; the sweep
(``serve_waiting``) gives those back on a shelf some other way to the requests waiting
for them; a placement serves its title's queue first (``serve_queue_first``). A copy not
found moves its request to another copy, or back to waiting (``retarget_or_close``), and
a request no copy can ever serve is closed (``close_waiting_without_copies``).
"""

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from emporter.catalogue.models import ABSENT, Copy, CopyStatus, Record
from emporter.network.models import ServiceMode

from . import allocation, policy
from .eligibility import (
    borrowing_patrons,
    copies_it_could_take,
    may_take_type,
    take_copy_for,
    taking,
    types_counted_alone,
)
from .lifecycle import transition
from .models import Request, Status


def free_held_copy(*, copy: Copy, pickup_branch_id: int, actor=None) -> Request | None:
    """The request that held ``copy`` is over (cancelled, expired): the copy is free, and
    what that means depends on where it is. Never marked on a shelf it is not on:

    - still on its own shelves (set aside, not pulled yet): free at once (``release_copy``);
    - on its way to the pickup branch: it stays in transit, now going home;
    - in a bag at another branch: in transit home from now, as Koha does; the pickup
      branch lists it to send back (desk "back to the shelves") and a scan there says so;
    - in a bag at its own branch: it stays on the hold shelf, listed for staff to take
      out; scanned at the returns desk it goes on the shelf or to the oldest waiting
      request then (``desk.services.receive_home``), as a return would.

    The waiting list is served by a copy in hand at home, not by one in a bag or a van:
    a request served from the hold shelf at once would send tomorrow's picker to a shelf
    it is not on. Returns the request served, if any."""
    if copy.status == CopyStatus.SET_ASIDE:
        return release_copy(copy=copy, actor=actor)
    if copy.status == CopyStatus.HOLD_SHELF and copy.branch_id != pickup_branch_id:
        Copy.objects.filter(pk=copy.pk, status=CopyStatus.HOLD_SHELF).update(
            status=CopyStatus.IN_TRANSIT, updated_at=timezone.now()
        )
    return None


def release_copy(*, copy: Copy, actor=None) -> Request | None:
    """A copy in hand at its own library is free again: give it to the oldest waiting
    request that can use it, else put it back on the shelf. Returns the request served.

    Only for a copy that is at home (a return there, a copy back from elsewhere or out
    of a bag, a copy not pulled yet): elsewhere, see ``free_held_copy``."""
    Copy.objects.filter(pk=copy.pk).update(status=CopyStatus.ON_SHELF, updated_at=timezone.now())
    if not allocation.takeable_copies(record=copy.record_id).filter(pk=copy.pk).exists():
        # A closed library lends nothing (its shelves wait for it to reopen); a copy with
        # no barcode, or in a reference collection, is not for requests: it is shelved.
        return None
    for request in _waiting_for(copy):
        rules = policy.resolve(branch=request.pickup_branch, category=request.patron.category)
        if not types_counted_alone(request, rules, copy.doc_type):
            continue  # its patron is placing a request now: the next copy or the sweep
        if not may_take_type(request, rules, copy.doc_type):
            continue  # keeps its place for a copy of another type, or for when it may
        taken = Copy.objects.filter(pk=copy.pk, status=CopyStatus.ON_SHELF).update(
            status=CopyStatus.SET_ASIDE, updated_at=timezone.now()
        )
        if not taken:
            return None
        freed = {"placed_at": timezone.now(), **taking(copy)}
        return transition(request, Status.PLACED, actor=actor, reason="copy_freed", **freed)
    return None


# Waiting requests read (and locked) at a time by ``release_copy``.
WAITING_PAGE = 20


def may_be_served_from(branch_id) -> Q:
    """Waiting requests (a condition on Request) a copy of library ``branch_id`` (an id
    or an OuterRef) may go to: not to be collected at a closed library (their place kept
    for when it reopens, or their patron chooses another), not of a blocked or expired
    card (their place kept too: Evergreen's CAPTURE block), and, for a copy of another
    library, not at a pickup library that lends only its own copies. One rule for the
    queue and for the door's "someone is waiting for it"."""
    open_pickup = ~Q(pickup_branch__service_mode=ServiceMode.CLOSED)
    any_copy = Q(pickup_branch_id=branch_id) | ~policy.own_branch_only()
    return open_pickup & borrowing_patrons("patron__") & any_copy


def _waiting_for(copy: Copy):
    """The requests waiting for ``copy``'s record that could take it, oldest first, page
    after page, each page locked as it is read: however many ahead of it cannot take
    it, the first that can is reached. Left out in SQL: those ``may_be_served_from``
    leaves out. Types and limits are the caller's to check."""
    waiting = (
        Request.objects.filter(record_id=copy.record_id, status=Status.WAITING)
        .filter(may_be_served_from(copy.branch_id))
        # Only the requests' rows: SKIP LOCKED over a join would also skip every request
        # whose patron (placing another request) or branch (a bag being opened) is locked.
        .select_for_update(skip_locked=True, of=("self",))
        .select_related("patron", "pickup_branch")
        .order_by("created_at", "pk")
    )
    page = waiting
    while rows := list(page[:WAITING_PAGE]):
        yield from rows
        last = rows[-1]
        after = Q(created_at__gt=last.created_at) | Q(created_at=last.created_at, pk__gt=last.pk)
        page = waiting.filter(after)


def serve_queue_first(record_id: int) -> None:
    """Those already waiting for the title are served before a newcomer takes a copy:
    one may have come back on a shelf without a return (an import, a library reopened,
    a request moved off a closed library) and wait there for the five-minute sweep. As
    Koha's holds queue, the oldest request first; the newcomer gets a copy only if one
    is left. Before the placement's transaction: a refusal of the newcomer (no waiting
    list there) must not undo the copies given to the queue. No actor: the placing
    patron did not serve those requests."""
    # Someone waits and a copy is on a shelf: one statement, the usual answer no.
    if not waiting_with_a_copy_on_a_shelf([record_id]).exists():
        return
    # One at a time: each pass looks again for a copy on a shelf, so the rest of a long
    # queue is not read once none is left.
    while serve_waiting(limit=1, records=[record_id], whole_queue=True):
        pass


def waiting_with_a_copy_on_a_shelf(record_ids: list[int]):
    """Waiting requests for ``record_ids`` while a copy of their record is on a shelf."""
    on_shelf = Exists(allocation.takeable_copies(record=OuterRef("record_id")))
    return Request.objects.filter(on_shelf, record_id__in=record_ids, status=Status.WAITING)


def retarget_or_close(*, request: Request, actor=None, note: str = "") -> Request:
    """The request's copy could not be found: silently move it to another copy (same
    branch first, then elsewhere if allowed). None free, but another that will come back
    (on loan, in someone's bag, at a closed library), where the rules keep a waiting
    list: the request waits with its place, as Koha and Evergreen keep a title's hold
    (told by nobody: the account shows it waiting, and a "ready" email lists it). Closed
    as not found, and the patron told, only when no other copy exists."""
    rules = policy.resolve(branch=request.pickup_branch, category=request.patron.category)
    copy = take_copy_for(request, rules)
    if copy is not None:
        return transition(
            request,
            Status.PLACED,
            actor=actor,
            reason="retarget",
            note=note,
            placed_at=timezone.now(),
            **taking(copy),
        )
    if rules.allow_waiting_list and _another_copy_will_come_back(request, rules):
        back = {"copy": None, "placed_at": None}  # its place is created_at
        return transition(request, Status.WAITING, actor=actor, reason="not_found_waiting", note=note, **back)
    return transition(request, Status.NOT_FOUND, actor=actor, reason="not_found", note=note)


def _another_copy_will_come_back(request: Request, rules: policy.Policy) -> bool:
    # Missing copies are lendable (one may turn up), but a waiting list behind nothing
    # but missing copies would never move: the patron is told it was not found. Nor
    # behind copies elsewhere, where the rules lend a library's own copies only, nor
    # behind copies of a type the library does not take requests for (placement refuses
    # such a title: type_not_requestable), which no sweep would ever give it.
    others = copies_it_could_take(request.record_id, request.pickup_branch_id, rules)
    return others.exclude(pk=request.copy_id).exclude(status=CopyStatus.MISSING).exists()


def serve_waiting(*, limit: int | None = 500, actor=None, records=None, whole_queue: bool = False) -> int:
    """Give a copy back on a shelf to the requests waiting for its record, oldest first
    (only those of ``records``, a queryset of record ids, when given).

    A copy usually comes back through ``release_copy`` (a return, a cancellation, an
    expiry), which serves the waiting list at once. Some come back another way: an
    import from the library system, an edit in the admin, a copy found again by staff, a
    library reopening (``holds.continuity.set_mode`` calls this for its shelves at once,
    so that nobody placing a request that minute jumps the queue). A placement for the
    title serves its queue first too (``serve_queue_first``). This sweep
    (jobs.schedule) makes sure none of them sits on a shelf while someone waits for it.
    ``whole_queue``: read past any number of requests that cannot take a copy (one
    title's queue, at a placement), not only PASSED_OVER times ``limit``.
    Returns how many requests were served."""
    # Only copies a request could take: with the shelves of a closed library counted,
    # hundreds of requests waiting for them would fill every batch and starve those a
    # copy elsewhere could serve.
    on_shelf = allocation.takeable_copies(record=OuterRef("record_id"))
    # And only copies the request's rules let it take: requests waiting at a library that
    # lends only its own copies, for titles on other libraries' shelves, would fill every
    # batch too, and keep a newer request a copy came back for waiting for good.
    at_pickup = on_shelf.filter(branch=OuterRef("pickup_branch_id"))
    reachable = Q(Exists(at_pickup)) | (Q(Exists(on_shelf)) & ~policy.own_branch_only())
    waiting = (
        Request.objects.filter(reachable, status=Status.WAITING)
        .exclude(pickup_branch__service_mode=ServiceMode.CLOSED)
        .filter(borrowing_patrons("patron__"))
    )
    if records is not None:
        waiting = waiting.filter(record_id__in=records)
    # Oldest first, page after page: a request passed over (its patron at that copy's
    # type limit, or the copy's type not requested there) must not hold the head of every
    # batch, keeping a newer request a copy came back for from it. At most PASSED_OVER
    # times ``limit`` rows are read a call.
    waiting = waiting.order_by("created_at", "pk").values_list("pk", "created_at")
    page_size = limit or 500
    served, read, after = 0, 0, None
    while limit is None or (served < limit and (whole_queue or read < limit * PASSED_OVER)):
        page = waiting
        if after is not None:
            page = page.filter(Q(created_at__gt=after[1]) | Q(created_at=after[1], pk__gt=after[0]))
        rows = list(page[:page_size])
        for request_id, _created in rows:
            served += _serve_one(request_id, actor=actor)
            if limit is not None and served >= limit:
                return served
        read += len(rows)
        if len(rows) < page_size:
            break
        after = rows[-1]
    return served


# How many times the batch a waiting sweep may read past requests it passes over.
PASSED_OVER = 10


def _serve_one(request_id: int, *, actor=None) -> int:
    """Give ``request_id``, if still waiting, a copy its rules and limits let it take: 1
    if it got one, else 0 (it keeps its place)."""
    with transaction.atomic():
        request = (
            Request.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("patron", "pickup_branch")
            .filter(pk=request_id, status=Status.WAITING)
            .first()
        )
        if request is None:  # served or cancelled meanwhile
            return 0
        if request.pickup_branch.service_mode == ServiceMode.CLOSED:  # closed since the page was read
            return 0
        rules = policy.resolve(branch=request.pickup_branch, category=request.patron.category)
        if not types_counted_alone(request, rules):
            return 0  # its patron is placing a request: next time
        copy = take_copy_for(request, rules)
        if copy is None:  # on a shelf its policy does not reach, not requestable, or a full type
            return 0
        freed = {"placed_at": timezone.now(), **taking(copy)}
        transition(request, Status.PLACED, actor=actor, reason="copy_freed", **freed)
        return 1


# How long a title's queue outlives its last copy: a copy written off is often replaced
# within the day (the new one catalogued an hour later), a location closed for an
# exhibition opened again.
STRANDED_AFTER = datetime.timedelta(days=1)
# How long a copy an export left out is thought to come back: a record being edited is
# listed again by the next export; one deleted at the source (weeded) never is.
ABSENT_FOR_GOOD_AFTER = datetime.timedelta(days=30)


def _could_come_back(record_ref):
    """Copies of ``record_ref`` that are, or may again be, lendable: lendable ones, those an
    import withdrew for missing from an export in the last ``ABSENT_FOR_GOOD_AFTER`` (the
    next export listing them brings them back: catalogue.importer "Weeding"), and any
    changed in the last ``STRANDED_AFTER``. A copy deleted leaves nothing to wait for."""
    copies = Copy.objects.filter(record_id=record_ref)
    now = timezone.now()
    return (
        copies.lendable()
        | copies.filter(
            status=CopyStatus.WITHDRAWN,
            source_codes__has_key=ABSENT,
            updated_at__gte=now - ABSENT_FOR_GOOD_AFTER,
        )
        | copies.filter(updated_at__gte=now - STRANDED_AFTER)
    )


def stranded_waiting():
    """The waiting requests no copy can ever serve, that ``close_waiting_without_copies``
    closes (docs/deploy.md lists them this way before an upgrade's first pass)."""
    could = _could_come_back(OuterRef("record_id"))
    # At a library whose rules lend only its own copies, only its own count: those of
    # other libraries never come to it (release_copy, serve_waiting pass it over).
    none_of_its_own = policy.own_branch_only() & ~Exists(could.filter(branch=OuterRef("pickup_branch_id")))
    # A record merged into another at the source (catalogue.importer.mark_merged): its
    # requests follow its copies (holds.merges), they are not stranded.
    return Request.objects.filter(
        ~Exists(could) | none_of_its_own, status=Status.WAITING, record__merged_into__isnull=True
    )


def _may_yet_be_served(request: Request) -> bool:
    """``stranded_waiting``'s rule for one request, looked at again under its lock."""
    copies = _could_come_back(request.record_id)
    rules = policy.resolve(branch=request.pickup_branch_id, category=request.patron.category)
    if not rules.allow_other_branches:
        copies = copies.filter(branch_id=request.pickup_branch_id)
    return copies.exists()


def close_waiting_without_copies(*, limit: int = 500, actor=None) -> int:
    """Close, as not found, the waiting requests no copy can ever serve: their title's
    last lendable copies were withdrawn (written off) or moved to a reference collection
    over a day ago (``STRANDED_AFTER``), left out of the exports for a month, or
    deleted; at a library that lends only its own copies, the last of its own.
    Placement refuses such a title (``nothing_to_lend``); a request left waiting
    for one would never move, take one of its patron's places for good, and tell them
    nothing. The patron is told, as when a picker finds nothing (the notice reads the
    event). Returns how many were closed."""
    stranded = stranded_waiting().order_by("created_at", "pk").values_list("pk", flat=True)
    closed = 0
    for request_id in list(stranded[:limit]):
        with transaction.atomic():
            request = (
                Request.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("patron")
                .filter(pk=request_id, status=Status.WAITING)
                .first()
            )
            if request is None:  # served, cancelled or being changed meanwhile
                continue
            # The record's row, as every copy write takes it (its availability summary):
            # a copy being added now is seen, or waits for this.
            record = Record.objects.select_for_update().filter(pk=request.record_id)
            if record.values_list("merged_into_id", flat=True).first() is not None:
                continue  # merged at the source meanwhile: holds.merges moves it
            if _may_yet_be_served(request):
                continue
            transition(request, Status.NOT_FOUND, actor=actor, reason="no_copy_left")
            closed += 1
    return closed
