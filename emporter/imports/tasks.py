"""The import of a file sent from the web page, run by the task worker."""

from django.tasks import task

from emporter.taskqueue import waiting

from . import services


# Its own queue and worker: an import can take hours (settings.TASKS).
@task(queue_name="imports")
def run_import(job_id: int) -> str | None:
    return services.run(job_id)


def waiting_in_queue() -> bool:
    """An import task already waits in the database queue (the worker is busy or down):
    the scheduler does not add one more every minute."""
    return bool(waiting(run_import))
