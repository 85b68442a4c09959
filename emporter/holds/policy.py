"""The effective request policy for a pickup branch and a patron category.

The limits (how many active requests, how many per document type) are the patron's,
whatever library they collect at: they come from the patron's home branch
(``limits_for``), as Koha does with ReservesControlBranch = PatronLibrary. Otherwise a
patron could pass their library's limit by choosing another library to collect at. The
rest (which types, from which branches, how long a bag is held) is the pickup branch's."""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db.models import Q

from emporter.network.models import Branch
from emporter.patrons.models import PatronCategory

from .models import RequestPolicy

FIELDS = (
    "max_active",
    "type_limits",
    "requestable_types",
    "hold_days",
    "allow_other_branches",
    "allow_waiting_list",
)


@dataclass(frozen=True)
class Policy:
    max_active: int = 8
    type_limits: dict[str, int] = field(default_factory=dict)
    requestable_types: list[str] = field(default_factory=list)  # empty: every type
    hold_days: int = 5
    allow_other_branches: bool = True
    allow_waiting_list: bool = True

    def can_request_type(self, doc_type: str) -> bool:
        return not self.requestable_types or doc_type in self.requestable_types


def _specificity(row: RequestPolicy) -> int:
    return (2 if row.branch_id else 0) + (1 if row.category else 0)


# What counts against a patron's limit besides their active requests: places promised to
# requests still to come (an open surprise bag's documents, which a librarian will set
# aside). Each app that promises some registers how many it holds for a patron
# (discovery.apps), so that holds reads them without importing it.
PROMISED: list[Callable[[object], int]] = []


def promised_places(patron) -> int:
    return sum(count(patron) for count in PROMISED)


def limits_for(patron) -> Policy:
    """The rules whose ``max_active`` and ``type_limits`` bind ``patron`` everywhere."""
    return resolve(branch=patron.home_branch_id, category=patron.category)


def resolve(*, branch: Branch | int | None, category: str = "") -> Policy:
    """Layer the matching rows from the least to the most specific; unset fields inherit."""
    rows = RequestPolicy.objects.filter(
        Q(branch__isnull=True) | Q(branch=branch), Q(category="") | Q(category=category)
    )
    return _layered(rows)


def resolve_each(*, branches: list[int], category: str = "") -> dict[int, Policy]:
    """``resolve`` for several branches (ids) and one category, from one read of the rules
    (a basket collected away from home: its pickup library's, and its patron's limits)."""
    rows = list(
        RequestPolicy.objects.filter(
            Q(branch__isnull=True) | Q(branch__in=branches), Q(category="") | Q(category=category)
        )
    )
    return {pk: _layered(r for r in rows if r.branch_id in (None, pk)) for pk in branches}


def _layered(rows) -> Policy:
    values = {}
    for row in sorted(rows, key=_specificity):
        values.update({f: getattr(row, f) for f in FIELDS if getattr(row, f) is not None})
    return Policy(**values)


def own_branch_only() -> Q:
    """Requests (a condition on Request) whose pickup branch's rules, for their patron's
    category, take no copy from another branch. From one read of the rules: a few rows."""
    rows = list(RequestPolicy.objects.all())
    restricted = Q(pk__in=[])
    for category in PatronCategory.values:
        branches = [
            branch_id
            for branch_id in Branch.objects.values_list("pk", flat=True)
            if not _layered(
                r for r in rows if r.branch_id in (None, branch_id) and r.category in ("", category)
            ).allow_other_branches
        ]
        if branches:
            restricted |= Q(patron__category=category, pickup_branch_id__in=branches)
    return restricted
