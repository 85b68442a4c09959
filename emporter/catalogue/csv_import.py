"""Import copies from a CSV file: one row per copy, keyed by barcode.

    import_copies(path, *, code_map=None, default_branch=None, encoding=None, batch_size=500,
                  stdout=None) -> CopyImportReport

The columns, what a re-import writes and keeps, the encodings read and refused, and
what a row with a problem gives are in docs/imports.md, "Copies from a CSV file".
"""

from __future__ import annotations

import codecs
import csv
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from emporter.catalogue.callnumber import sort_key
from emporter.catalogue.importer import (
    ABSENT,
    ABSENT_STATUS,
    RETRY_PAUSE,
    RETRY_PAUSE_AT_MOST,
    SOURCE_TRANSIT,
    WRITE_ATTEMPTS,
    Problem,
    Targets,
    changes,
    follow_merged,
    held_here,
    keep_placement,
    lent_copies,
    lock_for_writing,
    mark_merged,
    merged_line,
    restored_status,
    still_merged,
    transient,
    transit_read_at,
    transit_stamp,
    update_unheld_copy,
    withdrawn_as_absent,
)
from emporter.catalogue.item_mappings import CodeMap, load_code_map
from emporter.catalogue.marcdata import clean, clean_code, isbn13
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
# A barcode or card number as a spreadsheet writes a number: "1.23457E+12" (the digits
# are lost), "123.0", "123,00". Excel and LibreOffice write the exponent's sign.
AS_A_NUMBER = re.compile(r"\d+(?:[.,]\d+)?E[+-]\d+|\d+[.,]0+", re.IGNORECASE)
# Columns stored as they are: longer values are refused (a longer call number is more
# likely a quote left open than a call number).
LIMITS = {name: Copy._meta.get_field(name).max_length for name in ("barcode", "call_number")}
# The row's columns kept in Copy.source_codes (and "status"); the copy's place within its
# branch.
CODE_COLUMNS = ("branch", "department", "location", "doc_type")
PLACE_COLUMNS = frozenset(("department", "location"))
# Problems found when a batch is written that skip the row.
SKIPPED_WHEN_WRITTEN = frozenset(
    (
        "no_record", "unknown_barcode", "barcode_mangled", "no_branch", "no_department", "no_location",
        "ambiguous_location",
    )
)  # fmt: skip
# A barcode of digits a spreadsheet read as a number lost its leading zeros ("0012345" is
# "12345"): looked for again with them, up to this length (library barcodes are 14 digits
# at most, EAN 13).
PADDED_AT_MOST = 16
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
    # Records left without copies, which went to another record (importer.mark_merged).
    records_merged: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Not read: unreadable, refused for its encoding, or without a usable header.
    fatal: bool = False

    @property
    def failed(self) -> bool:
        """Not read, or no copy imported from it: the command exits with an error."""
        return self.fatal or not (self.created + self.updated + self.unchanged)

    def summary_lines(self) -> list[str]:
        merged = [merged_line(self.records_merged)] if self.records_merged else []
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
            },
            *merged,
        ]


@dataclass
class _Row:
    line: int
    barcode: str
    record_key: str
    isbn: str
    values: dict  # the Copy fields the file's columns give, except record_id and status
    status: str  # "" keeps the current status
    record_type: bool  # a doc_type column left empty: the record's type
    # The source codes of the file's columns ("" for an empty cell), for source_codes.
    codes: dict = field(default_factory=dict)
    # Without a branch column: the department and location codes, looked up in the
    # copy's branch when the batch is written.
    place_codes: dict = field(default_factory=dict)


def import_copies(
    path: str | Path,
    *,
    code_map: CodeMap | Mapping | str | Path | None = None,
    default_branch: str | None = None,
    encoding: str | None = None,
    batch_size: int = 500,
    stdout: TextIO | None = None,
    on_merge: Callable[[dict[int, int]], object] | None = None,
) -> CopyImportReport:
    """Create or update the copies listed in a CSV file (docs/imports.md).
    Raises ValueError before reading when an option is wrong. ``on_merge``: as
    ``import_marc``'s (a file moving a record's last copies to another one)."""
    targets = Targets.load(load_code_map(code_map), default_branch)
    forced = encoding_option(encoding)
    path = Path(path)
    report = CopyImportReport(path=str(path))
    importer = _CopyImport(targets, report, stdout, on_merge)
    encoding = choose_encoding(path, forced, importer.problem)
    if encoding is None:
        report.fatal = True
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
    importer.follow_merges()
    if not report.fatal and not report.rows:
        importer.problem(None, "no_rows", no_rows())
    return report


def no_rows() -> str:
    return _("the file has a header but no rows: nothing to import")


# --- reading a CSV file (shared with the patrons import) ------------------------------

OnProblem = Callable[[int | None, str, str], None]  # (line, code, message)
# (line, code, message, rows): rows skipped, reported in one problem (1 by default).
OnSkip = Callable[..., None]

# Windows-1252 leaves five bytes undefined; and where Mac Roman and CP850 (DOS) put é, è,
# à, ç…, in 0x80-0x9F, it has punctuation: "Françoise" in CP850 reads "Fran‡oise". Such a
# byte right after a letter is the sign of those encodings (but ’, œ and Œ are French in
# Windows-1252); its own accented letters are in 0xC0-0xFF.
_UNDEFINED_IN_CP1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_INSIDE_WORD = re.compile(rb"(?<=[A-Za-z])[\x80-\x8b\x8d-\x91\x93-\x9b\x9d-\x9f]")
_ODD = re.compile(_UNDEFINED_IN_CP1252.pattern + rb"|" + _INSIDE_WORD.pattern)
_CP1252_LETTERS = re.compile(rb"[\xc0-\xd6\xd8-\xf6\xf8-\xff]")
# Bytes the encoding could not decode, kept as U+DC80-U+DCFF (UNDECODED, below).
_UNDECODED = re.compile("[\udc80-\udcff]")


def _undecoded(error: UnicodeDecodeError) -> tuple[str, int]:
    """Python's "surrogateescape", for any byte: it cannot stand in for one below 0x80,
    so a UTF-16 file (Excel's "Unicode Text") cut short by a byte, or holding half a
    surrogate pair, raised out of the reading instead of having its row reported."""
    bad = error.object[error.start : error.end]
    return "".join(chr(0xDC80 | byte) for byte in bad), error.end


UNDECODED = "emporter.undecoded"
codecs.register_error(UNDECODED, _undecoded)
_QUOTED = re.compile(r'"[^"]*"')


def header_name(text: str) -> str:
    """A header cell as a column name: "Card number", " card_number " -> "card_number"."""
    return visible(clean(text)).casefold().replace(" ", "_")


# Zero-width joiners are part of the spelling of names in Persian and Indic scripts.
JOINERS = "\u200c\u200d"


def visible(text: str, keep: str = "") -> str:
    """``text`` without control and format characters (Unicode Cc and Cf) but those in
    ``keep``: a byte order mark left mid-file by joining two files with ``cat``, a
    zero-width space pasted with an address. Unseen, they make a barcode or a card number
    that no scan or typing finds, an email address that bounces."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(c for c in text if c in keep or unicodedata.category(c) not in ("Cc", "Cf"))


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
    """``utf-16`` (with its byte order mark), ``utf-8-sig`` or ``cp1252``; raises
    EncodingRefused (with the line of the first odd byte) when it is neither, OSError when
    it cannot be read.

    Counted in lines: a file whose lines are mostly UTF-8, with a few pasted from a
    Windows-1252 file, is UTF-8: those lines are reported while reading, and the others
    are not garbled (one long line of accents must not outweigh many short ones)."""
    with open(path, "rb") as fh:
        if fh.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            return "utf-16"  # Excel's "Unicode Text"; read as bytes it is a NUL every other byte
        fh.seek(0)
        tally = _EncodingTally()
        for number, raw in enumerate(fh, 1):
            tally.add(number, raw)
    return tally.encoding()


class _EncodingTally:
    """The lines of a file that are UTF-8 (with other characters than ASCII) and those
    that are not, and what the latter look like in Windows-1252."""

    def __init__(self):
        self.utf8 = self.other = self.undefined = self.in_words = self.letters = 0
        self.first_odd: int | None = None

    def add(self, number: int, raw: bytes) -> None:
        if raw.isascii():
            return
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            self.other += 1
        else:
            self.utf8 += 1
            return
        self.undefined += len(_UNDEFINED_IN_CP1252.findall(raw))
        self.in_words += len(_INSIDE_WORD.findall(raw))
        self.letters += len(_CP1252_LETTERS.findall(raw))
        if self.first_odd is None and _ODD.search(raw):
            self.first_odd = number

    def encoding(self) -> str:
        if self.utf8 >= self.other:
            return "utf-8-sig"
        if self.undefined or self.in_words > self.letters:
            raise EncodingRefused(self.first_odd or 1)
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


def read_rows(path: Path, encoding: str, skip: OnSkip) -> Iterator[tuple[int, list[str]]]:
    """(line, values) of each non-blank row, the header first; the line is where the row
    starts. A row that cannot be read is given to ``skip`` and the reading goes on: bytes
    the encoding does not decode, csv's error (a field over its 131,072 characters), a
    quote left open, another separator than the header's, the header again. Every line is
    either in a row given or in one reported."""
    with open(path, encoding=encoding, errors=UNDECODED, newline="") as fh:
        lines = _Lines(fh, _header_delimiter(fh))
        records = _records(lines, skip)
        header = next(records, None)
        if header is None:
            return
        yield lines.first, header
        names = [header_name(value) for value in header]
        other_separator = _OtherSeparator(lines.delimiter, len(header), skip)
        for values in records:
            if other_separator.add(lines.first, values):
                continue
            other_separator.report()
            if problem := _row_problem(values, names, encoding):
                skip(lines.first, *problem)
                continue
            yield lines.first, values
        other_separator.report()


def _records(lines: _Lines, skip: OnSkip) -> Iterator[list[str]]:
    """The values of each non-blank row csv reads whole (``lines.first`` is its line)."""
    reader = lines.reader()
    while True:
        lines.start_row()
        try:
            values = next(reader)
        except StopIteration:
            return
        except (csv.Error, _Unclosed) as error:
            skip(lines.first, "bad_row", _unreadable(lines, error))
            # Read again from the next line: the rows after a quote left open are whole
            # rows, not the rest of one huge cell.
            reader = lines.again()
            continue
        if lines.last > lines.first and _swallowed_rows(values, lines.delimiter):
            skip(lines.first, "bad_row", spans_lines(lines.first, lines.last))
        elif any(v.strip() for v in values):
            yield values


def _row_problem(values: list[str], names: list[str], encoding: str) -> tuple[str, str] | None:
    if _UNDECODED.search("\x00".join(values)):
        message = _("this row has bytes that are not %(encoding)s: it is skipped")
        return "bad_encoding", message % {"encoding": encoding.removesuffix("-sig")}
    if len(values) > 1 and [header_name(value) for value in values] == names:
        # Two exports joined with "cat": not a row to look for (a barcode "barcode").
        return "repeated_header", _("the header again (two files joined into one?): this row is skipped")
    return None


class _OtherSeparator:
    """Rows in one cell that another separator than the header's would cut, all said in
    one problem per run: "lines 2 to 3,000 are separated by ','", not 3,000 times
    "no record key" (each row in one cell, with no record)."""

    def __init__(self, delimiter: str, width: int, skip: OnSkip):
        self.delimiter, self.width, self.skip = delimiter, width, skip
        self.found, self.first, self.last, self.count = "", 0, 0, 0

    def add(self, line: int, values: list[str]) -> bool:
        """True if the row is cut by another separator (skipped, reported later)."""
        if self.width < 2 or len(values) != 1:
            return False
        found = max((s for s in ",;\t|" if s != self.delimiter), key=values[0].count)
        if found not in values[0]:
            return False
        if self.count and found != self.found:
            self.report()
        self.first = self.first if self.count else line
        self.found, self.last, self.count = found, line, self.count + 1
        return True

    def report(self) -> None:
        if not self.count:
            return
        names = {",": ",", ";": ";", "\t": _("tab"), "|": "|"}
        message = _(
            "lines %(first)s to %(last)s are separated by “%(found)s”, the header by “%(header)s”: "
            "these %(count)s rows are skipped (save the file with one separator and import it again)"
        )
        if self.count == 1:
            message = _(
                "this row is separated by “%(found)s”, the header by “%(header)s”: it is skipped "
                "(save the file with one separator and import it again)"
            )
        values = {"first": self.first, "last": self.last, "count": self.count}
        values |= {"found": names[self.found], "header": names[self.delimiter]}
        self.skip(self.first, "wrong_separator", message % values, self.count)
        self.count = 0


def _header_delimiter(fh: TextIO) -> str:
    """The header's most frequent separator: csv.Sniffer misreads a sample cut in a long
    field, and the header is the one line sure to have every separator. Excel's "Unicode
    Text" (UTF-16) is tab-separated, "CSV" comma- or semicolon-separated."""
    header = _QUOTED.sub("", fh.readline())
    fh.seek(0)
    return max(",;\t|", key=header.count)


# A quoted cell running over more lines than this, with the separator on its later lines,
# is a quote left open, not an address or a note: reading it to its end would take in,
# and lose, every row up to the next quote, or csv's field limit (thousands of rows).
# Shorter, its lines are reported as one row (``spans_lines``).
MAX_SPAN = 20


class _Unclosed(Exception):
    pass


class _Lines:
    """The file's lines for csv.reader, numbered, keeping those of the row being read so
    that, if it is a quote left open, the reading can start again on its second line."""

    def __init__(self, fh: TextIO, delimiter: str):
        self.source = iter(fh)
        self.delimiter = delimiter
        self.replay: list[str] = []  # lines read again, last first
        self.row: list[str] = []  # the lines of the row being read
        self.last = 0  # the number of the last line given
        self.first = 1  # the line the row being read starts on
        self.swallowing = False

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.replay.pop() if self.replay else next(self.source)
        self.last += 1
        self.row.append(line)
        self.swallowing = self.swallowing or (len(self.row) > 1 and self.delimiter in line)
        if len(self.row) > MAX_SPAN and self.swallowing:
            raise _Unclosed
        return line

    def reader(self):
        return csv.reader(self, csv.excel, delimiter=self.delimiter)

    def start_row(self) -> None:
        self.row, self.first, self.swallowing = [], self.last + 1, False

    def again(self):
        """A new reader from the line after the row's first (csv's state is lost)."""
        self.replay.extend(reversed(self.row[1:]))
        self.last = self.first
        return self.reader()


def _unreadable(lines: _Lines, error: Exception) -> str:
    if len(lines.row) > 1:
        message = _(
            "a quote opened on this line is never closed (unclosed quote): this line is skipped, "
            "the lines after it are read as rows (close the quote, or remove it, and import it again)"
        )
        return message
    return _("this row cannot be read (%(error)s)") % {"error": error}


def _swallowed_rows(values: list[str], delimiter: str) -> bool:
    """A cell over several lines whose later lines hold the separator: rows a quote left
    open has swallowed. A quoted address or note on two lines, in a column of the library
    system's we do not read, is a cell like any other."""
    return any(delimiter in later for value in values for later in value.splitlines()[1:])


def spans_lines(first: int, last: int) -> str:
    message = _(
        "this row runs from line %(first)s to line %(last)s, most likely a quote left open: "
        "lines %(first)s to %(last)s are skipped (close the quote, or remove it, and import them again)"
    )
    return message % {"first": first, "last": last}


def without_zeros(barcodes: list[str]) -> dict[str, str]:
    """{barcode: the copy's barcode it is without its leading zeros} for the ``barcodes``
    of digits that name no copy while one with zeros before them does. One indexed query."""
    padded = {
        "0" * n + barcode: barcode
        for barcode in barcodes
        if barcode.isdigit() and not barcode.startswith("0")
        for n in range(1, PADDED_AT_MOST - len(barcode) + 1)
    }
    if not padded:
        return {}
    found = Copy.objects.filter(barcode__in=list(padded)).values_list("barcode", flat=True)
    return {padded[barcode]: barcode for barcode in found}


class _CopyImport:
    def __init__(self, targets: Targets, report: CopyImportReport, stdout: TextIO | None, on_merge=None):
        self.targets = targets
        self.report = report
        self.stdout = stdout
        self.seen: set[str] = set()
        self.on_merge = on_merge
        # The copies the batch being written moved to another record: (old, new) record ids.
        self.moves: list[tuple[int, int]] = []
        # As importer._Run: the records the file has listed copies of, and those left
        # without copies, marked merged in their batch, whose requests follow at the end
        # of the file, once no later row lists them again.
        self.listed_records: set[int] = set()
        self.batch_listed: set[int] = set()
        self.merges: dict[int, int] = {}
        self.batch_merges: dict[int, int] = {}

    def problem(self, line: int | None, code: str, message: str, barcode: str = "") -> None:
        problem = Problem(self.report.path, None, None, line, code, message, barcode=barcode)
        self.report.problems.append(problem)
        if self.stdout is not None:
            self.stdout.write(f"{problem}\n")

    def skip(self, line: int | None, code: str, message: str, barcode: str = "") -> None:
        self.report.skipped += 1
        self.problem(line, code, message, barcode)

    # --- reading ----------------------------------------------------------------------

    def unreadable(self, line: int | None, code: str, message: str, rows: int = 1) -> None:
        self.report.rows += rows
        self.report.skipped += rows - 1
        self.skip(line, code, message)

    def rows(self, lines: Iterator[tuple[int, list[str]]]) -> Iterator[_Row]:
        header = next(lines, (1, []))[1]
        columns = self.columns(header)
        if columns is None:
            return
        for line, values in lines:
            self.report.rows += 1
            cells = {name: cell(name, values[i] if i < len(values) else "") for name, i in columns.items()}
            row = self.parse(line, cells)
            if row is not None:
                yield row

    def columns(self, header: list[str]) -> dict[str, int] | None:
        names = {header_name(h): i for i, h in enumerate(header)}
        columns = {}
        for column, aliases in COLUMNS.items():
            for alias in aliases:
                if alias in names:
                    columns[column] = names[alias]
                    break
        if "barcode" not in columns:
            message = _("the header must name a barcode column (found: %(found)s)")
            self.problem(1, "bad_header", message % {"found": ", ".join(header) or "—"})
            self.report.fatal = True
            return None
        return columns

    def parse(self, line: int, cells: dict[str, str]) -> _Row | None:
        barcode = cells.get("barcode", "").replace(" ", "")
        if not barcode:
            self.skip(line, "no_barcode", _("no barcode"))
            return None
        if AS_A_NUMBER.fullmatch(barcode):
            message = _(
                "the barcode %(barcode)s is written as a spreadsheet writes a number (3.70001E+12, "
                "123.0), its digits maybe lost: the line is skipped, no copy made or changed"
            )
            self.skip(line, "barcode_as_number", message % {"barcode": barcode}, barcode)
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
        if not record_key and not isbn and {"record", "isbn"} & cells.keys():
            self.skip(line, "no_record", _("neither a record key nor a valid ISBN"), barcode)
            return None
        place = self.place(line, barcode, cells)
        if place is None:
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
        return make_row(line, barcode, (record_key, isbn), cells, place, status, doc_type)

    def place(self, line: int, barcode: str, cells: dict[str, str]) -> dict | None:
        """The row's branch_id, department_id and location_id, as far as its columns give
        them (None: reported and skipped). Without a branch column the branch is the
        copy's (``default_branch`` for a new one): known, as the place within it, when
        the batch is written. Without department and location columns, the copy keeps
        its place unless it changes branch."""
        if "branch" not in cells:
            return {}
        branch_code = cells["branch"]
        branch_id = self.targets.branch_for([branch_code] if branch_code else [])
        if branch_id is None:
            self.skip(line, *no_branch(branch_code), barcode)
            return None
        if not PLACE_COLUMNS & cells.keys():
            return {"branch_id": branch_id}
        found = self.locate(branch_id, cells)
        if isinstance(found, tuple):
            self.skip(line, *found, barcode)
            return None
        return {"branch_id": branch_id, **found}

    def locate(self, branch_id: int, cells: dict[str, str]) -> dict | tuple[str, str]:
        """department_id and location_id for a row's codes in a branch, or (code,
        message) when they name none there. The department first, then the location
        within it: location codes repeat across the departments of a branch ("bd" for
        youth and for adults)."""
        placement = self.targets.locate(
            branch_id, location=cells.get("location", ""), department=cells.get("department", "")
        )
        if placement.problem == "no_department":
            return "no_department", _("no department %(code)s in this branch") % {"code": cells["department"]}
        if placement.problem == "no_location":
            message = _("no location %(code)s in this branch and department")
            return "no_location", message % {"code": cells["location"]}
        if placement.problem == "ambiguous_location":
            message = _(
                "location %(code)s is in several departments of this branch (%(departments)s): "
                "give the department"
            )
            return "ambiguous_location", message % {
                "code": cells["location"],
                "departments": ", ".join(placement.departments),
            }
        return {"department_id": placement.department_id, "location_id": placement.location_id}

    # --- writing ----------------------------------------------------------------------

    def write(self, batch: list[_Row]) -> None:
        """Write a batch in one transaction. Refused for a reason that says nothing of its
        rows (``importer.transient``: a deadlock, a copy someone holds now, a copy created
        meanwhile by another import), it is written again a moment later. If the database
        refuses it still (a value it will not store), each row is written in its own
        transaction and the one refused is reported: one bad row never ends the import."""
        for attempt in range(WRITE_ATTEMPTS):
            self.moves, self.batch_listed, self.batch_merges = [], set(), {}
            try:
                with transaction.atomic():
                    # Never waiting for a copy while the records are held, not even at
                    # the last attempt (a circle with a picker).
                    created, updated, problems = self.write_batch(batch, wait=False)
                break
            except DatabaseError as error:
                if transient(error) and attempt < WRITE_ATTEMPTS - 1:
                    time.sleep(min(RETRY_PAUSE * 2**attempt, RETRY_PAUSE_AT_MOST))
                    continue
                if len(batch) > 1:
                    for row in batch:
                        self.write([row])
                else:
                    self.skip(batch[0].line, "database_error", database_refused(error), batch[0].barcode)
                return
        skipped = 0
        for line, code, message, barcode in problems:
            skipped += code in SKIPPED_WHEN_WRITTEN
            (self.skip if code in SKIPPED_WHEN_WRITTEN else self.problem)(line, code, message, barcode)
        self.report.created += created
        self.report.updated += updated
        self.listed_records |= self.batch_listed
        for old in self.batch_listed:
            self.merges.pop(old, None)  # listed again: unmarked by mark_merged
        self.merges.update(self.batch_merges)
        self.report.unchanged += len(batch) - created - updated - skipped

    def write_batch(self, batch: list[_Row], *, wait: bool = False) -> tuple[int, int, list[tuple]]:
        """(created, updated, problems to report once the batch is committed)."""
        # The records first, then the copies (importer.lock_for_writing: see there).
        isbns = [r.isbn for r in batch if not r.record_key and r.isbn]
        lock_for_writing(
            barcodes=[r.barcode for r in batch],
            record_keys=[r.record_key for r in batch if r.record_key],
            record_ids=Record.objects.filter(isbn__in=isbns).values_list("pk", flat=True) if isbns else (),
            wait=wait,
        )
        existing = {
            c.barcode: c
            for c in Copy.objects.filter(barcode__in=[r.barcode for r in batch]).only(
                "pk", "barcode", "updated_at", *UPDATED_FIELDS
            )
        }
        records = self.records(batch, existing)
        lent = lent_copies(existing.values())
        zeros = without_zeros([r.barcode for r in batch if r.barcode not in existing])
        new, changed, problems = [], [], []
        for row in batch:
            copy = existing.get(row.barcode)
            if copy is None and row.barcode in zeros:
                problems.append((row.line, "barcode_mangled", self.mangled(row, zeros), row.barcode))
                continue
            if not row.record_key and not row.isbn:  # a file that only updates copies
                if copy is None:
                    problems.append((row.line, "unknown_barcode", self.unknown(row), row.barcode))
                    continue
                record = records[f"id:{copy.record_id}"]
            else:
                record = records.get(row.record_key) if row.record_key else records.get(f"isbn:{row.isbn}")
            if not isinstance(record, tuple):
                problems.append((row.line, "no_record", record or self.no_record(row), row.barcode))
                continue
            values = self.copy_values(row, record, copy)
            if isinstance(values, tuple):
                problems.append((row.line, *values, row.barcode))
                continue
            if copy is None:
                codes = merged_codes({}, row.codes)
                new.append(
                    Copy(
                        barcode=row.barcode,
                        status=row.status or CopyStatus.ON_SHELF,
                        **values,
                        source_codes=codes,
                    )
                )
                continue
            # Set aside, on the hold shelf, in a transit of ours or lent at our door: ours
            # until back (a transit a file reported is the source's: importer.SOURCE_TRANSIT).
            held = held_here(copy, lent)
            problems += self.apply_status(row, copy, values, held=held)
            # Nor is it moved to another record or place (a patron asked for this one, here).
            if held and keep_placement(copy, values):
                problems.append((row.line, "placement_kept", self.placement_kept(copy), row.barcode))
            if held and values.get("call_number") == "" and copy.call_number:
                # An empty cell would leave the picker, or the hold shelf, without it.
                values |= {"call_number": copy.call_number, "call_number_key": copy.call_number_key}
            if delta := changes(copy, values):
                changed.append((row, copy, delta))
        Copy.objects.bulk_create(new)
        self.stamp_new_transits(new)
        problems += self.update(changed)
        # Records left without copies (importer.mark_merged): their requests follow them,
        # at the end of the file (follow_merges).
        self.batch_listed = {c.record_id for c in new}
        self.batch_merges = mark_merged(self.moves, listed=self.batch_listed, present=self.listed_records)
        return len(new), len(changed), problems

    def follow_merges(self) -> None:
        """The end of the file: the records still marked merged are counted, and their
        requests follow their copies (``on_merge``)."""
        merged = still_merged(self.merges)
        for old, new in sorted(self.merges.items()):
            if old in merged:
                self.report.records_merged += 1
                if self.on_merge is not None:
                    follow_merged(self.on_merge, {old: new})
        self.merges = {}

    def stamp_new_transits(self, new: list[Copy]) -> None:
        """A new copy the file says is in transit: the source's transit (SOURCE_TRANSIT)."""
        now = timezone.now()
        for copy in new:
            if copy.status == CopyStatus.IN_TRANSIT:
                codes = {**copy.source_codes, SOURCE_TRANSIT: transit_stamp(now)}
                Copy.objects.filter(barcode=copy.barcode).update(source_codes=codes, updated_at=now)

    def copy_values(self, row: _Row, record: tuple[int, str], copy: Copy | None) -> dict | tuple[str, str]:
        """The Copy fields to write for a row, or (code, message) when its place is not
        in the branch the copy is (will be) in."""
        values = {**row.values, "record_id": record[0]}
        if row.record_type or (copy is None and "doc_type" not in values):
            values["doc_type"] = record[1]
        if "branch_id" in values:
            moved = copy is not None and copy.branch_id != values["branch_id"]
            if moved and "location_id" not in values:  # its place was in the other branch
                values |= {"department_id": None, "location_id": None}
            return values
        branch_id = copy.branch_id if copy else self.targets.branch_for([])
        if branch_id is None:
            return no_branch("")
        values["branch_id"] = branch_id
        if not row.place_codes:
            return values
        found = self.locate(branch_id, row.place_codes)
        return found if isinstance(found, tuple) else values | found

    def apply_status(self, row: _Row, copy: Copy, values: dict, *, held: bool) -> list[tuple]:
        """Put in ``values`` the row's status, if it applies, and the source codes;
        return the problems to report."""
        codes = row.codes
        news = row.status != copy.source_codes.get("status")
        if not held and withdrawn_as_absent(copy) and row.status:
            # Withdrawn by a MARC import because its export left it out: listed again, with
            # the status it had then unless the file's is news (importer.restored_status).
            values["status"] = restored_status(copy, row.status, news=news)
            values["source_codes"] = merged_codes(copy.source_codes, codes, drop=(ABSENT, ABSENT_STATUS))
            return []
        problems = []
        # News from the source only: otherwise our picker's "missing" would be undone
        # by every nightly file that still says "on_shelf".
        if row.status and row.status != copy.status and news:
            if not held:
                values["status"] = row.status
            else:
                problems.append((row.line, "status_kept", self.kept(copy, row.status), row.barcode))
                # Not noted as the copy's: the first file after it is back applies it.
                codes = {k: v for k, v in codes.items() if k != "status"}
        values["source_codes"] = merged_codes(copy.source_codes, codes)
        return problems

    def update(self, changed: list[tuple[_Row, Copy, dict]]) -> list[tuple]:
        now = timezone.now()
        problems = []
        for row, copy, delta in changed:
            if not update_unheld_copy(copy.pk, delta, now, transit_read_at=transit_read_at(copy, delta, now)):
                message = _("not updated: the copy was just promised to a request")
                problems.append((row.line, "status_kept", message, row.barcode))
            elif "record_id" in delta:
                self.moves.append((copy.record_id, delta["record_id"]))
        return problems

    def records(self, batch: list[_Row], existing: dict[str, Copy]) -> dict[str, tuple[int, str] | str]:
        """Records by key ("isbn:…" for ISBNs, "id:…" for the copies a row without either
        updates): (pk, doc_type), or a message when ambiguous."""
        keys = [r.record_key for r in batch if r.record_key]
        found: dict[str, tuple[int, str] | str] = {
            key: (pk, doc_type)
            for key, pk, doc_type in Record.objects.filter(source_key__in=keys).values_list(
                "source_key", "pk", "doc_type"
            )
        }
        own = [
            existing[r.barcode].record_id
            for r in batch
            if not r.record_key and not r.isbn and r.barcode in existing
        ]
        for pk, doc_type in Record.objects.filter(pk__in=own).values_list("pk", "doc_type"):
            found[f"id:{pk}"] = (pk, doc_type)
        isbns = [r.isbn for r in batch if not r.record_key and r.isbn]
        for isbn, pk, doc_type in Record.objects.filter(isbn__in=isbns).values_list("isbn", "pk", "doc_type"):
            key = f"isbn:{isbn}"
            if key in found:
                found[key] = _("several records have the ISBN %(isbn)s: give the record key") % {"isbn": isbn}
            else:
                found[key] = (pk, doc_type)
        return found

    def mangled(self, row: _Row, zeros: dict[str, str]) -> str:
        message = _(
            "the barcode %(barcode)s is copy %(copy)s's without its leading zeros (a spreadsheet read it "
            "as a number?): the line is skipped, no second copy made"
        )
        return message % {"barcode": row.barcode, "copy": zeros[row.barcode]}

    def unknown(self, row: _Row) -> str:
        message = _(
            "no copy with the barcode %(barcode)s: a file without a record or isbn column only updates copies"
        )
        return message % {"barcode": row.barcode}

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


# Looked up as they are: no character one cannot see or type.
KEY_COLUMNS = frozenset(("barcode", "record", "isbn"))


def cell(column: str, value: str) -> str:
    return visible(clean(value), keep="" if column in KEY_COLUMNS else JOINERS)


def make_row(
    line: int, barcode: str, record: tuple[str, str], cells: dict, place: dict, status: str, doc_type: str
) -> _Row:
    """A checked row: only the columns the file has are in its values and codes (a
    column it lacks leaves the copy's value alone)."""
    values = {**place, "doc_type": doc_type} if doc_type else dict(place)
    if "call_number" in cells:
        call_number = cells["call_number"]
        values |= {"call_number": call_number, "call_number_key": sort_key(call_number)[:400]}
    codes = {k: cells[k] for k in CODE_COLUMNS if k in cells}
    if "status" in cells:
        codes["status"] = status
    place_codes = {} if "branch" in cells else {k: cells[k] for k in PLACE_COLUMNS if k in cells}
    record_type = "doc_type" in cells and not doc_type
    return _Row(line, barcode, *record, values, status, record_type, codes, place_codes)


def no_branch(code: str) -> tuple[str, str]:
    message = _("no branch for code %(code)s (use a code map or a default branch)")
    return "no_branch", message % {"code": code or "—"}


def merged_codes(previous: dict, codes: dict, drop: tuple[str, ...] = ()) -> dict:
    """A copy's source codes with those of the file's columns: an empty cell removes its
    code, a column the file lacks leaves the copy's (from an earlier file, or a MARC
    import) alone."""
    merged = {k: v for k, v in previous.items() if k not in drop} | {"csv": True}
    for name, value in codes.items():
        if value:
            merged[name] = value
        else:
            merged.pop(name, None)
    return merged


def database_refused(error: Exception) -> str:
    reason = str(error).strip().splitlines()[:1]
    return _("not imported: the database refused it (%(error)s)") % {"error": "".join(reason)}


def too_long(column: str, value: str, limit: int) -> str:
    message = _("%(column)s is too long: %(length)s characters, at most %(limit)s")
    return message % {"column": column, "length": len(value), "limit": limit}
