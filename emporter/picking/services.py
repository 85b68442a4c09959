"""The morning pull: building pick runs and marking their lines found or not found."""

import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.errors import ServiceError
from emporter.holds import services as holds
from emporter.holds.lifecycle import transition
from emporter.holds.models import Request, Status
from emporter.network.models import Branch

from .models import LineStatus, PickLine, PickRun


def morning_cutoff(branch: Branch, day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, branch.pick_time))


def build_run(*, branch: Branch, kind: str = PickRun.Kind.MORNING, now=None, actor=None) -> PickRun:
    """Build the branch's run: every copy set aside there before the cut-off and not yet
    on a list. The morning run is built once a day; building it again returns it."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    if kind == PickRun.Kind.MORNING:
        existing = PickRun.objects.filter(branch=branch, run_date=day, kind=kind).first()
        if existing:
            return existing
        # Built on demand before the set time, the run closes when it is built.
        cutoff = min(morning_cutoff(branch, day), now)
    else:
        cutoff = now
    try:
        with transaction.atomic():
            run = PickRun.objects.create(
                branch=branch, run_date=day, kind=kind, cutoff=cutoff, created_by=actor
            )
            _add_lines(run)
    except IntegrityError:
        # Another worker built this morning's run at the same moment: use theirs.
        return PickRun.objects.get(branch=branch, run_date=day, kind=kind)
    return run


def _add_lines(run: PickRun) -> int:
    pending = (
        Request.objects.filter(
            status=Status.PLACED,
            copy__branch=run.branch,
            copy__status=CopyStatus.SET_ASIDE,
            placed_at__lte=run.cutoff,
        )
        .exclude(pick_lines__copy=F("copy"))
        .values_list("pk", "copy_id", "copy__department_id", "copy__location_id", "copy__call_number_key")
    )
    lines = [
        PickLine(run=run, request_id=r, copy_id=c, department_id=d, location_id=loc, call_number_key=key)
        for r, c, d, loc, key in pending.iterator(chunk_size=2000)
    ]
    PickLine.objects.bulk_create(lines, batch_size=2000)
    return len(lines)


def walking_order(lines):
    """Department, then location in the branch's walking order, then shelf order."""
    return lines.order_by(
        F("department__walking_order").asc(nulls_last=True),
        F("location__walking_order").asc(nulls_last=True),
        "call_number_key",
        "pk",
    )


def _claim(line: PickLine, status: str, *, actor, reason: str = "") -> None:
    """Mark a pending line; when two pickers scan the same copy, the second is told."""
    claimed = PickLine.objects.filter(pk=line.pk, status=LineStatus.PENDING).update(
        status=status,
        reason=reason,
        marked_at=timezone.now(),
        marked_by=actor if actor and actor.is_authenticated else None,
    )
    if not claimed:
        raise ServiceError("line_already_marked")


def _live_request(line: PickLine) -> Request | None:
    """The line's request if it still wants this copy (it may have been cancelled)."""
    request = (
        Request.objects.select_for_update().select_related("patron", "pickup_branch").get(pk=line.request_id)
    )
    if request.status == Status.PLACED and request.copy_id == line.copy_id:
        return request
    return None


def mark_found(*, line: PickLine, actor=None) -> Request | None:
    with transaction.atomic():
        _claim(line, LineStatus.FOUND, actor=actor)
        request = _live_request(line)
        if request is None:
            # Cancelled while the picker walked: the copy goes back to the shelf.
            PickLine.objects.filter(pk=line.pk).update(status=LineStatus.CANCELLED)
            return None
        if request.pickup_branch_id == line.run.branch_id:
            return holds.make_ready(request=request, actor=actor)
        Copy.objects.filter(pk=line.copy_id).update(status=CopyStatus.IN_TRANSIT, updated_at=timezone.now())
        return transition(request, Status.PLACED, actor=actor, reason="in_transit")


def mark_not_found(*, line: PickLine, actor=None, reason: str = "") -> Request | None:
    with transaction.atomic():
        _claim(line, LineStatus.NOT_FOUND, actor=actor, reason=reason)
        Copy.objects.filter(pk=line.copy_id).update(status=CopyStatus.MISSING, updated_at=timezone.now())
        request = _live_request(line)
        if request is None:
            return None
        return holds.retarget_or_close(request=request, actor=actor, note=reason)


def line_for_barcode(*, run: PickRun, barcode: str) -> PickLine:
    barcode = barcode.strip()
    if not Copy.objects.filter(barcode=barcode).exists():
        raise ServiceError("unknown_barcode", barcode=barcode)
    line = run.lines.filter(copy__barcode=barcode, status=LineStatus.PENDING).first()
    if line is None:
        raise ServiceError("not_on_this_list", barcode=barcode)
    return line


def receive(*, branch: Branch, barcode: str, actor=None) -> Request:
    """A copy arrives in transit at the pickup branch: it goes into the patron's bag."""
    barcode = barcode.strip()
    with transaction.atomic():
        request = (
            Request.objects.select_for_update()
            .select_related("patron", "pickup_branch")
            .filter(
                copy__barcode=barcode,
                status=Status.PLACED,
                pickup_branch=branch,
                copy__status=CopyStatus.IN_TRANSIT,
            )
            .first()
        )
        if request is None:
            if not Copy.objects.filter(barcode=barcode).exists():
                raise ServiceError("unknown_barcode", barcode=barcode)
            raise ServiceError("not_in_transit", barcode=barcode)
        return holds.make_ready(request=request, actor=actor)


def put_back(*, copy: Copy, actor=None) -> Request | None:
    """A missing copy turned up: back on the shelf, or to the next waiting request."""
    with transaction.atomic():
        # Guarded: of two staff putting the same copy back, one does it.
        if not Copy.objects.filter(pk=copy.pk, status=CopyStatus.MISSING).update(status=CopyStatus.ON_SHELF):
            return None
        return holds.release_copy(copy=copy, actor=actor)
