"""What waits in the database task queue (django-tasks-db), for the schedulers and pages
that must not queue a task twice or show it as not asked."""

from django.conf import settings
from django.db.models import Q


def waiting(task, *, alive: Q | None = None) -> list[dict]:
    """The ``args_kwargs`` of ``task``'s runs still in the queue (READY unless ``alive``
    says otherwise); none with another backend (the tests' immediate one)."""
    if "django_tasks_db" not in settings.TASKS["default"]["BACKEND"]:
        return []
    from django_tasks_db.models import DBTaskResult

    alive = Q(status="READY") if alive is None else alive
    return list(
        DBTaskResult.objects.filter(alive, task_path=task.module_path).values_list("args_kwargs", flat=True)
    )
