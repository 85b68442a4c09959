"""A reopening, run by the task worker: serving a library's waiting lists and telling
its patrons takes minutes for a large one (3,000 requests: over a minute here), longer
than a web request may last behind a proxy."""

import datetime

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.tasks import task
from django.utils import timezone

from emporter.holds.continuity import set_mode
from emporter.taskqueue import waiting

from .models import Branch

# Far longer than a switch takes (a reopening of 3,000 requests: about a minute).
RUNNING_FOR = datetime.timedelta(minutes=30)


@task
def switch_modes(
    branch_ids: list[int], mode: str, actor_id: int | None = None, asked_at: str | None = None
) -> int:
    """``asked_at`` (ISO): a library for which another switch was asked since (the admin
    changed their mind while this waited in the queue) is left to that one: the last
    switch asked is the one that holds, whichever runs last."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    branches = Branch.objects.filter(pk__in=branch_ids)
    if asked_at:
        at = datetime.datetime.fromisoformat(asked_at)
        # mode_asked_at is empty where only the code before it switched (queued across
        # an upgrade, or switched between migrate and the restart): its rule, then.
        branches = branches.exclude(
            Q(mode_asked_at__gt=at) | Q(mode_asked_at__isnull=True, mode_changed_at__gt=at)
        )
    return set_mode(branches=branches, mode=mode, actor=actor)


def asked(branches) -> str:
    """Note that a switch of ``branches`` is asked now, and return the moment (ISO) for
    the task: any switch still waiting for them in the queue no longer applies."""
    now = timezone.now()
    branches.update(mode_asked_at=now)
    return now.isoformat()


def pending_switches() -> dict[int, str]:
    """The branches a switch waits for in the database task queue, with the mode it
    goes to: the service-modes page says so rather than showing the old mode as if
    nothing were asked (and inviting a second click)."""
    pending = {}
    # A run killed outright (SIGKILL, the machine stopped) stays RUNNING in the queue for
    # good: past RUNNING_FOR, the page shows the mode the library is in, to switch again.
    started = timezone.now() - RUNNING_FOR
    alive = Q(status="READY") | Q(status="RUNNING", started_at__gte=started)
    runs = waiting(switch_modes, alive=alive)
    if not runs:
        return pending
    # (Where no switch was asked since the column came, the last change is what counts.)
    last_asked = {
        pk: asked or changed
        for pk, asked, changed in Branch.objects.values_list("pk", "mode_asked_at", "mode_changed_at")
    }
    for args_kwargs in runs:
        args = list(args_kwargs.get("args", [])) + [None, None, None, None]
        kwargs = args_kwargs.get("kwargs", {})
        asked_at = kwargs.get("asked_at", args[3])
        asked_at = datetime.datetime.fromisoformat(asked_at) if asked_at else None
        for branch_id in kwargs.get("branch_ids", args[0]) or []:
            later = last_asked.get(branch_id)
            if asked_at and later and later > asked_at:
                continue  # another switch asked since: this one will not apply
            pending[branch_id] = kwargs.get("mode", args[1])
    return pending
