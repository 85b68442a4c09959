"""Background work, second review of this session's changes: a worker killed in the
middle of a short task is seen within the half-hour, not the day; a task whose work
returned before the database went away is not called failed; expiring a morning's bags
takes turns with the other jobs."""

import datetime

import pytest
from django.utils import timezone

from emporter.holds.models import Request, Status
from emporter.holds.services import expire_overdue
from emporter.jobs import health
from emporter.jobs.models import Heartbeat
from emporter.picking.models import PickRun
from emporter.picking.tasks import build_morning_run
from tests.conftest import make_branch, make_patron, make_ready_requests

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}


def test_tasks_behind_one_left_running_by_a_dead_worker_are_said_late(db, settings):
    # The worker was killed while building a list: its row stays "running", and every
    # task queued since waited with /healthz/jobs answering ok for a whole day.
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = DB_TASKS
    Heartbeat.objects.create(name="scheduler", at=timezone.now())
    branch = make_branch(code="GER", name="Gerland")
    today = timezone.localdate().isoformat()
    build_morning_run.enqueue(branch.pk, today)
    DBTaskResult.objects.update(status="RUNNING", started_at=timezone.now() - datetime.timedelta(hours=3))
    for _ in range(3):
        build_morning_run.enqueue(branch.pk, today)
    DBTaskResult.objects.filter(status="READY").update(
        enqueued_at=timezone.now() - datetime.timedelta(hours=3)
    )
    assert [line for line in health.problems() if line.startswith("tasks: 3 waiting")]


def test_an_import_running_for_hours_still_keeps_its_queue_busy(db, settings):
    from django_tasks_db.models import DBTaskResult

    from emporter import taskqueue

    settings.TASKS = DB_TASKS
    now = timezone.now()
    common = {"args_kwargs": {"args": [], "kwargs": {}}, "backend_name": "default", "priority": 0}
    DBTaskResult.objects.create(
        task_path="emporter.imports.tasks.run_import", queue_name="imports", status="RUNNING",
        started_at=now - datetime.timedelta(hours=3), **common,
    )  # fmt: skip
    DBTaskResult.objects.create(
        task_path="emporter.imports.tasks.run_import", queue_name="imports", status="READY",
        enqueued_at=now - datetime.timedelta(hours=2), **common,
    )  # fmt: skip
    assert taskqueue.late(now, waited=datetime.timedelta(minutes=15)) == {}


def test_a_task_whose_work_returned_is_not_failed_when_its_end_could_not_be_written(
    transactional_db, settings, monkeypatch
):
    from django.db.utils import OperationalError
    from django_tasks_db.models import DBTaskResult

    from emporter.jobs import worker

    settings.TASKS = DB_TASKS
    branch = make_branch(code="GER", name="Gerland")
    build_morning_run.enqueue(branch.pk, timezone.localdate().isoformat())
    the_worker = worker.Worker(
        queue_names=["*"], interval=0, batch=False, backend_name="default", startup_delay=False,
        max_tasks=1, worker_id="w1", excluded_queue_names=[],
    )  # fmt: skip
    dropped = OperationalError("server closed the connection unexpectedly")

    def down(self, *args, **kwargs):
        raise dropped

    real_success, real_fail = DBTaskResult.set_successful, DBTaskResult.set_failed
    monkeypatch.setattr(DBTaskResult, "set_successful", down)
    monkeypatch.setattr(DBTaskResult, "set_failed", down)
    monkeypatch.setattr(worker.time, "sleep", lambda s: None)
    task = DBTaskResult.objects.get()
    task.claim("w1")
    with pytest.raises(OperationalError):
        the_worker.run_task(task)
    monkeypatch.setattr(DBTaskResult, "set_successful", real_success)
    monkeypatch.setattr(DBTaskResult, "set_failed", real_fail)
    the_worker._ride_out(dropped)  # the database is back

    assert PickRun.objects.filter(branch=branch).count() == 1  # the work was done
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


def test_expiring_takes_a_batch_at_a_time(branch):
    patron = make_patron(branch)
    ready = make_ready_requests(patron, branch, ["Un", "Deux", "Trois"])
    later = max(request.hold_until for request in ready) + datetime.timedelta(days=1)
    assert expire_overdue(today=later, limit=2) == 2
    assert Request.objects.filter(status=Status.EXPIRED).count() == 2
    assert expire_overdue(today=later, limit=2) == 1


def test_the_scheduler_spares_closed_last_days_once_a_turn_not_before_each_batch(branch, monkeypatch):
    from emporter.holds import services
    from emporter.jobs import schedule

    patron = make_patron(branch)
    ready = make_ready_requests(patron, branch, [f"Titre {n}" for n in range(6)])
    later = max(request.hold_until for request in ready) + datetime.timedelta(days=1)
    spared = []
    real = services.spare_closed_last_days
    counted = lambda today: spared.append(today) or real(today)  # noqa: E731
    monkeypatch.setattr(services, "spare_closed_last_days", counted)  # the scheduler's own call
    monkeypatch.setattr("emporter.holds.bags.spare_closed_last_days", counted)  # expire_overdue's
    monkeypatch.setattr(services.timezone, "localdate", lambda *a: later)
    monkeypatch.setattr(schedule, "EXPIRE_BATCH", 2)
    assert schedule.expire_bags() == 6  # three batches
    assert len(spared) == 1
