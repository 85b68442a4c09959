"""The dashboard's figures as named tables: one shape for the page, the CSV files, the
JSON API and the PDF report, so the four always say the same thing.

Cells hold raw values (ints, fractions for rates, timedeltas for delays); each output
formats them its own way by the column's kind. A row named by a label in the reader's
language ("En ligne") also has a code ("online") that only machines read: the API.
"""

import csv
import datetime
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.utils import formats, translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from emporter.holds.models import Channel, Status
from emporter.spreadsheets import inert

from .selectors import CLOSINGS, Dashboard, Outcome, ratio

TEXT, INT, RATE, DURATION, DATE, NUMBER = "text", "int", "rate", "duration", "date", "number"
# A column whose cells are (value, kind) pairs: the key figures mix counts, rates and delays.
MIXED = "mixed"


@dataclass
class Column:
    key: str
    title: str
    kind: str = INT


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[list]
    # What each row counts, in values no language or renaming changes ({"code": "online"}
    # for the row "En ligne" or "Online", {"branch_code": "CRX"}), one dict a row: for
    # machines only (``machine_records``), so the page, the CSV files and the PDF read as
    # before. Empty where the rows are days.
    codes: list[dict] = field(default_factory=list)

    def records(self) -> list[dict]:
        return [{c.key: v for c, v in zip(self.columns, row, strict=True)} for row in self.rows]


def _outcome_rows(outcomes: list[Outcome], with_branch=False) -> list[list]:
    return [
        ([o.branch] if with_branch else []) + [o.label, o.found, o.not_found, o.not_found_rate]
        for o in outcomes
    ]


OUTCOME_COLUMNS = [
    Column("found", _("Found")),
    Column("not_found", _("Not found")),
    Column("not_found_rate", _("Not-found rate"), RATE),
]


def requests_per_day(d: Dashboard) -> Table:
    columns = [Column("day", _("Day"), DATE)]
    columns += [Column(value, label) for value, label in Channel.choices]
    columns.append(Column("total", _("Total")))
    rows = [[row.day, *(row.counts[c] for c in Channel.values), row.total] for row in d.per_day]
    return Table("requests_per_day", _("Requests placed per day"), columns, rows)


def channels(d: Dashboard) -> Table:
    total = sum(d.per_channel.values())
    rows = [
        [label, d.per_channel[value], ratio(d.per_channel[value], total)] for value, label in Channel.choices
    ]
    columns = [
        Column("channel", _("Channel"), TEXT),
        Column("requests", _("Requests")),
        Column("share", _("Share"), RATE),
    ]
    codes = [{"code": value} for value in Channel.values]
    return Table("channels", _("Requests per channel"), columns, rows, codes)


def pick_by_branch(d: Dashboard) -> Table:
    columns = [Column("branch", _("Branch"), TEXT), *OUTCOME_COLUMNS]
    codes = [{"branch_code": o.code} for o in d.by_branch]
    rows = _outcome_rows(d.by_branch)
    return Table("pick_by_branch", _("Found and not found, by branch"), columns, rows, codes)


def pick_by_department(d: Dashboard) -> Table:
    columns = [
        Column("branch", _("Branch"), TEXT),
        Column("department", _("Department"), TEXT),
        *OUTCOME_COLUMNS,
    ]
    rows = _outcome_rows(d.by_department, with_branch=True)
    codes = [{"branch_code": o.branch_code, "department_code": o.code} for o in d.by_department]
    return Table("pick_by_department", _("Found and not found, by department"), columns, rows, codes)


def pick_by_doc_type(d: Dashboard) -> Table:
    columns = [Column("doc_type", _("Document type"), TEXT), *OUTCOME_COLUMNS]
    codes = [{"code": o.code} for o in d.by_doc_type]
    return Table(
        "pick_by_doc_type",
        _("Found and not found, by document type"),
        columns,
        _outcome_rows(d.by_doc_type),
        codes,
    )


def delays(d: Dashboard) -> Table:
    columns = [
        Column("measure", _("From … to …"), TEXT),
        Column("median", _("Median"), DURATION),
        Column("p90", _("90th percentile"), DURATION),
        Column("requests", _("Requests")),
    ]
    measures = [
        ("request_to_ready", _("Request to ready"), d.delays.to_ready, d.delays.ready),
        # The library's part of it: a waiting list's days are not a slow pull.
        ("set_aside_to_ready", _("Copy set aside to ready"), d.delays.pulled, d.delays.ready),
        ("ready_to_pickup", _("Ready to pickup"), d.delays.to_pickup, d.delays.collected),
    ]
    rows = [[label, *delay, count] for _code, label, delay, count in measures]
    codes = [{"code": code} for code, *_rest in measures]
    return Table("delays", _("Delays"), columns, rows, codes)


def closings(d: Dashboard) -> Table:
    total = sum(d.closings.counts.values())
    rows = [[Status(s).label, d.closings.counts[s], ratio(d.closings.counts[s], total)] for s in CLOSINGS]
    columns = [
        Column("outcome", _("Outcome"), TEXT),
        Column("requests", _("Requests")),
        Column("share", _("Share"), RATE),
    ]
    codes = [{"code": Status(s).value} for s in CLOSINGS]
    return Table("closings", _("How requests ended"), columns, rows, codes)


def loans_per_day(d: Dashboard) -> Table:
    columns = [Column("day", _("Day"), DATE), Column("loans", _("Loans"))]
    return Table("loans_per_day", _("Loans at the door per day"), columns, [list(r) for r in d.loans_per_day])


def workload(d: Dashboard) -> Table:
    columns = [
        Column("branch", _("Branch"), TEXT),
        Column("to_pull", _("Copies to pull")),
        Column("bags_open", _("Bags on the hold shelf")),
        Column("bags_expiring", _("Bags whose last day is tomorrow")),
        Column("late_lines", _("Lines of earlier days still to pull")),
        Column("to_take_out", _("Documents to take out of the hold shelf")),
    ]
    rows = [
        [w.branch, w.to_pull, w.bags_open, w.bags_expiring, w.late_lines, w.to_take_out] for w in d.workload
    ]
    codes = [{"branch_code": w.branch_code} for w in d.workload]
    return Table("workload", _("Today's workload"), columns, rows, codes)


def key_figures(d: Dashboard) -> list[tuple[str, str, object]]:
    """(key, label, value) of the figures the report compares with the previous period."""
    picked = d.picked
    return [
        ("requests", _("Requests placed"), d.patrons.requests),
        ("patrons", _("Patrons who placed requests"), d.patrons.patrons),
        ("documents_per_patron", _("Documents per patron"), d.patrons.documents_per_patron),
        # Cards, not visits: a guardian collecting their children's bags counts each card.
        ("patrons_collecting", _("Cards whose documents were collected"), d.patrons.patrons_collecting),
        (
            "phone_share",
            _("Share of phone requests"),
            ratio(d.per_channel[Channel.PHONE], d.patrons.requests),
        ),
        # Copies the pickers did not find on the shelf: a request may still have been
        # served by another copy. Not the same as the requests nothing could serve.
        ("not_found_rate", _("Share of copies not found on the shelf"), picked.not_found_rate),
        (
            "not_served_rate",
            _("Of the requests ended, share no copy could serve"),
            d.closings.not_served_rate,
        ),
        ("median_to_ready", _("Median time from request to ready"), d.delays.to_ready[0]),
        ("median_to_pickup", _("Median time from ready to pickup"), d.delays.to_pickup[0]),
        ("collected", _("Requests collected"), d.closings.counts[Status.COLLECTED]),
        ("expired", _("Requests expired"), d.closings.counts[Status.EXPIRED]),
        ("cancelled_ready", _("Requests cancelled once ready"), d.closings.cancelled_ready),
        ("collection_rate", _("Collection rate"), d.closings.collection_rate),
        ("loans", _("Loans at the door"), d.loans),
        # The brief's answer to "no precise title in mind": how many, and how long they waited.
        ("surprises_asked", _("Surprise bags asked for"), d.surprises.asked),
        ("surprises_composed", _("Surprise bags composed"), d.surprises.composed),
        ("surprises_cancelled", _("Surprise bags asked for, then cancelled"), d.surprises.cancelled),
        ("median_to_compose", _("Median time from asking to composing"), d.surprises.to_compose),
    ]


KIND_OF_FIGURE = {
    "documents_per_patron": NUMBER,
    "phone_share": RATE,
    "not_found_rate": RATE,
    "not_served_rate": RATE,
    "collection_rate": RATE,
    "median_to_ready": DURATION,
    "median_to_pickup": DURATION,
    "median_to_compose": DURATION,
}


def key_figures_table(d: Dashboard) -> Table:
    columns = [Column("figure", _("Figure"), TEXT), Column("value", _("Value"), MIXED)]
    figures = key_figures(d)
    rows = [[label, (value, KIND_OF_FIGURE.get(key, INT))] for key, label, value in figures]
    # The codes are the keys of the API's "key_figures" object.
    codes = [{"code": key} for key, _label, _value in figures]
    return Table("key_figures", _("Key figures"), columns, rows, codes)


BUILDERS = {
    "key_figures": key_figures_table,
    "requests_per_day": requests_per_day,
    "channels": channels,
    "pick_by_branch": pick_by_branch,
    "pick_by_department": pick_by_department,
    "pick_by_doc_type": pick_by_doc_type,
    "delays": delays,
    "closings": closings,
    "loans_per_day": loans_per_day,
    "workload": workload,
}


def all_tables(d: Dashboard) -> dict[str, Table]:
    return {name: build(d) for name, build in BUILDERS.items()}


# Formatting -------------------------------------------------------------------------


def rounded(value: float, places: int = 1) -> float:
    """Rounded half up, as people round (and the CSV's figures read): Python's round()
    goes to the even digit, so 2.25 documents per patron was shown 2.2."""
    step = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(step, rounding=ROUND_HALF_UP))


def duration_text(value: datetime.timedelta | None) -> str:
    """Days and hours, or hours and minutes under a day: what a manager reads at a glance.
    Rounded to the nearest hour past a day (28 h 30 is "1 day 5 h", not cut to 4)."""
    if value is None:
        return "—"
    seconds = value.total_seconds()
    minutes = int(rounded(seconds / 60, 0))
    if minutes >= 24 * 60:
        # The hours rounded from the seconds, not from the rounded minutes: 24 h 29 min
        # 40 s was 24 h 30, then 25 h.
        days, hours = divmod(int(rounded(seconds / 3600, 0)), 24)
        return ngettext("%(d)s day %(h)s h", "%(d)s days %(h)s h", days) % {"d": days, "h": hours}
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d}"


def display(value, kind: str) -> str:
    """For people: localised numbers (2,4 in French), percentages, delays in words.
    Django's number_format truncates extra decimals, so we round first."""
    if kind == MIXED:
        value, kind = value
    if value is None:
        return "—"
    if kind == RATE:
        number = formats.number_format(rounded(value * 100), 1)
        # French puts a (non-breaking: never "0,0" / "%" on two lines) space before "%".
        return f"{number}\u00a0%" if (translation.get_language() or "").startswith("fr") else f"{number}%"
    if kind == NUMBER:
        return formats.number_format(rounded(value), 1)
    if kind == DURATION:
        return duration_text(value)
    if kind == DATE:
        return formats.date_format(value, "SHORT_DATE_FORMAT")
    if kind == INT:
        return formats.number_format(value, force_grouping=True)
    return str(value)


def plain(value, kind: str):
    """For files and machines: rates in percent with one decimal, delays in hours, ISO dates."""
    if kind == MIXED:
        value, kind = value
    if value is None:
        return ""
    if kind == RATE:
        return rounded(value * 100)
    if kind == NUMBER:
        return rounded(value, 2)
    if kind == DURATION:
        return rounded(value.total_seconds() / 3600, 2)
    if kind == DATE:
        return value.isoformat()
    return str(value) if kind == TEXT else value


def machine(value, kind: str):
    """For JSON: rates as fractions, delays in seconds, ISO dates."""
    if kind == MIXED:
        value, kind = value
    if value is None:
        return None
    if kind == RATE:
        return round(value, 4)
    if kind == DURATION:
        return value.total_seconds()
    if kind == DATE:
        return value.isoformat()
    return str(value) if kind == TEXT else value


def machine_records(table: Table) -> list[dict]:
    """``table`` for JSON, a dict a row: its codes first (``Table.codes``), then its
    cells, keyed by column, in ``machine`` form."""
    codes = table.codes or [{}] * len(table.rows)
    return [
        code | {c.key: machine(v, c.kind) for c, v in zip(table.columns, row, strict=True)}
        for code, row in zip(codes, table.rows, strict=True)
    ]


def write_csv(table: Table, out) -> None:
    """``table`` as CSV into ``out`` (a file or a response), in the spreadsheet
    conventions of the active language: a French spreadsheet reads "2,4" as a number and
    splits columns on ";" (the comma is its decimal mark). With a BOM, so that spreadsheet
    software reads the accents as UTF-8."""
    decimal = formats.get_format("DECIMAL_SEPARATOR")
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";" if decimal == "," else ",")
    # A file has no "0 h 04": its numbers say their unit in the heading (or, where a
    # column mixes counts, rates and delays, in a column of their own).
    mixed = any(c.kind == MIXED for c in table.columns)
    headings = [_csv_heading(c) for c in table.columns] + ([str(_("Unit"))] if mixed else [])
    writer.writerow(headings)
    for row in table.rows:
        cells = [plain(v, c.kind) for c, v in zip(table.columns, row, strict=True)]
        units = [_unit(v[1]) for c, v in zip(table.columns, row, strict=True) if c.kind == MIXED]
        writer.writerow(
            [str(v).replace(".", decimal) if isinstance(v, float) else inert(v) for v in cells] + units
        )


def _unit(kind: str) -> str:
    return {RATE: "%", DURATION: str(_("hours"))}.get(kind, "")


def _csv_heading(column: Column) -> str:
    unit = _unit(column.kind)
    return f"{column.title} ({unit})" if unit else str(column.title)
