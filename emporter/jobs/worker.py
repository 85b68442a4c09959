"""The task worker: django-tasks-db's, riding out database outages.

The library's worker exits on the first error from the database outside a task (a
PostgreSQL restart, a failover, PgBouncer restarted: a few seconds), and a task whose
end it cannot write stays "running" for good. This one closes its connections, waits
for the database (1, 2, 5, 10, then every 30 s; said once when it goes, once when it is
back), marks the task it was running failed, and goes on."""

import itertools
import logging
import time
import traceback

from django.db import connections
from django.db.utils import InterfaceError, OperationalError
from django.utils import timezone
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

log = logging.getLogger("emporter.worker")

DATABASE_DOWN = (OperationalError, InterfaceError)
RETRY_SECONDS = (1, 2, 5, 10, 30)
# An error again this soon after the database came back (one it answers, yet refuses the
# worker's claim): go on waiting longer each time, rather than in a tight loop.
CALM_SECONDS = 60


class Worker(db_worker.Worker):
    _stranded: DBTaskResult | None = None
    _stranded_done = False
    _back_at = float("-inf")
    _attempt = 0

    def run(self) -> None:
        while True:
            try:
                return super().run()
            except DATABASE_DOWN as error:
                if not self.running:
                    raise  # stopping anyway (a signal): the supervisor's restart, or the deploy's
                self._ride_out(error)
            if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                return None
            self.startup_delay = False

    def run_task(self, db_task_result: DBTaskResult) -> None:
        # Whether the task's work returned (and committed) before its end was written:
        # the library asks to write "successful" only then.
        returned = []
        write_success = db_task_result.set_successful

        def set_successful(*args, **kwargs):
            returned.append(True)
            write_success(*args, **kwargs)

        db_task_result.set_successful = set_successful
        try:
            super().run_task(db_task_result)
        except DATABASE_DOWN:
            # The library could not write the task's end: it would stay "running".
            self._stranded, self._stranded_done = db_task_result, bool(returned)
            raise

    def _ride_out(self, error: Exception) -> None:
        started = time.monotonic()
        log.warning("task worker %s: database unreachable, waiting for it: %s", self.worker_id, error)
        first = self._attempt + 1 if started - self._back_at < CALM_SECONDS else 0
        for attempt in itertools.count(first):
            if attempt:
                time.sleep(RETRY_SECONDS[min(attempt, len(RETRY_SECONDS)) - 1])
            connections.close_all()
            try:
                self._fail_stranded(error)
            except DATABASE_DOWN:
                continue
            self._attempt, self._back_at = attempt, time.monotonic()
            break
        log.warning("task worker %s: database back after %.0f s", self.worker_id, self._back_at - started)

    def _fail_stranded(self, error: Exception) -> None:
        """Write the end of the task whose end could not be written: successful when its
        work had returned (only the writing of its end was lost; its return value is),
        else failed (its work may be half done: running it again is for the scheduler or
        staff to decide, as after any failure); with none, only check that the database
        answers."""
        task, self._stranded = self._stranded, None
        try:
            if task is None:
                connections[DBTaskResult.objects.db].ensure_connection()
                return
            ended = {"status": "FAILED", "finished_at": timezone.now()}
            if self._stranded_done:
                ended |= {"status": "SUCCESSFUL", "exception_class_path": "", "traceback": ""}
            else:
                ended |= {
                    "exception_class_path": f"{type(error).__module__}.{type(error).__qualname__}",
                    "traceback": _traceback(error),
                }
            marked = DBTaskResult.objects.filter(pk=task.pk, status="RUNNING").update(**ended)
        except DATABASE_DOWN:
            self._stranded = task
            raise
        if marked and ended["status"] == "FAILED":
            log.error("task %s (%s): failed, the database went away while it ran", task.pk, task.task_path)
        elif marked:
            log.warning("task %s (%s): done, its end written once the database came back", task.pk,
                        task.task_path)  # fmt: skip


def _traceback(error: Exception) -> str:
    return "".join(traceback.format_exception(error))
