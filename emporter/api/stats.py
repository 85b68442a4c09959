"""The service in numbers as JSON: the dashboard's figures for a manager's branches.

Same selectors and tables as the dashboard page and its CSV files. Rates are fractions
(0.25), delays are seconds, days are ISO dates.
"""

import datetime

from ninja import Router

from emporter.errors import ServiceError
from emporter.patrons.models import Role
from emporter.patrons.permissions import branches_for
from emporter.stats import selectors, tables
from emporter.stats.forms import PeriodForm

from .auth import StaffAuth
from .errors import ApiError, field_error
from .schemas import ErrorOut

router = Router(tags=["Statistics"], auth=StaffAuth(role=Role.BRANCH_MANAGER))
RESPONSES = {200: dict, frozenset({403, 404, 422}): ErrorOut}


def _selection(user, start, end, branch):
    scope = branches_for(user, Role.BRANCH_MANAGER)
    if branch is not None and not scope.filter(pk=branch).exists():
        raise ServiceError("forbidden")
    form = PeriodForm({"start": start or "", "end": end or "", "branch": branch or ""}, scope=scope)
    if not form.is_valid():
        errors = [
            field_error(["query", name], " ".join(messages), "invalid")
            for name, messages in form.errors.items()
        ]
        raise ApiError("invalid_input", errors=errors)
    return form.selection()


def _head(period: selectors.Period, branches) -> dict:
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(), "days": period.days},
        "branches": [{"id": b.pk, "code": b.code, "name": b.name} for b in branches],
    }


def _records(table: tables.Table) -> list[dict]:
    return [
        {c.key: tables.machine(v, c.kind) for c, v in zip(table.columns, row, strict=True)}
        for row in table.rows
    ]


@router.get("", response=RESPONSES, summary="Every figure of the dashboard")
def dashboard(
    request, start: datetime.date | None = None, end: datetime.date | None = None, branch: int | None = None
):
    """For `branch` (one of mine) or all my branches, from `start` to `end` (both
    included; default the last 30 days): key figures and every table."""
    period, branches = _selection(request.user, start, end, branch)
    d = selectors.dashboard(period=period, branches=branches)
    key = {
        k: tables.machine(v, tables.KIND_OF_FIGURE.get(k, tables.INT))
        for k, _label, v in tables.key_figures(d)
    }
    return _head(period, branches) | {
        "key_figures": key,
        "tables": {name: _records(t) for name, t in tables.all_tables(d).items()},
    }


@router.get("/{name}", response=RESPONSES, summary="One table of the dashboard")
def table(
    request,
    name: str,
    start: datetime.date | None = None,
    end: datetime.date | None = None,
    branch: int | None = None,
):
    """`name` is one of key_figures, requests_per_day, channels, pick_by_branch, pick_by_department,
    pick_by_doc_type, delays, closings, loans_per_day, workload."""
    if name not in tables.BUILDERS:
        raise ApiError("endpoint_not_found")
    period, branches = _selection(request.user, start, end, branch)
    d = selectors.dashboard(period=period, branches=branches, with_workload=name == "workload")
    return _head(period, branches) | {"rows": _records(tables.BUILDERS[name](d))}
