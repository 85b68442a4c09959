"""Whether the background work is done: what ``/healthz/jobs`` answers. Each check is one
small query: monitoring may ask every minute."""

import datetime

from django.db.models import Count, Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from emporter import taskqueue
from emporter.jobs.models import Heartbeat
from emporter.notices.models import Notice, State

# The scheduler writes its heartbeat at least every half-minute while it works; no job
# runs this long (each stops its batches at 45 s, a lock wait at a minute).
SCHEDULER_SILENT_AFTER = datetime.timedelta(minutes=5)
# The outbox sends what is due every 15 s; a notice still due after this is not being sent.
NOTICE_LATE_AFTER = datetime.timedelta(minutes=15)
# run_scheduler's mark of a job failing pass after pass: a heartbeat row, since when.
FAILING = "failing:"
# A job failing at every pass (it is tried again within minutes) for this long is said.
JOB_FAILING_AFTER = datetime.timedelta(minutes=15)
# Workers take a ready task within seconds; one still waiting after this has no worker.
TASK_LATE_AFTER = datetime.timedelta(minutes=15)


def problems(now: datetime.datetime | None = None) -> list[str]:
    """What is wrong, one line each (English: for operators and their monitoring)."""
    now = now or timezone.now()
    # The scheduler's heartbeat and the jobs it marked failing: one query.
    beats = dict(
        Heartbeat.objects.filter(Q(name="scheduler") | Q(name__startswith=FAILING)).values_list("name", "at")
    )
    scheduler = _scheduler(now, beats.pop("scheduler", None))
    return [line for line in (scheduler, *_failing(now, beats), _notices(now), *_tasks(now)) if line]


def _scheduler(now, beat) -> str:
    if beat is None:
        return "scheduler: has never run (manage.py run_scheduler)"
    if now - beat > SCHEDULER_SILENT_AFTER:
        silent = _minutes(now - beat)
        return f"scheduler: silent since {_when(beat)}, {silent} min ago (dead, or stuck in a job)"
    return ""


def _failing(now, failing: dict) -> list[str]:
    """The scheduled jobs failing pass after pass (run_scheduler marks them): the
    scheduler's heartbeat is fresh, and what they do (compose notices, expire bags) is
    not done."""
    return [
        f"scheduler: job {name.removeprefix(FAILING)} failing since {_when(at)}, {_minutes(now - at)} min"
        " (its traceback is in the scheduler's log)"
        for name, at in sorted(failing.items(), key=lambda item: item[1])
        if now - at > JOB_FAILING_AFTER
    ]


def _notices(now) -> str:
    cutoff = now - NOTICE_LATE_AFTER
    late = Notice.objects.filter(state=State.PENDING).filter(
        Q(next_attempt_at__isnull=True, created_at__lt=cutoff) | Q(next_attempt_at__lt=cutoff)
    )
    found = late.aggregate(n=Count("pk"), since=Min(Coalesce("next_attempt_at", "created_at")))
    if not found["n"]:
        return ""
    over = _minutes(NOTICE_LATE_AFTER)
    return f"notices: {found['n']} due for over {over} min, the first since {_when(found['since'])}"


def _tasks(now) -> list[str]:
    over = _minutes(TASK_LATE_AFTER)
    return [
        f"tasks: {n} waiting for over {over} min on queue {queue}, none running (no worker)"
        for queue, n in taskqueue.late(now, waited=TASK_LATE_AFTER).items()
    ]


def _when(moment: datetime.datetime) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds")


def _minutes(delta: datetime.timedelta) -> int:
    return int(delta.total_seconds() // 60)
