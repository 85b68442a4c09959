"""Operations as the twenty-eighth session's review found them: ``run_scheduler --once``
fails when a job fails (cron and deploy scripts read only the exit status), the import
commands refuse a ``--wait`` or ``--batch-size`` out of range by naming it, and
``seed_demo`` does not say "demo ready" over a MARC file it could not read."""

import shutil

import pytest
from django.core.management import CommandError, call_command

from emporter.jobs import schedule
from emporter.jobs.management.commands import run_scheduler


def test_run_scheduler_once_fails_naming_the_jobs_that_failed(db, monkeypatch):
    def broken():
        raise RuntimeError("a bug in the job")

    monkeypatch.setattr(
        run_scheduler,
        "jobs",
        lambda: [schedule.Job("broken", 60, broken), schedule.Job("fine", 60, lambda: 0)],
    )
    with pytest.raises(CommandError, match="scheduled jobs failed: broken$"):
        call_command("run_scheduler", "--once")


def test_run_scheduler_once_succeeds_when_every_job_does(db, monkeypatch):
    ran = []
    monkeypatch.setattr(run_scheduler, "jobs", lambda: [schedule.Job("fine", 60, lambda: ran.append(1))])
    call_command("run_scheduler", "--once")
    assert ran == [1]


@pytest.mark.parametrize("tick", ["0", "-1"])
def test_run_scheduler_refuses_a_tick_that_would_spin(tick):
    with pytest.raises(CommandError, match="--tick"):
        call_command("run_scheduler", "--tick", tick)


@pytest.mark.parametrize("command", ["import_marc", "import_copies", "import_patrons"])
@pytest.mark.parametrize("wait", ["inf", "1e300", "-1"])
def test_a_wait_out_of_range_is_an_option_error(db, tmp_path, command, wait):
    path = tmp_path / "f.csv"
    path.write_text("x\n")
    with pytest.raises(CommandError, match="--wait"):
        call_command(command, str(path), "--wait", wait)


@pytest.mark.parametrize("command", ["import_marc", "import_copies"])
@pytest.mark.parametrize("size", ["0", "-5"])
def test_a_batch_size_below_one_is_refused_naming_the_option(db, tmp_path, command, size):
    path = tmp_path / "f.mrc"
    path.write_bytes(b"")
    with pytest.raises(CommandError, match="--batch-size"):
        call_command(command, str(path), "--batch-size", size)


def test_seed_demo_stops_on_a_marc_file_it_could_not_read(db, monkeypatch, tmp_path):
    from emporter.demo import imported

    for name in imported.MARC_FILES:
        shutil.copy(imported.marc_directory() / name, tmp_path / name)
    (tmp_path / "jazz_1k.mrc").write_bytes(b"\x00garbage, not ISO 2709" * 10)
    monkeypatch.setattr(imported, "marc_directory", lambda: tmp_path)

    with pytest.raises(CommandError, match="could not import jazz_1k.mrc: the demo is incomplete"):
        call_command("seed_demo", "--on-purpose", verbosity=0)


def test_forgetting_old_notices_stops_after_its_time_and_the_next_pass_goes_on(patron, monkeypatch):
    """A backlog (the retention shortened, a first run after a long stop) is forgotten
    over several passes: one that ran until done held up every other job, notices first."""
    import datetime

    from django.utils import timezone

    from emporter.notices import retention
    from emporter.notices.models import Kind, Notice, State

    long_ago = timezone.now() - datetime.timedelta(days=400)
    for n in range(7):
        Notice.objects.create(
            patron=patron,
            kind=Kind.CONFIRMATION,
            dedupe_key=f"old:{n}",
            state=State.SENT,
            next_attempt_at=long_ago,
        )
    monkeypatch.setattr(retention, "BATCH", 2)
    clock = [0.0]
    monkeypatch.setattr(retention.time, "monotonic", lambda: clock[0])
    forget_lines = retention.adminlog.forget_lines

    def slow_batch(model, ids):
        clock[0] += 30  # each batch takes 30 s
        return forget_lines(model, ids)

    monkeypatch.setattr(retention.adminlog, "forget_lines", slow_batch)

    assert retention.forget_old_notices() == 4  # two batches fit in 45 s
    assert Notice.objects.count() == 3
    clock[0] = 1000.0
    assert retention.forget_old_notices() == 3
    assert not Notice.objects.exists()


def loop_once(command):
    import threading

    command.stopping = threading.Event()
    return command._loop(once=True, tick=0)


def test_healthz_jobs_says_when_a_job_keeps_failing_and_stops_once_it_succeeds(client, db, monkeypatch):
    """The composer raising at every pass left patrons untold while /healthz/jobs said ok:
    the heartbeat is written after a failed job too."""
    import datetime

    from django.utils import timezone

    from emporter.jobs import health

    working = [False]

    def composer():
        if not working[0]:
            raise RuntimeError("a bug in the composer")

    monkeypatch.setattr(run_scheduler, "jobs", lambda: [schedule.Job("notices", 15, composer)])
    command = run_scheduler.Command()
    assert loop_once(command) == ["notices"]
    assert client.get("/healthz/jobs").status_code == 200  # one failure is not news

    later = timezone.now() + datetime.timedelta(minutes=16)
    (line,) = [p for p in health.problems(later) if "failing since" in p]
    assert line.startswith("scheduler: job notices failing since ")
    # Still failing at the next pass: the first failure's time is kept.
    assert loop_once(command) == ["notices"]
    assert [p for p in health.problems(later) if "failing since" in p] == [line]

    working[0] = True
    assert loop_once(command) == []
    assert not [p for p in health.problems(later) if "failing since" in p]


def test_a_scheduler_starting_again_forgets_what_an_earlier_one_marked_failing(db, monkeypatch):
    import datetime

    from django.utils import timezone

    from emporter.jobs import health
    from emporter.jobs.models import Heartbeat

    Heartbeat.objects.create(name="failing:old job", at=timezone.now() - datetime.timedelta(hours=2))
    monkeypatch.setattr(run_scheduler, "jobs", lambda: [schedule.Job("fine", 60, lambda: 0)])
    call_command("run_scheduler", "--once")
    assert not [p for p in health.problems() if "failing since" in p]
