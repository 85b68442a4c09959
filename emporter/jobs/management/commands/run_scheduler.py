import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.db.backends.signals import connection_created
from django.utils import timezone

from emporter.jobs.health import FAILING
from emporter.jobs.models import Heartbeat
from emporter.jobs.schedule import jobs
from emporter.notices import outbox

log = logging.getLogger("emporter.scheduler")

# A row lock held by another session (an admin's psql left in a transaction, a long
# batch) must not stall every job behind the one waiting for it: the statement gives up
# after this long, the job is logged as failed and tried again (RETRY_SECONDS).
LOCK_TIMEOUT_MS = 60_000
# A job that failed is tried again this long after (doubling at each failure in a row,
# never later than its own interval): a connection dropped in the middle of a pass would
# otherwise put a daily job off a day.
RETRY_SECONDS = 60
# The heartbeat (/healthz/jobs reads it) is written after a job, at most this often.
HEARTBEAT_SECONDS = 30


def positive_seconds(text: str) -> float:
    """``--tick``: 0 or less made the loop spin at full speed."""
    value = float(text)
    if not 0 < value < 3600:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = "Runs the periodic jobs (morning pick runs, notices, expiry) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")
        parser.add_argument("--tick", type=positive_seconds, default=5.0, help="Seconds between checks.")

    def handle(self, *args, once=False, tick=5.0, **options):
        self.stopping = threading.Event()
        previous = self._stop_on_signals()
        connection_created.connect(bound_lock_waits, dispatch_uid="scheduler_lock_timeout")
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None:
                bound_lock_waits(sender=type(connection), connection=connection)
        # What an earlier run of the scheduler left marked failing: its jobs run again now.
        try:
            Heartbeat.objects.filter(name__startswith=FAILING).delete()
        except Exception:
            log.exception("scheduler: failing jobs not cleared")
        try:
            failed = self._loop(once=once, tick=tick)
        finally:
            connection_created.disconnect(dispatch_uid="scheduler_lock_timeout")
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if failed:
            # --once from cron or a deploy script: a failed job fails the command (each was
            # logged with its traceback), as a non-zero exit is all such a caller reads.
            raise CommandError(f"scheduled jobs failed: {', '.join(failed)}")

    def _stop_on_signals(self) -> dict:
        """A deploy's SIGTERM lets the job under way finish (the outbox stops after the
        notice it is sending) instead of killing a send in the middle: such a notice
        would turn "uncertain" and wait for staff."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def stop(signum, frame):
            log.info("scheduler: stopping after the job under way (signal %s)", signum)
            self.stopping.set()
            outbox.stop_requested.set()

        return {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}

    def _loop(self, *, once: bool, tick: float) -> list[str]:
        """Runs the jobs until stopped; with ``once``, each once, and returns the names
        of those that failed."""
        due_at: dict[str, float] = {}
        failures: dict[str, int] = {}
        self._beaten_at = float("-inf")
        while not self.stopping.is_set():
            for job in jobs():
                if self.stopping.is_set():
                    return list(failures)
                started = time.monotonic()
                if not once and started < due_at.get(job.name, float("-inf")):
                    continue
                if self._run(job):
                    failures.pop(job.name, None)
                    # (A DELETE of no row when it was not failing: one small query.)
                    _mark_failing(job.name, failing=False)
                    due_at[job.name] = started + job.every_seconds
                else:
                    if not failures.get(job.name):
                        _mark_failing(job.name, failing=True)
                    failures[job.name] = failures.get(job.name, 0) + 1
                    retry = min(job.every_seconds, RETRY_SECONDS * 2 ** (failures[job.name] - 1))
                    due_at[job.name] = time.monotonic() + retry
                self._beat()
            if once:
                return list(failures)
            self.stopping.wait(tick)
        return []

    def _run(self, job) -> bool:
        """Run ``job``; whether it succeeded. One failing job must not stop the others,
        nor the scheduler."""
        drop_broken_connections()
        try:
            result = job.run()
        except Exception:
            log.exception("scheduled job %s failed", job.name)
            return False
        if any(result.values()) if isinstance(result, dict) else result:
            log.info("%s: %s", job.name, result)
        return True

    def _beat(self) -> None:
        if time.monotonic() - self._beaten_at < HEARTBEAT_SECONDS:
            return
        self._beaten_at = time.monotonic()  # tried: while the database is down, once in a while
        drop_broken_connections()
        try:
            Heartbeat.objects.bulk_create(
                [Heartbeat(name="scheduler", at=timezone.now())],
                update_conflicts=True,
                unique_fields=["name"],
                update_fields=["at"],
            )
        except Exception:
            log.exception("scheduler: heartbeat not written")


def _mark_failing(name: str, *, failing: bool) -> None:
    """A job that fails again and again is said by /healthz/jobs (the heartbeat alone is
    written after a failed job too: a composer raising at every pass left patrons untold
    while everything said "ok"). Its first failure is kept; its next success clears it."""
    key = (FAILING + name)[: Heartbeat._meta.get_field("name").max_length]
    drop_broken_connections()
    try:
        if failing:
            Heartbeat.objects.get_or_create(name=key, defaults={"at": timezone.now()})
        else:
            Heartbeat.objects.filter(name=key).delete()
    except Exception:
        log.exception("scheduler: job %s not marked %s", name, "failing" if failing else "recovered")


def drop_broken_connections() -> None:
    """Close the connections a job broke (PostgreSQL restarted, a failover, a
    pg_terminate_backend) or that outlived DB_CONN_MAX_AGE, before the next job: one
    dropped connection must not fail every job after it. Never one in a transaction (a
    test's), which is not ours to close."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def bound_lock_waits(sender, connection, **kwargs) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, false)", [f"{LOCK_TIMEOUT_MS}ms"])
