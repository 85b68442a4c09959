"""Setting a specific copy aside for a request, safely under concurrency.

A candidate is locked with ``FOR UPDATE SKIP LOCKED``, then taken with a guarded UPDATE
(``status = on_shelf`` in the WHERE clause). A copy another transaction is changing
right now is skipped at first, and waited for only when no other copy is left. Waiting
first could close a circle: changing a copy locks its record (the availability
summary, catalogue migration 0007), so a picker's transaction that has just marked a
copy missing holds the record while moving the request to another copy — the very
copy a patron's placement may have locked and be waiting on that record with. The
partial unique index on Request.copy backs all this up should the code ever get it wrong.
"""

from django.db.models import Case, IntegerField, Value, When
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.network.models import Branch

from .policy import Policy

# Trying more candidates than this under contention means the shelf is being emptied
# by others; give up and let the patron wait or retry.
MAX_CANDIDATES = 25


def takeable_copies(*, record):
    """Copies of ``record`` (an id, a record or an OuterRef) a request could take: on the
    shelf, with a barcode, at a library that lends, in a requestable location."""
    return Copy.objects.requestable().filter(record=record)


def candidate_copies(*, record: Record | int, pickup_branch: Branch, policy: Policy, exclude_types=()):
    """The copies a request could take: the pickup branch first, then others if allowed.
    Of a requestable type, the copy's own (a record "book" may have a copy "dvd", lent
    under the DVD rules at the door), and none of ``exclude_types`` (the patron's limit
    for them reached)."""
    qs = takeable_copies(record=record)
    if not policy.allow_other_branches:
        qs = qs.filter(branch=pickup_branch)
    if policy.requestable_types:
        qs = qs.filter(doc_type__in=policy.requestable_types)
    if exclude_types:
        qs = qs.exclude(doc_type__in=exclude_types)
    here_first = Case(
        When(branch=pickup_branch, then=Value(0)), default=Value(1), output_field=IntegerField()
    )
    return qs.annotate(here_first=here_first).order_by("here_first", "pk")


def take_copy(
    *, record: Record | int, pickup_branch: Branch, policy: Policy, exclude=(), exclude_types=()
) -> Copy | None:
    """Set one candidate copy aside and return it, or None if none could be taken."""
    candidates = candidate_copies(
        record=record, pickup_branch=pickup_branch, policy=policy, exclude_types=exclude_types
    )
    tried = list(exclude)
    # First the copies nobody is changing; only if none is left, wait for the others: a
    # copy locked by a call-number edit or an import is still on the shelf, and a
    # request must not wait (or be closed as not found) while it is.
    for skip_locked in (True, False):
        for _ in range(MAX_CANDIDATES):
            # of=self: the joined branch and location rows must not be locked with it. The
            # whole row is read with its lock: the copy returned is this row, once taken.
            copy = (
                candidates.exclude(pk__in=tried)
                .select_for_update(skip_locked=skip_locked, of=("self",))
                .select_related("branch")
                .first()
            )
            if copy is None:
                # After a wait, FOR UPDATE … LIMIT 1 returns nothing if the copy it waited
                # for changed meanwhile (the limit is applied first): look again.
                if skip_locked or not candidates.exclude(pk__in=tried).exists():
                    break
                continue
            now = timezone.now()
            taken = Copy.objects.filter(pk=copy.pk, status=CopyStatus.ON_SHELF).update(
                status=CopyStatus.SET_ASIDE, updated_at=now
            )
            if taken:
                # What the UPDATE wrote (no trigger changes a copy's own row).
                copy.status, copy.updated_at = CopyStatus.SET_ASIDE, now
                return copy
            tried.append(copy.pk)
    return None
