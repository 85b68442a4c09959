"""Writes about requests: placing them (one by one or a whole basket) and cancelling.

Each request is placed in its own transaction, so one refusal never sinks the rest of
a basket. Inside it, the patron's row is locked first: a patron's placements are then
serialised by the database, which is what makes the limits hold under concurrency
(20 simultaneous clicks by one patron, limit 8 → exactly 8 requests).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.errors import ServiceError
from emporter.network.models import Branch
from emporter.patrons.models import Patron

from . import allocation, policy
from .lifecycle import record_event, transition
from .models import ACTIVE, Channel, Request, Status


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
) -> list[Outcome]:
    """Place one request per record; each outcome says what happened or why not."""
    outcomes = []
    for record_id in dict.fromkeys(record_ids):  # de-duplicated, order kept
        key = f"{idempotency_key}:{record_id}" if idempotency_key else None
        try:
            request, replayed = place_request(
                patron=patron,
                record_id=record_id,
                pickup_branch=pickup_branch,
                channel=channel,
                actor=actor,
                idempotency_key=key,
            )
            outcomes.append(Outcome(record_id, request=request, replayed=replayed))
        except ServiceError as error:
            outcomes.append(Outcome(record_id, error=error))
    return outcomes


def _check_patron(patron: Patron) -> None:
    if patron.blocked_reason:
        raise ServiceError("patron_blocked", reason=patron.blocked_reason)
    if patron.card_expires and patron.card_expires < timezone.localdate():
        raise ServiceError("card_expired")


def _check_limits(patron: Patron, record: Record, rules: policy.Policy) -> None:
    active = Request.objects.filter(patron=patron, status__in=ACTIVE)
    if active.filter(record=record).exists():
        raise ServiceError("already_requested")
    if active.count() >= rules.max_active:
        raise ServiceError("limit_reached", limit=rules.max_active)
    type_limit = rules.type_limits.get(record.doc_type)
    if type_limit is not None and active.filter(doc_type=record.doc_type).count() >= type_limit:
        raise ServiceError("type_limit_reached", limit=type_limit, doc_type=record.get_doc_type_display())


def place_request(
    *,
    patron: Patron,
    record_id: int,
    pickup_branch: Branch,
    channel: str = Channel.ONLINE,
    actor=None,
    idempotency_key: str | None = None,
) -> tuple[Request, bool]:
    """Place one request and set a copy aside; returns (request, replayed)."""
    if not pickup_branch.accepts_requests:
        raise ServiceError("branch_not_accepting", branch=pickup_branch.name)
    try:
        with transaction.atomic():
            patron = Patron.objects.select_for_update().get(pk=patron.pk)
            if idempotency_key:
                previous = Request.objects.filter(patron=patron, idempotency_key=idempotency_key).first()
                if previous:
                    return previous, True
            _check_patron(patron)
            record = Record.objects.get(pk=record_id)
            rules = policy.resolve(branch=pickup_branch, category=patron.category)
            if not rules.can_request_type(record.doc_type):
                raise ServiceError("type_not_requestable", doc_type=record.get_doc_type_display())
            _check_limits(patron, record, rules)
            copy = allocation.take_copy(record=record, pickup_branch=pickup_branch, policy=rules)
            if copy is None and not rules.allow_waiting_list:
                raise ServiceError("nothing_available")
            request = Request.objects.create(
                patron=patron,
                record=record,
                copy=copy,
                pickup_branch=pickup_branch,
                status=Status.PLACED if copy else Status.WAITING,
                channel=channel,
                doc_type=record.doc_type,
                idempotency_key=idempotency_key,
                placed_by=actor if actor and actor.is_authenticated else None,
                placed_at=timezone.now() if copy else None,
            )
            record_event(request, old="", actor=actor, reason=channel)
            return request, False
    except IntegrityError as error:
        # The constraints caught what the checks above should have: a race we lost.
        raise ServiceError("already_requested") from error


def cancel_request(*, request: Request, actor=None, reason: str = "", by_staff: bool = False) -> Request:
    """Cancel a request not yet collected; its copy goes back or to the next in line."""
    with transaction.atomic():
        request = Request.objects.select_for_update().get(pk=request.pk)
        if request.status not in ACTIVE:
            raise ServiceError("not_cancellable")
        copy = request.copy
        transition(
            request,
            Status.CANCELLED,
            actor=actor,
            reason="staff" if by_staff else "patron",
            note=reason,
        )
        if copy is not None:
            release_copy(copy=copy, actor=actor)
    return request


def release_copy(*, copy: Copy, actor=None) -> Request | None:
    """A copy held for a request is free again: give it to the oldest waiting request
    that can use it, else put it back on the shelf. Returns the request served, if any."""
    Copy.objects.filter(pk=copy.pk).update(status=CopyStatus.ON_SHELF, updated_at=timezone.now())
    waiting = (
        Request.objects.select_for_update(skip_locked=True)
        .filter(record_id=copy.record_id, status=Status.WAITING)
        .select_related("patron", "pickup_branch")
        .order_by("created_at", "pk")
    )
    for request in waiting[:20]:
        rules = policy.resolve(branch=request.pickup_branch, category=request.patron.category)
        if copy.branch_id != request.pickup_branch_id and not rules.allow_other_branches:
            continue
        taken = Copy.objects.filter(pk=copy.pk, status=CopyStatus.ON_SHELF).update(
            status=CopyStatus.SET_ASIDE, updated_at=timezone.now()
        )
        if not taken:
            return None
        return transition(
            request, Status.PLACED, actor=actor, reason="copy_freed", copy=copy, placed_at=timezone.now()
        )
    return None
