"""What waits in the database task queue (django-tasks-db), for the schedulers and pages
that must not queue a task twice or show it as not asked, and the repairs it needs."""

import datetime
import logging

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

log = logging.getLogger("emporter.taskqueue")

# Longer "running" than any task runs (an import of 100,000 PINs takes about an hour):
# its worker died (killed, out of memory, the machine restarted) and never said so.
STRANDED_AFTER = datetime.timedelta(days=1)
# The queues whose tasks may run for hours; the others' (a morning list, a switch of
# modes) take minutes at most.
LONG_QUEUES = ("imports",)
RUNS_AT_MOST = datetime.timedelta(minutes=30)


class WorkerLost(Exception):
    """What a task left "running" by a worker that died is marked failed with."""


def in_database() -> bool:
    """Whether tasks go through the database queue (not the tests' immediate backend)."""
    return "django_tasks_db" in settings.TASKS["default"]["BACKEND"]


def waiting(task, *, alive: Q | None = None) -> list[dict]:
    """The ``args_kwargs`` of ``task``'s runs still in the queue (READY unless ``alive``
    says otherwise); none with another backend (the tests' immediate one)."""
    if not in_database():
        return []
    from django_tasks_db.models import DBTaskResult

    alive = Q(status="READY") if alive is None else alive
    return list(
        DBTaskResult.objects.filter(alive, task_path=task.module_path).values_list("args_kwargs", flat=True)
    )


def failures(task, *, since: datetime.datetime) -> list[tuple[dict, datetime.datetime]]:
    """The ``args_kwargs`` and end of ``task``'s runs that failed since ``since``."""
    if not in_database():
        return []
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.filter(status="FAILED", task_path=task.module_path, finished_at__gte=since)
    return list(rows.values_list("args_kwargs", "finished_at"))


def fail_stranded(now: datetime.datetime | None = None) -> int:
    """Mark failed the tasks "running" for longer than ``STRANDED_AFTER``: their worker is
    gone, and the queue's pruning deletes finished rows only (they stayed for good)."""
    if not in_database():
        return 0
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    stranded = DBTaskResult.objects.filter(status="RUNNING", started_at__lt=now - STRANDED_AFTER)
    rows = list(stranded.values_list("pk", "task_path"))
    for pk, path in rows:
        log.error("task %s (%s): running over %s, its worker gone: marked failed", pk, path, STRANDED_AFTER)
    return stranded.filter(pk__in=[pk for pk, _ in rows]).update(
        status="FAILED",
        finished_at=now,
        exception_class_path=f"{__name__}.{WorkerLost.__qualname__}",
        traceback=f"WorkerLost: still running after {STRANDED_AFTER}, its worker gone (killed or stopped)\n",
    )


def late(now: datetime.datetime, *, waited: datetime.timedelta) -> dict[str, int]:
    """Tasks ready to run for longer than ``waited``, by queue, in queues where no task is
    running (an import may rightly keep the next one waiting for an hour): nobody takes
    them, the workers are down."""
    if not in_database():
        return {}
    from django.db.models import Count
    from django_tasks_db.models import DBTaskResult, get_date_max

    cutoff = now - waited
    # A queue is busy while a task of it runs, for as long as such a task may: an import
    # for hours (its page says when it stalls), a morning list or a switch for minutes. A
    # worker killed in the middle of one leaves it "running": past that, it is dead.
    running = Q(queue_name__in=LONG_QUEUES, started_at__gte=now - STRANDED_AFTER) | (
        ~Q(queue_name__in=LONG_QUEUES) & Q(started_at__gte=now - RUNS_AT_MOST)
    )
    busy = DBTaskResult.objects.filter(running, status="RUNNING")
    rows = (
        DBTaskResult.objects.filter(status="READY", enqueued_at__lt=cutoff)
        .filter(Q(run_after=get_date_max()) | Q(run_after__lt=cutoff))
        .exclude(queue_name__in=busy.values("queue_name"))
        .order_by("queue_name")
        .values("queue_name")
        .annotate(n=Count("pk"))
    )
    return {row["queue_name"]: row["n"] for row in rows}
