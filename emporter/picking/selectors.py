"""Reads for the picking screens: runs with their progress, a run's lines with everything
a picker needs (in a fixed number of queries), the missing-copies report, bag labels."""

import datetime
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import groupby

from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet, Subquery

from emporter.catalogue.models import Copy, CopyStatus, DocType
from emporter.holds.models import Bag, Request, Status
from emporter.network.models import Branch, Department, Location, ServiceMode

from .models import LineStatus, PickLine, PickRun, not_found_text
from .services import found_for_nobody, walking_order

OLDER_RUNS = 10
MISSING_LIST_LIMIT = 500


def with_progress(runs: list[PickRun]) -> list[PickRun]:
    """The runs, each with its progress counts (``total``, ``pending``, ``found``,
    ``not_found``), counted from their own lines only (through the lines' run index)."""
    counts = defaultdict(Counter)
    lines = PickLine.objects.filter(run_id__in=[run.pk for run in runs])
    for run_id, status, count in lines.values_list("run_id", "status").annotate(n=Count("pk")).order_by():
        counts[run_id][status] = count
    for run in runs:
        run.total = counts[run.pk].total()
        run.pending = counts[run.pk][LineStatus.PENDING]
        run.found = counts[run.pk][LineStatus.FOUND]
        run.not_found = counts[run.pk][LineStatus.NOT_FOUND]
    return runs


def runs_of(branch: Branch, *, today: datetime.date) -> tuple[list[PickRun], list[PickRun]]:
    """(today's runs, the latest older ones), each with its progress counts. The runs
    shown are chosen, then counted: counting in the same query would read every line of
    every run the branch ever had (a year: hundreds of thousands)."""
    runs = PickRun.objects.filter(branch=branch).order_by("-run_date", "cutoff")
    todays, older = list(runs.filter(run_date=today)), list(runs.filter(run_date__lt=today)[:OLDER_RUNS])
    with_progress(todays + older)  # one count for both
    return todays, older


def off_the_lists(branch: Branch) -> int:
    """How many requests are set aside at ``branch`` and on no list yet: what a late
    list would take (``services._add_lines``). Those set aside after today's last list,
    and those whose line was withdrawn while their library was closed, since reopened."""
    on_a_list = PickLine.objects.filter(request=OuterRef("pk"), status=LineStatus.PENDING)
    waiting = Request.objects.filter(
        status=Status.PLACED,
        copy__branch=branch,
        copy__status=CopyStatus.SET_ASIDE,
    ).exclude(pickup_branch__service_mode=ServiceMode.CLOSED)  # as services._add_lines: no list takes them
    return waiting.exclude(Exists(on_a_list)).count()


def _initial(name: str) -> str:
    folded = unicodedata.normalize("NFKD", name.strip()).encode("ascii", "ignore").decode()
    return folded[:1].upper() if folded[:1].isalpha() else "?"


# What a list shows of each line and what it decides with (``_with_bags``,
# ``found_for_nobody``): a central library's 5,000 lines joined whole were 114 columns
# each, and building them took longer than drawing the page.
LINE_FIELDS = (
    *("run_id", "request_id", "copy_id", "department_id", "location_id", "call_number_key"),
    *("status", "cause", "reason", "marked_at"),
    *("copy__call_number", "copy__barcode", "copy__doc_type", "copy__record_id"),
    *("copy__record__title", "copy__record__responsibility"),
    *("department__name", "location__name", "location__hint"),
    *("request__patron_id", "request__pickup_branch_id", "request__bag_id", "request__copy_id"),
    *("request__status", "request__closed_at", "request__patron__last_name"),
    *("request__pickup_branch__name", "request__bag__label"),
)


def _lines(run: PickRun, department_id: int | None):
    lines = run.lines.select_related(
        "copy__record", "department", "location", "request__patron", "request__pickup_branch", "request__bag"
    ).only(*LINE_FIELDS)
    if department_id is not None:
        lines = lines.filter(department_id=department_id or None)
    return lines


def run_lines(run: PickRun, *, department_id: int | None = None) -> list[PickLine]:
    """The run's lines in walking order, each with ``bag_label`` (``bag_is_final`` says
    whether the bag exists yet) and ``leaving_for`` (the pickup branch when it is another)."""
    return _with_bags(run, list(walking_order(_lines(run, department_id))))


@dataclass
class PickPage:
    pending: list[PickLine]  # the next ``limit`` to pull, in walking order
    done: list[PickLine]  # the last ``limit`` marked, latest first
    left: int
    total: int


def pick_page(run: PickRun, *, department_id: int | None = None, limit: int) -> PickPage:
    """What the picker's phone shows: a central library's morning is thousands of lines,
    and every tap reloads the page; only the lines shown are read."""
    lines = _lines(run, department_id)
    counts = lines.aggregate(total=Count("pk"), left=Count("pk", filter=Q(status=LineStatus.PENDING)))
    # The next lines' ids first, sorted with only the shelves joined, then those lines
    # with all they show: sorting thousands of lines joined to their records and
    # patrons took a fifth of a second at every tap.
    walk = walking_order(lines.filter(status=LineStatus.PENDING).select_related(None))
    ids = list(walk.values_list("pk", flat=True)[:limit])
    order = {pk: n for n, pk in enumerate(ids)}
    # Still pending: a line marked between the two reads is "done", not both.
    pending = sorted(lines.filter(pk__in=ids, status=LineStatus.PENDING), key=lambda line: order[line.pk])
    latest_first = (F("marked_at").desc(nulls_first=True), "-pk")
    marked = [status for status in LineStatus.values if status != LineStatus.PENDING]  # the index's
    done = list(lines.filter(status__in=marked).order_by(*latest_first)[:limit])
    _with_bags(run, pending + done)
    return PickPage(pending=pending, done=done, left=counts["left"], total=counts["total"])


def _with_bags(run: PickRun, lines: list[PickLine]) -> list[PickLine]:
    # The type's and the status's words, each translated once: get_FOO_display() hashes
    # every choice of its field at each call, a third of a 5,000-line list's time.
    types = {value: str(label) for value, label in DocType.choices}
    statuses = {value: str(label) for value, label in LineStatus.choices}
    # Before a copy is found its request has no bag yet: show the bag the patron
    # already has open at the pickup branch, if any, so the copy joins it.
    open_bags = {
        (bag.patron_id, bag.branch_id): bag.label
        for bag in Bag.objects.filter(
            state=Bag.State.OPEN,
            patron_id__in={line.request.patron_id for line in lines},
            branch_id__in={line.request.pickup_branch_id for line in lines},
        )
    }
    for line in lines:
        line.type_label = types.get(line.copy.doc_type, line.copy.doc_type)
        line.status_label = statuses.get(line.status, line.status)
        request = line.request
        # Found for a request cancelled meanwhile: back on the shelf, no bag, no van.
        line.put_back = line.status == LineStatus.FOUND and found_for_nobody(line)
        line.leaving_for = request.pickup_branch if request.pickup_branch_id != run.branch_id else None
        if request.bag_id:
            line.bag_label, line.bag_is_final = request.bag.label, True
        elif request.patron_id is None:  # an old list: collected, and who borrowed it forgotten
            line.bag_label, line.bag_is_final = "", True
        else:
            label = open_bags.get((request.patron_id, request.pickup_branch_id))
            line.bag_label = label or f"{_initial(request.patron.last_name)}…"
            line.bag_is_final = False
    return lines


@dataclass
class Shelf:
    location: Location | None
    lines: list[PickLine]


@dataclass
class Section:
    department: Department | None
    shelves: list[Shelf] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(shelf.lines) for shelf in self.shelves)


def sections(lines: list[PickLine]) -> list[Section]:
    """Group lines already in walking order by department, then location."""
    result = []
    for _dept, by_dept in groupby(lines, key=lambda line: line.department_id):
        by_dept = list(by_dept)
        section = Section(department=by_dept[0].department)
        for _loc, by_loc in groupby(by_dept, key=lambda line: line.location_id):
            by_loc = list(by_loc)
            section.shelves.append(Shelf(location=by_loc[0].location, lines=by_loc))
        result.append(section)
    return result


def departments_left(run: PickRun) -> list[dict]:
    """Each department of the run with how many lines are left to pull there."""
    rows = (
        run.lines.values("department_id", "department__name", "department__walking_order")
        .annotate(total=Count("pk"), left=Count("pk", filter=Q(status=LineStatus.PENDING)))
        .order_by("department__walking_order", "department__name")
    )
    return list(rows)


def missing_copies(*, branches: QuerySet, branch_id=None, department_id=None, doc_type=None):
    """Copies marked missing, with when and why the last picker did not find them."""
    copies = Copy.objects.filter(status=CopyStatus.MISSING, branch__in=branches)
    if branch_id:
        copies = copies.filter(branch_id=branch_id)
    if department_id:
        copies = copies.filter(department_id=department_id)
    if doc_type:
        copies = copies.filter(doc_type=doc_type)
    last_miss = PickLine.objects.filter(copy=OuterRef("pk"), status=LineStatus.NOT_FOUND).order_by(
        "-marked_at", "-pk"
    )
    rows = (
        copies.select_related("record", "branch", "department", "location")
        .annotate(
            # As the cause beside it, a subquery for the rows shown: a Max grouped every
            # missing copy of the network first (54,000 of them: twice as long).
            missed_at=Subquery(last_miss.values("marked_at")[:1]),
            missed_cause=Subquery(last_miss.values("cause")[:1]),
            missed_details=Subquery(last_miss.values("reason")[:1]),
        )
        .order_by("branch__name", "department__walking_order", "call_number_key", "pk")
    )
    counts = (
        copies.values("branch__name", "department__name", "doc_type")
        .annotate(n=Count("pk"))
        .order_by("branch__name", "department__name", "doc_type")
    )
    shown = list(rows[:MISSING_LIST_LIMIT])
    for copy in shown:  # in the reader's language, whoever marked it
        copy.missed_reason = not_found_text(copy.missed_cause or "", copy.missed_details or "")
    return shown, list(counts), copies.count()


def bags_to_label(
    branch: Branch, *, since: datetime.datetime | None = None, bag_id: int | None = None
) -> list[Bag]:
    """Open bags at ``branch`` holding ready documents (only those that received one
    since ``since``, or only bag ``bag_id``, when given), each with ``documents``: how
    many are in it."""
    ready = Q(requests__status=Status.READY)
    bags = (
        Bag.objects.filter(branch=branch, state=Bag.State.OPEN)
        .annotate(
            documents=Count("requests", filter=ready), last_ready=Max("requests__ready_at", filter=ready)
        )
        .filter(documents__gt=0)
        .select_related("patron")
        .order_by("label")
    )
    if since is not None:
        bags = bags.filter(last_ready__gte=since)
    if bag_id is not None:
        bags = bags.filter(pk=bag_id)
    return list(bags)


def expected_transfers(branch: Branch, *, limit: int = 200) -> list[Request]:
    """Copies found elsewhere and on their way to ``branch``, oldest first."""
    return list(
        Request.objects.filter(pickup_branch=branch, status=Status.PLACED, copy__status=CopyStatus.IN_TRANSIT)
        .select_related("copy__record", "copy__branch")
        .order_by("placed_at", "pk")[:limit]
    )
