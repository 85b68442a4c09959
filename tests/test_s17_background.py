"""Background work (seventeenth session): the scheduler retries a failed job soon and
writes a heartbeat, /healthz/jobs says when the scheduler, the outbox or the task
workers are not working, a failing morning build backs off, a task whose worker died is
marked failed. The PostgreSQL-only ones (dropped connections, lock waits, outages) are
in test_s17_background_pg.py."""

import datetime
import logging
import threading

import pytest
from django.core.management import call_command
from django.utils import timezone

from emporter import taskqueue
from emporter.jobs import schedule
from emporter.jobs.management.commands import run_scheduler
from emporter.jobs.models import Heartbeat
from emporter.notices.models import Kind, Notice, State
from emporter.picking import services
from emporter.picking.tasks import build_morning_run, enqueue_due_runs
from tests.conftest import make_branch, make_patron

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}


def scheduler_running(monkeypatch, *job_list, seconds=3.0):
    """Run the scheduler's loop on ``job_list`` until a job stops it (or ``seconds``)."""
    monkeypatch.setattr(run_scheduler, "jobs", lambda: list(job_list))
    command = run_scheduler.Command()
    command.stopping = threading.Event()
    timer = threading.Timer(seconds, command.stopping.set)
    timer.start()
    try:
        command._loop(once=False, tick=0.01)
    finally:
        timer.cancel()
    return command


# -- the scheduler ------------------------------------------------------------------


def test_a_job_that_failed_is_tried_again_soon_not_after_its_whole_interval(db, monkeypatch, caplog):
    monkeypatch.setattr(run_scheduler, "RETRY_SECONDS", 0.05)
    calls = []

    def daily():
        calls.append(timezone.now())
        if len(calls) == 1:
            raise RuntimeError("the connection dropped under it")
        command.stopping.set()

    command = run_scheduler.Command()
    monkeypatch.setattr(run_scheduler, "jobs", lambda: [schedule.Job("daily", 86400, daily)])
    command.stopping = threading.Event()
    timer = threading.Timer(3, command.stopping.set)
    timer.start()
    with caplog.at_level(logging.ERROR, logger="emporter.scheduler"):
        command._loop(once=False, tick=0.01)
    timer.cancel()
    assert len(calls) == 2, "a daily job that failed once waited a day"
    assert [r.getMessage() for r in caplog.records] == ["scheduled job daily failed"]


def test_a_job_that_succeeded_waits_its_interval(db, monkeypatch):
    calls = []
    scheduler_running(monkeypatch, schedule.Job("hourly", 3600, lambda: calls.append(1)), seconds=0.3)
    assert calls == [1]


def test_a_job_failing_again_and_again_is_retried_less_and_less_often(db, monkeypatch):
    monkeypatch.setattr(run_scheduler, "RETRY_SECONDS", 0.1)
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("a bug")

    # Retries after 0.1, 0.2, 0.4, 0.8 s: five calls in 1.7 s, not one every tick (170).
    scheduler_running(monkeypatch, schedule.Job("daily", 86400, broken), seconds=1.7)
    assert 4 <= len(calls) <= 6


def test_the_scheduler_writes_its_heartbeat_after_its_jobs(db, monkeypatch):
    monkeypatch.setattr(run_scheduler, "jobs", lambda: [schedule.Job("a", 60, lambda: None)])
    before = timezone.now()
    command = run_scheduler.Command()
    command.stopping = threading.Event()
    command._loop(once=True, tick=0)
    assert Heartbeat.objects.get(name="scheduler").at >= before


def test_the_heartbeat_is_written_after_a_failed_job_too(db, monkeypatch):
    def broken():
        raise RuntimeError("a bug")

    monkeypatch.setattr(run_scheduler, "jobs", lambda: [schedule.Job("a", 60, broken)])
    command = run_scheduler.Command()
    command.stopping = threading.Event()
    command._loop(once=True, tick=0)
    assert Heartbeat.objects.filter(name="scheduler").exists()


def test_every_job_still_runs_once(db):
    call_command("run_scheduler", "--once")
    assert Heartbeat.objects.filter(name="scheduler").exists()


# -- /healthz/jobs ------------------------------------------------------------------


def beat(minutes_ago: float) -> None:
    Heartbeat.objects.update_or_create(
        name="scheduler", defaults={"at": timezone.now() - datetime.timedelta(minutes=minutes_ago)}
    )


def test_healthz_jobs_answers_ok_when_the_background_work_is_done(client, db, settings):
    settings.TASKS = DB_TASKS
    beat(1)
    answer = client.get("/healthz/jobs")
    assert (answer.status_code, answer.content) == (200, b"ok")
    assert "no-cache" in answer["Cache-Control"]


def test_healthz_jobs_says_when_the_scheduler_never_ran_or_went_silent(client, db):
    answer = client.get("/healthz/jobs")
    assert answer.status_code == 503
    assert answer.content.decode().startswith("scheduler: has never run")
    beat(6)
    answer = client.get("/healthz/jobs")
    assert answer.status_code == 503
    assert "scheduler: silent since" in answer.content.decode()
    beat(4)
    assert client.get("/healthz/jobs").status_code == 200


def test_healthz_stays_the_load_balancers_cheap_check(client, db, django_assert_num_queries):
    with django_assert_num_queries(1):
        answer = client.get("/healthz")
    assert (answer.status_code, answer.content) == (200, b"ok")  # the scheduler never ran: not its business


def notice(patron, key, *, created_minutes_ago, next_attempt_minutes_ago=None, state=State.PENDING):
    made = Notice.objects.create(patron=patron, kind=Kind.READY, channel="email", dedupe_key=key)
    now = timezone.now()
    next_attempt = None
    if next_attempt_minutes_ago is not None:
        next_attempt = now - datetime.timedelta(minutes=next_attempt_minutes_ago)
    created = now - datetime.timedelta(minutes=created_minutes_ago)
    Notice.objects.filter(pk=made.pk).update(created_at=created, next_attempt_at=next_attempt, state=state)


def test_healthz_jobs_says_when_notices_due_are_not_sent(client, branch):
    beat(0)
    patron = make_patron(branch)
    notice(patron, "fresh", created_minutes_ago=2)
    notice(patron, "retried lately", created_minutes_ago=90, next_attempt_minutes_ago=1)  # mail trouble
    notice(patron, "later", created_minutes_ago=90, next_attempt_minutes_ago=-60)  # held an hour more
    notice(patron, "sent", created_minutes_ago=90, state=State.SENT)
    assert client.get("/healthz/jobs").status_code == 200
    notice(patron, "never tried", created_minutes_ago=20)
    notice(patron, "due again long ago", created_minutes_ago=90, next_attempt_minutes_ago=40)
    answer = client.get("/healthz/jobs")
    assert answer.status_code == 503
    assert answer.content.decode().startswith("notices: 2 due for over 15 min, the first since ")


def test_healthz_jobs_says_when_no_worker_takes_the_tasks(client, branch, settings):
    from django_tasks_db.models import DBTaskResult

    from emporter.imports.tasks import run_import

    settings.TASKS = DB_TASKS
    beat(0)
    build_morning_run.enqueue(branch.pk, timezone.localdate().isoformat())
    assert client.get("/healthz/jobs").status_code == 200  # queued a moment ago
    DBTaskResult.objects.update(enqueued_at=timezone.now() - datetime.timedelta(minutes=20))
    answer = client.get("/healthz/jobs")
    assert answer.status_code == 503
    said = "tasks: 1 waiting for over 15 min on queue default, none running (no worker)\n"
    assert answer.content.decode() == said
    # An import may keep the next one waiting for an hour: its queue's worker is busy, not dead.
    DBTaskResult.objects.all().delete()
    for _ in range(2):
        run_import.enqueue(1)
    DBTaskResult.objects.update(enqueued_at=timezone.now() - datetime.timedelta(hours=2))
    first = DBTaskResult.objects.order_by("pk").first()
    DBTaskResult.objects.filter(pk=first.pk).update(
        status="RUNNING", started_at=timezone.now() - datetime.timedelta(hours=1)
    )
    assert client.get("/healthz/jobs").status_code == 200


def test_healthz_jobs_is_a_few_small_queries(client, db, settings, django_assert_max_num_queries):
    settings.TASKS = DB_TASKS
    beat(0)
    with django_assert_max_num_queries(3):
        assert client.get("/healthz/jobs").status_code == 200


# -- the morning build's backoff ------------------------------------------------------


@pytest.fixture
def db_queue(transactional_db, settings):
    settings.TASKS = DB_TASKS


def run_worker_once():
    call_command("run_worker", batch=True, reload=False, interval=0, verbosity=0)


def test_a_build_that_keeps_failing_is_queued_again_later_and_later(db_queue, monkeypatch):
    from django_tasks_db.models import DBTaskResult

    failing = make_branch(code="GER", name="Gerland", weekdays=range(7), pick_time=datetime.time(0, 0))
    working = make_branch(code="BAC", name="Bachut", weekdays=range(7), pick_time=datetime.time(0, 0))
    real_build = services.build_run

    def build(*, branch, **kwargs):
        if branch == failing:
            raise RuntimeError("bad data in this branch's list")
        return real_build(branch=branch, **kwargs)

    monkeypatch.setattr(services, "build_run", build)
    # Ninety minutes of the scheduler, today (the worker builds today's lists only).
    real = timezone.now()
    start = real - datetime.timedelta(minutes=90) if timezone.localtime(real).hour >= 2 else real
    queued_at, seen = [], set()
    for minute in range(0, 90):
        now = start + datetime.timedelta(minutes=minute)
        if failing.pk in enqueue_due_runs(now=now):
            queued_at.append(minute)
        run_worker_once()
        new = set(DBTaskResult.objects.filter(status="FAILED").values_list("pk", flat=True)) - seen
        DBTaskResult.objects.filter(pk__in=new).update(finished_at=now)  # at the scheduler's time
        seen |= new
    # 5 minutes after the first failure, 15 after the second, then every hour.
    assert queued_at == [0, 5, 20, 80]
    assert DBTaskResult.objects.filter(status="FAILED").count() == 4
    assert working.pick_runs.count() == 1  # the other branch's list was built at once


def test_a_build_that_failed_yesterday_does_not_hold_todays_back(db_queue, monkeypatch):
    from django_tasks_db.models import DBTaskResult

    branch = make_branch(code="GER", name="Gerland", weekdays=range(7), pick_time=datetime.time(0, 0))
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    build_morning_run.enqueue(branch.pk, yesterday)
    DBTaskResult.objects.update(status="FAILED", finished_at=timezone.now())
    assert enqueue_due_runs() == [branch.pk]


# -- tasks whose worker died -----------------------------------------------------------


def test_a_task_left_running_by_a_dead_worker_is_marked_failed(db, settings):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DB_TASKS
    branch = make_branch(code="GER", name="Gerland")
    for hours in (25, 2):
        build_morning_run.enqueue(branch.pk, timezone.localdate().isoformat())
        DBTaskResult.objects.filter(status="READY").update(
            status="RUNNING", started_at=timezone.now() - datetime.timedelta(hours=hours)
        )
    assert "fail tasks whose worker died" in [job.name for job in schedule.jobs()]
    assert taskqueue.fail_stranded() == 1
    stranded = DBTaskResult.objects.get(status="FAILED")
    assert timezone.now() - stranded.started_at > datetime.timedelta(hours=24)
    (error,) = stranded.task_result.errors
    assert error.exception_class is taskqueue.WorkerLost
    assert DBTaskResult.objects.filter(status="RUNNING").count() == 1  # two hours: an import may take that
    assert taskqueue.fail_stranded() == 0


# -- the task worker ------------------------------------------------------------------


def test_a_worker_refused_again_and_again_waits_longer_each_time_not_in_a_tight_loop(
    transactional_db, settings, monkeypatch
):
    from django.db.utils import OperationalError
    from django_tasks_db.models import DBTaskResultQuerySet

    from emporter.jobs import worker

    settings.TASKS = DB_TASKS
    claims, slept = [], []
    the_worker = worker.Worker(
        queue_names=["*"], interval=0, batch=False, backend_name="default", startup_delay=False,
        max_tasks=None, worker_id="s17", excluded_queue_names=[],
    )  # fmt: skip

    def refused(queryset):
        claims.append(1)
        if len(claims) == 8:
            the_worker.running = False
        raise OperationalError("the server refuses this worker's claim")  # yet answers

    monkeypatch.setattr(DBTaskResultQuerySet, "get_locked", refused)
    monkeypatch.setattr(worker.time, "sleep", slept.append)
    with pytest.raises(OperationalError):
        the_worker.run()
    assert slept == [1, 2, 5, 10, 30, 30]  # the first try at once: a connection dropped, the server up
