"""Import MARC files into the catalogue: records and their copies, kept in sync by re-import.

The entry point is ``import_marc(paths, *, source, preset, mapping, code_map, …)``; it
returns an ``ImportReport``. Its rules (keys, weeding, merges, what is reported, what a
re-import keeps, batches and concurrency) are in docs/imports.md, "MARC records and
their copies": read them before changing what an import writes.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import itertools
import logging
import sys
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.db import DatabaseError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from tqdm import tqdm

from emporter.catalogue.callnumber import sort_key
from emporter.catalogue.item_mappings import (
    PRESETS,
    STATUS_SUBFIELDS,
    CodeMap,
    ItemData,
    ItemMapping,
    detect_preset,
    load_code_map,
    read_items,
    record_number_without_items,
)
from emporter.catalogue.marc import ENCODINGS, MarcEntry, read_marc, unknown_encoding
from emporter.catalogue.marcdata import RecordData, clean_barcode, extract, record_id
from emporter.catalogue.models import ABSENT, Copy, CopyStatus, Record
from emporter.network.models import Branch, Department, Location

log = logging.getLogger(__name__)

RECORD_FIELDS = [f for f in RecordData.__dataclass_fields__ if f != "doc_type_is_default"]
COPY_FIELDS = [
    "record_id", "call_number", "call_number_key", "branch_id", "department_id", "location_id",
    "doc_type", "source_codes", "source_item",
]  # fmt: skip
# Statuses that requests own: no import overwrites them (here and in csv_import).
REQUEST_STATUSES = {CopyStatus.SET_ASIDE, CopyStatus.HOLD_SHELF}
# A MARC export says every item's status (on the shelf unless flagged): it may move a
# copy between these only. In transit, set aside, on the hold shelf are ours.
SOURCE_STATUSES = {CopyStatus.ON_SHELF, CopyStatus.ON_LOAN, CopyStatus.MISSING, CopyStatus.WITHDRAWN}
# What withdraw_missing may withdraw: the statuses the source sets, but withdrawn.
WITHDRAWABLE = SOURCE_STATUSES - {CopyStatus.WITHDRAWN}
# The largest share of a source's copies withdraw_missing withdraws in one run.
WITHDRAW_AT_MOST = 0.1
# (ABSENT, catalogue.models: the mark of a copy withdraw_missing withdrew; a librarian's
# withdrawal has none.) Beside it, the status the copy had then: listed again with the
# same status codes, it gets that status back (a picker's "missing", a source's "on loan").
ABSENT_STATUS = "absent_status"
# The mark of a transit the source reported (a copies CSV's "in_transit": a transfer
# between the library system's branches): the time the import wrote it, which is then
# the copy's ``updated_at``. Any other write (a request, a scan at our door) changes that
# time: the transit is then ours, and kept. Without it, a transit the source reported was
# taken for ours, and no later file could end it.
SOURCE_TRANSIT = "transit_at"
# How many records or copies of a file tell whose catalogue it is, before anything is
# written (refuse_other_source).
SAMPLE = 1000
# Reading stopped there: the rest of the file is unknown.
CUT_SHORT = frozenset(("truncated", "xml"))
# Where a copy is: a held copy keeps these (docs/imports.md).
PLACEMENT_FIELDS = ("record_id", "branch_id", "department_id", "location_id")
# The source codes only a copies CSV writes (catalogue.csv_import): a MARC import keeps them.
CSV_ONLY_CODES = ("csv", "status", "branch", "doc_type", SOURCE_TRANSIT)
# A batch the database refused for a reason that says nothing of its data (a deadlock, a
# row another transaction holds now, the same key inserted meanwhile by another import)
# is written again, this many times at most, waiting longer each time (seconds); then
# record by record, and a record still refused is reported (``database_error``).
WRITE_ATTEMPTS = 8
RETRY_PAUSE = 0.05
RETRY_PAUSE_AT_MOST = 2.0
# PostgreSQL's codes for those refusals: deadlock, serialization, lock not available
# (NOWAIT), unique violation.
TRANSIENT_SQLSTATES = frozenset(("40P01", "40001", "55P03", "23505"))
SOURCE_KEY_LENGTH = Record._meta.get_field("source_key").max_length
BARCODE_LENGTH = Copy._meta.get_field("barcode").max_length
SOURCE_ITEM_LENGTH = Copy._meta.get_field("source_item").max_length
CALL_NUMBER_LENGTH = Copy._meta.get_field("call_number").max_length


@dataclass(frozen=True)
class Problem:
    file: str
    record: int | None
    offset: int | None
    line: int | None
    # Stable codes. Files and records: unreadable, empty (no MARC record found),
    # truncated, bad_length, bad_leader, bad_directory, bad_structure, encoding, xml,
    # no_identifier, no_title, duplicate_record, other_source. Said of a record imported
    # all the same: no_terminator, bad_directory (fields recovered), bad_character
    # (characters XML forbids, removed; a MARC-8 character cut short), bad_indicators,
    # pymarc (anything else pymarc said of it). Items and CSV rows:
    # no_barcode, bad_barcode, duplicate_barcode, no_branch, status_kept, placement_kept,
    # ambiguous_location, copy_moved (from another source's record), call_number_cut
    # (MARC: imported, cut to its column), database_error (a record or row the database
    # refused, skipped); CSV only:
    # bad_header, no_record, no_department, no_location, bad_doc_type, bad_status.
    code: str
    message: str
    barcode: str = ""
    call_number: str = ""

    @property
    def where(self) -> str:
        """ "file, record 3, byte 1234" or "file, line 7": where to look."""
        where = [self.file]
        if self.record is not None:
            where.append(_("record %(index)s") % {"index": self.record})
        if self.offset is not None:
            where.append(_("byte %(offset)s") % {"offset": self.offset})
        if self.line is not None:
            where.append(_("line %(line)s") % {"line": self.line})
        return ", ".join(where)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class FileReport:
    path: str
    source: str
    preset: str = ""
    records_created: int = 0
    records_updated: int = 0
    records_unchanged: int = 0
    records_skipped: int = 0
    copies_created: int = 0
    copies_updated: int = 0
    copies_unchanged: int = 0
    copies_skipped: int = 0
    copies_without_barcode: int = 0
    # Copies withdraw_missing had withdrawn, listed again (so back on the shelf).
    copies_restored: int = 0
    # Records left without copies, which went to another record (merged or renumbered in
    # the library system): their requests follow them (mark_merged).
    records_merged: int = 0
    # Records the source marks deleted (leader/05 "d"): not imported; the copies they had
    # here withdrawn (``withdraw_deleted``).
    records_deleted: int = 0
    copies_withdrawn_deleted: int = 0
    # The file's barcodes, and how many of them were on records of other sources
    # ({source: count}): a dated export re-imported under a new source name.
    barcodes: int = 0
    other_sources: Counter = field(default_factory=Counter)
    other_source_warning: str = ""
    # The file could not be read at all, or was refused (another source's export).
    fatal: bool = False
    # Reading stopped before the end of the file (truncated, XML not well-formed).
    cut_short: bool = False

    @property
    def records_imported(self) -> int:
        return self.records_created + self.records_updated + self.records_unchanged

    @property
    def failed(self) -> bool:
        """Not read (missing, refused), not read to its end, or no record imported from
        it: what makes ``import_marc`` exit with an error. Records or items skipped in a
        file read whole are reported, not a failure."""
        return self.fatal or self.cut_short or not (self.records_imported or self.records_deleted)

    @property
    def copies_imported(self) -> int:
        return self.copies_created + self.copies_updated + self.copies_unchanged


def _total(counter: str) -> property:
    return property(lambda report: sum(getattr(f, counter) for f in report.files))


@dataclass
class WithdrawalReport:
    """What ``withdraw_missing`` did for one source: how many copies it withdrew, or why
    it withdrew none."""

    source: str
    withdrawn: int = 0
    refused: str = ""


@dataclass
class ImportReport:
    files: list[FileReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    withdrawals: list[WithdrawalReport] = field(default_factory=list)

    # Totals over the files.
    records_created = _total("records_created")
    records_updated = _total("records_updated")
    records_unchanged = _total("records_unchanged")
    records_skipped = _total("records_skipped")
    records_imported = _total("records_imported")
    copies_created = _total("copies_created")
    copies_updated = _total("copies_updated")
    copies_unchanged = _total("copies_unchanged")
    copies_skipped = _total("copies_skipped")
    copies_without_barcode = _total("copies_without_barcode")
    copies_restored = _total("copies_restored")
    records_merged = _total("records_merged")
    records_deleted = _total("records_deleted")
    copies_withdrawn_deleted = _total("copies_withdrawn_deleted")
    copies_imported = _total("copies_imported")

    @property
    def failed(self) -> list[FileReport]:
        """The files nothing or not all could be read from (``FileReport.failed``)."""
        return [f for f in self.files if f.failed]

    def summary_lines(self) -> list[str]:
        lines = [_format_counts(f, f.path) for f in self.files]
        if len(self.files) > 1:
            lines.append(_format_counts(self, _("Total")))
        missing = self.copies_without_barcode
        if missing:
            lines.append(
                _("%(count)s items without barcode were skipped (see the problems listed).")
                % {"count": missing}
            )
        if self.copies_restored:
            message = _(
                "%(count)s copies withdrawn because an export had left them out are listed again: "
                "their withdrawal is undone."
            )
            lines.append(message % {"count": self.copies_restored})
        if self.records_merged:
            lines.append(merged_line(self.records_merged))
        if self.records_deleted:
            message = _(
                "%(records)s records marked deleted at the source were not imported; %(copies)s of "
                "their copies here were withdrawn."
            )
            lines.append(message % {"records": self.records_deleted, "copies": self.copies_withdrawn_deleted})
        lines.extend(f.other_source_warning for f in self.files if f.other_source_warning)
        for withdrawal in self.withdrawals:
            lines.append(
                withdrawal.refused
                or _("%(source)s: %(count)s copies no longer in the export withdrawn.")
                % {"source": withdrawal.source, "count": withdrawal.withdrawn}
            )
        return lines


def merged_line(count: int) -> str:
    """The summary's line on the records a re-import left without copies (mark_merged)."""
    return ngettext(
        "%(count)s record has no copy left: its copies are on another record now (merged or "
        "renumbered in the library system); its requests follow them.",
        "%(count)s records have no copy left: their copies are on other records now (merged or "
        "renumbered in the library system); their requests follow them.",
        count,
    ) % {"count": count}


def not_imported(paths: list[str]) -> str:
    """What the import commands say last, with an error status, when files failed."""
    return _("Files not imported, or not whole: %(files)s (see above).") % {"files": ", ".join(paths)}


def _format_counts(counts, label: str) -> str:
    return _(
        "%(label)s: records %(rc)s created, %(ru)s updated, %(rn)s unchanged, %(rs)s skipped; "
        "copies %(cc)s created, %(cu)s updated, %(cn)s unchanged, %(cs)s skipped."
    ) % {
        "label": label,
        "rc": counts.records_created,
        "ru": counts.records_updated,
        "rn": counts.records_unchanged,
        "rs": counts.records_skipped,
        "cc": counts.copies_created,
        "cu": counts.copies_updated,
        "cn": counts.copies_unchanged,
        "cs": counts.copies_skipped,
    }


# --- the service -----------------------------------------------------------------


def import_marc(
    paths: Iterable[str | Path] | str | Path,
    *,
    source: str | None = None,
    preset: str | None = None,
    mapping: ItemMapping | None = None,
    code_map: CodeMap | Mapping | str | Path | None = None,
    default_branch: str | None = None,
    encoding: str | None = None,
    withdraw_missing: bool = False,
    take_over: bool = False,
    batch_size: int = 500,
    progress: bool | None = None,
    stdout: TextIO | None = None,
    on_merge: Callable[[dict[int, int]], object] | None = None,
) -> ImportReport:
    if mapping is None and preset is not None:
        if preset not in PRESETS:
            raise ValueError(_("Unknown preset %(name)s.") % {"name": preset})
        mapping = PRESETS[preset]
    if encoding is not None and encoding not in ENCODINGS:
        raise ValueError(unknown_encoding(encoding))
    if isinstance(paths, str | Path):
        paths = [paths]
    targets = Targets.load(load_code_map(code_map), default_branch)
    run = _Run(targets=targets, stdout=stdout, batch_size=batch_size, encoding=encoding, on_merge=on_merge)
    for path in paths:
        path = Path(path)
        name = (source or path.stem).strip()
        run.import_file(path, source=name, mapping=mapping, progress=progress, take_over=take_over)
    run.follow_merges()
    if withdraw_missing:
        for name in dict.fromkeys(f.source for f in run.report.files):
            run.withdraw_missing(name)
    return run.report


@dataclass(frozen=True)
class Placement:
    """Where ``Targets.locate`` puts a copy, or why it cannot say.

    ``problem``: "" (found), ``no_department`` (the department code names none in the
    branch), ``no_location`` (no such location in the department, or in the branch) or
    ``ambiguous_location`` (several departments of the branch have a location of that
    code and none was named: ``departments`` lists their codes)."""

    location_id: int | None = None
    department_id: int | None = None
    problem: str = ""
    departments: tuple[str, ...] = ()


class Targets:
    """Our branches, departments and locations, loaded once, looked up by code."""

    def __init__(self, code_map: CodeMap, default_branch: Branch | None):
        self.code_map = code_map
        self.default_branch = default_branch
        self.branches = {b.code.casefold(): b.pk for b in Branch.objects.all()}
        self.departments = {(d.branch_id, d.code.casefold()): d.pk for d in Department.objects.all()}
        locations = list(Location.objects.select_related("department").order_by("department__code", "pk"))
        # Kept for ``location()``: with a code repeated across departments it holds one of them.
        self.locations = {
            (loc.department.branch_id, loc.code.casefold()): (loc.pk, loc.department_id) for loc in locations
        }
        self.locations_in = {(loc.department_id, loc.code.casefold()): loc.pk for loc in locations}
        self.locations_by_code: dict[tuple[int, str], list[Location]] = {}
        for loc in locations:
            self.locations_by_code.setdefault((loc.department.branch_id, loc.code.casefold()), []).append(loc)

    @classmethod
    def load(cls, code_map: CodeMap, default_branch: str | None) -> Targets:
        branch = None
        if default_branch:
            branch = Branch.objects.filter(code__iexact=default_branch).first()
            if branch is None:
                raise ValueError(_("No branch has the code %(code)s.") % {"code": default_branch})
        targets = cls(code_map, branch)
        unknown = {v for v in code_map.branches.values() if v.casefold() not in targets.branches}
        if unknown:
            raise ValueError(
                _("The code map names branches that do not exist: %(codes)s.")
                % {"codes": ", ".join(sorted(unknown))}
            )
        return targets

    def branch_for(self, codes: Iterable[str]) -> int | None:
        for code in codes:
            ours = self.code_map.branches.get(code.upper(), code).casefold()
            if ours in self.branches:
                return self.branches[ours]
        return self.default_branch.pk if self.default_branch else None

    def location(self, branch_id: int, code: str) -> tuple[int, int] | None:
        """(location_id, department_id) for a source location code, mapped or as is.

        Blind to departments: a code several departments share gives one of them.
        ``locate`` tells them apart."""
        ours = self.code_map.locations.get(code.upper(), code).casefold()
        return self.locations.get((branch_id, ours))

    def department(self, branch_id: int, code: str) -> int | None:
        ours = self.code_map.departments.get(code.upper(), code).casefold()
        return self.departments.get((branch_id, ours))

    def place(self, branch_id: int, location_code: str) -> tuple[int | None, int | None]:
        """(location_id, department_id) for an item's location code in a branch
        (department-blind, like ``location``; the MARC import uses ``locate``)."""
        if not location_code:
            return None, None
        found = self.location(branch_id, location_code)
        if found:
            return found
        return None, self.department(branch_id, location_code)

    def locate(self, branch_id: int, *, location: str = "", department: str = "") -> Placement:
        """Department first, then the location within it.

        The department is ``department`` (a source code, through the code map's
        ``departments``) or, when none is given, the code map's department for the
        location code. Without either, the location code is looked up in the whole
        branch, and refused as ambiguous when several departments have it."""
        department_id = None
        if department:
            department_id = self.department(branch_id, department)
            if department_id is None:
                return Placement(problem="no_department")
        elif location and location.upper() in self.code_map.departments:
            department_id = self.department(branch_id, location)
        if not location:
            return Placement(None, department_id)
        ours = self.code_map.locations.get(location.upper(), location).casefold()
        if department_id is not None:
            location_id = self.locations_in.get((department_id, ours))
            return Placement(location_id, department_id, "" if location_id else "no_location")
        found = self.locations_by_code.get((branch_id, ours), [])
        if len(found) == 1:
            return Placement(found[0].pk, found[0].department_id)
        if found:
            return Placement(
                problem="ambiguous_location", departments=tuple(f.department.code for f in found)
            )
        return Placement(problem="no_location")


@dataclass
class _PendingRecord:
    key: str
    data: RecordData
    copies: list[dict]  # Copy fields, and "status": the item's, or "" to keep the copy's
    entry: MarcEntry  # where the record is, to report its copies' problems (without the record)
    listed: list[str] = field(default_factory=list)  # the barcodes of its items (refuse_other_source)


@dataclass
class _Run:
    targets: Targets
    stdout: TextIO | None
    batch_size: int
    encoding: str | None = None
    report: ImportReport = field(default_factory=ImportReport)
    seen_keys: set[str] = field(default_factory=set)
    seen_barcodes: set[str] = field(default_factory=set)
    # Every barcode the files list, imported or not (withdraw_missing).
    listed_barcodes: set[str] = field(default_factory=set)
    bar: tqdm | None = None
    take_over: bool = False  # the file being imported takes over another source's copies
    # Called in each batch's transaction with the records it left without copies ({old
    # record id: the record they went to}): the requests' side (holds.merges.follow), given
    # by the commands and the imports page. Without it, the scheduler's job moves them.
    on_merge: Callable[[dict[int, int]], object] | None = None
    # The problems of the batch being written, reported once it is committed (a batch
    # written again must not report them twice).
    held_problems: list[Problem] | None = None
    # The copies the batch being written moved to another record: (old, new) record ids.
    moves: list[tuple[int, int]] = field(default_factory=list)
    # Every record this run has listed (with copies or not), and those the batch being
    # written lists: a record the library system still has was not merged away, even if
    # a cataloguer moved its last item to another record ("attach item").
    listed_records: set[int] = field(default_factory=set)
    batch_listed: list[int] = field(default_factory=list)
    # The keys of the records the file being read marks deleted (withdraw_deleted).
    deleted_keys: set[str] = field(default_factory=set)
    # Records left without copies, marked merged in their batch (so that no sweep closes
    # their requests meanwhile), whose requests follow at the end of the run, once it is
    # known the files do not list them further on: {old: (new, the file's counts)}.
    merges: dict[int, tuple[int, FileReport]] = field(default_factory=dict)
    batch_merges: dict[int, int] = field(default_factory=dict)

    def import_file(
        self,
        path: Path,
        *,
        source: str,
        mapping: ItemMapping | None,
        progress: bool | None,
        take_over: bool = False,
    ):
        counts = FileReport(path=str(path), source=source, preset=mapping.name if mapping else "")
        self.take_over = take_over
        self.report.files.append(counts)
        show = sys.stderr.isatty() if progress is None else progress
        try:
            with open(path, "rb"):
                size = path.stat().st_size
        except OSError as exc:
            message = _("cannot read the file: %(error)s") % {"error": exc.strerror}
            counts.fatal = True
            self.problem(counts, None, "unreadable", message)
            return
        with tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=not show) as self.bar:
            records = self.read_file(path, counts, source, mapping)
            sample = take_sample(records)
            if not take_over and self.refuse_other_source(sample, counts):
                records.close()
            else:
                every = itertools.chain(sample, records)
                for batch in itertools.batched(every, self.batch_size, strict=False):
                    self.write(list(batch), counts)
                self.withdraw_deleted(counts)
        self.bar = None
        if not take_over:
            self.warn_other_source(counts)

    def read_file(self, path: Path, counts: FileReport, source: str, mapping: ItemMapping | None):
        """The file's records that can be imported, read one by one (problems reported)."""
        entries = 0
        for entry in read_marc(path, on_bytes=self.bar.update, encoding=self.encoding):
            entries += 1
            counts.cut_short |= entry.code in CUT_SHORT
            pending = self.parse(entry, counts, source, mapping)
            if pending is not None:
                yield pending
        if not entries:  # empty, blank, padding only, XML without records: say it
            self.problem(counts, None, "empty", _("no MARC record found in this file"))

    def refuse_other_source(self, sample: list[_PendingRecord], counts: FileReport) -> bool:
        """Refuse the file (and say so) when most barcodes of its first records are on
        records of another source: the same catalogue exported under a new (dated)
        name, which would otherwise be imported a second time and take its copies."""
        # Not only those imported: a copy skipped here (no branch) does not make its record
        # less of a duplicate.
        barcodes = [barcode for p in sample for barcode in p.listed]
        owners = Counter()
        prefix = f"{counts.source}:"
        for start in range(0, len(barcodes), 1000):
            keys = Copy.objects.filter(barcode__in=barcodes[start : start + 1000]).values_list(
                "record__source_key", flat=True
            )
            owners.update(key.split(":", 1)[0] for key in keys if not key.startswith(prefix))
        if not owners or owners.total() * 2 <= len(barcodes):
            return False
        other, count = owners.most_common(1)[0]
        message = _(
            "file not imported: %(count)s of its first %(total)s barcodes are copies of records of "
            "source %(other)s. If it is a new export of that catalogue, import it with --source "
            "%(other)s; if source %(source)s really replaces %(other)s, import it with --take-over "
            "(its copies then move to the records of %(source)s)."
        ) % {
            "count": count,
            "total": len(barcodes),
            "other": other,
            "source": counts.source,
        }
        counts.fatal = True
        counts.other_source_warning = f"{counts.path}: {message}"
        self.problem(counts, None, "other_source", message)
        # Not imported: a later file of this run may hold these records and barcodes.
        self.seen_keys.difference_update(p.key for p in sample)
        self.seen_barcodes.difference_update(c["barcode"] for p in sample for c in p.copies)
        return True

    def withdraw_missing(self, source: str) -> None:
        """A full export is the whole truth about its source: copies of its records that
        it no longer lists were weeded in the library system, and are withdrawn here so
        that nobody requests them. Only when every record of the source's files could be
        read (a skipped record's items are unknown), only copies the source may set
        (never one our requests, transits or loans hold), and never more than
        WITHDRAW_AT_MOST of the source's copies at once (a truncated export, a wrong file):
        then nothing is withdrawn and the report says why."""
        files = [f for f in self.report.files if f.source == source]
        summary = WithdrawalReport(source=source)
        self.report.withdrawals.append(summary)
        if any(f.records_skipped or f.fatal for f in files):
            summary.refused = _("some records of %(source)s could not be read: nothing is withdrawn") % {
                "source": source
            }
            self.problem(files[-1], None, "withdraw_refused", summary.refused)
            return
        copies = Copy.objects.filter(record__source_key__startswith=f"{source[:100]}:")
        withdrawable = copies.filter(status__in=WITHDRAWABLE).exclude(Exists(_open_loan()))
        absent, total = [], 0
        for pk, barcode in withdrawable.values_list("pk", "barcode").iterator(chunk_size=10_000):
            total += 1
            if barcode not in self.listed_barcodes:
                absent.append(pk)
        if absent and len(absent) > WITHDRAW_AT_MOST * max(total, 1):
            summary.refused = _(
                "%(count)s of the %(total)s copies of %(source)s are not in the files any more: more "
                "than %(share)s %%, so nothing is withdrawn (a truncated or wrong export?)"
            ) % {"count": len(absent), "total": total, "source": source, "share": int(WITHDRAW_AT_MOST * 100)}
            self.problem(files[-1], None, "withdraw_refused", summary.refused)
            return
        for start in range(0, len(absent), 1000):
            summary.withdrawn += withdraw_absent(absent[start : start + 1000])

    def warn_other_source(self, counts: FileReport) -> None:
        """Most of the file's known barcodes were on records of another source, though
        its first ones were not (``refuse_other_source``): said after the fact."""
        if not counts.other_sources or counts.other_sources.total() * 2 <= counts.barcodes:
            return
        other, count = counts.other_sources.most_common(1)[0]
        message = _(
            "%(count)s of the %(total)s barcodes of %(path)s were on records of source %(other)s: "
            "they are now on records of source %(source)s, a second copy of those records. If this "
            "file is a new export of the same catalogue, import it again with --source %(other)s "
            "--take-over."
        ) % {
            "count": count,
            "total": counts.barcodes,
            "path": counts.path,
            "other": other,
            "source": counts.source,
        }
        counts.other_source_warning = message
        self.problem(counts, None, "other_source", message)

    def problem(self, counts: FileReport, entry: MarcEntry | None, code: str, message: str, **extra):
        problem = Problem(
            file=counts.path,
            record=entry.index if entry else None,
            offset=entry.offset if entry else None,
            line=entry.line if entry else None,
            code=code,
            message=message,
            **extra,
        )
        if self.held_problems is not None:  # a batch being written: said once it is in
            self.held_problems.append(problem)
            return
        self.say(problem)

    def say(self, problem: Problem) -> None:
        self.report.problems.append(problem)
        if self.stdout is not None:
            if self.bar is not None and not self.bar.disable:
                self.bar.write(str(problem), file=self.stdout)
            else:
                self.stdout.write(f"{problem}\n")

    # --- reading one record ---------------------------------------------------------

    def parse(self, entry: MarcEntry, counts: FileReport, source: str, mapping: ItemMapping | None):
        try:
            return self.parse_record(entry, counts, source, mapping)
        except Exception as exc:  # one odd record, whatever it trips, must not stop the import
            counts.records_skipped += 1
            message = _("broken record structure (%(error)s)") % {"error": repr(exc)}
            self.problem(counts, entry, "bad_structure", message)
            return None

    def parse_record(self, entry: MarcEntry, counts: FileReport, source: str, mapping: ItemMapping | None):
        if entry.record is None:
            counts.records_skipped += 1
            self.problem(counts, entry, entry.code, entry.reason)
            return None
        record = entry.record
        for code, message in entry.notes:  # repaired to be read: said, and imported
            self.problem(counts, entry, code, message)
        if mapping is None:
            mapping = detect_preset(record)
            if mapping is not None and not counts.preset:
                counts.preset = mapping.name
        try:
            items = [_clean_barcode(item) for item in read_items(record, mapping)] if mapping else []
            number = mapping.record_number if mapping else record_number_without_items(record)
            key = _source_key(source, record_id(record, number))
            data = extract(record)
        except Exception as exc:  # a record odd enough to trip the extraction must not stop the import
            counts.records_skipped += 1
            message = _("broken record structure (%(error)s)") % {"error": repr(exc)}
            self.problem(counts, entry, "bad_structure", message)
            return None
        if str(record.leader)[5:6] == "d":
            return self.deleted(key, entry, counts)
        reason = self.refuse(key, data)
        if reason:
            counts.records_skipped += 1
            counts.copies_skipped += len(items)
            self.problem(counts, entry, *reason)
            return None
        self.seen_keys.add(key)
        if data.doc_type_is_default:
            types = {self.targets.code_map.doc_type(item.doc_type) for item in items} - {""}
            if len(types) == 1:
                data.doc_type = types.pop()
        # Its barcodes, imported or not, but those this run took already (skipped here).
        listed = [item.barcode for item in items if item.barcode and item.barcode not in self.seen_barcodes]
        copies = [c for c in (self.copy(item, data, mapping, entry, counts) for item in items) if c]
        return _PendingRecord(key, data, copies, dataclasses.replace(entry, record=None), listed)

    def deleted(self, key: str, entry: MarcEntry, counts: FileReport) -> None:
        """A record the source marks deleted (leader/05 "d": Koha's export of deleted
        records, an incremental export): not imported, and the copies it had here, which
        the source no longer has, are withdrawn once the file is written (a cataloguer's
        move of an item to another record, in the same file, keeps that one)."""
        counts.records_deleted += 1
        if key:
            self.deleted_keys.add(key)
        message = _("record marked deleted at the source (leader/05 d): not imported, its copies withdrawn")
        self.problem(counts, entry, "deleted_at_source", message)

    def withdraw_deleted(self, counts: FileReport) -> None:
        """Withdraw the copies of the records the file marks deleted (``deleted``), as
        ``withdraw_missing`` withdraws those an export leaves out: marked absent, so that
        a later export listing them again brings them back; never one a request, a
        transit or a loan holds. Those a live record of the file lists are kept."""
        # (Not one the file also lists as a live record.)
        keys, self.deleted_keys = self.deleted_keys - self.seen_keys, set()
        if not keys:
            return
        copies = Copy.objects.filter(record__source_key__in=keys, status__in=WITHDRAWABLE)
        listed = self.listed_barcodes
        pks = [pk for pk, barcode in copies.values_list("pk", "barcode") if barcode not in listed]
        for start in range(0, len(pks), 1000):
            counts.copies_withdrawn_deleted += withdraw_absent(pks[start : start + 1000])

    def refuse(self, key: str, data: RecordData) -> tuple[str, str] | None:
        if not key:
            return "no_identifier", _("no control number (001), 035, 002 nor ISBN to identify the record")
        if not data.title:
            return "no_title", _("no title (245 or 200)")
        if key in self.seen_keys:
            return "duplicate_record", _("same identifier as an earlier record (%(key)s)") % {"key": key}
        return None

    def copy(self, item: ItemData, data: RecordData, mapping: ItemMapping, entry, counts) -> dict | None:
        details = {"barcode": item.barcode, "call_number": item.call_number}
        if item.barcode:
            self.listed_barcodes.add(item.barcode)
        if not item.barcode:
            counts.copies_skipped += 1
            counts.copies_without_barcode += 1
            message = _("item without barcode skipped (call number %(call_number)s)")
            self.problem(
                counts, entry, "no_barcode", message % {"call_number": item.call_number or "—"}, **details
            )
            return None
        if any(unicodedata.category(c) == "Cc" for c in item.barcode):
            counts.copies_skipped += 1
            message = _("barcode %(barcode)s has a control character in it (a damaged byte?): item skipped")
            self.problem(counts, entry, "bad_barcode", message % {"barcode": ascii(item.barcode)}, **details)
            return None
        if len(item.barcode) > BARCODE_LENGTH:
            counts.copies_skipped += 1
            message = _("barcode %(barcode)s is too long") % {"barcode": item.barcode}
            self.problem(counts, entry, "bad_barcode", message, **details)
            return None
        if item.barcode in self.seen_barcodes:
            counts.copies_skipped += 1
            message = _("barcode %(barcode)s already imported from an earlier item: this one is skipped")
            self.problem(counts, entry, "duplicate_barcode", message % {"barcode": item.barcode}, **details)
            return None
        branch_id = self.targets.branch_for(item.branch_codes)
        if branch_id is None:
            counts.copies_skipped += 1
            message = _(
                "item %(barcode)s skipped: no branch for code %(codes)s (use a code map or a default branch)"
            )
            codes = ", ".join(item.branch_codes) or "—"
            self.problem(
                counts, entry, "no_branch", message % {"barcode": item.barcode, "codes": codes}, **details
            )
            return None
        self.seen_barcodes.add(item.barcode)
        location_id, department_id = self.place(branch_id, item, entry, counts)
        if len(item.call_number) > CALL_NUMBER_LENGTH:
            message = _("call number of %(barcode)s cut to its first %(n)s characters")
            details = {"barcode": item.barcode, "n": CALL_NUMBER_LENGTH}
            self.problem(counts, entry, "call_number_cut", message % details, barcode=item.barcode)
        return {
            "barcode": item.barcode,
            "source_item": _source_item(counts.source, item.item_id),
            "call_number": item.call_number[:CALL_NUMBER_LENGTH],
            "call_number_key": sort_key(item.call_number)[:400],
            "branch_id": branch_id,
            "department_id": department_id,
            "location_id": location_id,
            "doc_type": self.targets.code_map.doc_type(item.doc_type) or data.doc_type,
            "source_codes": item.source_codes(mapping.tag),
            "status": item.status,
        }

    def place(self, branch_id: int, item: ItemData, entry, counts) -> tuple[int | None, int | None]:
        """(location_id, department_id) of an item (docs/imports.md)."""
        placement = self.targets.locate(branch_id, location=item.location, department=item.department)
        if placement.problem == "no_department":  # not one of ours: the location code alone may tell
            placement = self.targets.locate(branch_id, location=item.location)
        if placement.problem == "ambiguous_location":
            message = _(
                "copy %(barcode)s has no location: %(code)s is a location of several departments of "
                "its branch (%(departments)s); map the code to one of them in the code map"
            ) % {
                "barcode": item.barcode,
                "code": item.location,
                "departments": ", ".join(placement.departments),
            }
            details = {"barcode": item.barcode, "call_number": item.call_number}
            self.problem(counts, entry, "ambiguous_location", message, **details)
            return None, None
        if placement.problem == "no_location" and placement.department_id is None:
            return None, self.targets.department(branch_id, item.location) if item.location else None
        return placement.location_id, placement.department_id

    # --- writing a batch --------------------------------------------------------------

    def write(self, batch: list[_PendingRecord], counts: FileReport) -> None:
        """Write a batch in one transaction (see "Concurrency" in docs/imports.md).
        Refused for a reason that says nothing of its data (``transient``: a deadlock, a
        copy someone holds now, a key another import inserted meanwhile), it is written
        again, a little later; refused still, record by record, and a record the database
        refuses then is reported (``database_error``) and skipped: the import goes on."""
        error: DatabaseError | None = None
        for attempt in range(WRITE_ATTEMPTS):
            saved = dataclasses.replace(counts, other_sources=Counter(counts.other_sources))
            self.held_problems, self.moves = [], []
            self.batch_listed, self.batch_merges = [], {}
            try:
                with transaction.atomic():
                    # Never waiting for a copy while the records are held, not even at
                    # the last attempt (a circle with a picker); then record by record.
                    self.write_batch(batch, counts, wait=False)
            except DatabaseError as refused:
                restore_counts(counts, saved)
                self.held_problems, error = None, refused
                if not transient(refused):
                    break
                if attempt < WRITE_ATTEMPTS - 1:
                    time.sleep(min(RETRY_PAUSE * 2**attempt, RETRY_PAUSE_AT_MOST))
                continue
            except BaseException:
                self.held_problems = None  # what else stops the import is not the batch's to hold
                raise
            held, self.held_problems = self.held_problems, None
            for problem in held:
                self.say(problem)
            self.listed_records.update(self.batch_listed)
            for old in self.batch_listed:
                self.merges.pop(old, None)  # listed after all: unmarked by mark_merged
            self.merges.update((old, (new, counts)) for old, new in self.batch_merges.items())
            return
        if len(batch) > 1:
            for pending in batch:
                self.write([pending], counts)
            return
        self.refused(batch[0], counts, error)

    def write_batch(self, batch: list[_PendingRecord], counts: FileReport, *, wait: bool) -> None:
        lock_for_writing(
            record_keys=[p.key for p in batch],
            barcodes=[c["barcode"] for p in batch for c in p.copies],
            source_items=[c["source_item"] for p in batch for c in p.copies if c["source_item"]],
            wait=wait,
        )
        record_ids = self.write_records(batch, counts)
        self.write_copies(batch, record_ids, counts)
        self.batch_listed = [record_ids[p.key] for p in batch]
        self.batch_merges = mark_merged(self.moves, listed=self.batch_listed, present=self.listed_records)

    def follow_merges(self) -> None:
        """The end of the run: the records marked merged that no file listed further on
        are counted, and their requests follow their copies (``on_merge``)."""
        merged = still_merged(self.merges)
        for old, (new, counts) in sorted(self.merges.items()):
            if old in merged:
                self.merged({old: new}, counts)
        self.merges = {}

    def refused(self, pending: _PendingRecord, counts: FileReport, error: DatabaseError | None) -> None:
        counts.records_skipped += 1
        counts.copies_skipped += len(pending.copies)
        reason = "".join(str(error).strip().splitlines()[:1])
        message = _("record not imported: the database refused it (%(error)s)") % {"error": reason}
        self.problem(counts, pending.entry, "database_error", message)

    def write_records(self, batch: list[_PendingRecord], counts: FileReport) -> dict[str, int]:
        existing = Record.objects.filter(source_key__in=[p.key for p in batch]).only(
            "pk", "source_key", *RECORD_FIELDS
        )
        existing = {r.source_key: r for r in existing}
        new, changed = [], []
        for pending in batch:
            values = pending.data.model_fields()
            record = existing.get(pending.key)
            if record is None:
                new.append(Record(source_key=pending.key, **values))
            elif delta := changes(record, values):
                changed.append((record.pk, delta))
        Record.objects.bulk_create(new)
        update_rows(Record, changed)
        counts.records_created += len(new)
        counts.records_updated += len(changed)
        counts.records_unchanged += len(batch) - len(new) - len(changed)
        ids = {r.source_key: r.pk for r in [*existing.values(), *new]}
        if any(pk is None for pk in ids.values()):  # backends that do not return new keys
            ids = dict(Record.objects.filter(source_key__in=list(ids)).values_list("source_key", "pk"))
        return ids

    def write_copies(
        self, batch: list[_PendingRecord], record_ids: dict[str, int], counts: FileReport
    ) -> None:
        wanted = {c["barcode"]: (p, {**c, "record_id": record_ids[p.key]}) for p in batch for c in p.copies}
        existing = {
            c.barcode: c
            for c in Copy.objects.filter(barcode__in=list(wanted))
            .only("pk", "barcode", "status", "updated_at", *COPY_FIELDS)
            .annotate(record_source_key=F("record__source_key"))
        }
        existing |= self.relabelled(wanted, existing)
        counts.barcodes += len(wanted)
        self.count_other_sources(existing.values(), counts)
        lent = lent_copies(existing.values())
        new, changed = [], []
        for barcode, (pending, values) in wanted.items():
            entry = pending.entry
            status = values.pop("status")
            copy = existing.get(barcode)
            if copy is None:
                new.append(Copy(status=status or CopyStatus.ON_SHELF, **values))
                continue
            held = held_here(copy, lent)
            if held and keep_placement(copy, values):
                self.placement_kept(counts, entry, copy)
            if held and not values["call_number"] and copy.call_number:
                # An empty call number would leave the picker, or the hold shelf, without it.
                values |= {"call_number": copy.call_number, "call_number_key": copy.call_number_key}
            # What a copies CSV noted stays (its status above all: without it, the next CSV
            # took its own status for news, and undid a picker's "missing").
            kept = {k: v for k, v in copy.source_codes.items() if k in CSV_ONLY_CODES}
            values["source_codes"] = kept | values["source_codes"]
            self.apply_status(copy, values, status, held=held, entry=entry, counts=counts)
            if delta := changes(copy, values):
                changed.append((entry, copy, delta))
                if "record_id" in delta:
                    self.warn_moved(counts, pending, copy)
        Copy.objects.bulk_create(new)
        lost = self.update_copies(changed, counts)
        counts.copies_created += len(new)
        counts.copies_updated += len(changed) - lost
        counts.copies_skipped += lost
        counts.copies_unchanged += len(wanted) - len(new) - len(changed)

    def relabelled(self, wanted: dict[str, tuple], existing: dict[str, Copy]) -> dict[str, Copy]:
        """The copies the source relabelled (a torn label replaced): {new barcode: copy},
        found by the source's id of the item (``Copy.source_item``) for the barcodes not in
        the catalogue. Not when that id names several copies, nor a copy whose barcode
        this run lists (a label swapped between two items: each is found by its barcode)."""
        keys = {
            values["source_item"]: barcode
            for barcode, (_pending, values) in wanted.items()
            if barcode not in existing and values["source_item"]
        }
        if not keys:
            return {}
        found: dict[str, list[Copy]] = {}
        copies = (
            Copy.objects.filter(source_item__in=list(keys))
            .only("pk", "barcode", "status", "updated_at", *COPY_FIELDS)
            .annotate(record_source_key=F("record__source_key"))
        )
        for copy in copies:
            found.setdefault(copy.source_item, []).append(copy)
        taken = {c.pk for c in existing.values()}
        return {
            keys[key]: same[0]
            for key, same in found.items()
            if len(same) == 1 and same[0].pk not in taken and same[0].barcode not in self.seen_barcodes
        }

    def apply_status(self, copy: Copy, values: dict, status: str, *, held: bool, entry, counts) -> None:
        """Put in ``values`` the status the file gives an existing copy, if any
        (docs/imports.md)."""
        news = status_changed_at_source(values["source_codes"], copy.source_codes)
        if not held and withdrawn_as_absent(copy):
            # Listed again after withdraw_missing withdrew it: the export had left it out.
            values["status"] = restored_status(copy, status, news=news)
            counts.copies_restored += values["status"] != CopyStatus.WITHDRAWN
            return
        if not status or status == copy.status:
            return
        if not news:
            return
        if not held:
            values["status"] = status
            return
        self.status_kept(counts, entry, copy, status)
        # The copy's codes keep the status it has from the source: the next import
        # after the copy is back sees the change and applies it.
        values["source_codes"] = with_status_codes(values["source_codes"], copy.source_codes)

    def merged(self, merged: dict[int, int], counts: FileReport) -> None:
        """Records the run left without copies: counted (not a problem: the copies moved
        within the source, or on a take-over, as asked), and their requests moved
        (``on_merge``). Marked merged since their batch, no sweep closed them meanwhile."""
        counts.records_merged += len(merged)
        if self.on_merge is None:
            return  # the scheduler's job (holds.merges) moves them
        follow_merged(self.on_merge, merged)

    def count_other_sources(self, copies: Iterable[Copy], counts: FileReport) -> None:
        prefix = f"{counts.source}:"
        for copy in copies:
            if not copy.record_source_key.startswith(prefix):
                counts.other_sources[copy.record_source_key.split(":", 1)[0]] += 1

    def warn_moved(self, counts: FileReport, pending: _PendingRecord, copy: Copy) -> None:
        """A barcode goes from another source's record to this one: both catalogues list
        it, and the other one's record loses a copy. Said, unless the run takes over."""
        if self.take_over or copy.record_source_key.startswith(f"{counts.source}:"):
            return
        message = _(
            "copy %(barcode)s moves from record %(old)s of source %(other)s to record %(new)s: both "
            "sources list this barcode"
        ) % {
            "barcode": copy.barcode,
            "old": copy.record_source_key,
            "other": copy.record_source_key.split(":", 1)[0],
            "new": pending.key,
        }
        details = {"barcode": copy.barcode, "call_number": copy.call_number}
        self.problem(counts, pending.entry, "copy_moved", message, **details)

    def placement_kept(self, counts: FileReport, entry: MarcEntry, copy: Copy) -> None:
        message = _(
            "copy %(barcode)s stays on its record and in its place (branch, department, location): "
            "a request or a loan here holds it; the source's changes will apply once it is back"
        )
        details = {"barcode": copy.barcode, "call_number": copy.call_number}
        self.problem(counts, entry, "placement_kept", message % details, **details)

    def status_kept(self, counts: FileReport, entry: MarcEntry, copy: Copy, wanted: str) -> None:
        message = _(
            "copy %(barcode)s keeps its status %(status)s, not %(wanted)s: a request or a loan here holds it"
        )
        labels = {"status": copy.get_status_display(), "wanted": CopyStatus(wanted).label}
        details = {"barcode": copy.barcode, "call_number": copy.call_number}
        self.problem(counts, entry, "status_kept", message % {**details, **labels}, **details)

    def update_copies(self, changed: list[tuple[MarcEntry, Copy, dict]], counts: FileReport) -> int:
        """``update_rows`` for copies, guarded (``update_unheld_copy``); returns how many
        lost their race to a request. Notes the copies moved to another record."""
        now = timezone.now()
        lost = 0
        for entry, copy, delta in changed:
            if not update_unheld_copy(copy.pk, delta, now, transit_read_at=transit_read_at(copy, delta, now)):
                lost += 1
                message = _("copy %(barcode)s not updated: it was just promised to a request")
                details = {"barcode": copy.barcode, "call_number": copy.call_number}
                self.problem(counts, entry, "status_kept", message % details, **details)
            elif "record_id" in delta:
                self.moves.append((copy.record_id, delta["record_id"]))
        return lost


def restore_counts(counts: FileReport, saved: FileReport) -> None:
    """Put back the counts of a file as they were before a batch the database refused."""
    for name in (f.name for f in dataclasses.fields(FileReport)):
        setattr(counts, name, getattr(saved, name))


def follow_merged(on_merge: Callable[[dict[int, int]], object], merged: dict[int, int]) -> None:
    """Call ``on_merge`` in a savepoint of the batch's transaction: should it fail, the
    import goes on, and the scheduler's job (holds.merges) moves the requests."""
    try:
        with transaction.atomic():
            on_merge(merged)
    except Exception:  # noqa: BLE001 - the requests' side must not stop the import
        log.exception("requests of records merged at the source: left to the scheduler's job")


def transient(error: DatabaseError) -> bool:
    """Whether the database refused a write for a reason that says nothing of its data:
    another transaction won a race (see TRANSIENT_SQLSTATES; SQLite: busy). The same
    write may succeed a moment later."""
    cause = error.__cause__
    if getattr(cause, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(error)


def mark_merged(
    moves: list[tuple[int, int]], *, listed: Iterable[int] = (), present: Container[int] = ()
) -> dict[int, int]:
    """After a batch moved copies between records (``moves``: (old, new) record ids): a
    record they left without a copy that could serve a request (none, or only missing or
    withdrawn ones) was merged or renumbered in the library system. It is marked merged
    into the record that took most of its copies (``Record.merged_into``): its requests
    follow them (holds.merges), and the sweep that closes the requests no copy can serve
    leaves them alone. A record that received copies, or that the files list with copies
    (``listed``), is merged into nothing any more; one the run has listed (``present``,
    with copies or not: the library system still has it) is not merged. Returns {old:
    new} for the records marked now. Run in the batch's transaction: the mark is there as
    soon as the move is."""
    received = {new for _old, new in moves} | set(listed)
    if received:
        Record.objects.filter(pk__in=received, merged_into__isnull=False).update(merged_into=None)
    olds = {old for old, _new in moves if old not in present} - received
    if not olds:
        return {}
    serving = Copy.objects.lendable().exclude(status=CopyStatus.MISSING).filter(record_id__in=olds)
    emptied = olds - set(serving.values_list("record_id", flat=True))
    merged = {}
    for old in sorted(emptied):
        took = Counter(new for source, new in moves if source == old)
        merged[old] = min(took, key=lambda record_id: (-took[record_id], record_id))
        Record.objects.filter(pk=old).update(merged_into=merged[old])
    return merged


def still_merged(records: Iterable[int]) -> set[int]:
    """Of ``records``, those still marked merged at the end of an import (not those a
    copy came back to since)."""
    marked = Record.objects.filter(pk__in=list(records), merged_into__isnull=False)
    return set(marked.values_list("pk", flat=True))


def withdraw_absent(pks: list[int]) -> int:
    """Withdraw these copies, marked ``ABSENT`` in their codes (a later export may list
    them again); returns how many were. One UPDATE for them all (the mark joins each
    copy's own codes): a statement per copy would run the records' summary trigger as
    many times, hundreds of thousands on a big weeding."""
    now = timezone.now()
    with transaction.atomic():
        # Their records first, then the copies, as a batch (lock_for_writing): a copy
        # someone is changing now is skipped (a request taking it: not withdrawable any
        # more), never waited for while its record is held. Guarded again: a request may
        # have taken one since it was read; locked, none can change since.
        _lock_records(Q(pk__in=Copy.objects.filter(pk__in=pks).values("record_id")))
        rows = Copy.objects.filter(pk__in=pks, status__in=WITHDRAWABLE).exclude(Exists(_open_loan()))
        copies = list(
            rows.select_for_update(skip_locked=True).order_by("pk").only("pk", "status", "source_codes")
        )
        for copy in copies:
            # The status it had: listed again with the same status codes, it gets it back.
            marks = {ABSENT: True, ABSENT_STATUS: copy.status}
            copy.status, copy.source_codes, copy.updated_at = (
                CopyStatus.WITHDRAWN,
                {**copy.source_codes, **marks},
                now,
            )
        Copy.objects.bulk_update(copies, ["status", "source_codes", "updated_at"])
    return len(copies)


def _loans():
    # The desk's Loan, reached through the relation: the catalogue imports nothing above it.
    return Copy._meta.get_field("loans").related_model.objects


def _open_loan():
    """An open loan of the outer query's copy (for Exists)."""
    return _loans().filter(copy=OuterRef("pk"), returned_at__isnull=True)


def take_sample(records: Iterator[_PendingRecord]) -> list[_PendingRecord]:
    """The first records of a file, up to ``SAMPLE`` of them or of their barcodes."""
    sample, barcodes = [], 0
    while len(sample) < SAMPLE and barcodes < SAMPLE:
        pending = next(records, None)
        if pending is None:
            break
        sample.append(pending)
        barcodes += len(pending.listed)
    return sample


def lent_copies(copies) -> set[int]:
    """The ids of ``copies`` lent at one of our doors: the source cannot know they are out."""
    rows = _loans().filter(copy__in=[c.pk for c in copies], returned_at__isnull=True)
    return set(rows.values_list("copy_id", flat=True))


def update_unheld_copy(pk: int, delta: dict, now, *, transit_read_at=None) -> bool:
    """Write a copy's changed columns; when they include its status or its place
    (``PLACEMENT_FIELDS``), only if our circulation does not hold it by now: status
    still one the source may set (``SOURCE_STATUSES``), or the source's own transit
    untouched since it was read (``transit_read_at``: its ``updated_at`` then), and no
    open loan. A request may set the copy aside between our read and this write; the
    guard lets it win (False: nothing was written)."""
    rows = Copy.objects.filter(pk=pk)
    if "status" in delta or not set(PLACEMENT_FIELDS).isdisjoint(delta):
        unheld = Q(status__in=SOURCE_STATUSES)
        if transit_read_at is not None:
            unheld |= Q(status=CopyStatus.IN_TRANSIT, updated_at=transit_read_at)
        rows = rows.filter(unheld).exclude(Exists(_open_loan()))
    return bool(rows.update(**delta, updated_at=now))


def held_here(copy: Copy, lent: set[int]) -> bool:
    """Whether our circulation holds ``copy`` (its ``status``, ``source_codes`` and
    ``updated_at`` loaded): set aside, on the hold shelf, in a transit of ours, or lent at
    one of our doors (``lent``: ``lent_copies``). Then no import changes its status nor its
    place. A transit the source reported is not ours (SOURCE_TRANSIT)."""
    if copy.pk in lent:
        return True
    return copy.status not in SOURCE_STATUSES and not source_transit(copy)


def source_transit(copy: Copy) -> bool:
    """Whether ``copy`` is in a transit the source reported, which nothing of ours has
    touched since (SOURCE_TRANSIT): the source's to end, not ours."""
    stamp = copy.source_codes.get(SOURCE_TRANSIT)
    return (
        copy.status == CopyStatus.IN_TRANSIT and stamp is not None and stamp == transit_stamp(copy.updated_at)
    )


def transit_stamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat()


def transit_read_at(copy: Copy, delta: dict, now) -> datetime.datetime | None:
    """For a write of ``delta`` to ``copy`` at ``now``: mark in ``delta`` a transit the
    source reports, new (its status) or going on (another change while it lasts), with
    the time of this write; and return the copy's ``updated_at`` as read when it was
    the source's transit (``update_unheld_copy``'s guard), else None."""
    ongoing = source_transit(copy)
    if delta.get("status", copy.status) == CopyStatus.IN_TRANSIT and ("status" in delta or ongoing):
        codes = delta.get("source_codes", copy.source_codes)
        delta["source_codes"] = {**codes, SOURCE_TRANSIT: transit_stamp(now)}
    return copy.updated_at if ongoing else None


def keep_placement(copy: Copy, values: dict) -> list[str]:
    """Put back in ``values`` the copy's own record and place where the source moves
    them (for a copy our circulation holds); return the fields kept."""
    kept = [name for name in PLACEMENT_FIELDS if name in values and values[name] != getattr(copy, name)]
    for name in kept:
        values[name] = getattr(copy, name)
    return kept


def lock_for_writing(
    *,
    barcodes: list[str],
    record_keys: Iterable[str] = (),
    record_ids: Iterable[int] = (),
    source_items: list[str] = (),
    wait: bool = False,
) -> None:
    """Lock what a batch writes before writing anything: the records first (those named,
    and those the batch's existing copies are on now), in id order, then the copies, in
    id order, without waiting for one another transaction holds (``wait`` False: the
    database refuses at once, ``transient``, and the batch is written again a moment
    later).

    Changing a copy locks its record (the availability summary, catalogue/0011), so a
    picker saying "not found" holds the record while it moves the request to another copy
    of the title, and waits for that copy if someone holds it (holds.allocation); a
    placement holds a copy while waiting for its record. A batch holding copies while
    waiting for a record (the order this function replaced) made a circle with the
    first, and PostgreSQL broke it by failing the picker's tap or the import; one holding
    records while waiting for a copy would make one with the second. So the batch waits
    only for records, holding no copy, and never waits for a copy while holding records."""
    mine = (
        Q(barcode__in=barcodes) | Q(source_item__in=source_items) if source_items else Q(barcode__in=barcodes)
    )
    current = Copy.objects.filter(mine).values("record_id") if barcodes else None
    which = Q(source_key__in=list(record_keys)) | Q(pk__in=list(record_ids))
    if current is not None:
        which |= Q(pk__in=current)
    _lock_records(which)
    if barcodes:
        copies = Copy.objects.select_for_update(nowait=not wait).filter(mine)
        list(copies.order_by("pk").values_list("pk"))


def _lock_records(which: Q) -> None:
    """Lock the records ``which`` selects, in id order (as the summary trigger does)."""
    list(Record.objects.select_for_update().filter(which).order_by("pk").values_list("pk"))


def status_changed_at_source(codes: dict, previous: dict) -> bool:
    """Whether the source's own status subfields differ from those of the last import:
    only then does the source have news. Otherwise a copy our picker marked missing
    would be put back on the shelf by every import."""
    return any(codes.get(k) != previous.get(k) for k in STATUS_SUBFIELDS)


def with_status_codes(codes: dict, previous: dict) -> dict:
    """``codes`` with the status subfields of ``previous`` instead of its own."""
    kept = {k: v for k, v in codes.items() if k not in STATUS_SUBFIELDS}
    return kept | {k: v for k, v in previous.items() if k in STATUS_SUBFIELDS}


def withdrawn_as_absent(copy: Copy) -> bool:
    """Whether ``withdraw_missing`` withdrew the copy (and nothing changed it since)."""
    return copy.status == CopyStatus.WITHDRAWN and bool(copy.source_codes.get(ABSENT))


def restored_status(copy: Copy, status: str, *, news: bool) -> str:
    """The status of a copy ``withdraw_missing`` withdrew, listed again with ``status``
    (the file's, "" when it gives none): the file's when its status codes changed since
    (``news``), else the one the copy had when it was withdrawn (``ABSENT_STATUS``: a
    picker's "missing", a "lent" a copies CSV said), as any re-import keeps a status the
    source has no news about. A copy withdrawn before that was noted: the file's status,
    or on the shelf."""
    before = copy.source_codes.get(ABSENT_STATUS)
    if before not in WITHDRAWABLE:
        return status or CopyStatus.ON_SHELF
    return status if status and news else before


def changes(obj, values: dict) -> dict:
    """The values that differ from the object's."""
    return {name: value for name, value in values.items() if getattr(obj, name) != value}


def update_rows(model, changed: list[tuple[int, dict]]) -> None:
    """One UPDATE per changed row, of the changed columns only.

    Not ``bulk_update``: its CASE WHEN per row and column costs about 10 ms a row in
    Django for our eight copy columns, where a plain UPDATE costs a fraction of one;
    unchanged rows are not written at all.
    """
    now = timezone.now()
    for pk, values in changed:
        model.objects.filter(pk=pk).update(**values, updated_at=now)


def _clean_barcode(item: ItemData) -> ItemData:
    """The item with a barcode free of the invisible characters ``clean`` keeps. A control
    character inside it (not at its ends) is kept, for ``copy`` to refuse: it is a damaged
    byte, and the barcode without it is one character short, on no label."""
    inner = (item.barcode or "").strip()
    if any(unicodedata.category(c) == "Cc" for c in inner):
        return dataclasses.replace(item, barcode=inner)
    return dataclasses.replace(item, barcode=clean_barcode(item.barcode))


def _source_item(source: str, item_id: str) -> str | None:
    """``Copy.source_item`` for an item's id in a source (None without one)."""
    if not item_id:
        return None
    key = f"{source}:{item_id}"
    if len(key) > SOURCE_ITEM_LENGTH:
        key = f"{source[:100]}:sha1:{hashlib.sha1(item_id.encode()).hexdigest()}"
    return key


def _source_key(source: str, identifier: str) -> str:
    if not identifier:
        return ""
    key = f"{source}:{identifier}"
    if len(key) > SOURCE_KEY_LENGTH:
        # Keep it stable and unique: a digest of the long identifier.
        key = f"{source[:100]}:sha1:{hashlib.sha1(identifier.encode()).hexdigest()}"
    return key
