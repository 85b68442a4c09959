"""Placing requests: one by one or a whole basket, with the patron's limits checked.

Each request is placed in its own transaction, so one refusal never sinks the rest of
a basket. Inside it, the patron's row is locked first: a patron's placements are then
serialised by the database, which is what makes the limits hold under concurrency
(20 simultaneous clicks by one patron, limit 8 → exactly 8 requests).
"""

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from emporter.catalogue.models import Copy, Record
from emporter.errors import ServiceError
from emporter.network.models import Branch
from emporter.patrons.models import Patron

# ``waiting`` as a module: its functions are looked up when called (tests replace them).
from . import allocation, policy, waiting
from .eligibility import check_patron, copies_that_could_serve, type_label, types_at_limit
from .lifecycle import record_event
from .models import ACTIVE, Channel, Request, Status, patron_pseudonym

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

    @property
    def out_of_basket(self) -> bool:
        """Placed, or refused for good (requested already, or at home): a basket, the
        patron's or a call's, lets it go, or every confirmation would refuse it again."""
        return self.ok or self.error.code in ("already_requested", "already_on_loan")


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
    # served before this basket's document (``waiting.serve_queue_first``). Usually none.
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
            queued=set(
                waiting.waiting_with_a_copy_on_a_shelf(record_ids).values_list("record_id", flat=True)
            ),
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


def _types_that_could_serve(record: Record, pickup_branch: Branch, rules, limits) -> set[str] | None:
    """The types of the copies that could ever serve a request of ``record`` collected at
    ``pickup_branch`` (``copies_that_could_serve``); None where no rule names a type:
    then types change nothing, and the query is saved."""
    if not (rules.requestable_types or limits.type_limits):
        return None
    copies = copies_that_could_serve(record.pk, pickup_branch.pk, rules)
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
        raise ServiceError("type_limit_reached", limit=limit, doc_type=type_label(reached[0]))
    raise ServiceError("type_not_requestable", doc_type=type_label(sorted(types)[0]))


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
        waiting.serve_queue_first(record_id)
    try:
        with transaction.atomic():
            if household_key is not None:  # its holder's row, then the patron's
                household_key.check_under_lock()
            # FOR NO KEY UPDATE: two placements for one patron still take turns (their
            # limits), but a loan or a bag being written for this patron (the door handing
            # over a household, which changed its copies first) is not blocked: with a
            # plain FOR UPDATE, a child's placement waiting for a title's record the door
            # held, and the door waiting for the child's row, deadlocked.
            patron = Patron.objects.select_for_update(no_key=True).filter(pk=patron.pk).first()
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
            rules, limits = _rules_and_limits(patron, pickup_branch, basket)
            active = [r for r in mine if r.status in ACTIVE]
            types = _types_that_could_serve(record, pickup_branch, rules, limits)
            _check_record_type(record, rules, types)
            _check_limits(patron, record, limits, active, own_type=not types, theirs=theirs)
            full = types_at_limit(limits, Counter(r.doc_type for r in active))
            copy = allocation.take_copy(
                record=record, pickup_branch=pickup_branch, policy=rules, exclude_types=full
            )
            if copy is None:
                if channel == Channel.SURPRISE:
                    # A surprise bag is made of what is on the shelves now: a title whose
                    # last copy was taken meanwhile is not a wait nobody chose.
                    raise ServiceError("surprise_copy_taken", title=record.title)
                _refuse_to_wait(record, pickup_branch, rules, limits, full, types, basket=basket)
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
                transaction.on_commit(
                    lambda: waiting.serve_waiting(limit=5, records=[record_id]), robust=True
                )
            return request, False
    except IntegrityError as error:
        # The constraints caught what the checks above should have: a race we lost.
        raise ServiceError(_placement_conflict(error)) from error


def _rules_and_limits(
    patron: Patron, pickup_branch: Branch, basket: _Basket | None
) -> tuple[policy.Policy, policy.Policy]:
    """The pickup library's rules, and those whose limits bind ``patron`` (their home
    library's): those the basket read, if still theirs, else read now."""
    if basket is None or (both := basket.rules_for(patron, pickup_branch)) is None:
        rules = policy.resolve(branch=pickup_branch, category=patron.category)
        limits = rules if pickup_branch.pk == patron.home_branch_id else policy.limits_for(patron)
        return rules, limits
    return both


def _refuse_to_wait(
    record: Record,
    pickup_branch: Branch,
    rules: policy.Policy,
    limits: policy.Policy,
    full: list[str],
    types: set[str] | None,
    *,
    basket: _Basket | None,
) -> None:
    """No copy was set aside: the request would wait. Refused, said why, where that wait
    would never end or the rules keep no waiting list."""
    _refuse_by_copy_type(record, rules, limits, full, types)
    if not copies_that_could_serve(record.pk, pickup_branch.pk, rules).exists():
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
    if not rules.allow_waiting_list:
        raise ServiceError("nothing_available")


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
