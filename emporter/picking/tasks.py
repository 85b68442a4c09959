"""Background work of the morning pull, run by the task worker."""

import datetime
import logging

from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from emporter.network.calendar import works_on
from emporter.network.models import LENDING_MODES, Branch
from emporter.taskqueue import failures, waiting

from . import services
from .models import PickRun

log = logging.getLogger("emporter.picking")

STALLED_AFTER = datetime.timedelta(minutes=10)
# A build that failed (a bug, or bad data in one branch's list) is queued again 5 minutes
# after the day's first failure, 15 after the second, then hourly; not every minute: each
# failure is a traceback in the log and a row kept two weeks, and one a minute buried the rest.
RETRY_AFTER_FAILURES = tuple(datetime.timedelta(minutes=m) for m in (5, 15, 60))


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
    return [b.pk for b in candidates if builds_on(b, today)]


def builds_on(branch: Branch, day: datetime.date) -> bool:
    """Whether the scheduler builds ``branch``'s morning list on ``day``: a library that
    lends, open that day. One whose hours are not entered yet still gets its list: its
    copies are set aside for requests all the same, and nobody would pull them."""
    return branch.service_mode in LENDING_MODES and works_on(branch, day)


def _queued(run_date: datetime.date) -> set[int]:
    """Branches whose build of ``run_date`` already waits in the database task queue:
    with the worker down, the scheduler would otherwise queue one more every minute."""
    # A build runs in seconds. One "running" for longer lost its worker (killed, the
    # machine restarted): the queue never says so, and waiting on it would leave the
    # branch without its morning list for the day. Building again is safe (idempotent).
    alive = Q(status="READY") | Q(status="RUNNING", started_at__gte=timezone.now() - STALLED_AFTER)
    return {
        branch_id
        for branch_id, day in map(_branch_and_day, waiting(build_morning_run, alive=alive))
        if day == run_date.isoformat()
    }


def _backing_off(run_date: datetime.date, now: datetime.datetime) -> set[int]:
    """Branches whose build of ``run_date`` failed too lately to be queued again."""
    failed: dict[int, list[datetime.datetime]] = {}
    for args_kwargs, finished_at in failures(build_morning_run, since=now - datetime.timedelta(days=1)):
        branch_id, day = _branch_and_day(args_kwargs)
        if day == run_date.isoformat():
            failed.setdefault(branch_id, []).append(finished_at)
    return {
        branch_id
        for branch_id, ends in failed.items()
        if now < max(ends) + RETRY_AFTER_FAILURES[min(len(ends), len(RETRY_AFTER_FAILURES)) - 1]
    }


def _branch_and_day(args_kwargs: dict) -> tuple[int, str]:
    args = list(args_kwargs.get("args", [])) + [None, None]
    kwargs = args_kwargs.get("kwargs", {})
    return kwargs.get("branch_id", args[0]), kwargs.get("run_date", args[1])


def enqueue_due_runs(now=None) -> list[int]:
    now = now or timezone.now()
    today = timezone.localdate(now)
    held = _queued(today) | _backing_off(today, now)
    due = [branch_id for branch_id in branches_due(now) if branch_id not in held]
    for branch_id in due:
        build_morning_run.enqueue(branch_id, today.isoformat())
    return due
