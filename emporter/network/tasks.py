"""A reopening, run by the task worker: serving a library's waiting lists and telling
its patrons takes minutes for a large one (3,000 requests: over a minute here), longer
than a web request may last behind a proxy."""

from django.contrib.auth import get_user_model
from django.tasks import task

from .models import Branch
from .services import set_mode


@task
def switch_modes(branch_ids: list[int], mode: str, actor_id: int | None = None) -> int:
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return set_mode(branches=Branch.objects.filter(pk__in=branch_ids), mode=mode, actor=actor)
