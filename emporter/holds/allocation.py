"""Setting a specific copy aside for a request, safely under concurrency.

A copy is taken with a guarded UPDATE (``status = on_shelf`` in the WHERE clause): when
two transactions race for the last copy, the second waits for the first's row lock,
re-checks the condition and updates nothing. The partial unique index on
Request.copy backs this up should the code ever get it wrong.
"""

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.network.models import Branch, ServiceMode

from .policy import Policy

# Trying more candidates than this under contention means the shelf is being emptied
# by others; give up and let the patron wait or retry.
MAX_CANDIDATES = 25


def candidate_copies(*, record: Record | int, pickup_branch: Branch, policy: Policy):
    """On-shelf, requestable copies: the pickup branch first, then others if allowed."""
    qs = Copy.objects.filter(record=record, status=CopyStatus.ON_SHELF, barcode__isnull=False).exclude(
        location__requestable=False
    )
    if policy.allow_other_branches:
        # Copies at a closed branch cannot be pulled: nobody is there to pick them.
        qs = qs.exclude(branch__service_mode=ServiceMode.CLOSED)
    else:
        qs = qs.filter(branch=pickup_branch)
    here_first = Case(
        When(branch=pickup_branch, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return qs.annotate(here_first=here_first).order_by("here_first", "pk")


def take_copy(*, record: Record | int, pickup_branch: Branch, policy: Policy, exclude=()) -> Copy | None:
    """Set one candidate copy aside and return it, or None if none could be taken."""
    ids = candidate_copies(record=record, pickup_branch=pickup_branch, policy=policy).exclude(pk__in=exclude)
    for copy_id in ids.values_list("pk", flat=True)[:MAX_CANDIDATES]:
        taken = Copy.objects.filter(pk=copy_id, status=CopyStatus.ON_SHELF).update(
            status=CopyStatus.SET_ASIDE, updated_at=timezone.now()
        )
        if taken:
            return Copy.objects.select_related("branch").get(pk=copy_id)
    return None
