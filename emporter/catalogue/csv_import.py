"""Import copies from a CSV file: one row per copy, keyed by barcode.

    import_copies(path, *, code_map=None, default_branch=None, batch_size=500, stdout=None)
        -> CopyImportReport

Columns (header row, any order, case-insensitive; ``,`` ``;`` or tab separated; UTF-8,
else read as Windows-1252 and said so):

- ``barcode`` (required);
- ``record`` (a ``Record.source_key``) or ``isbn``: the copy's record, which must exist;
- ``call_number``; ``branch``, ``department``, ``location``: our codes, or source
  codes translated by the code map (branch falls back to ``default_branch``);
- ``doc_type``: one of ours (``book``, ``dvd``…) or a source type code; empty: the
  record's type;
- ``status``: ``on_shelf``, ``on_loan``, ``in_transit``, ``missing`` or ``withdrawn``;
  empty keeps an existing copy's status (new copies are on the shelf). A copy set aside
  or on the hold shelf keeps that status: requests own it.

A row with a problem is reported with its line number and skipped; the other rows are
imported. A barcode repeated in the file: the first row wins.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from emporter.catalogue.callnumber import sort_key
from emporter.catalogue.importer import REQUEST_STATUSES, Problem, Targets, changes, lock_copies, update_copy
from emporter.catalogue.item_mappings import CodeMap, load_code_map
from emporter.catalogue.marc import clean, clean_code, isbn13
from emporter.catalogue.models import Copy, CopyStatus, DocType, Record

COLUMNS = {
    "barcode": ("barcode", "code_barre", "code-barres"),
    "record": ("record", "source_key", "record_source_key"),
    "isbn": ("isbn",),
    "call_number": ("call_number", "cote"),
    "branch": ("branch", "branch_code"),
    "department": ("department", "department_code"),
    "location": ("location", "location_code"),
    "doc_type": ("doc_type", "type"),
    "status": ("status",),
}
IMPORTABLE_STATUSES = {
    CopyStatus.ON_SHELF,
    CopyStatus.ON_LOAN,
    CopyStatus.IN_TRANSIT,
    CopyStatus.MISSING,
    CopyStatus.WITHDRAWN,
}
UPDATED_FIELDS = [
    "record_id", "call_number", "call_number_key", "branch_id", "department_id", "location_id",
    "doc_type", "status", "source_codes",
]  # fmt: skip


@dataclass
class CopyImportReport:
    path: str
    encoding: str = "utf-8"
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)

    def summary_lines(self) -> list[str]:
        return [
            _(
                "%(file)s: %(rows)s rows; copies %(created)s created, %(updated)s updated, "
                "%(unchanged)s unchanged, %(skipped)s skipped."
            )
            % {
                "file": self.path,
                "rows": self.rows,
                "created": self.created,
                "updated": self.updated,
                "unchanged": self.unchanged,
                "skipped": self.skipped,
            }
        ]


@dataclass
class _Row:
    line: int
    barcode: str
    record_key: str
    isbn: str
    values: dict  # Copy fields except record_id and status
    status: str  # "" keeps the current status
    record_type: bool  # doc_type left to the record's


def import_copies(
    path: str | Path,
    *,
    code_map: CodeMap | Mapping | str | Path | None = None,
    default_branch: str | None = None,
    batch_size: int = 500,
    stdout: TextIO | None = None,
) -> CopyImportReport:
    """Create or update the copies listed in a CSV file (see the module docstring)."""
    targets = Targets.load(load_code_map(code_map), default_branch)
    path = Path(path)
    report = CopyImportReport(path=str(path))
    importer = _CopyImport(targets, report, stdout)
    try:
        encoding = detect_encoding(path)
    except OSError as exc:
        importer.problem(None, "unreadable", _("cannot read the file: %(error)s") % {"error": exc.strerror})
        return report
    if encoding != "utf-8-sig":
        report.encoding = encoding
        importer.problem(None, "encoding", _("the file is not UTF-8: it was read as Windows-1252"))
    with open(path, encoding=encoding, newline="") as fh:
        batch: list[_Row] = []
        for row in importer.rows(fh):
            batch.append(row)
            if len(batch) >= batch_size:
                importer.write(batch)
                batch = []
        if batch:
            importer.write(batch)
    return report


def detect_encoding(path: Path) -> str:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as fh:
        try:
            while block := fh.read(1 << 16):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


class _CopyImport:
    def __init__(self, targets: Targets, report: CopyImportReport, stdout: TextIO | None):
        self.targets = targets
        self.report = report
        self.stdout = stdout
        self.seen: set[str] = set()

    def problem(self, line: int | None, code: str, message: str, barcode: str = "") -> None:
        problem = Problem(self.report.path, None, None, line, code, message, barcode=barcode)
        self.report.problems.append(problem)
        if self.stdout is not None:
            self.stdout.write(f"{problem}\n")

    def skip(self, line: int, code: str, message: str, barcode: str = "") -> None:
        self.report.skipped += 1
        self.problem(line, code, message, barcode)

    # --- reading ----------------------------------------------------------------------

    def rows(self, fh: TextIO) -> Iterator[_Row]:
        sample = fh.read(8192)
        fh.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(fh, dialect)
        header = next(reader, None)
        columns = self.columns(header or [])
        if columns is None:
            return
        for values in reader:
            line = reader.line_num
            if not any(v.strip() for v in values):
                continue
            self.report.rows += 1
            cells = {name: clean(values[i]) if i < len(values) else "" for name, i in columns.items()}
            row = self.parse(line, cells)
            if row is not None:
                yield row

    def columns(self, header: list[str]) -> dict[str, int] | None:
        names = {clean(h).casefold().replace(" ", "_"): i for i, h in enumerate(header)}
        columns = {}
        for column, aliases in COLUMNS.items():
            for alias in aliases:
                if alias in names:
                    columns[column] = names[alias]
                    break
        if "barcode" not in columns or not ({"record", "isbn"} & set(columns)):
            message = _(
                "the header must name a barcode column and a record or isbn column (found: %(found)s)"
            )
            self.problem(1, "bad_header", message % {"found": ", ".join(header) or "—"})
            return None
        return columns

    def parse(self, line: int, cells: dict[str, str]) -> _Row | None:
        barcode = cells.get("barcode", "").replace(" ", "")
        if not barcode:
            self.skip(line, "no_barcode", _("no barcode"))
            return None
        if barcode in self.seen:
            self.skip(
                line,
                "duplicate_barcode",
                _("barcode %(barcode)s already given on an earlier line: this one is skipped")
                % {"barcode": barcode},
                barcode,
            )
            return None
        record_key, isbn = cells.get("record", ""), isbn13(cells.get("isbn", ""))
        if not record_key and not isbn:
            self.skip(line, "no_record", _("neither a record key nor a valid ISBN"), barcode)
            return None
        values = self.place(line, barcode, cells)
        if values is None:
            return None
        status = cells.get("status", "").lower().replace(" ", "_")
        if status and status not in IMPORTABLE_STATUSES:
            allowed = ", ".join(sorted(IMPORTABLE_STATUSES))
            message = _("unknown status %(status)s (use one of %(allowed)s)")
            self.skip(line, "bad_status", message % {"status": status, "allowed": allowed}, barcode)
            return None
        type_code = cells.get("doc_type", "")
        doc_type = type_code.lower() if type_code.lower() in DocType.values else ""
        doc_type = doc_type or self.targets.code_map.doc_type(clean_code(type_code))
        if type_code and not doc_type:
            message = _("unknown document type %(type)s") % {"type": type_code}
            self.skip(line, "bad_doc_type", message, barcode)
            return None
        self.seen.add(barcode)
        call_number = cells.get("call_number", "")
        values |= {"call_number": call_number[:200], "call_number_key": sort_key(call_number)[:400]}
        values |= {"doc_type": doc_type}
        source = {k: cells[k] for k in ("branch", "department", "location", "doc_type") if cells.get(k)}
        values["source_codes"] = {"csv": True, **source}
        return _Row(line, barcode, record_key, isbn, values, status, record_type=not doc_type)

    def place(self, line: int, barcode: str, cells: dict[str, str]) -> dict | None:
        """branch_id, department_id and location_id for a row, or None (reported)."""
        branch_code = cells.get("branch", "")
        branch_id = self.targets.branch_for([branch_code] if branch_code else [])
        if branch_id is None:
            message = _("no branch for code %(code)s (use a code map or a default branch)")
            self.skip(line, "no_branch", message % {"code": branch_code or "—"}, barcode)
            return None
        department_id = location_id = None
        if cells.get("department"):
            department_id = self.targets.department(branch_id, cells["department"])
            if department_id is None:
                message = _("no department %(code)s in this branch") % {"code": cells["department"]}
                self.skip(line, "no_department", message, barcode)
                return None
        if cells.get("location"):
            found = self.targets.location(branch_id, cells["location"])
            if found is None or (department_id and found[1] != department_id):
                message = _("no location %(code)s in this branch and department") % {
                    "code": cells["location"]
                }
                self.skip(line, "no_location", message, barcode)
                return None
            location_id, department_id = found
        return {"branch_id": branch_id, "department_id": department_id, "location_id": location_id}

    # --- writing ----------------------------------------------------------------------

    def write(self, batch: list[_Row]) -> None:
        with transaction.atomic():
            lock_copies([r.barcode for r in batch])  # before any record is locked: see there
            records = self.records(batch)
            existing = {
                c.barcode: c
                for c in Copy.objects.filter(barcode__in=[r.barcode for r in batch]).only(
                    "pk", "barcode", *UPDATED_FIELDS
                )
            }
            new, changed, missing = [], [], 0
            for row in batch:
                record = records.get(row.record_key) if row.record_key else records.get(f"isbn:{row.isbn}")
                if not isinstance(record, tuple):
                    self.skip(row.line, "no_record", record or self.no_record(row), row.barcode)
                    missing += 1
                    continue
                values = {**row.values, "record_id": record[0]}
                if row.record_type:
                    values["doc_type"] = record[1]
                copy = existing.get(row.barcode)
                if copy is None:
                    new.append(Copy(barcode=row.barcode, status=row.status or CopyStatus.ON_SHELF, **values))
                    continue
                if row.status and row.status != copy.status:
                    if copy.status in REQUEST_STATUSES:
                        self.problem(row.line, "status_kept", self.kept(copy), row.barcode)
                    else:
                        values["status"] = row.status
                if delta := changes(copy, values):
                    changed.append((row, copy, delta))
            Copy.objects.bulk_create(new)
            self.update(changed)
        self.report.created += len(new)
        self.report.updated += len(changed)
        self.report.unchanged += len(batch) - len(new) - len(changed) - missing

    def update(self, changed: list[tuple[_Row, Copy, dict]]) -> None:
        now = timezone.now()
        movable = set(CopyStatus.values) - REQUEST_STATUSES
        for row, copy, delta in changed:
            if not update_copy(copy.pk, delta, now, status_from=movable):
                message = _("not updated: the copy was just promised to a request")
                self.problem(row.line, "status_kept", message, row.barcode)

    def records(self, batch: list[_Row]) -> dict[str, tuple[int, str] | str]:
        """Records by key ("isbn:…" for ISBNs): (pk, doc_type), or a message when ambiguous."""
        keys = [r.record_key for r in batch if r.record_key]
        found: dict[str, tuple[int, str] | str] = {
            key: (pk, doc_type)
            for key, pk, doc_type in Record.objects.filter(source_key__in=keys).values_list(
                "source_key", "pk", "doc_type"
            )
        }
        isbns = [r.isbn for r in batch if not r.record_key]
        for isbn, pk, doc_type in Record.objects.filter(isbn__in=isbns).values_list("isbn", "pk", "doc_type"):
            key = f"isbn:{isbn}"
            if key in found:
                found[key] = _("several records have the ISBN %(isbn)s: give the record key") % {"isbn": isbn}
            else:
                found[key] = (pk, doc_type)
        return found

    def no_record(self, row: _Row) -> str:
        if row.record_key:
            return _("no record with the key %(key)s") % {"key": row.record_key}
        return _("no record with the ISBN %(isbn)s") % {"isbn": row.isbn}

    def kept(self, copy: Copy) -> str:
        return _("status kept as %(status)s: the copy is promised to a request") % {
            "status": copy.get_status_display()
        }
