"""Import copies from a CSV file: one row per copy, keyed by barcode.

    import_copies(path, *, code_map=None, default_branch=None, encoding=None, batch_size=500,
                  stdout=None) -> CopyImportReport

Columns (header row, any order, case-insensitive; ``,`` ``;`` tab or ``|`` separated):

- ``barcode`` (required);
- ``record`` (a ``Record.source_key``) or ``isbn``: the copy's record, which must exist;
- ``call_number``; ``branch``, ``department``, ``location``: our codes, or source
  codes translated by the code map (branch falls back to ``default_branch``);
- ``doc_type``: one of ours (``book``, ``dvd``…) or a source type code; empty: the
  record's type;
- ``status``: ``on_shelf``, ``on_loan``, ``in_transit``, ``missing`` or ``withdrawn``;
  empty keeps an existing copy's status (new copies are on the shelf).

Status on re-import, as the MARC import does it: the file's status is applied only when
it changed at the source since the last import (kept in ``Copy.source_codes["status"]``),
so a nightly file saying "on_shelf" does not undo our picker's "missing"; and never to a
copy our own circulation holds: set aside or on the hold shelf, in transit, or lent at
one of our doors (an open loan). Such a copy keeps its status (``status_kept``).

Encoding: UTF-8; else Windows-1252, said so (``encoding``). A file that is neither —
Excel's "CSV (Macintosh)" (Mac Roman) and "CSV (MS-DOS)" (CP850) put é, è, ç… where
Windows-1252 has punctuation or nothing — is refused before anything is written
(``bad_encoding``, with the line of the first odd character): read as another encoding
it would write wrong names everywhere, so ``encoding`` (``--encoding``) must name it.

A row with a problem is reported with its line number and skipped; the other rows are
imported: a row whose bytes do not decode (``bad_encoding``), one csv cannot read
(``bad_row``: most often a quote left open, which swallows the lines after it up to
csv's 131,072-character field limit), a value longer than its column
(``value_too_long``), one the database refuses (``database_error``: the batch is retried
row by row). A barcode repeated in the file: the first row wins.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from emporter.catalogue.callnumber import sort_key
from emporter.catalogue.importer import (
    SOURCE_STATUSES,
    Problem,
    Targets,
    changes,
    keep_placement,
    lent_copies,
    lock_copies,
    update_unheld_copy,
)
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
# Columns stored as they are: longer values are refused (a longer call number is more
# likely a quote left open than a call number).
LIMITS = {name: Copy._meta.get_field(name).max_length for name in ("barcode", "call_number")}
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
    encoding: str | None = None,
    batch_size: int = 500,
    stdout: TextIO | None = None,
) -> CopyImportReport:
    """Create or update the copies listed in a CSV file (see the module docstring).
    Raises ValueError before reading when an option is wrong."""
    targets = Targets.load(load_code_map(code_map), default_branch)
    forced = encoding_option(encoding)
    path = Path(path)
    report = CopyImportReport(path=str(path))
    importer = _CopyImport(targets, report, stdout)
    encoding = choose_encoding(path, forced, importer.problem)
    if encoding is None:
        return report
    report.encoding = encoding.removesuffix("-sig")
    batch: list[_Row] = []
    for row in importer.rows(read_rows(path, encoding, importer.unreadable)):
        batch.append(row)
        if len(batch) >= batch_size:
            importer.write(batch)
            batch = []
    if batch:
        importer.write(batch)
    return report


# --- reading a CSV file (shared with the patrons import) ------------------------------

OnProblem = Callable[[int | None, str, str], None]  # (line, code, message)

# Windows-1252 leaves five bytes undefined; and where Mac Roman and CP850 (DOS) put é, è,
# à, ç…, in 0x80-0x9F, it has punctuation: "Françoise" in CP850 reads "Fran‡oise". Such a
# byte right after a letter is the sign of those encodings (but ’, œ and Œ are French in
# Windows-1252); its own accented letters are in 0xC0-0xFF.
_UNDEFINED_IN_CP1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_INSIDE_WORD = re.compile(rb"(?<=[A-Za-z])[\x80-\x8b\x8d-\x91\x93-\x9b\x9d-\x9f]")
_ODD = re.compile(_UNDEFINED_IN_CP1252.pattern + rb"|" + _INSIDE_WORD.pattern)
_CP1252_LETTERS = re.compile(rb"[\xc0-\xd6\xd8-\xf6\xf8-\xff]")
# Bytes the encoding could not decode, kept by "surrogateescape" as U+DC80-U+DCFF.
_UNDECODED = re.compile("[\udc80-\udcff]")
_QUOTED = re.compile(r'"[^"]*"')


class EncodingRefused(Exception):
    def __init__(self, line: int):
        self.line = line


def encoding_option(name: str | None) -> str | None:
    """The codec for an encoding named by the user, or None; ValueError if unknown."""
    if not name:
        return None
    try:
        b"".decode(name)  # LookupError for unknown names and for non-text codecs (base64…)
        codec = codecs.lookup(name).name
    except LookupError:
        raise ValueError(_("Unknown encoding %(name)s.") % {"name": name}) from None
    return "utf-8-sig" if codec == "utf-8" else codec  # a BOM is not part of the header


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` or ``cp1252``, from the whole file; raises EncodingRefused (with the
    line of the first odd byte) when it is neither, OSError when it cannot be read.

    A file mostly in UTF-8 with a few broken rows (one pasted from elsewhere) is UTF-8:
    those rows are reported while reading, and the others are not garbled."""
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    good = broken = undefined = in_words = letters = 0
    line, first_odd = 1, None
    with open(path, "rb") as fh:
        while block := fh.read(1 << 16):
            text = decoder.decode(block)
            if not text.isascii():
                bad = len(_UNDECODED.findall(text))
                broken += bad
                good += len(text) - len(text.encode("ascii", "ignore")) - bad
            if not block.isascii():
                undefined += len(_UNDEFINED_IN_CP1252.findall(block))
                in_words += len(_INSIDE_WORD.findall(block))
                letters += len(_CP1252_LETTERS.findall(block))
                if first_odd is None and (odd := _ODD.search(block)):
                    first_odd = line + block.count(b"\n", 0, odd.start())
            line += block.count(b"\n")
        broken += len(_UNDECODED.findall(decoder.decode(b"", final=True)))
    if broken == 0 or good > broken:
        return "utf-8-sig"
    if undefined or in_words > letters:
        raise EncodingRefused(first_odd or 1)
    return "cp1252"


def choose_encoding(path: Path, forced: str | None, problem: OnProblem) -> str | None:
    """The encoding to read the file with (the forced one, else detected), or None when
    the file cannot be read or is refused (reported)."""
    try:
        if forced:
            open(path, "rb").close()
            return forced
        encoding = detect_encoding(path)
    except OSError as exc:
        problem(None, "unreadable", _("cannot read the file: %(error)s") % {"error": exc.strerror})
        return None
    except EncodingRefused as refused:
        message = _(
            "the file is neither UTF-8 nor Windows-1252 (this line has the first odd character): "
            'nothing was imported. Save it as "CSV UTF-8", or give its encoding: --encoding '
            'mac_roman for Excel\'s "CSV (Macintosh)", --encoding cp850 for "CSV (MS-DOS)".'
        )
        problem(refused.line, "bad_encoding", message)
        return None
    if encoding == "cp1252":
        problem(None, "encoding", _("the file is not UTF-8: it was read as Windows-1252"))
    return encoding


def read_rows(path: Path, encoding: str, skip: OnProblem) -> Iterator[tuple[int, list[str]]]:
    """(line, values) of each non-blank row, the header first; the line is where the row
    starts. A row that cannot be read is given to ``skip`` and the reading goes on: bytes
    the encoding does not decode, or csv's error (a field over its 131,072 characters)."""
    with open(path, encoding=encoding, errors="surrogateescape", newline="") as fh:
        header = _QUOTED.sub("", fh.readline())
        fh.seek(0)
        # The header's most frequent separator: csv.Sniffer misreads a sample cut in a
        # long field, and the header is the one line sure to have every separator.
        reader = csv.reader(fh, csv.excel, delimiter=max(",;\t|", key=header.count))
        while True:
            line = reader.line_num + 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                skip(line, "bad_row", _("this row cannot be read (%(error)s)") % {"error": error})
                continue
            if not any(v.strip() for v in values):
                continue
            if _UNDECODED.search("\x00".join(values)):
                message = _("this row has bytes that are not %(encoding)s: it is skipped")
                skip(line, "bad_encoding", message % {"encoding": encoding.removesuffix("-sig")})
                continue
            yield line, values


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

    def skip(self, line: int | None, code: str, message: str, barcode: str = "") -> None:
        self.report.skipped += 1
        self.problem(line, code, message, barcode)

    # --- reading ----------------------------------------------------------------------

    def unreadable(self, line: int | None, code: str, message: str) -> None:
        self.report.rows += 1
        self.skip(line, code, message)

    def rows(self, lines: Iterator[tuple[int, list[str]]]) -> Iterator[_Row]:
        header = next(lines, (1, []))[1]
        columns = self.columns(header)
        if columns is None:
            return
        for line, values in lines:
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
        for column, limit in LIMITS.items():
            value = barcode if column == "barcode" else cells.get(column, "")
            if len(value) > limit:
                self.skip(line, "value_too_long", too_long(column, value, limit), barcode[:limit])
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
        values |= {"call_number": call_number, "call_number_key": sort_key(call_number)[:400]}
        values |= {"doc_type": doc_type}
        # The status too: the next import applies its own only if it differs (see write).
        source = {k: cells[k] for k in ("branch", "department", "location", "doc_type") if cells.get(k)}
        values["source_codes"] = {"csv": True, **source} | ({"status": status} if status else {})
        return _Row(line, barcode, record_key, isbn, values, status, record_type=not doc_type)

    def place(self, line: int, barcode: str, cells: dict[str, str]) -> dict | None:
        """branch_id, department_id and location_id for a row, or None (reported)."""
        branch_code = cells.get("branch", "")
        branch_id = self.targets.branch_for([branch_code] if branch_code else [])
        if branch_id is None:
            message = _("no branch for code %(code)s (use a code map or a default branch)")
            self.skip(line, "no_branch", message % {"code": branch_code or "—"}, barcode)
            return None
        # The department first, then the location within it: location codes repeat
        # across the departments of a branch ("bd" for youth and for adults).
        placement = self.targets.locate(
            branch_id, location=cells.get("location", ""), department=cells.get("department", "")
        )
        if placement.problem == "no_department":
            message = _("no department %(code)s in this branch") % {"code": cells["department"]}
            self.skip(line, "no_department", message, barcode)
            return None
        if placement.problem == "no_location":
            message = _("no location %(code)s in this branch and department") % {"code": cells["location"]}
            self.skip(line, "no_location", message, barcode)
            return None
        if placement.problem == "ambiguous_location":
            message = _(
                "location %(code)s is in several departments of this branch (%(departments)s): "
                "give the department"
            ) % {"code": cells["location"], "departments": ", ".join(placement.departments)}
            self.skip(line, "ambiguous_location", message, barcode)
            return None
        return {
            "branch_id": branch_id,
            "department_id": placement.department_id,
            "location_id": placement.location_id,
        }

    # --- writing ----------------------------------------------------------------------

    def write(self, batch: list[_Row]) -> None:
        """Write a batch in one transaction. If the database refuses it (a copy created
        meanwhile by another import, a value it will not store), each row is written in its
        own transaction and the one refused is reported: one bad row never ends the import."""
        try:
            with transaction.atomic():
                created, updated, problems = self.write_batch(batch)
        except DatabaseError as error:
            if len(batch) > 1:
                for row in batch:
                    self.write([row])
            else:
                self.skip(batch[0].line, "database_error", database_refused(error), batch[0].barcode)
            return
        missing = 0
        for line, code, message, barcode in problems:
            missing += code == "no_record"
            (self.skip if code == "no_record" else self.problem)(line, code, message, barcode)
        self.report.created += created
        self.report.updated += updated
        self.report.unchanged += len(batch) - created - updated - missing

    def write_batch(self, batch: list[_Row]) -> tuple[int, int, list[tuple]]:
        """(created, updated, problems to report once the batch is committed)."""
        lock_copies([r.barcode for r in batch])  # before any record is locked: see there
        records = self.records(batch)
        existing = {
            c.barcode: c
            for c in Copy.objects.filter(barcode__in=[r.barcode for r in batch]).only(
                "pk", "barcode", *UPDATED_FIELDS
            )
        }
        lent = lent_copies(existing.values())
        new, changed, problems = [], [], []
        for row in batch:
            record = records.get(row.record_key) if row.record_key else records.get(f"isbn:{row.isbn}")
            if not isinstance(record, tuple):
                problems.append((row.line, "no_record", record or self.no_record(row), row.barcode))
                continue
            values = {**row.values, "record_id": record[0]}
            if row.record_type:
                values["doc_type"] = record[1]
            copy = existing.get(row.barcode)
            if copy is None:
                new.append(Copy(barcode=row.barcode, status=row.status or CopyStatus.ON_SHELF, **values))
                continue
            # Set aside, on the hold shelf, in transit or lent at our door: ours until back.
            held = copy.status not in SOURCE_STATUSES or copy.pk in lent
            # News from the source only: otherwise our picker's "missing" would be undone
            # by every nightly file that still says "on_shelf".
            if row.status and row.status != copy.status and row.status != copy.source_codes.get("status"):
                if not held:
                    values["status"] = row.status
                else:
                    problems.append((row.line, "status_kept", self.kept(copy, row.status), row.barcode))
            # Nor is it moved to another record or place (a patron asked for this one, here).
            if held and keep_placement(copy, values):
                problems.append((row.line, "placement_kept", self.placement_kept(copy), row.barcode))
            if delta := changes(copy, values):
                changed.append((row, copy, delta))
        Copy.objects.bulk_create(new)
        problems += self.update(changed)
        return len(new), len(changed), problems

    def update(self, changed: list[tuple[_Row, Copy, dict]]) -> list[tuple]:
        now = timezone.now()
        problems = []
        for row, copy, delta in changed:
            if not update_unheld_copy(copy.pk, delta, now):
                message = _("not updated: the copy was just promised to a request")
                problems.append((row.line, "status_kept", message, row.barcode))
        return problems

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

    def placement_kept(self, copy: Copy) -> str:
        # The MARC import's message (and translation).
        message = _(
            "copy %(barcode)s stays on its record and in its place (branch, department, location): "
            "a request or a loan here holds it; the source's changes will apply once it is back"
        )
        return message % {"barcode": copy.barcode}

    def kept(self, copy: Copy, wanted: str) -> str:
        # The MARC import's message (and translation).
        message = _(
            "copy %(barcode)s keeps its status %(status)s, not %(wanted)s: a request or a loan here holds it"
        )
        return message % {
            "barcode": copy.barcode,
            "status": copy.get_status_display(),
            "wanted": CopyStatus(wanted).label,
        }


def database_refused(error: Exception) -> str:
    reason = str(error).strip().splitlines()[:1]
    return _("not imported: the database refused it (%(error)s)") % {"error": "".join(reason)}


def too_long(column: str, value: str, limit: int) -> str:
    message = _("%(column)s is too long: %(length)s characters, at most %(limit)s")
    return message % {"column": column, "length": len(value), "limit": limit}
