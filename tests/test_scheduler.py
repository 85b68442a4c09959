import datetime

from django.core.management import call_command
from django.utils import timezone

from emporter.network.models import ClosedDay
from emporter.picking.models import PickRun
from emporter.picking.tasks import branches_due, enqueue_due_runs
from tests.conftest import make_branch, make_patron, make_record

TZ = timezone.get_current_timezone()
FRIDAY = datetime.date(2026, 11, 27)


def at(day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=TZ)


def test_a_branch_is_due_after_its_pick_time_on_an_open_day(branch):
    assert branches_due(at(FRIDAY, 8)) == []
    assert branches_due(at(FRIDAY, 9)) == [branch.pk]
    sunday = FRIDAY + datetime.timedelta(days=2)
    assert branches_due(at(sunday, 9)) == []
    ClosedDay.objects.create(branch=branch, date=FRIDAY, reason="inventaire")
    assert branches_due(at(FRIDAY, 9)) == []


def open_every_day_from_midnight():
    return make_branch(code="GER", name="Gerland", weekdays=range(7), pick_time=datetime.time(0, 0))


def test_enqueued_runs_are_built_once_however_often_the_scheduler_asks(db):
    from emporter.holds.services import place_request

    branch = open_every_day_from_midnight()
    request, _ = place_request(
        patron=make_patron(branch), record_id=make_record(copies=[branch]).pk, pickup_branch=branch
    )
    type(request).objects.filter(pk=request.pk).update(
        placed_at=at(timezone.localdate(), 0) - datetime.timedelta(hours=1)
    )
    assert enqueue_due_runs() == [branch.pk]  # the immediate backend builds it at once
    assert enqueue_due_runs() == []
    assert PickRun.objects.get(branch=branch).lines.get().request == request


def test_scheduler_command_runs_every_job_once(db):
    branch = open_every_day_from_midnight()
    call_command("run_scheduler", "--once")
    assert PickRun.objects.filter(branch=branch, run_date=timezone.localdate()).count() == 1


def test_a_morning_run_task_that_waited_past_its_day_builds_nothing(db):
    from emporter.picking.tasks import build_morning_run

    branch = open_every_day_from_midnight()
    yesterday = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    assert build_morning_run.call(branch.pk, yesterday) is None
    assert not PickRun.objects.exists()
    assert build_morning_run.call(branch.pk, timezone.localdate().isoformat()) is not None
    assert PickRun.objects.filter(branch=branch, run_date=timezone.localdate()).count() == 1


def test_a_stopped_worker_does_not_pile_up_one_task_a_minute(db, settings):
    from django_tasks_db.models import DBTaskResult

    # Nobody runs them.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    branch = open_every_day_from_midnight()
    assert enqueue_due_runs() == [branch.pk]
    assert enqueue_due_runs() == []
    assert enqueue_due_runs() == []
    (task,) = DBTaskResult.objects.all()
    assert task.args_kwargs["args"] == [branch.pk, timezone.localdate().isoformat()]
    assert not PickRun.objects.exists()


def test_a_build_whose_worker_died_does_not_hold_the_morning_list_back(db, settings):
    from django_tasks_db.models import DBTaskResult

    from emporter.picking.tasks import STALLED_AFTER

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    branch = open_every_day_from_midnight()
    assert enqueue_due_runs() == [branch.pk]
    # A worker took it, then was killed: the row says "running" for good.
    DBTaskResult.objects.update(status="RUNNING", started_at=timezone.now())
    assert enqueue_due_runs() == []  # running a moment ago: it may well finish
    DBTaskResult.objects.update(started_at=timezone.now() - STALLED_AFTER - datetime.timedelta(minutes=1))
    assert enqueue_due_runs() == [branch.pk]
