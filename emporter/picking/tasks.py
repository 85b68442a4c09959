"""Background work of the morning pull, run by the task worker."""

import datetime
import logging

from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from emporter.network.calendar import works_on
from emporter.network.models import LENDING_MODES, Branch
from emporter.taskqueue import waiting

from . import services
from .models import PickRun

log = logging.getLogger("emporter.picking")

STALLED_AFTER = datetime.timedelta(minutes=10)


@task
def build_morning_run(branch_id: int, run_date: str | None = None) -> int | None:
    """Build ``branch_id``'s morning run of ``run_date`` (ISO), if that is still today.

    A task can wait in the queue for hours (the worker down overnight): run late, it
    would build today's list at the wrong time, or on a closed day. It then does
    nothing; the scheduler asks again when the branch is really due."""
    today = timezone.localdate()
    if run_date is not None and run_date != today.isoformat():
        log.info("morning run of %s for %s: that day is over, not built", branch_id, run_date)
        return None
    branch = Branch.objects.get(pk=branch_id)
    return services.build_run(branch=branch).pk


def branches_due(now=None) -> list[int]:
    """Branches that lend copies (click and collect or normal service: allocation takes
    copies from both), open today, past their pick time, whose morning run is not built
    yet. Safe to ask often: building is idempotent."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    local_time = timezone.localtime(now).time()
    built = PickRun.objects.filter(run_date=today, kind=PickRun.Kind.MORNING).values("branch_id")
    candidates = Branch.objects.filter(service_mode__in=LENDING_MODES, pick_time__lte=local_time).exclude(
        pk__in=built
    )
    # A library whose hours are not entered yet still gets its list: its copies are set
    # aside for requests all the same, and nobody would pull them.
    return [b.pk for b in candidates if works_on(b, today)]


def _queued(run_date: datetime.date) -> set[int]:
    """Branches whose build of ``run_date`` already waits in the database task queue:
    with the worker down, the scheduler would otherwise queue one more every minute."""
    # A build runs in seconds. One "running" for longer lost its worker (killed, the
    # machine restarted): the queue never says so, and waiting on it would leave the
    # branch without its morning list for the day. Building again is safe (idempotent).
    alive = Q(status="READY") | Q(status="RUNNING", started_at__gte=timezone.now() - STALLED_AFTER)
    queued = set()
    for args_kwargs in waiting(build_morning_run, alive=alive):
        args = list(args_kwargs.get("args", [])) + [None, None]
        kwargs = args_kwargs.get("kwargs", {})
        branch_id, day = kwargs.get("branch_id", args[0]), kwargs.get("run_date", args[1])
        if day == run_date.isoformat():
            queued.add(branch_id)
    return queued


def enqueue_due_runs(now=None) -> list[int]:
    now = now or timezone.now()
    today = timezone.localdate(now)
    queued = _queued(today)
    due = [branch_id for branch_id in branches_due(now) if branch_id not in queued]
    for branch_id in due:
        build_morning_run.enqueue(branch_id, today.isoformat())
    return due
