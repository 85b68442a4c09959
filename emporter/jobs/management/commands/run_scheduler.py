import logging
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from emporter.jobs.schedule import jobs

log = logging.getLogger("emporter.scheduler")


class Command(BaseCommand):
    help = "Runs the periodic jobs (morning pick runs, notices, expiry) until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run every job once and exit.")
        parser.add_argument("--tick", type=float, default=5.0, help="Seconds between checks.")

    def handle(self, *args, once=False, tick=5.0, **options):
        last_run: dict[str, float] = {}
        while True:
            now = time.monotonic()
            for job in jobs():
                if once or now - last_run.get(job.name, float("-inf")) >= job.every_seconds:
                    last_run[job.name] = now
                    self._run(job)
            if once:
                return
            close_old_connections()
            time.sleep(tick)

    def _run(self, job):
        # One failing job must not stop the others, nor the scheduler.
        try:
            result = job.run()
        except Exception:
            log.exception("scheduled job %s failed", job.name)
        else:
            if any(result.values()) if isinstance(result, dict) else result:
                log.info("%s: %s", job.name, result)
