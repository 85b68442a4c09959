"""The service in numbers, read from the rows the flow writes: request events, pick lines,
loans and bags. No counters are kept on the side, so the figures cannot drift.

Every figure is a plain function of a period and a list of branch ids (the pickup branch
for requests and loans, the picking branch for pick lines). Each is one aggregate query
(or a handful), grouped in the database: none loops over rows in Python.
"""

import datetime
import math
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from emporter.catalogue.models import CopyStatus, DocType
from emporter.desk.models import Loan
from emporter.holds.models import Bag, Channel, Request, RequestEvent, Status
from emporter.picking.models import LineStatus, PickLine

MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both included, in the local time zone."""

    start: datetime.date
    end: datetime.date

    @classmethod
    def last_days(cls, days: int = 30, *, today: datetime.date | None = None) -> "Period":
        today = today or timezone.localdate()
        return cls(today - datetime.timedelta(days=days - 1), today)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        """The period of equal length just before this one, for comparisons."""
        end = self.start - datetime.timedelta(days=1)
        return Period(end - datetime.timedelta(days=self.days - 1), end)

    def dates(self) -> list[datetime.date]:
        return [self.start + datetime.timedelta(days=n) for n in range(self.days)]

    def bounds(self) -> tuple[datetime.datetime, datetime.datetime]:
        """Aware datetimes: the start of the first day and the start of the day after the last."""
        start = datetime.datetime.combine(self.start, datetime.time())
        end = datetime.datetime.combine(self.end + datetime.timedelta(days=1), datetime.time())
        return timezone.make_aware(start), timezone.make_aware(end)


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont: the value at ``fraction`` of the sorted values,
    interpolated between the two nearest (so the median of 2 values is their mean)."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)%(filter)s"

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=float(fraction), **extra)


def _interpolate(ordered: list, fraction: float):
    """percentile_cont in Python, on values already sorted."""
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def percentiles(queryset, expression, fractions=(0.5, 0.9)) -> list[datetime.timedelta | None]:
    """Percentiles of a duration over ``queryset``. PostgreSQL computes them in place; on
    other databases (SQLite, in tests) we sort the values, which is fine at their scale."""
    if connection.vendor == "postgresql":
        result = queryset.aggregate(
            **{
                f"p{n}": Percentile(expression, f, output_field=DurationField())
                for n, f in enumerate(fractions)
            }
        )
        return [result[f"p{n}"] for n in range(len(fractions))]
    values = sorted(queryset.annotate(_d=expression).values_list("_d", flat=True))
    if not values:
        return [None for _ in fractions]
    return [_interpolate(values, f) for f in fractions]


def _events(period: Period, branch_ids):
    start, end = period.bounds()
    return RequestEvent.objects.filter(at__gte=start, at__lt=end, branch_id__in=branch_ids).order_by()


def _placements(period: Period, branch_ids):
    # A request's first event (from no status) is its placement, whatever the channel.
    return _events(period, branch_ids).filter(from_status="")


def ratio(part: int | float, whole: int | float) -> float | None:
    return part / whole if whole else None


@dataclass
class DayRow:
    day: datetime.date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def requests_per_day(*, period: Period, branch_ids) -> list[DayRow]:
    """Requests placed each day of the period, per channel (every day, zeros included)."""
    rows = (
        _placements(period, branch_ids)
        .annotate(day=TruncDate("at"))
        .values("day", "request__channel")
        .annotate(n=Count("id"))
    )
    days = {day: DayRow(day, dict.fromkeys(Channel.values, 0)) for day in period.dates()}
    for row in rows:
        days[row["day"]].counts[row["request__channel"]] = row["n"]
    return list(days.values())


@dataclass
class Patrons:
    requests: int
    patrons: int
    collected: int
    patrons_collecting: int

    @property
    def documents_per_patron(self) -> float | None:
        """The seed's 2.4: requests placed in the period per patron who placed one."""
        return ratio(self.requests, self.patrons)


def patrons(*, period: Period, branch_ids) -> Patrons:
    placed = _placements(period, branch_ids).aggregate(
        requests=Count("id"), patrons=Count("request__patron", distinct=True)
    )
    collected = (
        _events(period, branch_ids)
        .filter(to_status=Status.COLLECTED)
        .aggregate(collected=Count("id"), patrons_collecting=Count("request__patron", distinct=True))
    )
    return Patrons(**placed, **collected)


@dataclass
class Outcome:
    """Pick lines marked found or not found, for one branch, department or doc type."""

    label: str
    found: int
    not_found: int
    branch: str = ""

    @property
    def marked(self) -> int:
        return self.found + self.not_found

    @property
    def not_found_rate(self) -> float | None:
        return ratio(self.not_found, self.marked)

    @property
    def found_rate(self) -> float | None:
        return ratio(self.found, self.marked)


GROUPINGS = {
    "branch": ("run__branch_id", "run__branch__name"),
    "department": ("run__branch__name", "department__name", "department_id"),
    "doc_type": ("copy__doc_type",),
}


def pick_outcomes(*, period: Period, branch_ids, by: str) -> list[Outcome]:
    """Found and not found from the pick runs of the period, grouped ``by`` branch,
    department (of the picking branch) or document type; most not-found first."""
    keys = GROUPINGS[by]
    rows = (
        PickLine.objects.filter(
            run__run_date__gte=period.start,
            run__run_date__lte=period.end,
            run__branch_id__in=branch_ids,
            status__in=[LineStatus.FOUND, LineStatus.NOT_FOUND],
        )
        .values(*keys)
        .annotate(
            found=Count("id", filter=Q(status=LineStatus.FOUND)),
            not_found=Count("id", filter=Q(status=LineStatus.NOT_FOUND)),
        )
        .order_by(*keys)
    )
    outcomes = [_outcome(by, row) for row in rows]
    return sorted(outcomes, key=lambda o: (-(o.not_found_rate or 0), o.branch, o.label))


def _outcome(by: str, row: dict) -> Outcome:
    counts = {"found": row["found"], "not_found": row["not_found"]}
    if by == "branch":
        return Outcome(row["run__branch__name"], **counts)
    if by == "department":
        return Outcome(row["department__name"] or "—", branch=row["run__branch__name"], **counts)
    doc_type = row["copy__doc_type"]
    return Outcome(str(DocType(doc_type).label) if doc_type in DocType.values else doc_type, **counts)


def total_outcome(outcomes: list[Outcome]) -> Outcome:
    return Outcome("", sum(o.found for o in outcomes), sum(o.not_found for o in outcomes))


@dataclass
class Delays:
    """Median and 90th percentile: from placing to ready, and from ready to collected."""

    to_ready: list[datetime.timedelta | None]
    to_pickup: list[datetime.timedelta | None]
    ready: int
    collected: int


def delays(*, period: Period, branch_ids) -> Delays:
    """Over the requests that became ready, and those collected, during the period."""
    events = _events(period, branch_ids)
    ready = events.filter(to_status=Status.READY)
    collected = events.filter(to_status=Status.COLLECTED)
    to_ready = ExpressionWrapper(F("at") - F("request__created_at"), output_field=DurationField())
    to_pickup = ExpressionWrapper(F("at") - F("request__ready_at"), output_field=DurationField())
    return Delays(
        to_ready=percentiles(ready, to_ready),
        to_pickup=percentiles(collected, to_pickup),
        ready=ready.count(),
        collected=collected.count(),
    )


CLOSINGS = (Status.COLLECTED, Status.EXPIRED, Status.NOT_FOUND, Status.CANCELLED)


@dataclass
class Closings:
    counts: dict[str, int]

    @property
    def collection_rate(self) -> float | None:
        """Of the bags' documents that left the hold shelf, the share collected (vs expired)."""
        collected, expired = self.counts[Status.COLLECTED], self.counts[Status.EXPIRED]
        return ratio(collected, collected + expired)


def closings(*, period: Period, branch_ids) -> Closings:
    """How requests ended during the period: collected, expired, not found, cancelled."""
    rows = (
        _events(period, branch_ids).filter(to_status__in=CLOSINGS).values("to_status").annotate(n=Count("id"))
    )
    counts = dict.fromkeys(CLOSINGS, 0) | {row["to_status"]: row["n"] for row in rows}
    return Closings(counts)


def loans_per_day(*, period: Period, branch_ids) -> list[tuple[datetime.date, int]]:
    """Documents checked out at the door (loans of a request), every day of the period."""
    start, end = period.bounds()
    rows = (
        Loan.objects.filter(
            checked_out_at__gte=start,
            checked_out_at__lt=end,
            branch_id__in=branch_ids,
            request__isnull=False,
        )
        .annotate(day=TruncDate("checked_out_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = {row["day"]: row["n"] for row in rows}
    return [(day, counts.get(day, 0)) for day in period.dates()]


@dataclass
class Workload:
    branch_id: int
    branch: str
    to_pull: int = 0
    bags_open: int = 0
    bags_expiring: int = 0


def workload(*, branches, today: datetime.date | None = None) -> list[Workload]:
    """Today at each branch: copies to pull off its shelves (set aside, not yet found),
    bags on its hold shelf, and bags whose last day is tomorrow (their reminder goes out)."""
    today = today or timezone.localdate()
    tomorrow = today + datetime.timedelta(days=1)
    rows = {b.pk: Workload(b.pk, b.name) for b in branches}
    to_pull = (
        Request.objects.filter(
            status=Status.PLACED, copy__status=CopyStatus.SET_ASIDE, copy__branch_id__in=list(rows)
        )
        .values("copy__branch_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in to_pull:
        rows[row["copy__branch_id"]].to_pull = row["n"]
    bags = (
        Bag.objects.filter(state=Bag.State.OPEN, branch_id__in=list(rows))
        .values("branch_id")
        .annotate(open=Count("id"), expiring=Count("id", filter=Q(hold_until=tomorrow)))
        .order_by()
    )
    for row in bags:
        rows[row["branch_id"]].bags_open = row["open"]
        rows[row["branch_id"]].bags_expiring = row["expiring"]
    return list(rows.values())


@dataclass
class Dashboard:
    period: Period
    per_day: list[DayRow]
    patrons: Patrons
    by_branch: list[Outcome]
    by_department: list[Outcome]
    by_doc_type: list[Outcome]
    delays: Delays
    closings: Closings
    loans_per_day: list[tuple[datetime.date, int]]
    workload: list[Workload] = field(default_factory=list)

    @property
    def per_channel(self) -> dict[str, int]:
        return {c: sum(row.counts[c] for row in self.per_day) for c in Channel.values}

    @property
    def picked(self) -> Outcome:
        return total_outcome(self.by_branch)

    @property
    def loans(self) -> int:
        return sum(n for _, n in self.loans_per_day)


def dashboard(
    *, period: Period, branches, today: datetime.date | None = None, with_workload=True
) -> Dashboard:
    """Every figure of the dashboard for ``branches`` (a list or queryset of Branch)."""
    branches = list(branches)
    ids = [b.pk for b in branches]
    return Dashboard(
        period=period,
        per_day=requests_per_day(period=period, branch_ids=ids),
        patrons=patrons(period=period, branch_ids=ids),
        by_branch=pick_outcomes(period=period, branch_ids=ids, by="branch"),
        by_department=pick_outcomes(period=period, branch_ids=ids, by="department"),
        by_doc_type=pick_outcomes(period=period, branch_ids=ids, by="doc_type"),
        delays=delays(period=period, branch_ids=ids),
        closings=closings(period=period, branch_ids=ids),
        loans_per_day=loans_per_day(period=period, branch_ids=ids),
        workload=workload(branches=branches, today=today) if with_workload else [],
    )
