"""Background work of the morning pull, run by the task worker."""

from django.tasks import task
from django.utils import timezone

from emporter.network.calendar import is_open
from emporter.network.models import LENDING_MODES, Branch

from . import services
from .models import PickRun


@task
def build_morning_run(branch_id: int) -> int:
    branch = Branch.objects.get(pk=branch_id)
    return services.build_run(branch=branch).pk


def branches_due(now=None) -> list[int]:
    """Branches that lend copies (click and collect or normal service: allocation takes
    copies from both), open today, past their pick time, whose morning run is not built
    yet. Safe to ask often: building is idempotent."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    local_time = timezone.localtime(now).time()
    built = PickRun.objects.filter(run_date=today, kind=PickRun.Kind.MORNING).values("branch_id")
    candidates = Branch.objects.filter(service_mode__in=LENDING_MODES, pick_time__lte=local_time).exclude(
        pk__in=built
    )
    return [b.pk for b in candidates if is_open(b, today)]


def enqueue_due_runs(now=None) -> list[int]:
    due = branches_due(now)
    for branch_id in due:
        build_morning_run.enqueue(branch_id)
    return due
