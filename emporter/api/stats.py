"""The service in numbers as JSON: the dashboard's figures for a manager's branches.

Same selectors and tables as the dashboard page and its CSV files. Rates are fractions
(0.25), delays are seconds, days are ISO dates.

A row is a dict keyed by column. The labels in it ("channel": "En ligne") are in the
language asked for (`Accept-Language`), for people; a machine reads the codes, the same
in every language: a row named by a label starts with its `code` (the channel "online",
the status "expired", the delay "ready_to_pickup", the key figure "requests", the
document type "dvd"), and a branch's or a department's name comes after its
`branch_code` ("CRX") or `department_code` ("jeunesse").
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


@router.get("", response=RESPONSES, summary="Every figure of the dashboard")
def dashboard(
    request, start: datetime.date | None = None, end: datetime.date | None = None, branch: int | None = None
):
    """For `branch` (one of mine) or all my branches, from `start` to `end` (both
    included; default the last 30 days): `key_figures` keyed by code
    (`{"requests": 12, "collection_rate": 0.78, …}`) and every table under `tables`, its
    rows as `GET /stats/{name}` gives them."""
    period, branches = _selection(request.user, start, end, branch)
    d = selectors.dashboard(period=period, branches=branches)
    key = {
        k: tables.machine(v, tables.KIND_OF_FIGURE.get(k, tables.INT))
        for k, _label, v in tables.key_figures(d)
    }
    return _head(period, branches) | {
        "key_figures": key,
        "tables": {name: tables.machine_records(t) for name, t in tables.all_tables(d).items()},
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
    pick_by_doc_type, delays, closings, loans_per_day, workload. `rows` lists the table's
    rows, each keyed by column, codes first; match rows on a `code` or a `branch_code`, never
    on a label (it follows the language asked for):

    - key_figures: `code` (as in the dashboard's `key_figures`), `figure` (label), `value`.
    - channels: `code` (online, app, phone, desk, surprise), `channel` (label), `requests`,
      `share`.
    - closings: `code` (collected, expired, not_found, cancelled), `outcome` (label),
      `requests`, `share`.
    - delays: `code` (request_to_ready, set_aside_to_ready, ready_to_pickup), `measure`
      (label), `median` and `p90` (seconds, null without requests), `requests`.
    - pick_by_doc_type: `code` (book, dvd, …), `doc_type` (label), `found`, `not_found`,
      `not_found_rate`.
    - pick_by_branch, workload: `branch_code`, `branch` (name), then the table's figures.
    - pick_by_department: `branch_code`, `department_code`, `branch` and `department`
      (names), then the figures.
    - requests_per_day: `day`, a count per channel code, `total`; loans_per_day: `day`,
      `loans`."""
    if name not in tables.BUILDERS:
        raise ApiError("endpoint_not_found")
    period, branches = _selection(request.user, start, end, branch)
    d = selectors.dashboard(period=period, branches=branches, with_workload=name == "workload")
    return _head(period, branches) | {"rows": tables.machine_records(tables.BUILDERS[name](d))}
