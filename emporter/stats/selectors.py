"""The service in numbers, read from the rows the flow writes: requests, pick lines,
loans and bags. No counters are kept on the side, so the figures cannot drift.

Every figure is a plain function of a period and a list of branch ids. Which library a
row counts for is one rule, the same on the page, in the CSV files, the API and the PDF:

- a request counts for the library where it is to be collected, as it stands now
  (``Request.pickup_branch``), in every figure: placed, per day and channel, patrons,
  delays, how it ended. When a patron moves a request to another library (what the
  patrons of a library switched to closed are asked to do), the request and all its
  figures move with it, as Koha's reports by pickup library do: the library that will
  prepare the bag, hand it over and lend it is the one that sees it placed;
- a loan counts where it was handed over, which is that same library;
- a pick line counts for the library whose shelves it was pulled from (the copy's):
  the not-found rates are about shelves, not patrons, so they may count a copy for a
  request collected elsewhere.

Request events are not read here: each records the pickup library of its moment, which
a later change of pickup would contradict. The request's own timestamps (created_at,
ready_at, closed_at) state the same facts as its placement, ready and closing events
(the lifecycle writes both in one transaction; a closed request never moves again).

The dashboard needs four aggregate queries over the period (requests grouped by day,
channel and ending; requests for people and delays; pick lines; loans) and two for
today's workload; they group in the database and return a few hundred rows at most.
"""

import datetime
import math
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    CharField,
    Count,
    DateField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    Value,
    When,
)
from django.db.models.functions import Coalesce, NullIf, TruncDate
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus, DocType
from emporter.desk.models import Loan
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.holds.models import HOLDING_COPY, UNCOLLECTED, Bag, Channel, Request, Status
from emporter.holds.selectors import PATRON_KEY
from emporter.holds.services import still_in_a_bag
from emporter.network.models import ServiceMode
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


def aggregate_with_percentiles(queryset, aggregates: dict, durations: dict, fractions=(0.5, 0.9)):
    """``queryset.aggregate(**aggregates)``, and the percentiles of each duration in
    ``durations`` ({name: (expression, filter)}) over the rows its filter keeps.

    The one vendor branch: PostgreSQL computes everything in the same pass
    (percentile_cont with FILTER); other databases (SQLite, in tests) get the sorted
    values and interpolate in Python, which is fine at their scale."""
    aggregates = dict(aggregates)
    if connection.vendor == "postgresql":
        for name, (expression, keep) in durations.items():
            for n, fraction in enumerate(fractions):
                aggregates[f"{name}_{n}"] = Percentile(
                    expression, fraction, filter=keep, output_field=DurationField()
                )
        result = queryset.aggregate(**aggregates)
        return result, {name: [result[f"{name}_{n}"] for n in range(len(fractions))] for name in durations}
    result = queryset.aggregate(**aggregates)
    found = {}
    for name, (expression, keep) in durations.items():
        values = sorted(queryset.filter(keep).annotate(_d=expression).values_list("_d", flat=True))
        found[name] = [_interpolate(values, f) if values else None for f in fractions]
    return result, found


def ratio(part: int | float, whole: int | float) -> float | None:
    return part / whole if whole else None


# Counts of requests: one grouped query, no join ----------------------------------------


@dataclass
class DayRow:
    day: datetime.date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


CLOSINGS = (Status.COLLECTED, Status.EXPIRED, Status.NOT_FOUND, Status.CANCELLED)


@dataclass
class Closings:
    counts: dict[str, int]
    # Of the cancelled, those cancelled once ready: pulled and bagged for nothing.
    cancelled_ready: int = 0

    @property
    def collection_rate(self) -> float | None:
        """Of the documents that left the hold shelf, the share collected: against those
        expired and those cancelled once in the bag (staff work done for nothing too)."""
        collected, expired = self.counts[Status.COLLECTED], self.counts[Status.EXPIRED]
        return ratio(collected, collected + expired + self.cancelled_ready)

    @property
    def not_served_rate(self) -> float | None:
        """Of the requests that ended, the share no copy could serve (not found anywhere)."""
        return ratio(self.counts[Status.NOT_FOUND], sum(self.counts.values()))


@dataclass
class RequestCounts:
    """The requests placed or closed in the period, counted per day placed, channel and
    ending: what the per-day charts, the channels and the closings are read from.
    ``day`` is None for a request placed before the period, ``closing`` is "" for one
    not closed in it."""

    period: Period
    rows: list[dict]

    def per_day(self) -> list[DayRow]:
        """Requests placed each day, per channel, every day of the period (zeros too)."""
        days = {day: DayRow(day, dict.fromkeys(Channel.values, 0)) for day in self.period.dates()}
        for row in self.rows:
            if row["day"] in days and row["channel"] in Channel.values:
                days[row["day"]].counts[row["channel"]] += row["n"]
        return list(days.values())

    def closings(self) -> Closings:
        counts, cancelled_ready = dict.fromkeys(CLOSINGS, 0), 0
        for row in self.rows:
            if row["closing"] == CANCELLED_READY:
                counts[Status.CANCELLED] += row["n"]
                cancelled_ready += row["n"]
            elif row["closing"] in counts:
                counts[row["closing"]] += row["n"]
        return Closings(counts, cancelled_ready)


# A bag expired, then lent all the same when its patron came (desk.services.lend_expired):
# the request stays expired, but the patron took the documents home. Counted as collected.
LENT_AFTER_EXPIRY = Q(status=Status.EXPIRED, loan__isnull=False)
# A request cancelled once its documents were in the bag (by the patron, or staff).
CANCELLED_READY = "cancelled_ready"
WAS_READY_CANCELLED = Q(status=Status.CANCELLED, ready_at__isnull=False)


def request_counts(*, period: Period, branch_ids) -> RequestCounts:
    """One pass over the requests placed or closed in the period at ``branch_ids`` (their
    pickup library now), grouped by day placed, channel and how they ended; at most
    (days + 1) × channels × (endings + 1) rows. The "Requests placed" of ``patrons`` reads
    the same requests, so the per-day and per-channel counts always add up to it."""
    start, end = period.bounds()
    placed = Q(created_at__gte=start, created_at__lt=end)
    closed = Q(closed_at__gte=start, closed_at__lt=end)
    rows = (
        Request.objects.filter(placed | closed, pickup_branch_id__in=branch_ids)
        .annotate(
            day=Case(When(placed, then=TruncDate("created_at")), default=None, output_field=DateField()),
            closing=Case(
                When(closed & LENT_AFTER_EXPIRY, then=Value(Status.COLLECTED)),
                When(closed & WAS_READY_CANCELLED, then=Value(CANCELLED_READY)),
                When(closed, then=F("status")),
                default=Value(""),
                output_field=CharField(),
            ),
        )
        .values("day", "channel", "closing")
        .annotate(n=Count("id"))
        .order_by()
    )
    return RequestCounts(period, list(rows))


def requests_per_day(*, period: Period, branch_ids) -> list[DayRow]:
    return request_counts(period=period, branch_ids=branch_ids).per_day()


def closings(*, period: Period, branch_ids) -> Closings:
    """How requests ended during the period: collected, expired, not found, cancelled."""
    return request_counts(period=period, branch_ids=branch_ids).closings()


# People and delays: one aggregate over the requests ------------------------------------


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


@dataclass
class Delays:
    """Median and 90th percentile: from placing to ready (over the requests that became
    ready in the period), and from ready to collected (those collected in the period).
    ``to_ready`` is the patron's wait, days on a waiting list included; ``pulled`` the
    library's, from the copy set aside (the last time: after a not-found, the copy that
    served) to ready."""

    to_ready: list[datetime.timedelta | None]
    to_pickup: list[datetime.timedelta | None]
    ready: int
    collected: int
    pulled: list[datetime.timedelta | None] = field(default_factory=lambda: [None, None])


TO_READY = ExpressionWrapper(F("ready_at") - F("created_at"), output_field=DurationField())
TO_PICKUP = ExpressionWrapper(F("closed_at") - F("ready_at"), output_field=DurationField())
PULLED = ExpressionWrapper(F("ready_at") - F("placed_at"), output_field=DurationField())


def patrons_and_delays(*, period: Period, branch_ids) -> tuple[Patrons, Delays]:
    """Who was served and how long things took, from the requests' own timestamps.

    The lifecycle writes created_at, ready_at and closed_at in the same transaction as
    the placement, ready and closing events, so they state the same facts; reading them
    here spares joining a month of events (100,000s on a large network) to their
    requests, which the bench measured at 3.5 times the cost.
    """
    start, end = period.bounds()
    placed = Q(created_at__gte=start, created_at__lt=end)
    ready = Q(ready_at__gte=start, ready_at__lt=end)
    collected = Q(closed_at__gte=start, closed_at__lt=end) & (Q(status=Status.COLLECTED) | LENT_AFTER_EXPIRY)
    # From ready to collected: only bags collected in time (a late loan's closing is the expiry).
    in_time = Q(closed_at__gte=start, closed_at__lt=end, status=Status.COLLECTED)
    requests = Request.objects.filter(placed | ready | collected, pickup_branch_id__in=branch_ids).order_by()
    aggregates = {
        "requests": Count("id", filter=placed),
        # The pseudonym: a patron whose history was forgotten still counts once.
        "patrons": Count(PATRON_KEY, distinct=True, filter=placed),
        "collected": Count("id", filter=collected),
        "patrons_collecting": Count(PATRON_KEY, distinct=True, filter=collected),
        "ready": Count("id", filter=ready),
        "collected_in_time": Count("id", filter=in_time),
    }
    durations = {
        "to_ready": (TO_READY, ready),
        "to_pickup": (TO_PICKUP, in_time),
        "pulled": (PULLED, ready & Q(placed_at__isnull=False)),
    }
    result, delays = aggregate_with_percentiles(requests, aggregates, durations)
    people = Patrons(*(result[k] for k in ("requests", "patrons", "collected", "patrons_collecting")))
    return people, Delays(
        delays["to_ready"],
        delays["to_pickup"],
        result["ready"],
        result["collected_in_time"],
        delays["pulled"],
    )


def patrons(*, period: Period, branch_ids) -> Patrons:
    return patrons_and_delays(period=period, branch_ids=branch_ids)[0]


def delays(*, period: Period, branch_ids) -> Delays:
    return patrons_and_delays(period=period, branch_ids=branch_ids)[1]


# Pick lines: one grouped query, folded three ways --------------------------------------


@dataclass
class Outcome:
    """Pick lines marked found or not found, for one branch, department or doc type."""

    label: str
    found: int
    not_found: int
    branch: str = ""
    # What the row stands for, in values no language changes (the API's): the branch's
    # or the type's code, the department's code and its branch's.
    code: str = ""
    branch_code: str = ""

    @property
    def marked(self) -> int:
        return self.found + self.not_found

    @property
    def not_found_rate(self) -> float | None:
        return ratio(self.not_found, self.marked)

    @property
    def surely_not_found(self) -> float:
        """The not-found rate this many lines vouch for at least (the lower bound of its
        95 % Wilson interval): 1 line of 1 not found says less than 300 of 1,000, and
        ranks lower. What the lists of departments are sorted by."""
        n = self.marked
        if not n:
            return 0.0
        z, p = 1.96, self.not_found / n
        centre = p + z * z / (2 * n)
        margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (centre - margin) / (1 + z * z / n)


def pick_counts(*, period: Period, branch_ids) -> list[dict]:
    """Pick lines of the period's runs marked found or not found, counted per picking
    branch, department and document type (a few hundred rows at most)."""
    return list(
        PickLine.objects.filter(
            run__run_date__gte=period.start,
            run__run_date__lte=period.end,
            run__branch_id__in=branch_ids,
            status__in=[LineStatus.FOUND, LineStatus.NOT_FOUND],
        )
        # The type the copy had when listed (lines from before it was kept: the copy's now).
        .annotate(type=Coalesce(NullIf(F("doc_type"), Value("")), F("copy__doc_type")))
        .values(
            "run__branch_id",
            "run__branch__name",
            "run__branch__code",
            "department_id",
            "department__name",
            "department__code",
            "department_name",
            "department_code",
            "type",
        )
        .annotate(
            found=Count("id", filter=Q(status=LineStatus.FOUND)),
            not_found=Count("id", filter=Q(status=LineStatus.NOT_FOUND)),
        )
        .order_by()
    )


def _group(by: str, row: dict) -> tuple:
    """What ``row`` is summed by, and the Outcome it is summed into (no lines yet)."""
    if by == "branch":
        name, code = row["run__branch__name"], row["run__branch__code"]
        return row["run__branch_id"], Outcome(name, 0, 0, code=code)
    if by == "department":
        # A department deleted since (merged into another) is named as the line kept it.
        department = row["department_id"] or row["department_code"] or None
        name = row["department__name"] or row["department_name"] or "—"
        code = row["department__code"] or row["department_code"]
        branch, branch_code = row["run__branch__name"], row["run__branch__code"]
        outcome = Outcome(name, 0, 0, branch=branch, code=code, branch_code=branch_code)
        # Lines of no department are one row per library, not one for the network.
        return (department, row["run__branch_id"]), outcome
    doc_type = row["type"]
    label = str(DocType(doc_type).label) if doc_type in DocType.values else doc_type
    return doc_type, Outcome(label, 0, 0, code=doc_type)


def fold_outcomes(rows: list[dict], by: str) -> list[Outcome]:
    """Sum ``rows`` by branch, department or doc type; the highest not-found rate first,
    as far as their number of lines vouches for it (``Outcome.surely_not_found``)."""
    groups: dict[tuple, Outcome] = {}
    for row in rows:
        key, empty = _group(by, row)
        outcome = groups.setdefault(key, empty)
        outcome.found += row["found"]
        outcome.not_found += row["not_found"]
    return sorted(groups.values(), key=lambda o: (-o.surely_not_found, -o.not_found, o.branch, o.label))


def pick_outcomes(*, period: Period, branch_ids, by: str) -> list[Outcome]:
    return fold_outcomes(pick_counts(period=period, branch_ids=branch_ids), by)


def total_outcome(outcomes: list[Outcome]) -> Outcome:
    return Outcome("", sum(o.found for o in outcomes), sum(o.not_found for o in outcomes))


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
    branch_code: str
    to_pull: int = 0
    bags_open: int = 0
    bags_expiring: int = 0
    # What is late: lines of earlier days' lists still to pull, and documents on the hold
    # shelf that no request holds any more (a bag expired or cancelled): to take out.
    late_lines: int = 0
    to_take_out: int = 0


def workload(*, branches, today: datetime.date | None = None) -> list[Workload]:
    """Today at each branch: copies to pull off its shelves (set aside, not yet found, for
    a library that is open), bags on its hold shelf, bags whose last day is tomorrow
    (their reminder goes out), and what is late: earlier lists' lines still to pull,
    documents left on the hold shelf for nobody."""
    today = today or timezone.localdate()
    tomorrow = today + datetime.timedelta(days=1)
    rows = {b.pk: Workload(b.pk, b.name, b.code) for b in branches}
    to_pull = (
        Request.objects.filter(
            status=Status.PLACED, copy__status=CopyStatus.SET_ASIDE, copy__branch_id__in=list(rows)
        )
        # As the pick lists (picking.services._add_lines): nothing is pulled for a library
        # that has closed, so it is no work for this one.
        .exclude(pickup_branch__service_mode=ServiceMode.CLOSED)
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
    # A line nobody marked is carried to the next morning's list when it is built: still
    # to pull today, it is late if an earlier day's list had it (not only if an earlier
    # list still holds it pending, which the morning's build ends).
    carried = PickLine.objects.filter(
        request=OuterRef("request"),
        copy=OuterRef("copy"),  # the same copy, on this library's list (not one not found elsewhere)
        run__branch_id=OuterRef("run__branch_id"),
        status=LineStatus.CARRIED,
        run__run_date__lt=today,
    )
    late = (
        PickLine.objects.filter(status=LineStatus.PENDING, run__branch_id__in=list(rows))
        .filter(Q(run__run_date__lt=today) | Exists(carried))
        .values("run__branch_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in late:
        rows[row["run__branch_id"]].late_lines = row["n"]
    # As the door's "back to the shelves" list (desk.selectors.back_to_shelves).
    held = Request.objects.filter(copy=OuterRef("pk"), status__in=HOLDING_COPY)
    left = (
        Copy.objects.filter(status=CopyStatus.HOLD_SHELF, branch_id__in=list(rows))
        .exclude(Exists(held))
        .values("branch_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in left:
        rows[row["branch_id"]].to_take_out = row["n"]
    # And other libraries' copies left in a bag here (expired, cancelled): travelling home
    # from the moment the bag closed (holds.services.free_held_copy), yet on this shelf
    # until a scan at Returns takes them out (desk.services.receive_home).
    others = (
        Request.objects.filter(still_in_a_bag(), status__in=UNCOLLECTED, bag__branch_id__in=list(rows))
        .filter(copy__status=CopyStatus.IN_TRANSIT)
        .exclude(copy__branch_id=F("bag__branch_id"))
        .values("bag__branch_id")
        .annotate(n=Count("copy_id", distinct=True))
        .order_by()
    )
    for row in others:
        rows[row["bag__branch_id"]].to_take_out += row["n"]
    return list(rows.values())


@dataclass
class Surprises:
    """Surprise bags at the pickup libraries: asked for in the period, composed in it and
    how long after they were asked (median), and of those asked for, the ones cancelled
    (by the patron, or their library closing). Their documents' requests are created
    when a librarian composes them: the report's other delays start there."""

    asked: int = 0
    composed: int = 0
    cancelled: int = 0
    to_compose: datetime.timedelta | None = None


def surprises(*, period: Period, branch_ids) -> Surprises:
    start, end = period.bounds()
    bags = SurpriseRequest.objects.filter(pickup_branch_id__in=branch_ids).order_by()
    asked = Q(created_at__gte=start, created_at__lt=end)
    composed = Q(composed_at__gte=start, composed_at__lt=end, status=SurpriseStatus.COMPOSED)
    # A cancelled bag keeps no date of its own: counted in the period it was asked in.
    cancelled = asked & Q(status=SurpriseStatus.CANCELLED)
    wait = ExpressionWrapper(F("composed_at") - F("created_at"), output_field=DurationField())
    result, waits = aggregate_with_percentiles(
        bags,
        {
            "asked": Count("id", filter=asked),
            "composed": Count("id", filter=composed),
            "cancelled": Count("id", filter=cancelled),
        },
        {"to_compose": (wait, composed)},
        fractions=(0.5,),
    )
    counts = {name: result[name] for name in ("asked", "composed", "cancelled")}
    return Surprises(**counts, to_compose=waits["to_compose"][0])


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
    surprises: Surprises = field(default_factory=Surprises)

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
    *, period: Period, branches, today: datetime.date | None = None, with_workload: bool = True
) -> Dashboard:
    """Every figure of the dashboard for ``branches`` (a list or queryset of Branch):
    four queries over the period, and two for today's workload."""
    branches = list(branches)
    ids = [b.pk for b in branches]
    counts = request_counts(period=period, branch_ids=ids)
    people, waits = patrons_and_delays(period=period, branch_ids=ids)
    picks = pick_counts(period=period, branch_ids=ids)
    return Dashboard(
        period=period,
        per_day=counts.per_day(),
        patrons=people,
        by_branch=fold_outcomes(picks, "branch"),
        by_department=fold_outcomes(picks, "department"),
        by_doc_type=fold_outcomes(picks, "doc_type"),
        delays=waits,
        closings=counts.closings(),
        loans_per_day=loans_per_day(period=period, branch_ids=ids),
        workload=workload(branches=branches, today=today) if with_workload else [],
        surprises=surprises(period=period, branch_ids=ids),
    )
