"""Writes about requests: placing them (one by one or a whole basket) and cancelling.

Each request is placed in its own transaction, so one refusal never sinks the rest of
a basket. Inside it, the patron's row is locked first: a patron's placements are then
serialised by the database, which is what makes the limits hold under concurrency
(20 simultaneous clicks by one patron, limit 8 → exactly 8 requests).
"""

import datetime
import hashlib
import logging
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from emporter import adminlog
from emporter.catalogue.models import ABSENT, HAND_SET_STATUSES, Copy, CopyStatus, DocType, Record
from emporter.dates import long_date
from emporter.errors import ServiceError
from emporter.network.calendar import nth_working_day, works_on
from emporter.network.models import Branch, ServiceMode, closed_for_a_while
from emporter.patrons.models import Patron

from . import allocation, policy
from .lifecycle import record_event, transition
from .models import ACTIVE, HOLDING_COPY, Bag, Channel, Request, RequestEvent, Status, patron_pseudonym

logger = logging.getLogger(__name__)


@dataclass
class Outcome:
    record_id: int
    request: Request | None = None
    error: ServiceError | None = None
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


def place_requests(
    *,
    patron: Patron,
    record_ids: Iterable[int],
    pickup_branch: Branch,
    channel: str = Channel.ONLINE,
    actor=None,
    idempotency_key: str | None = None,
    theirs: bool = False,
) -> list[Outcome]:
    """Place one request per record; each outcome says what happened or why not.

    With an ``idempotency_key``, a retried call returns the requests the first one
    placed. The key is the caller's within one channel (a patron's key cannot replay what
    the phone desk placed for them), and it stands for one call: used again with other
    documents or another pickup library, it is refused (``idempotency_key_reused``)
    rather than half-replayed."""
    outcomes = []
    record_ids = list(dict.fromkeys(record_ids))  # de-duplicated, order kept
    call = call_fingerprint(record_ids, pickup_branch) if idempotency_key else ""
    household_key = None
    if idempotency_key:
        household_key = _HouseholdKey.of(actor, f"{channel}:{idempotency_key} ", patron)
        if household_key and household_key.used_for_someone_else():
            error = ServiceError("idempotency_key_reused")
            return [Outcome(record_id, error=error) for record_id in record_ids]
    shared = _Basket.read(patron, record_ids, pickup_branch) if record_ids else None
    for record_id in record_ids:
        # A space ends the caller's key: the API refuses spaces in keys, so no key is
        # the beginning of another one ("a" and "a:1").
        key = f"{channel}:{idempotency_key} {record_id}" if idempotency_key else None
        try:
            request, replayed = place_request(
                patron=patron,
                record_id=record_id,
                pickup_branch=pickup_branch,
                channel=channel,
                actor=actor,
                idempotency_key=key,
                idempotency_fingerprint=call,
                theirs=theirs,
                basket=shared,
                household_key=household_key,
            )
            outcomes.append(Outcome(record_id, request=request, replayed=replayed))
        except ServiceError as error:
            outcomes.append(Outcome(record_id, error=error))
    return outcomes


@dataclass
class _HouseholdKey:
    """A card holder's key, for a patron of their household: it stands for one call, so
    used for another patron of the household (a guardian's app, for another child) it is
    refused rather than placing a second basket. Read per patron of the household, as
    ``_replay`` reads (the key's index): not across everything one staff account placed."""

    holder_id: int
    others: list[int]
    call_key: str

    @classmethod
    def of(cls, actor, call_key: str, patron: Patron) -> "_HouseholdKey | None":
        if actor is None or not actor.is_authenticated:
            return None
        holder = Patron.objects.filter(user=actor).first()
        if holder is None:  # staff: their keys are one per call shown (phone desk, surprise bags)
            return None
        others = [pk for pk in holder.household_ids() if pk != patron.pk]
        return cls(holder.pk, others, call_key) if others else None

    def used_for_someone_else(self) -> bool:
        used = Request.objects.filter(patron_id__in=self.others, idempotency_key__startswith=self.call_key)
        # startswith is LIKE, case-insensitive on SQLite: compared exactly here.
        return any(k.startswith(self.call_key) for k in used.values_list("idempotency_key", flat=True)[:20])

    def check_under_lock(self) -> None:
        """Again, the holder's row locked first: two calls with one key for two children
        at once each lock only their own child, and both placed their basket. A lock that
        leaves the row's key alone: a surprise bag asked meanwhile (its child locked, then
        its ``asked_by`` checked against this row) would deadlock with a full one."""
        Patron.objects.select_for_update(no_key=True).filter(pk=self.holder_id).first()
        if self.used_for_someone_else():
            raise ServiceError("idempotency_key_reused")


def call_fingerprint(record_ids: list[int], pickup_branch: Branch) -> str:
    body = f"{pickup_branch.pk}|{','.join(str(i) for i in sorted(record_ids))}"
    return hashlib.sha256(body.encode()).hexdigest()[:16]


@dataclass
class _Basket:
    """What a basket's documents share, read once before the first is placed (one basket
    is one moment): the records, and the rules for the pickup library and the patron's
    category and home library (``rules``, and ``limits``, their home library's). Read
    outside the patron's lock, which serialises only what the limits count."""

    pickup_branch_id: int
    category: str
    home_branch_id: int
    rules: policy.Policy
    limits: policy.Policy
    records: dict[int, Record]
    # The records someone waits for while a copy of them is on a shelf: their queue is
    # served before this basket's document (``_serve_queue_first``). Usually none.
    queued: set[int]

    @classmethod
    def read(cls, patron: Patron, record_ids: list[int], pickup_branch: Branch) -> "_Basket":
        home = patron.home_branch_id
        branches = list(dict.fromkeys([pickup_branch.pk, home]))
        each = policy.resolve_each(branches=branches, category=patron.category)
        return cls(
            pickup_branch_id=pickup_branch.pk,
            category=patron.category,
            home_branch_id=home,
            rules=each[pickup_branch.pk],
            limits=each[home],
            records=Record.objects.in_bulk(record_ids),
            queued=set(_waiting_with_a_copy_on_a_shelf(record_ids).values_list("record_id", flat=True)),
        )

    def rules_for(self, patron: Patron, pickup_branch: Branch) -> tuple[policy.Policy, policy.Policy] | None:
        """(rules, limits) for ``patron`` as locked, if those read for the basket are
        theirs (their category or home library changed since: None, read them again)."""
        same = (pickup_branch.pk, patron.category, patron.home_branch_id) == (
            self.pickup_branch_id,
            self.category,
            self.home_branch_id,
        )
        return (self.rules, self.limits) if same else None


def _mine(patron: Patron, key: str | None, fingerprint: str) -> list[Request]:
    """One read, under the patron's lock, of their requests a placement looks at: the
    active ones (what the limits count) and, with a key, those of this call's key (the
    replay). Read after the lock, not with it: a row locked after a wait is the latest,
    but the rest of a statement sees what was committed when it began."""
    mine = Q(status__in=ACTIVE)
    if key:
        mine |= Q(idempotency_key=key)
        if fingerprint:
            mine |= Q(idempotency_key__startswith=_call_key(key))
    return list(Request.objects.filter(Q(patron=patron) & mine))


def _call_key(key: str) -> str:
    return key.rsplit(" ", 1)[0] + " "


def _replay(requests: list[Request], *, key: str, fingerprint: str) -> Request | None:
    """The request a first call with this key placed for this record, if any; refused
    when the key was first used for another call (``requests``: read under the patron's
    lock by ``_mine``, so two calls racing with one key cannot both pass)."""
    if fingerprint:
        call_key = _call_key(key)
        # startswith is LIKE, case-insensitive on SQLite: the few candidates are
        # compared exactly here ("k-1" and "K-1" are two keys).
        others = [r for r in requests if r.idempotency_fingerprint != fingerprint]
        if any(r.idempotency_key and r.idempotency_key.startswith(call_key) for r in others):
            raise ServiceError("idempotency_key_reused")
    return next((r for r in requests if r.idempotency_key == key), None)


def check_patron(patron: Patron, *, theirs: bool = False) -> None:
    """A blocked card or an expired one asks for nothing and borrows nothing (requests,
    surprise bags, the door; a librarian may override at the door). ``theirs``: said to
    a guardian about the child's card, not "your card" (``child_…`` codes)."""
    if patron.blocked_reason:
        if theirs:
            raise ServiceError("child_blocked", name=patron.first_name, reason=patron.blocked_reason)
        raise ServiceError("patron_blocked", reason=patron.blocked_reason)
    if patron.card_expires and patron.card_expires < timezone.localdate():
        if theirs:
            raise ServiceError("child_card_expired", name=patron.first_name)
        raise ServiceError("card_expired")


def may_borrow(patron: Patron) -> bool:
    """``check_patron`` as a yes or no."""
    try:
        check_patron(patron)
    except ServiceError:
        return False
    return True


def borrowing_patrons(prefix: str = "") -> Q:
    """``may_borrow`` in SQL: a blocked or expired card's waiting requests keep their
    place but take no copy from the queue (the door would refuse the bag, and the next
    patron would wait for nothing); served once the card is in order again."""
    expires = f"{prefix}card_expires"
    in_date = Q(**{f"{expires}__isnull": True}) | Q(**{f"{expires}__gte": timezone.localdate()})
    return Q(**{f"{prefix}blocked_reason": ""}) & in_date


def _check_limits(
    patron: Patron,
    record: Record,
    rules: policy.Policy,
    active: list[Request],
    *,
    own_type: bool = True,
    theirs: bool = False,
) -> None:
    """The patron's limits for one more request of ``record``; its type's limit only when
    ``own_type`` (no copy could serve it: the record's type stands in for the copy's).
    ``active``: the patron's active requests, read under their lock (``_mine``).
    ``theirs``: said to a guardian placing for a child (``child_…`` codes)."""
    # The places an open surprise bag holds (its librarian composes it later).
    promised = policy.promised_places(patron)
    counts = {
        "total": len(active) + promised,
        "same": sum(r.record_id == record.pk for r in active),
        "of_type": sum(r.doc_type == record.doc_type for r in active),
    }
    if counts["same"]:
        raise ServiceError("already_requested")
    # Koha's AllowHoldsOnPatronsPossessions off: a copy the patron has at home is not set
    # aside again for them (a guardian asks on the child's own card). Read through the
    # copies' loans (the desk writes them; no import of it here).
    if Copy.objects.filter(record=record, loans__patron=patron, loans__returned_at__isnull=True).exists():
        raise ServiceError("already_on_loan")
    if counts["total"] >= rules.max_active:
        # Said as the child's to their guardian, and naming the surprise bag's places:
        # "8 active requests" to a patron who sees 3 would be a puzzle.
        child = {"name": patron.first_name} if theirs else {}
        code = "child_limit_reached" if theirs else "limit_reached"
        if promised:
            raise ServiceError(
                f"{code}_with_surprise",
                **child,
                requests=len(active),
                places=promised,
                limit=rules.max_active,
            )
        raise ServiceError(code, **child, limit=rules.max_active)
    type_limit = rules.type_limits.get(record.doc_type) if own_type else None
    if type_limit is not None and counts["of_type"] >= type_limit:
        raise ServiceError("type_limit_reached", limit=type_limit, doc_type=record.get_doc_type_display())


def _types_full(patron: Patron, rules: policy.Policy, *, besides: Request | None = None) -> list[str]:
    """The types whose limit the patron has reached: no copy of them is set aside for
    them, whatever the record's own type says. ``besides``: a waiting request about to
    take a copy, not counted (it counts as the type of what it takes)."""
    if not rules.type_limits:
        return []
    active = Request.objects.filter(patron=patron, status__in=ACTIVE, doc_type__in=list(rules.type_limits))
    if besides is not None:
        active = active.exclude(pk=besides.pk)
    counts = dict(active.values_list("doc_type").annotate(n=Count("pk")).order_by())
    return _types_at_limit(rules, counts)


def _types_at_limit(rules: policy.Policy, counts: dict[str, int]) -> list[str]:
    """The types whose limit ``counts`` (active requests by type) reach."""
    return [doc_type for doc_type, limit in rules.type_limits.items() if counts.get(doc_type, 0) >= limit]


def _taking(copy: Copy) -> dict:
    """A request's fields when it takes ``copy``: it counts as the type of what is set
    aside (the limits are per type: a record "book" whose copy is a DVD is a DVD)."""
    return {"copy": copy, "doc_type": copy.doc_type}


def _types_that_could_serve(record: Record, pickup_branch: Branch, rules, limits) -> set[str] | None:
    """The types of the copies that could ever serve a request of ``record`` collected at
    ``pickup_branch`` (``_copies_that_could_serve``); None where no rule names a type:
    then types change nothing, and the query is saved."""
    if not (rules.requestable_types or limits.type_limits):
        return None
    copies = _copies_that_could_serve(record.pk, pickup_branch.pk, rules)
    return set(copies.values_list("doc_type", flat=True))


def _check_record_type(record: Record, rules, types: set[str] | None) -> None:
    """The record's own type decides only when no copy could serve it (the usual answers
    follow: no copy, nothing to lend); otherwise its copies' types do (a record typed DVD
    whose copies are books is lent as books)."""
    if not types and not rules.can_request_type(record.doc_type):
        raise ServiceError("type_not_requestable", doc_type=record.get_doc_type_display())


def _waiting_type(record: Record, rules, types: set[str] | None, full: list[str]) -> str:
    """What a request waiting for a copy counts as meanwhile: the record's type when a
    copy of it could serve, else the first type of a copy it could take."""
    usable = sorted(t for t in types or () if rules.can_request_type(t) and t not in full)
    return record.doc_type if not usable or record.doc_type in usable else usable[0]


def _refuse_by_copy_type(record: Record, rules, limits, full: list[str], types: set[str] | None) -> None:
    """No copy taken: when every copy that could ever serve it (on the shelf, on loan,
    elsewhere where the rules allow) is of a type not requested, or one whose limit the
    patron reached, said by its type, rather than a wait that would never end or would
    end past the limit."""
    if not types or any(rules.can_request_type(t) and t not in full for t in types):
        return  # no copy at all, or one of a type it may take: the usual answers
    if reached := sorted(t for t in types if t in full):
        limit = limits.type_limits[reached[0]]
        raise ServiceError("type_limit_reached", limit=limit, doc_type=_type_label(reached[0]))
    raise ServiceError("type_not_requestable", doc_type=_type_label(sorted(types)[0]))


def _copies_that_could_serve(record_id: int, pickup_branch_id: int, rules: policy.Policy):
    """The copies that are, or may come back, on a shelf a request collected at
    ``pickup_branch_id`` takes from: lendable ones, at that library only where the rules
    lend a library's own copies only."""
    copies = Copy.objects.lendable().filter(record_id=record_id)
    if not rules.allow_other_branches:
        copies = copies.filter(branch_id=pickup_branch_id)
    return copies


def _type_label(doc_type: str) -> str:
    return dict(DocType.choices).get(doc_type, doc_type)


def place_request(
    *,
    patron: Patron,
    record_id: int,
    pickup_branch: Branch,
    channel: str = Channel.ONLINE,
    actor=None,
    idempotency_key: str | None = None,
    idempotency_fingerprint: str = "",
    theirs: bool = False,
    basket: _Basket | None = None,
    household_key: _HouseholdKey | None = None,
) -> tuple[Request, bool]:
    """Place one request and set a copy aside; returns (request, replayed). ``theirs``:
    placed by a guardian for a child, whose card refusing is said as the child's.
    ``basket``: what ``place_requests`` read once for all the documents."""
    if basket is None or record_id in basket.queued:
        _serve_queue_first(record_id)
    try:
        with transaction.atomic():
            if household_key is not None:  # its holder's row, then the patron's
                household_key.check_under_lock()
            patron = Patron.objects.select_for_update().filter(pk=patron.pk).first()
            if patron is None:  # erased while this waited for their row
                raise ServiceError("patron_gone")
            mine = _mine(patron, idempotency_key, idempotency_fingerprint)
            if idempotency_key:
                previous = _replay(mine, key=idempotency_key, fingerprint=idempotency_fingerprint)
                if previous:
                    # A retry gets what the first call placed, whatever changed since
                    # (the library closed, the patron's card expired).
                    return previous, True
            if not pickup_branch.accepts_requests:
                raise ServiceError("branch_not_accepting", branch=pickup_branch.name)
            check_patron(patron, theirs=theirs)
            if basket is not None:
                record = basket.records.get(record_id)
            else:
                record = Record.objects.filter(pk=record_id).first()
            if record is None:  # deleted since it was put in a basket, or a made-up id
                raise ServiceError("unknown_record")
            if basket is None or (both := basket.rules_for(patron, pickup_branch)) is None:
                rules = policy.resolve(branch=pickup_branch, category=patron.category)
                limits = rules if pickup_branch.pk == patron.home_branch_id else policy.limits_for(patron)
            else:
                rules, limits = both
            active = [r for r in mine if r.status in ACTIVE]
            types = _types_that_could_serve(record, pickup_branch, rules, limits)
            _check_record_type(record, rules, types)
            _check_limits(patron, record, limits, active, own_type=not types, theirs=theirs)
            full = _types_at_limit(limits, Counter(r.doc_type for r in active))
            copy = allocation.take_copy(
                record=record, pickup_branch=pickup_branch, policy=rules, exclude_types=full
            )
            if copy is None:
                _refuse_by_copy_type(record, rules, limits, full, types)
            if copy is None and not _copies_that_could_serve(record.pk, pickup_branch.pk, rules).exists():
                # A waiting list that would never move (no copy to lend, or none of its
                # own at a library that lends only those, as Koha refuses such a hold):
                # said apart for a title with no copy at all (on order, its items
                # skipped at import).
                no_copy = not Copy.objects.filter(record=record).exists()
                if no_copy and basket is not None and not Record.objects.filter(pk=record.pk).exists():
                    # Deleted (its copies with it) since the basket's records were read.
                    raise ServiceError("unknown_record")
                if not no_copy and Copy.objects.lendable().filter(record=record).exists():
                    raise ServiceError("none_of_its_own", branch=pickup_branch.name)  # others lend it
                raise ServiceError("no_copy" if no_copy else "nothing_to_lend")
            if copy is None and not rules.allow_waiting_list:
                raise ServiceError("nothing_available")
            request = Request.objects.create(
                patron=patron,
                record=record,
                copy=copy,
                pickup_branch=pickup_branch,
                status=Status.PLACED if copy else Status.WAITING,
                channel=channel,
                # The copy's type when one is set aside: the limits count what was set aside.
                doc_type=copy.doc_type if copy else _waiting_type(record, rules, types, full),
                idempotency_key=idempotency_key,
                idempotency_fingerprint=idempotency_fingerprint,
                placed_by=actor if actor and actor.is_authenticated else None,
                placed_at=timezone.now() if copy else None,
                patron_pseudonym=patron_pseudonym(patron.pk),
            )
            record_event(request, old="", actor=actor, reason=channel)
            if copy is None:
                # A copy freed while this placement ran (a cancellation, committed first)
                # found no one waiting: this request was not committed yet. Once it is,
                # the record's queue is served, or that copy would wait for the sweep.
                record_id = record.pk
                transaction.on_commit(lambda: serve_waiting(limit=5, records=[record_id]), robust=True)
            return request, False
    except IntegrityError as error:
        # The constraints caught what the checks above should have: a race we lost.
        raise ServiceError(_placement_conflict(error)) from error


def _serve_queue_first(record_id: int) -> None:
    """Those already waiting for the title are served before a newcomer takes a copy:
    one may have come back on a shelf without a return (an import, a library reopened,
    a request moved off a closed library) and wait there for the five-minute sweep. As
    Koha's holds queue, the oldest request first; the newcomer gets a copy only if one
    is left. Before the placement's transaction: a refusal of the newcomer (no waiting
    list there) must not undo the copies given to the queue. No actor: the placing
    patron did not serve those requests."""
    # Someone waits and a copy is on a shelf: one statement, the usual answer no.
    if not _waiting_with_a_copy_on_a_shelf([record_id]).exists():
        return
    # One at a time: each pass looks again for a copy on a shelf, so the rest of a long
    # queue is not read once none is left.
    while serve_waiting(limit=1, records=[record_id], whole_queue=True):
        pass


def _waiting_with_a_copy_on_a_shelf(record_ids: list[int]):
    """Waiting requests for ``record_ids`` while a copy of their record is on a shelf."""
    on_shelf = Exists(allocation.takeable_copies(record=OuterRef("record_id")))
    return Request.objects.filter(on_shelf, record_id__in=record_ids, status=Status.WAITING)


def _placement_conflict(error: IntegrityError) -> str:
    """The error code for a placement a constraint refused: only the patron's own
    request for the record is "already requested"; any other (a copy another request
    holds, which no check lets through) is logged, and the patron asked to try again."""
    text = str(error)
    if "holds_request_record_id" in text and "fk_catalogue_record_id" in text:
        # PostgreSQL checks a foreign key at commit: the record was deleted after the
        # basket's records were read (``_Basket``), as if it had been read here.
        return "unknown_record"
    if (
        "one_active_request_per_patron_record" in text
        or "holds_request.patron_id, holds_request.record_id" in text
    ):
        return "already_requested"
    logger.error("placement refused by a constraint: %s", text)
    return "placement_conflict"


def cancel_request(*, request: Request, actor=None, reason: str = "", by_staff: bool = False) -> Request:
    """Cancel a request not yet collected; its copy goes where it now belongs
    (``free_held_copy``) and its bag closes if nothing ready is left in it."""
    with transaction.atomic():
        request = Request.objects.select_for_update(of=("self",)).get(pk=request.pk)
        if request.status not in ACTIVE:
            raise ServiceError("not_cancellable")
        if request.copy_id is not None:
            # Locked and read after the request, not joined to it: a picker who held the
            # request may just have put this copy in a bag, or moved the request to another
            # copy; a joined row would be the one read before that lock wait.
            request.copy = Copy.objects.select_for_update(of=("self",)).get(pk=request.copy_id)
        transition(
            request,
            Status.CANCELLED,
            actor=actor,
            reason="staff" if by_staff else "patron",
            note=reason,
        )
        if request.copy is not None:
            free_held_copy(copy=request.copy, pickup_branch_id=request.pickup_branch_id, actor=actor)
        close_bag_if_done(bag_id=request.bag_id)
    return request


# The reason of a request closed by ``close_as_lent`` (no notice reads it).
LENT_ANOTHER_COPY = "lent_another_copy"


def close_as_lent(*, request: Request, actor=None, note: str = "") -> Request:
    """The patron was lent another copy of the title at the door (an expired bag's,
    ``desk.services.lend_expired``): their request for it is filled, as Koha fills a
    patron's own hold at check-out. Cancelled with a reason of its own, which no notice
    tells (the patron has the document in hand); its copy goes where it now belongs
    (``free_held_copy``: to the next patron waiting) and its bag closes if nothing ready
    is left in it. ``request``: active, locked by the caller, before any copy."""
    copy = None
    if request.copy_id is not None:
        # Locked after the request, as ``cancel_request`` does.
        copy = Copy.objects.select_for_update(of=("self",)).get(pk=request.copy_id)
    transition(request, Status.CANCELLED, actor=actor, reason=LENT_ANOTHER_COPY, note=note)
    if copy is not None:
        free_held_copy(copy=copy, pickup_branch_id=request.pickup_branch_id, actor=actor)
    close_bag_if_done(bag_id=request.bag_id)
    return request


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
        if not _types_counted_alone(request, rules, copy.doc_type):
            continue  # its patron is placing a request now: the next copy or the sweep
        if not _may_take_type(request, rules, copy.doc_type):
            continue  # keeps its place for a copy of another type, or for when it may
        taken = Copy.objects.filter(pk=copy.pk, status=CopyStatus.ON_SHELF).update(
            status=CopyStatus.SET_ASIDE, updated_at=timezone.now()
        )
        if not taken:
            return None
        freed = {"placed_at": timezone.now(), **_taking(copy)}
        return transition(request, Status.PLACED, actor=actor, reason="copy_freed", **freed)
    return None


# Waiting requests read (and locked) at a time by ``release_copy``.
WAITING_PAGE = 20


def _waiting_for(copy: Copy):
    """The requests waiting for ``copy``'s record that could take it, oldest first, page
    after page, each page locked as it is read: however many ahead of it cannot take
    it, the first that can is reached. Left out in SQL: requests to be collected at a
    closed library (their place kept for when it reopens, or their patron chooses
    another), blocked or expired cards (their place kept too: Evergreen's CAPTURE
    block), and, for a copy of another library, requests whose pickup library lends
    only its own copies. Types and limits are the caller's to check."""
    waiting = (
        Request.objects.filter(record_id=copy.record_id, status=Status.WAITING)
        .exclude(pickup_branch__service_mode=ServiceMode.CLOSED)
        .filter(borrowing_patrons("patron__"))
        .filter(Q(pickup_branch_id=copy.branch_id) | ~policy.own_branch_only())
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


def _limits_of(
    request: Request, rules: policy.Policy, *, pickup_branch_id: int | None = None
) -> policy.Policy:
    """The rules whose limits bind ``request``'s patron (their home library's, as at
    placement); ``rules`` are those of ``pickup_branch_id`` (the request's by default)."""
    patron = request.patron
    at_home = (pickup_branch_id or request.pickup_branch_id) == patron.home_branch_id
    return rules if at_home else policy.limits_for(patron)


def types_full_for(
    request: Request, rules: policy.Policy, *, pickup_branch_id: int | None = None
) -> list[str]:
    """The types no copy of which ``request`` may take now: its patron reached their limit
    (the request itself not counted). Every path that sets a copy aside for an existing
    request passes them to ``allocation.take_copy``. ``rules``: the pickup library's
    (``pickup_branch_id``, the request's own by default)."""
    limits = _limits_of(request, rules, pickup_branch_id=pickup_branch_id)
    return _types_full(request.patron, limits, besides=request)


def take_copy_for(request: Request, rules: policy.Policy, *, pickup_branch: Branch | None = None):
    """Set aside a copy for an existing ``request`` (retarget, waiting list, a closed
    library's withdrawal, another pickup library: ``pickup_branch``, whose ``rules`` these
    are): one its rules reach, of a type its patron may still take."""
    pickup_branch = pickup_branch or request.pickup_branch
    return allocation.take_copy(
        record=request.record_id,
        pickup_branch=pickup_branch,
        policy=rules,
        exclude_types=types_full_for(request, rules, pickup_branch_id=pickup_branch.pk),
    )


def _types_counted_alone(request: Request, rules: policy.Policy, doc_type: str | None = None) -> bool:
    """Lock the patron's row, as placement does, before a waiting request counts their
    types: a DVD placement not yet committed is not counted, and a DVD coming back
    would make two against a limit of one. Never waits (the caller may hold a copy a
    placement is waiting for): a patron placing at this very moment is passed over, the
    request keeps its place, and the next copy or the sweep comes back to it. No lock
    where no type is limited, nor for a copy (``doc_type``) of a type with no limit: a
    patron row held for another reason (a patron import's batch) passes nobody over then."""
    limited = _limits_of(request, rules).type_limits
    if not limited or (doc_type is not None and doc_type not in limited):
        return True
    locked = Patron.objects.select_for_update(skip_locked=True).filter(pk=request.patron_id)
    return locked.values_list("pk", flat=True).first() is not None


def _may_take_type(request: Request, rules: policy.Policy, doc_type: str) -> bool:
    """A waiting request may take a copy of ``doc_type``: requested at its pickup library,
    and within the patron's limit for it (a DVD coming back to someone who has since
    reached the DVD limit goes to the next patron, as placement would refuse it)."""
    if not rules.can_request_type(doc_type):
        return False
    return doc_type not in types_full_for(request, rules)


def set_copy_status(*, copy_id: int, seen: str, status: str, actor=None) -> Request | None:
    """A librarian marks a copy missing, withdrawn or back on its shelf (the admin).

    Guarded by the status the librarian saw: a copy a request took, or a loan, since the
    page was opened is left alone (``copy_status_changed``). Back on its shelf, it goes
    to the oldest waiting request first (``release_copy``), as a copy found again does.
    Returns the request served, if any."""
    with transaction.atomic():
        copy = Copy.objects.select_for_update(of=("self",)).get(pk=copy_id)
        if copy.status != seen:
            raise ServiceError(
                "copy_status_changed", barcode=copy.barcode or copy.pk, status=copy.get_status_display()
            )
        if seen not in HAND_SET_STATUSES or status not in HAND_SET_STATUSES:
            raise ValueError(f"{seen} -> {status}: circulation's statuses change through circulation")
        if status == seen:
            return None
        if status == CopyStatus.ON_SHELF:
            return release_copy(copy=copy, actor=actor)
        Copy.objects.filter(pk=copy.pk).update(status=status, updated_at=timezone.now())
    return None


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
    still_here = Q(requests__copy__status=CopyStatus.HOLD_SHELF, requests__copy__branch=branch) | Q(
        requests__copy__status=CopyStatus.IN_TRANSIT
    ) & ~Q(requests__copy__branch=branch)
    left_on_shelf = Bag.objects.filter(
        still_here,
        branch=branch,
        state=Bag.State.CLOSED,
        label__startswith=initial,
        requests__status__in=[Status.EXPIRED, Status.CANCELLED],
    )
    used |= set(left_on_shelf.values_list("label", flat=True))
    number = next(n for n in range(1, 10_000) if f"{initial}{n:03d}" not in used)
    return Bag.objects.create(patron=patron, branch=branch, label=f"{initial}{number:03d}")


def _initial(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.strip()).encode("ascii", "ignore").decode()
    return folded[:1].upper() if folded[:1].isalpha() else ""


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
            **_taking(copy),
        )
    if rules.allow_waiting_list and _another_copy_will_come_back(request, rules):
        back = {"copy": None, "placed_at": None}  # its place is created_at
        return transition(request, Status.WAITING, actor=actor, reason="not_found_waiting", note=note, **back)
    return transition(request, Status.NOT_FOUND, actor=actor, reason="not_found", note=note)


def _another_copy_will_come_back(request: Request, rules: policy.Policy) -> bool:
    # Missing copies are lendable (one may turn up), but a waiting list behind nothing
    # but missing copies would never move: the patron is told it was not found. Nor
    # behind copies elsewhere, where the rules lend a library's own copies only.
    others = _copies_that_could_serve(request.record_id, request.pickup_branch_id, rules)
    return others.exclude(pk=request.copy_id).exclude(status=CopyStatus.MISSING).exists()


def serve_waiting(*, limit: int | None = 500, actor=None, records=None, whole_queue: bool = False) -> int:
    """Give a copy back on a shelf to the requests waiting for its record, oldest first
    (only those of ``records``, a queryset of record ids, when given).

    A copy usually comes back through ``release_copy`` (a return, a cancellation, an
    expiry), which serves the waiting list at once. Some come back another way: an
    import from the library system, an edit in the admin, a copy found again by staff, a
    library reopening (``holds.continuity.set_mode`` calls this for its shelves at once,
    so that nobody placing a request that minute jumps the queue). A placement for the
    title serves its queue first too (``_serve_queue_first``). This sweep
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
        if not _types_counted_alone(request, rules):
            return 0  # its patron is placing a request: next time
        copy = take_copy_for(request, rules)
        if copy is None:  # on a shelf its policy does not reach, not requestable, or a full type
            return 0
        freed = {"placed_at": timezone.now(), **_taking(copy)}
        transition(request, Status.PLACED, actor=actor, reason="copy_freed", **freed)
        return 1


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


def forget_patrons(*, request_ids: list[int]) -> int:
    """Forget who placed these closed requests (their loans are anonymised): no patron,
    no bag (a bag is one patron's), no idempotency key (one basket's), no card holder's
    account as the placer or the actor of their events (theirs, or a guardian's who
    placed it for their child; staff accounts stay), staff notes on them are blanked, no
    surprise bag lists it. Dates, branch, record, copy, channel and the pseudonym stay:
    what the statistics read. Returns how many requests were forgotten."""
    requests = Request.objects.filter(pk__in=request_ids, patron__isnull=False).exclude(status__in=ACTIVE)
    # Written without a pseudonym (before it existed, or by a fixture): given one now.
    for patron_id in set(requests.filter(patron_pseudonym="").values_list("patron_id", flat=True)):
        requests.filter(patron_id=patron_id).update(patron_pseudonym=patron_pseudonym(patron_id))
    # Any card holder's account, not only the patron's own: a guardian placing for their
    # child would name the child's household (a patron's account is never staff's).
    RequestEvent.objects.filter(request__in=requests, actor__patron__isnull=False).update(actor=None)
    # What staff typed about it ("Mme Martin a appelé, hospitalisée…") names them too; the
    # patron was told it when it mattered (the cancellation's email).
    RequestEvent.objects.filter(request__in=requests).exclude(note="").update(note="")
    requests.filter(placed_by__patron__isnull=False).update(placed_by=None)
    # A surprise bag names its patron: its link to the request would say who borrowed it.
    Request.surprise_requests.through.objects.filter(request__in=requests).delete()
    bag_ids = list(requests.filter(bag__isnull=False).values_list("bag_id", flat=True).distinct())
    adminlog.forget_lines(Request, list(requests.values_list("pk", flat=True)))
    forgotten = requests.update(patron=None, bag=None, idempotency_key=None)
    forget_empty_bags(bag_ids)
    return forgotten


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


# -- Collecting somewhere else ------------------------------------------------------------


def pickup_changeable(request: Request) -> bool:
    """Nothing has left a shelf for the old library yet: the request waits for a copy,
    or its copy is still set aside on its shelf, at a library that lends (one that has
    closed moves it first: to another copy, or back on the waiting list).
    ``request.copy`` and its branch must be loaded."""
    if request.status == Status.WAITING:
        return True
    return (
        request.status == Status.PLACED
        and request.copy.status == CopyStatus.SET_ASIDE
        and request.copy.branch.service_mode != ServiceMode.CLOSED
    )


def change_pickup(*, request: Request, branch: Branch, actor=None) -> Request:
    """Collect at ``branch`` instead (Koha and Evergreen let patrons do it until the
    document is on its way). The copy set aside stays when the new library may have it
    (its own, or any when copies travel); otherwise one at the new library is taken and
    the old one goes back to its shelf, for whoever waits for it. When the new library
    may have no copy at all the change is refused (``pickup_no_copy``): it would leave
    the patron worse off than before."""
    if not branch.accepts_requests:
        raise ServiceError("branch_not_accepting", branch=branch.name)
    with transaction.atomic():
        request = Request.objects.select_for_update(of=("self",)).select_related("patron").get(pk=request.pk)
        if request.pickup_branch_id == branch.pk:
            return request
        if request.copy_id is not None:
            # Locked and read now, not joined to the request: a picker who held the
            # request may have just sent this copy on its way. Copies before the record
            # (taking another copy below locks it): the order every writer keeps.
            locked_copy = Copy.objects.select_for_update(of=("self",)).select_related("branch")
            request.copy = locked_copy.get(pk=request.copy_id)
        if request.status not in ACTIVE:  # cancelled, collected, expired: nothing to collect
            raise ServiceError("not_active")
        if not pickup_changeable(request):
            raise ServiceError("pickup_not_changeable")
        rules = policy.resolve(branch=branch, category=request.patron.category)
        if not rules.can_request_type(request.doc_type):
            raise ServiceError("type_not_requestable", doc_type=_type_label(request.doc_type))  # the copy's
        fields, freed = {"pickup_branch": branch}, None
        copy_stays = request.copy is None or request.copy.branch_id == branch.pk or rules.allow_other_branches
        could_serve = _copies_that_could_serve(request.record_id, branch.pk, rules)
        if request.copy is None and not could_serve.exists():
            # Waiting, to a library that lends only its own copies and has none of the
            # title: it would wait there for good.
            raise ServiceError("pickup_no_copy", branch=branch.name)
        if not copy_stays:
            copy = take_copy_for(request, rules, pickup_branch=branch)
            if copy is None:
                raise ServiceError("pickup_no_copy", branch=branch.name)
            freed, fields = request.copy, fields | _taking(copy) | {"placed_at": timezone.now()}
        transition(request, request.status, actor=actor, reason="pickup_changed", **fields)
        if freed is not None:
            release_copy(copy=freed, actor=actor)
    if request.status == Status.WAITING:
        # Moved off a closed library, or to one whose own copy is on its shelf: the copy
        # it may take now goes to the title's queue, oldest first, not to whoever asks
        # for the title before the sweep. Once the move is committed (at once, unless a
        # caller's transaction holds it), as a placement left waiting is served.
        transaction.on_commit(lambda: _serve_after_move(request), robust=True)
    return request


def _serve_after_move(request: Request) -> None:
    _serve_queue_first(request.record_id)
    request.refresh_from_db(fields=["status", "copy", "doc_type", "placed_at"])


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


def tell_closed_pickups(*, limit: int = 500, actor=None) -> int:
    """Patrons whose requests are to be collected at a library that has closed are told
    once per closing: an event (no change of status) that the notices turn into one
    email per patron and library, saying what waits there and how to collect elsewhere.
    Run by the scheduler; safe to run often; ``limit`` patrons a pass. Returns how many
    requests were marked."""
    told = RequestEvent.objects.filter(
        request=OuterRef("pk"), reason="pickup_closed", at__gte=OuterRef("pickup_branch__mode_changed_at")
    )
    # A copy set aside at a closed library is first moved elsewhere or the request
    # cancelled (picking's withdraw sweep): telling the patron to choose another library
    # for it, then that it is cancelled, would contradict itself.
    pending_withdrawal = Q(
        status=Status.PLACED, copy__status=CopyStatus.SET_ASIDE, copy__branch__service_mode=ServiceMode.CLOSED
    )
    # ... and a patron with one such request hears of the closing once, for all of them,
    # once it is moved: not now for the others and again after the sweep.
    still_to_move = Request.objects.filter(
        pending_withdrawal, patron=OuterRef("patron"), pickup_branch=OuterRef("pickup_branch")
    )
    at_closed = Request.objects.filter(closed_for_a_while("pickup_branch__"), status__in=ACTIVE)
    untold = at_closed.exclude(Exists(told)).exclude(pending_withdrawal).exclude(Exists(still_to_move))
    marked = 0
    # Patron by patron, all their requests in one transaction: the composer, running
    # between two passes, must never find half of a patron's requests told.
    patrons = untold.order_by("patron_id").values_list("patron_id", flat=True).distinct()
    for patron_id in list(patrons[:limit]):
        with transaction.atomic():
            # Locked and looked at again: two schedulers must not tell them twice.
            requests = list(
                untold.select_for_update(skip_locked=True, of=("self",)).filter(patron_id=patron_id)
            )
            for request in requests:
                record_event(request, old=request.status, actor=actor, reason="pickup_closed")
            marked += len(requests)
    return marked
