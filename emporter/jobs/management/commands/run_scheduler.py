import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from emporter.jobs.schedule import jobs
from emporter.notices import outbox

log = logging.getLogger("emporter.scheduler")


class Command(BaseCommand):
    help = "Runs the periodic jobs (morning pick runs, notices, expiry) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")
        parser.add_argument("--tick", type=float, default=5.0, help="Seconds between checks.")

    def handle(self, *args, once=False, tick=5.0, **options):
        self.stopping = threading.Event()
        previous = self._stop_on_signals()
        try:
            self._loop(once=once, tick=tick)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

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

    def _loop(self, *, once: bool, tick: float) -> None:
        last_run: dict[str, float] = {}
        while not self.stopping.is_set():
            now = time.monotonic()
            for job in jobs():
                if self.stopping.is_set():
                    return
                if once or now - last_run.get(job.name, float("-inf")) >= job.every_seconds:
                    last_run[job.name] = now
                    self._run(job)
            if once:
                return
            close_old_connections()
            self.stopping.wait(tick)

    def _run(self, job):
        # One failing job must not stop the others, nor the scheduler.
        try:
            result = job.run()
        except Exception:
            log.exception("scheduled job %s failed", job.name)
        else:
            if any(result.values()) if isinstance(result, dict) else result:
                log.info("%s: %s", job.name, result)
