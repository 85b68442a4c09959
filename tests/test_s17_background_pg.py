"""Background work on PostgreSQL (seventeenth session): a dropped connection or a
database outage of a few seconds neither kills a task worker nor strands its task, nor
fails the scheduler's later jobs; a row lock held elsewhere stalls one scheduled job for
a bounded time, not all of them for ever. Real connections, so skipped on SQLite."""

import datetime
import logging
import socket
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from emporter.jobs import schedule, worker
from emporter.jobs.management.commands import run_scheduler
from emporter.network.models import Branch
from emporter.picking import services
from emporter.picking.tasks import build_morning_run
from tests.conftest import make_branch

pytestmark = pytest.mark.django_db(transaction=True)

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}


@pytest.fixture
def pg(postgres, settings):
    settings.TASKS = DB_TASKS
    yield
    connection.close()  # a fresh connection (without the scheduler's lock_timeout) for the flush


def a_worker(**kw) -> worker.Worker:
    options = {
        "queue_names": ["*"],
        "interval": 0,
        "batch": True,
        "backend_name": "default",
        "startup_delay": False,
        "max_tasks": None,
        "worker_id": "s17",
        "excluded_queue_names": [],
    }
    return worker.Worker(**(options | kw))


def gerland():
    return make_branch(code="GER", name="Gerland", weekdays=range(7), pick_time=datetime.time(0, 0))


def test_a_connection_dropped_during_a_task_neither_kills_the_worker_nor_strands_the_task(
    pg, monkeypatch, caplog
):
    from django_tasks_db.models import DBTaskResult

    first, second = gerland(), make_branch(code="BAC", name="Bachut", weekdays=range(7))
    real_build = services.build_run

    def build(*, branch, **kwargs):
        if branch == first:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return real_build(branch=branch, **kwargs)

    monkeypatch.setattr(services, "build_run", build)
    today = timezone.localdate().isoformat()
    dropped = build_morning_run.enqueue(first.pk, today)
    built = build_morning_run.enqueue(second.pk, today)
    with caplog.at_level(logging.WARNING, logger="emporter.worker"):
        a_worker().run()  # no exception: it goes on, and ends when the queue is empty (batch)
    assert DBTaskResult.objects.get(pk=dropped.id).status == "FAILED"
    assert "OperationalError" in DBTaskResult.objects.get(pk=dropped.id).exception_class_path
    assert DBTaskResult.objects.get(pk=built.id).status == "SUCCESSFUL"
    said = [r.levelname for r in caplog.records if r.name == "emporter.worker"]
    assert said == ["WARNING", "ERROR", "WARNING"]  # gone; the task marked failed; back


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_worker_rides_out_a_database_outage_and_says_so_once(pg, monkeypatch, caplog):
    from django_tasks_db.models import DBTaskResult

    branch = gerland()
    task = build_morning_run.enqueue(branch.pk, timezone.localdate().isoformat())
    monkeypatch.setattr(worker, "RETRY_SECONDS", (0.05,))
    # The database refuses connections for a second (a restart, a failover): the worker's
    # connections point at a port nobody listens on, then back.
    settings_dict = connection.settings_dict
    real_port, real_host = settings_dict["PORT"], settings_dict["HOST"]
    connection.close()
    settings_dict["HOST"], settings_dict["PORT"] = "127.0.0.1", closed_port()
    back = threading.Timer(1.0, lambda: settings_dict.update(HOST=real_host, PORT=real_port))
    back.start()
    try:
        with caplog.at_level(logging.WARNING, logger="emporter.worker"):
            a_worker().run()
    finally:
        back.cancel()
        settings_dict.update(HOST=real_host, PORT=real_port)
    lines = [r.getMessage() for r in caplog.records if r.name == "emporter.worker"]
    assert len(lines) == 2, lines  # about twenty tries: said when it went, and when it came back
    assert "database unreachable" in lines[0] and "database back after" in lines[1]
    assert DBTaskResult.objects.get(pk=task.id).status == "SUCCESSFUL"


def test_run_worker_is_db_worker_with_this_worker(pg):
    from django_tasks_db.models import DBTaskResult

    task = build_morning_run.enqueue(gerland().pk, timezone.localdate().isoformat())
    options = ["--queue-name", "*", "--exclude-queues", "imports", "--batch", "--no-reload", "-v0"]
    call_command("run_worker", *options)
    assert DBTaskResult.objects.get(pk=task.id).status == "SUCCESSFUL"


def test_a_connection_dropped_in_one_job_does_not_fail_the_jobs_after_it(pg, monkeypatch, caplog):
    ran = []

    def drops_its_connection():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    def daily():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        ran.append("daily")

    monkeypatch.setattr(
        run_scheduler,
        "jobs",
        lambda: [
            schedule.Job("first", 60, lambda: None),  # the heartbeat is written after it, not for 30 s
            schedule.Job("notices", 15, drops_its_connection),
            schedule.Job("daily", 86400, daily),
        ],
    )
    command = run_scheduler.Command()
    command.stopping = threading.Event()
    with caplog.at_level(logging.ERROR, logger="emporter.scheduler"):
        command._loop(once=True, tick=0)
    assert ran == ["daily"]
    assert [r.getMessage() for r in caplog.records] == ["scheduled job notices failed"]


def test_a_row_lock_held_elsewhere_stalls_one_job_for_a_bounded_time(pg, monkeypatch, caplog):
    branch = gerland()
    monkeypatch.setattr(run_scheduler, "LOCK_TIMEOUT_MS", 300)
    ran = []

    def locked():
        Branch.objects.filter(pk=branch.pk).update(name="Gerland (renamed)")

    monkeypatch.setattr(
        run_scheduler,
        "jobs",
        lambda: [schedule.Job("locked", 60, locked), schedule.Job("after", 60, lambda: ran.append(1))],
    )
    # An admin's psql session left in a transaction, holding the branch's row.
    holding, release = threading.Event(), threading.Event()

    def admin_session():
        try:
            with transaction.atomic():
                Branch.objects.select_for_update().get(pk=branch.pk)
                holding.set()
                release.wait(20)
        finally:
            connection.close()

    admin = threading.Thread(target=admin_session)
    admin.start()
    holding.wait(10)
    connection.close()  # the scheduler starts with a connection of its own
    start = time.monotonic()
    try:
        failed = pytest.raises(CommandError, match="scheduled jobs failed: locked$")  # and says so
        with caplog.at_level(logging.ERROR, logger="emporter.scheduler"), failed:
            call_command("run_scheduler", "--once")
    finally:
        release.set()
        admin.join(10)
    assert time.monotonic() - start < 10, "the scheduler waited for the lock until it was released"
    assert ran == [1]
    assert [r.getMessage() for r in caplog.records] == ["scheduled job locked failed"]
    assert Branch.objects.get(pk=branch.pk).name == "Gerland"


def test_the_scheduler_bounds_lock_waits_on_its_later_connections_too(pg, monkeypatch):
    seen = []

    def lock_timeout():
        with connection.cursor() as cursor:
            cursor.execute("SHOW lock_timeout")
            seen.append(cursor.fetchone()[0])

    def drops_its_connection():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setattr(
        run_scheduler,
        "jobs",
        lambda: [
            schedule.Job("a", 60, lock_timeout),
            schedule.Job("drop", 60, drops_its_connection),
            schedule.Job("b", 60, lock_timeout),
        ],
    )
    with pytest.raises(CommandError, match="scheduled jobs failed: drop$"):
        call_command("run_scheduler", "--once")
    assert seen == ["1min", "1min"]  # before and after a new connection
    connection.close()
    with connection.cursor() as cursor:  # the command's end: others' connections keep theirs
        cursor.execute("SHOW lock_timeout")
        assert cursor.fetchone()[0] == "0"
