"""A request's lifecycle: the statuses, the allowed moves and the one function that moves.

A request is born placed or waiting (``services.place_request`` creates it and records
its first event with ``record_event``). After that, every screen, task and API endpoint
changes its status through ``transition``:
it checks the move, updates with a guard on the old status (so two concurrent movers
cannot both win), and writes the event row that notices and statistics read.
"""

from django.db import transaction
from django.utils import timezone

from emporter.errors import ServiceError

from .models import Request, RequestEvent, Status

ALLOWED: dict[str, set[str]] = {
    # waiting -> waiting: the patron chose another library to collect at. waiting ->
    # not_found: every copy that could have served it was withdrawn or deleted.
    Status.WAITING: {Status.WAITING, Status.PLACED, Status.NOT_FOUND, Status.CANCELLED},
    # placed -> placed: a retarget (the same request moves to another copy), a copy sent
    # on its way, or another library to collect at. placed -> waiting: the only copies
    # are at a library that has closed; the request keeps its place in the queue.
    Status.PLACED: {Status.PLACED, Status.WAITING, Status.READY, Status.NOT_FOUND, Status.CANCELLED},
    Status.READY: {Status.COLLECTED, Status.EXPIRED, Status.CANCELLED},
    Status.COLLECTED: set(),
    Status.NOT_FOUND: set(),
    Status.CANCELLED: set(),
    Status.EXPIRED: set(),
}
CLOSED = {s for s, moves in ALLOWED.items() if not moves}


def record_event(request: Request, *, old: str, actor=None, reason: str = "", note: str = "") -> RequestEvent:
    return RequestEvent.objects.create(
        request=request,
        actor=actor if actor and actor.is_authenticated else None,
        from_status=old,
        to_status=request.status,
        reason=reason,
        note=note,
        copy_id=request.copy_id,
        branch_id=request.pickup_branch_id,
    )


def transition(
    request: Request, new: str, *, actor=None, reason: str = "", note: str = "", **fields
) -> Request:
    """Move ``request`` to ``new``, setting ``fields`` too; raise ServiceError if not allowed
    or if someone else moved it first. Must run inside a transaction."""
    assert transaction.get_connection().in_atomic_block, "transition() outside a transaction"
    old = request.status
    if new not in ALLOWED[old]:
        raise ServiceError("invalid_move", old=Status(old).label, new=Status(new).label)
    now = timezone.now()
    if new in CLOSED:
        fields.setdefault("closed_at", now)
    if new == Status.READY:
        fields.setdefault("ready_at", now)
    updated = Request.objects.filter(pk=request.pk, status=old).update(status=new, **fields)
    if updated != 1:
        raise ServiceError("conflict")
    request.status = new
    for name, value in fields.items():
        setattr(request, name, value)
    record_event(request, old=old, actor=actor, reason=reason, note=note)
    return request


def transition_all(
    requests: list[Request], new: str, *, actor=None, reason: str = "", **fields
) -> list[Request]:
    """Move several requests that share one status to ``new`` in one guarded UPDATE and
    one INSERT of their events (a bag of 8 handed over at the door). All or nothing:
    if any of them moved meanwhile, ServiceError("conflict") and the caller's
    transaction rolls back."""
    assert transaction.get_connection().in_atomic_block, "transition_all() outside a transaction"
    if not requests:
        return []
    olds = {r.status for r in requests}
    if len(olds) != 1:
        raise ValueError("transition_all() needs requests in one status")
    old = olds.pop()
    if new not in ALLOWED[old]:
        raise ServiceError("invalid_move", old=Status(old).label, new=Status(new).label)
    now = timezone.now()
    if new in CLOSED:
        fields.setdefault("closed_at", now)
    ids = [r.pk for r in requests]
    if Request.objects.filter(pk__in=ids, status=old).update(status=new, **fields) != len(ids):
        raise ServiceError("conflict")
    user = actor if actor and actor.is_authenticated else None
    events = []
    for request in requests:
        request.status = new
        for name, value in fields.items():
            setattr(request, name, value)
        events.append(
            RequestEvent(
                request=request,
                actor=user,
                from_status=old,
                to_status=new,
                reason=reason,
                copy_id=request.copy_id,
                branch_id=request.pickup_branch_id,
            )
        )
    RequestEvent.objects.bulk_create(events)
    return requests
