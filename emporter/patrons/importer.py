"""Import patrons from a CSV file, keyed by the library system's id of the patron when
the file has one, else by card number (re-import updates).

The columns, keys (a replaced card, a mangled number), what an empty cell clears, PINs,
guardians and what a row with a problem gives are in docs/imports.md, "Patrons from a
CSV file".
"""

import datetime
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, is_password_usable
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from emporter.catalogue.csv_import import (
    AS_A_NUMBER,
    JOINERS,
    choose_encoding,
    database_refused,
    encoding_option,
    header_name,
    no_rows,
    read_rows,
    too_long,
    visible,
)
from emporter.catalogue.importer import Problem
from emporter.catalogue.item_mappings import CodeMap, load_json
from emporter.catalogue.marcdata import clean, clean_code
from emporter.network.models import Branch

from .models import Patron, PatronCategory, leads_back
from .pins import PinHasher, hash_pin
from .services import set_pin, too_easy

REQUIRED = ("card_number", "last_name", "home_branch")
COLUMNS = REQUIRED + (
    "first_name",
    "email",
    "phone",
    "language",
    "category",
    "guardian",
    "card_expires",
    "pin",
    "source_id",
    "guardian_source_id",
)
# Koha's names for our columns (the ``borrowers`` table: its patron export, its reports).
ALIASES = {
    "cardnumber": "card_number",
    "surname": "last_name",
    "firstname": "first_name",
    "branchcode": "home_branch",
    "categorycode": "category",
    "dateexpiry": "card_expires",
    "lang": "language",
    "borrowernumber": "source_id",
    # The guarantor's borrowernumber: ``borrowers.guarantorid`` before Koha 19.05, a
    # report's name for ``borrower_relationships.guarantor_id`` since.
    "guarantorid": "guardian_source_id",
    "guarantor_id": "guardian_source_id",
}
# A guardian's id that names nobody: old Koha exports write 0 for "no guarantor".
NO_GUARDIAN_ID = "0"
# Languages as Koha and browsers write them ("fr-FR"); "default" is the OPAC's own.
NO_LANGUAGE = frozenset(("", "default"))
# Koha's "dateformat" preference: day first ("metric", and "dmydot" with dots), or month first.
DATE_FORMATS = ("metric", "us")
SEPARATED_DATE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})")
# Stored as they are: a longer value is reported, not cut (nor refused by PostgreSQL).
LIMITS = {
    name: Patron._meta.get_field(name).max_length
    for name in ("card_number", "first_name", "last_name", "email", "phone", "source_id")
}
# Codes of the rows ``read_rows`` could not read: whose they were is not known.
UNREAD = frozenset(("bad_row", "bad_encoding", "wrong_separator"))
# ``expire_missing`` ends no card when the export leaves out more than this share of the
# patrons whose card is valid here (a truncated export, card numbers a spreadsheet changed).
EXPIRE_AT_MOST = 0.5
# A file replaces no card when more than this share of its rows, and more than
# REPLACE_AT_MOST_ROWS of them, give a patron found by their id a new card number: lost
# cards are a few a day, a column of numbers a spreadsheet changed is every row
# (``replace_cards``, the day the library renumbers its cards, lifts it).
REPLACE_AT_MOST = 0.05
REPLACE_AT_MOST_ROWS = 20
# A card set aside while patrons exchange theirs (``_free_cards``), in their transaction
# only: the database keeps a card, and an account name, to one patron at every statement.
SET_ASIDE = "~exchange~"


@dataclass
class PatronImportReport:
    path: str
    encoding: str = "utf-8"
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # in the file as they are here already (a nightly file, mostly)
    skipped: int = 0
    pins_set: int = 0
    pins_ignored: int = 0  # existing patrons with a PIN in the file, without set_pins
    pins_refused: int = 0  # imported without the PIN cell, not a PIN (bad_pin)
    guardians_not_linked: int = 0  # imported without the guardian named (no_guardian, bad_guardian)
    # Rows naming a guardian by id in a file without the patrons' own ids: not read.
    guarantors_ignored: int = 0
    cards_replaced: int = 0  # patrons found by their id whose card number changed
    # Patrons found by their id who keep their card, the file's new number refused: one a
    # spreadsheet changed (card_mangled), an exchange that failed (card_swap), or any when
    # the file replaces none (``replace_refused``: why).
    cards_kept: int = 0
    replace_refused: str = ""
    # Patrons with a valid card here the file does not list; None: not counted (the file
    # was not read, or it is one of several files read as one export).
    not_listed: int | None = None
    problems: list[Problem] = field(default_factory=list)
    # Not read: unreadable, refused for its encoding, or without the required columns.
    fatal: bool = False
    # Rows skipped before their card number was known (unreadable, no card number): the
    # file may list more patrons than ``cards`` (``expire_missing`` ends no card then).
    unread: int = 0
    has_expiry_column: bool = False
    # The card numbers the file lists (in capitals), and the patrons' ids in the library
    # system, skipped rows' included.
    cards: set[str] = field(default_factory=set, repr=False)
    sources: set[str] = field(default_factory=set, repr=False)

    @property
    def failed(self) -> bool:
        """Not read, or no patron imported from it: the command exits with an error."""
        return self.fatal or not (self.created + self.updated + self.unchanged)

    def summary_lines(self) -> list[str]:
        return [self.summary()]

    def summary(self) -> str:
        text = _(
            "%(file)s: patrons %(created)s created, %(updated)s updated, %(unchanged)s unchanged, "
            "%(skipped)s skipped."
        ) % {
            "file": self.path,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
        }
        if self.pins_set:
            text += " " + ngettext("%(count)s PIN set.", "%(count)s PINs set.", self.pins_set) % {
                "count": self.pins_set
            }
        if self.pins_ignored:
            message = ngettext(
                "The PIN of %(count)s existing patron was left as it was (--set-pins replaces it).",
                "The PINs of %(count)s existing patrons were left as they were (--set-pins replaces them).",
                self.pins_ignored,
            )
            text += " " + message % {"count": self.pins_ignored}
        if self.pins_refused:
            message = ngettext(
                "%(count)s PIN cell was not a PIN (4 to 8 digits): its patron was imported without it.",
                "%(count)s PIN cells were not PINs (4 to 8 digits): their patrons were imported "
                "without them.",
                self.pins_refused,
            )
            text += " " + message % {"count": self.pins_refused}
        if self.guardians_not_linked:
            message = ngettext(
                "%(count)s patron was imported without the guardian their row names (not found, or "
                "refused): see the problems listed.",
                "%(count)s patrons were imported without the guardian their row names (not found, or "
                "refused): see the problems listed.",
                self.guardians_not_linked,
            )
            text += " " + message % {"count": self.guardians_not_linked}
        if self.cards_replaced:
            message = ngettext(
                "%(count)s patron found by their id in the library system has a new card number: the "
                "old card no longer signs in; their PIN, requests and loans are kept.",
                "%(count)s patrons found by their id in the library system have a new card number: the "
                "old cards no longer sign in; their PINs, requests and loans are kept.",
                self.cards_replaced,
            )
            text += " " + message % {"count": self.cards_replaced}
        if self.replace_refused:
            message = _("No card number was replaced: %(reason)s; the rows' other values went in.")
            text += " " + message % {"reason": self.replace_refused}
        elif self.cards_kept:
            message = ngettext(
                "%(count)s patron found by their id in the library system keeps their card number: the "
                "file's new one was refused (see the problems listed).",
                "%(count)s patrons found by their id in the library system keep their card number: the "
                "file's new ones were refused (see the problems listed).",
                self.cards_kept,
            )
            text += " " + message % {"count": self.cards_kept}
        if self.not_listed:
            message = ngettext(
                "%(count)s patron with a valid card here is not in this file.",
                "%(count)s patrons with a valid card here are not in this file.",
                self.not_listed,
            )
            text += " " + message % {"count": self.not_listed}
        return text


def import_patrons(
    path,
    *,
    encoding: str | None = None,
    set_pins: bool = False,
    codes=None,
    date_format: str = "metric",
    replace_cards: bool = False,
    stdout: TextIO | None = None,
) -> PatronImportReport:
    """One file. Raises ValueError before reading when ``encoding`` names no encoding,
    ``codes`` is not a code map (or maps to a branch or category that does not exist),
    or ``date_format`` is not one of DATE_FORMATS. ``replace_cards``: the card numbers did
    change (the library renumbered its cards), replace them all (``_Plan``). The file as
    an export of one file (``import_patron_files``), its own report."""
    run = import_patron_files(
        [path],
        encoding=encoding,
        set_pins=set_pins,
        codes=codes,
        date_format=date_format,
        replace_cards=replace_cards,
        stdout=stdout,
    )
    (report,) = run.files
    if not report.failed:
        report.not_listed = run.not_listed
    return report


def _import_file(
    path,
    *,
    encoding: str | None = None,
    set_pins: bool = False,
    codes: "PatronCodes | None" = None,
    date_format: str = "metric",
    replace_cards: bool = False,
    stdout: TextIO | None = None,
    second_passes: list,
) -> PatronImportReport:
    """``second_passes``: where to leave the guardian links' pass, for the caller to run
    once every file is read (a child in one file, their guardian in another)."""
    run = _FileImport(
        Path(path), set_pins=set_pins, codes=codes or PatronCodes(), date_format=date_format, stdout=stdout
    )
    rows = run.open(encoding_option(encoding), replace_cards=replace_cards)
    if rows is None:
        return run.report
    read = run.read(rows)
    run.settle()
    second_passes.append(run.second_pass)
    run.say_guarantors_ignored()
    if not read and not run.report.skipped:
        run.problem(None, "no_rows", no_rows())
    return run.report


class _FileImport:
    """One file read and written row by row, its problems said in its report. Rows refer
    to one another (a card another row gives up, a guardian further down): what the file
    gave so far is kept here, and rows wait until what they need is written."""

    def __init__(self, path: Path, *, set_pins: bool, codes: "PatronCodes", date_format: str, stdout):
        self.path = path
        self.set_pins = set_pins
        self.codes = codes
        self.date_format = date_format
        self.stdout = stdout
        self.report = PatronImportReport(path=str(path))
        self.cards: dict[str, int] = {}  # card number: the line it was imported from
        self.sources: dict[str, int] = {}  # the library system's id: the line it was imported from
        self.states: dict[str, str] = {}  # card (in capitals): "created", "updated" or "unchanged"
        # (line, card, the guardian's card, the guardian's id): the second pass
        self.links: list[tuple[int, str, str, str]] = []
        self.seen: set[str] = set()  # the ids of the rows read so far
        # Rows whose new card another row of the file, not written yet, gives up (_Plan.waits).
        self.waiting: dict[str, tuple[int, dict]] = {}

    def problem(self, line, code, message) -> None:
        item = Problem(str(self.path), None, None, line, code, message)
        self.report.problems.append(item)
        if self.stdout is not None:
            self.stdout.write(f"{item}\n")

    def skip(self, line, code, message, rows=1) -> None:
        self.report.skipped += rows
        self.problem(line, code, message)

    def skip_unread(self, line, code, message, rows=1) -> None:
        if code in UNREAD:
            self.report.unread += rows
        self.skip(line, code, message, rows)

    def open(self, forced, *, replace_cards: bool):
        """The rows after the header; None when the file cannot be read (said, fatal)."""
        report = self.report
        encoding = choose_encoding(self.path, forced, self.problem)
        if encoding is None:
            report.fatal = True
            return None
        report.encoding = encoding.removesuffix("-sig")
        self.branches = {b.code.lower(): b for b in Branch.objects.all()}
        rows = read_rows(self.path, encoding, self.skip_unread)
        header = [header_name(name) for name in next(rows, (1, []))[1]]
        names = [ALIASES.get(name, name) for name in header]
        twice = _named_twice(header, names)
        if twice:
            self.problem(1, "bad_header", twice)
            report.fatal = True
            return None
        missing = [c for c in REQUIRED if c not in names]
        if missing:
            self.problem(1, "bad_header", _("missing columns: %(columns)s") % {"columns": ", ".join(missing)})
            report.fatal = True
            return None
        self.names = names
        # A guardian's id names a patron by the library system's id: without the patrons'
        # own ids in the file, not read (said once at the end).
        self.ids_ignored = "guardian_source_id" in names and "source_id" not in names
        self.guarantor_column = header[names.index("guardian_source_id")] if self.ids_ignored else ""
        report.has_expiry_column = "card_expires" in names
        self.plan = _plan(self.path, encoding, names, replace_cards=replace_cards)
        if self.plan.refused:
            report.replace_refused = self.plan.refused
            message = _("no card number was replaced: %(reason)s")
            self.problem(None, "replacements_refused", message % {"reason": self.plan.refused})
        return rows

    def read(self, rows) -> int:
        """Every row written, or put aside to wait; how many rows were read."""
        read = 0
        for line, values in rows:
            read += 1
            self.read_row(line, values)
        return read

    def read_row(self, line: int, values: list[str]) -> None:
        names, report = self.names, self.report
        row = _cells(names, values)
        if self.ids_ignored:
            report.guarantors_ignored += bool(row.pop("guardian_source_id", ""))
        cut = _cut(values, names, unterminated=line == self.plan.truncated)
        _list(report, row if cut is None else _whose(row, values, names))
        if row.get("source_id"):
            self.seen.add(row["source_id"])
        if cut is not None:
            self.skip(line, cut.code, cut.message)
            return
        if (language := _language(row.get("language", ""))) and language not in LANGUAGE_CODES:
            # Koha's "es-ES": the rest of the row is news all the same (its email, its
            # card's end); the language was only ever the new patron's.
            message = _("unknown language %(value)s: the patron's language is left as it was")
            self.problem(line, "bad_language", message % {"value": row.pop("language")})
        if self.plan.waits(row, self.waiting, self.seen):
            self.wait(line, row)
        else:
            self.write(line, row)

    def upsert(self, row: dict, hashed) -> "_Written":
        return _upsert(
            row,
            self.branches,
            set_pins=self.set_pins,
            hashed=hashed,
            codes=self.codes,
            date_format=self.date_format,
            plan=self.plan,
        )

    def record(self, line: int, row: dict, done: "_Written") -> None:
        report, plan = self.report, self.plan
        card, source = row["card_number"], row.get("source_id", "")
        self.cards[done.card.lower()] = line  # a card the row did not give (kept) is not the row's
        if source:
            self.sources[source] = line
        self.states[_key(done.card)] = done.state
        if row.get("guardian") or row.get("guardian_source_id"):
            self.links.append((line, done.card, row.get("guardian", ""), row.get("guardian_source_id", "")))
        report.created += done.state == "created"
        report.updated += done.state == "updated"
        report.unchanged += done.state == "unchanged"
        report.cards_replaced += done.card_change == "replaced"
        if done.card_change not in ("", "replaced"):
            report.cards_kept += 1
            if message := plan.kept_message(done.card_change, card, done.card, source):
                self.problem(line, done.card_change, message)
        report.pins_set += done.pin == "set"
        report.pins_ignored += done.pin == "ignored"
        if done.pin == "bad":
            report.pins_refused += 1
            message = _("a PIN is 4 to 8 digits: the patron was imported without this one")
            self.problem(line, "bad_pin", message)
        if done.pin == "set" and too_easy(row["pin"]):
            # Set all the same (the patron signs in as before the move), but said:
            # a PIN change refuses such a PIN (services.too_easy).
            # The line only: a list of cards with easy PINs is a list of cards to try.
            message = _("the PIN is easy to guess; it was set, ask the patron to change it")
            self.problem(line, "pin_too_easy", message)

    def write(self, line: int, row: dict, *, checked: bool = False) -> None:
        """One row in its transaction; ``checked``: its card and id were checked first
        (``_first_time``) when it was put aside to wait."""
        try:
            if not checked:
                _first_time(row.get("card_number", ""), self.cards)
                _first_time_source(row.get("source_id", ""), self.sources)
            hashed = _pin_hash(row, set_pins=self.set_pins, plan=self.plan)
            with transaction.atomic():
                done = self.upsert(row, hashed)
        except RowError as error:
            self.skip(line, error.code, error.message)
            self.report.unread += error.unread
            if error.listed:
                self.report.cards.add(_key(error.listed))
        except DatabaseError as error:
            self.skip(line, "database_error", database_refused(error))
        else:
            self.record(line, row, done)

    def wait(self, line: int, row: dict) -> None:
        """The row waits for the row giving up its card: its card and id are the file's
        from now on (a later row with either is the second, as if this one were written)."""
        try:
            _first_time(row["card_number"], self.cards)
            _first_time_source(row["source_id"], self.sources)
        except RowError as error:
            self.skip(line, error.code, error.message)
            return
        self.cards[row["card_number"].lower()] = self.sources[row["source_id"]] = line
        self.waiting[row["source_id"]] = (line, row)

    def exchange(self, cycle: list[tuple[int, dict]]) -> None:
        """Rows each taking the card another row of theirs gives up (two patrons whose cards
        the library system swapped): one transaction, every card set aside before any is
        given. A row refused ends the exchange: each row is written again, its patron
        keeping their card (``card_swap``)."""
        plan = self.plan
        moving = frozenset(row["source_id"] for _, row in cycle)
        try:
            hashes = [_pin_hash(row, set_pins=self.set_pins, plan=plan, moving=moving) for _, row in cycle]
            with transaction.atomic():
                names_aside = _free_cards(moving, {_key(row["card_number"]) for _, row in cycle})
                written = [self.upsert(row, hashed) for (_, row), hashed in zip(cycle, hashes, strict=True)]
                _restore_names(names_aside)
        except (RowError, DatabaseError):
            lines = {row["source_id"]: line for line, row in cycle}
            for _line, row in cycle:
                plan.kept[row["source_id"]] = lines[plan.giving[_key(row["card_number"])]]
            for line, row in cycle:
                self.write(line, row, checked=True)  # the refused row says why
            return
        for (line, row), done in zip(cycle, written, strict=True):
            self.record(line, row, done)

    def settle(self) -> None:
        """The rows left waiting once the file is read: each in turn once its card is free,
        those waiting for one another as an exchange."""
        waiting = self.waiting
        while waiting:
            ready = [(line, row) for line, row in waiting.values() if not self.plan.waits(row, waiting)]
            group = ready[:1] or _cycle(waiting, self.plan)
            for _line, row in group:
                del waiting[row["source_id"]]
            if ready:
                self.write(*group[0], checked=True)
            else:
                self.exchange(group)

    def second_pass(self) -> None:
        """Once every row is written, a child listed before their guardian finds them (and,
        for several files read as one export, every file: ``import_patron_files``)."""
        report, states = self.report, self.states
        for line, card, guardian_card, guardian_source in self.links:
            try:
                with transaction.atomic():
                    linked = _link(card, guardian_card, guardian_source)
            except RowError as error:
                report.guardians_not_linked += 1
                self.problem(line, error.code, error.message)
            except DatabaseError as error:
                report.guardians_not_linked += 1
                self.problem(line, "database_error", database_refused(error))
            else:
                if linked and states[_key(card)] == "unchanged":
                    states[_key(card)] = "updated"
                    report.unchanged -= 1
                    report.updated += 1

    def say_guarantors_ignored(self) -> None:
        count = self.report.guarantors_ignored
        if not count:
            return
        message = ngettext(
            "%(count)s row names a guardian by their id in the library system (%(column)s), but the file "
            "has no column of the patrons' own ids (source_id, or Koha's borrowernumber): it was ignored "
            "(add that column, or a guardian column with the guardian's card number)",
            "%(count)s rows name a guardian by their id in the library system (%(column)s), but the file "
            "has no column of the patrons' own ids (source_id, or Koha's borrowernumber): they were "
            "ignored (add that column, or a guardian column with the guardian's card number)",
            count,
        )
        self.problem(None, "guarantor_ignored", message % {"count": count, "column": self.guarantor_column})


@dataclass
class _Plan:
    """What a first read of a file says before any row is written (``_plan``): the line
    it was cut in, and which new card numbers replace the cards of patrons found by their
    id."""

    replace_cards: bool = False
    rows: int = 0
    # The line of the file's last row when the file ends in it without a line break: a
    # file cut there (``_cut``).
    truncated: int | None = None
    refused: str = ""  # why the file replaces no card: "" when it may
    # The card here (in capitals) of a patron the file gives another: their id.
    giving: dict[str, str] = field(default_factory=dict)
    # The ids of patrons keeping their card, an exchange refused (``card_swap``): the line of
    # the row whose patron holds the card theirs asks for.
    kept: dict[str, int] = field(default_factory=dict)
    # The cards here that start with a zero, by their number without the zeros: read once,
    # when a row would make a new patron (``padded_card``).
    zero_padded: dict[str, str] | None = None

    def padded_card(self, card: str) -> str:
        """The card here that ``card`` is without its leading zeros, or ""."""
        if not card.isdigit() or card.startswith("0"):
            return ""
        if self.zero_padded is None:
            cards = Patron.objects.filter(card_number__startswith="0").values_list("card_number", flat=True)
            self.zero_padded = {number.lstrip("0"): number for number in cards.iterator()}
        return self.zero_padded.get(card, "")

    def created(self, card: str) -> None:
        """A new patron's card: one a later row may be without its zeros."""
        if self.zero_padded is not None and card.startswith("0"):
            self.zero_padded[card.lstrip("0")] = card

    def refusal(self, old: str, new: str, source: str) -> str:
        """Why a patron found by their id keeps their card ``old`` and not the row's ``new``:
        a code, "" when it is replaced."""
        if source in self.kept:
            return "card_swap"
        if _as_a_number(old, new):
            return "card_mangled"
        return "replacements_refused" if self.refused else ""

    def waits(self, row: dict, waiting: Mapping, seen: set[str] | None = None) -> bool:
        """Whether the row's new card is a patron's whose row gives it up and is not written
        yet: waiting itself, or still to be read (not in ``seen``; None: every row is)."""
        source = row.get("source_id", "")
        holder = self.giving.get(_key(row.get("card_number", "")))
        if not source or holder is None or holder == source:
            return False
        return holder in waiting or (seen is not None and holder not in seen)

    def kept_message(self, code: str, card: str, old: str, source: str) -> str:
        """The problem of a row whose patron keeps their card ``old`` (``refusal``): "" when
        the file's problems say it once (``replacements_refused``)."""
        if code == "card_swap":
            message = _(
                "the card %(card)s is the card of the patron of line %(line)s, whose row gives it up for "
                "another, but the two could not be exchanged (a row of the exchange was refused): the "
                "patron keeps the card %(old)s, the row's other values went in"
            )
            return message % {"card": card, "line": self.kept[source], "old": old}
        if code != "card_mangled":
            return ""
        if _as_a_number(old, card) == "zeros":
            message = _(
                "the card number %(card)s is the patron's card %(old)s without its leading zeros (a "
                "spreadsheet read it as a number?): the patron keeps %(old)s, the row's other values "
                "went in"
            )
        else:
            message = _(
                "the card number %(card)s is written as a spreadsheet writes a number (1.23E+12, "
                "123.0), its digits maybe lost: the patron keeps the card %(old)s, the row's other "
                "values went in"
            )
        return message % {"card": card, "old": old}


def _as_a_number(old: str, new: str) -> str:
    """How a new card number is a number a spreadsheet changed: "number" (written as
    1.23E+12 or 123.0, which no card is), "zeros" (the old one without its leading zeros:
    the patron's printed card would stop working; ``--replace-cards`` does not lift it);
    "" when it is not."""
    if AS_A_NUMBER.fullmatch(new):
        return "number"
    if old.startswith("0") and old.lstrip("0") == new:
        return "zeros"
    return ""


def _plan(path: Path, encoding: str, names: list[str], *, replace_cards: bool = False) -> _Plan:
    """A first read of the file, before any row is written (the second read says its
    problems): the line of its last row when the file ends in it without a line break,
    and the new card numbers it gives patrons found by their id, counted before any is
    written (a column a spreadsheet changed is seen in its first rows, or not at all)."""
    plan = _Plan(replace_cards=replace_cards)
    after = 0  # the line of the last record not read as a row

    def note(line, *args, **kwargs):
        nonlocal after
        after = max(after, line or 0)

    wanted: dict[str, str] = {}  # id: the card number of the first row with it
    last = 0
    rows = read_rows(path, encoding, note)
    next(rows, None)  # the header
    for line, values in rows:
        plan.rows, last = plan.rows + 1, line
        cells = _cells(names, values)
        card, source = cells.get("card_number", ""), cells.get("source_id", "")
        if card and source and source not in wanted and _cut(values, names) is None:
            wanted[source] = card
    if last > after and _ends_without_line_break(path, encoding):
        plan.truncated = last
    _plan_replacements(plan, wanted)
    return plan


def _plan_replacements(plan: _Plan, wanted: dict[str, str]) -> None:
    """``plan.giving``, or ``plan.refused`` when more than REPLACE_AT_MOST of the rows (and
    REPLACE_AT_MOST_ROWS) give a patron found by their id a new card number."""
    current: dict[str, str] = {}  # id: the card here
    ids = list(wanted)
    for start in range(0, len(ids), 1000):
        found = Patron.objects.filter(source_id__in=ids[start : start + 1000])
        current |= dict(found.values_list("source_id", "card_number"))
    replacing = 0
    for source, card in wanted.items():
        old = current.get(source)
        # A number a spreadsheet made of the card is refused row by row (card_mangled):
        # it does not count here, or a file whose zeros were dropped would also lose the
        # cards really replaced in it.
        if old is None or _key(old) == _key(card) or _as_a_number(old, card):
            continue
        replacing += 1
        plan.giving[_key(old)] = source
    if plan.replace_cards or replacing <= max(REPLACE_AT_MOST_ROWS, REPLACE_AT_MOST * plan.rows):
        return
    plan.giving.clear()
    message = _(
        "%(count)s of the %(rows)s rows give a patron found by their id in the library system a new card "
        "number, more than %(share)s%% of the rows (card numbers a spreadsheet changed?); if the cards "
        "did change, import the file again with --replace-cards"
    )
    plan.refused = message % {"count": replacing, "rows": plan.rows, "share": round(REPLACE_AT_MOST * 100)}


def _ends_without_line_break(path: Path, encoding: str) -> bool:
    """Whether the file's last line has something and no line break: the file was cut
    there (a copy or a transfer that stopped); a spreadsheet ends its every line."""
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        last = "".join(deque(fh, maxlen=1))
    return bool(last.strip()) and not last.endswith(("\n", "\r"))


def _cycle(waiting: Mapping[str, tuple[int, dict]], plan: _Plan) -> list[tuple[int, dict]]:
    """Rows that each wait for another's card (``_Plan.waits``), followed from the first
    until one comes round again: the rows of that round, in the file's order."""
    order: list[str] = []
    source = next(iter(waiting))
    while source not in order:
        order.append(source)
        source = plan.giving[_key(waiting[source][1]["card_number"])]
    return sorted((waiting[s] for s in order[order.index(source) :]), key=lambda item: item[0])


def _free_cards(sources: frozenset[str], wanted: set[str]) -> dict[int, str]:
    """The cards of the patrons with these ids set aside (``SET_ASIDE``), in the exchange's
    transaction, before any is given: the unique card (and account name) holds at every
    statement. So are the names of their accounts that are one of the ``wanted`` cards (in
    capitals); returns those names, by account."""
    User = get_user_model()
    name = User.USERNAME_FIELD
    names = {}
    for pk, user, username in Patron.objects.filter(source_id__in=sources).values_list(
        "pk", "user", f"user__{name}"
    ):
        Patron.objects.filter(pk=pk).update(card_number=f"{SET_ASIDE}{pk}")
        if _key(username) in wanted:
            User._default_manager.filter(pk=user).update(**{name: f"{SET_ASIDE}{user}"})
            names[user] = username
    return names


def _restore_names(names: dict[int, str]) -> None:
    """An account set aside that did not take its new card as name (another account has
    it: ``_rename_account``) gets its own name back when it is free; else it keeps the
    one set aside (the sign-in finds the account through the card)."""
    User = get_user_model()
    name = User.USERNAME_FIELD
    for user, username in names.items():
        if not User._default_manager.filter(**{name: username}).exists():
            aside = User._default_manager.filter(pk=user, **{name: f"{SET_ASIDE}{user}"})
            aside.update(**{name: username})


def _named_twice(header: list[str], names: list[str]) -> str:
    """Why the header is refused when two of its cells name one of our columns
    (``cardnumber`` and ``card_number``): which one to read is not guessed. "" when not."""
    seen: dict[str, str] = {}
    for cell, name in zip(header, names, strict=True):
        if name not in COLUMNS:
            continue
        if name in seen:
            message = _("the columns %(first)s and %(second)s are both %(column)s: keep one of them")
            return message % {"first": seen[name], "second": cell, "column": name}
        seen[name] = cell
    return ""


@dataclass(frozen=True)
class PatronCodes:
    """The export's codes mapped to ours: branches (as for the copies) and categories.
    Keys in capitals (``clean_code``), as the export's codes are looked up."""

    branches: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)

    def branch(self, code: str) -> str:
        return self.branches.get(clean_code(code), code)

    def category(self, code: str) -> str:
        return self.categories.get(clean_code(code), code)


def load_patron_codes(source) -> PatronCodes:
    """``--codes``: the JSON file (or a mapping) ``import_marc`` and ``import_copies``
    take (``catalogue.item_mappings.load_code_map``), with a ``categories`` section
    more; one file may serve all three: the copies' sections are checked, not used.
    ValueError when it is not such a map, or a category it maps to is not ours."""
    if source is None:
        return PatronCodes()
    if isinstance(source, PatronCodes):
        return source
    data = dict(source if isinstance(source, Mapping) else load_json(source))
    categories = data.pop("categories", {})
    if not isinstance(categories, Mapping):
        message = _("The code map section %(name)s must be an object of code: code pairs.")
        raise ValueError(message % {"name": "categories"})
    categories = {clean_code(str(k)): str(v).strip().lower() for k, v in categories.items()}
    bad = {v for v in categories.values() if v not in PatronCategory.values}
    if bad:
        message = _("Unknown patron categories in the code map: %(categories)s (choose from %(choices)s).")
        raise ValueError(
            message % {"categories": ", ".join(sorted(bad)), "choices": ", ".join(PatronCategory.values)}
        )
    return PatronCodes(branches=CodeMap.from_dict(data).branches, categories=categories)


def _options(codes, date_format: str) -> PatronCodes:
    """The code map, checked before any file is read (ValueError), as ``import_marc``
    does: a branch it maps to that does not exist would refuse every row."""
    if date_format not in DATE_FORMATS:
        message = _("Unknown date format %(value)s (choose from %(choices)s).")
        raise ValueError(message % {"value": date_format, "choices": ", ".join(DATE_FORMATS)})
    codes = load_patron_codes(codes)
    ours = {code.casefold() for code in Branch.objects.values_list("code", flat=True)}
    unknown = {v for v in codes.branches.values() if v.casefold() not in ours}
    if unknown:
        message = _("The code map names branches that do not exist: %(codes)s.")
        raise ValueError(message % {"codes": ", ".join(sorted(unknown))})
    return codes


# MySQL's "no date" (an older Koha's dateexpiry never set): no expiry, not a bad date.
ZERO_DATE = re.compile(r"0{4}-00-00|00[/.-]00[/.-]0{4}")


def parse_date(value: str, date_format: str = "metric") -> datetime.date:
    """``card_expires``: YYYY-MM-DD, or day, month and year separated by ``/``, ``-`` or
    ``.`` (31/12/2026: Koha's "metric" and "dmydot", the French way), month first with
    ``date_format="us"`` (12/31/2026). A date is read one way only: 12/31/2026 is no
    date day first, and 05/06/2026 is the 5th of June; the option says which, never the
    value. ValueError when it is not a date."""
    match = SEPARATED_DATE.fullmatch(value)
    if match is None:
        return datetime.date.fromisoformat(value)
    first, _separator, second, year = match.groups()
    day, month = (second, first) if date_format == "us" else (first, second)
    return datetime.date(int(year), int(month), int(day))


LANGUAGE_CODES = ("fr", "en")


def _language(value: str) -> str:
    """ "fr", "en"…, from "fr-FR", "fr_FR", "FR"; "" for "default" or empty (not set)."""
    value = value.strip().lower()
    if value in NO_LANGUAGE:
        return ""
    return re.split(r"[-_]", value, maxsplit=1)[0]


def _key(card: str) -> str:
    """A card as the database compares them (``patron_card_any_capitals``)."""
    return card.strip().upper()


def _valid_cards():
    """The patrons whose card has not expired (``holds.services.borrowing_patrons``)."""
    today = timezone.localdate()
    return Patron.objects.filter(Q(card_expires__isnull=True) | Q(card_expires__gte=today))


def _imported_valid_cards():
    """The patrons with a valid card that an import brought (``imported_at``): a patron
    made in the admin is nobody the library system's export leaves out."""
    return _valid_cards().filter(imported_at__isnull=False)


def _not_listed(cards: set[str], sources: set[str]) -> list[tuple[int, str, str, str]]:
    """(pk, card, first name, last name) of the patrons an import brought, with a valid card
    here, whose card is not in ``cards`` nor their id in the library system in ``sources``
    (a card replaced in a row that was skipped is still that patron's export)."""
    rows = _imported_valid_cards().values_list("pk", "card_number", "first_name", "last_name", "source_id")
    return [
        (pk, card, first, last)
        for pk, card, first, last, source in rows.iterator(chunk_size=10_000)
        if _key(card) not in cards and not (source and source in sources)
    ]


@dataclass
class PatronImports:
    """Several files read as one export of the library system (the command)."""

    files: list[PatronImportReport] = field(default_factory=list)
    expire_missing: bool = False
    not_listed: int = 0  # patrons with a valid card here that no file lists
    expired: int = 0  # their cards ended (expire_missing)
    expire_refused: str = ""  # why expire_missing ended none
    valid_before: int = 0  # patrons with a valid card before the run
    extra_problems: list[Problem] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return [p for f in self.files for p in f.problems] + self.extra_problems

    @property
    def failed(self) -> list[PatronImportReport]:
        return [f for f in self.files if f.failed]

    def summary_lines(self) -> list[str]:
        lines = [f.summary() for f in self.files]
        if self.expire_refused:
            lines.append(_("No card was ended: %(reason)s.") % {"reason": self.expire_refused})
        elif self.expired:
            message = ngettext(
                "The card of %(count)s patron not in the export was ended (it expired yesterday; listed "
                "in the problems): their requests keep their place but take no copy.",
                "The cards of %(count)s patrons not in the export were ended (they expired yesterday; "
                "listed in the problems): their requests keep their place but take no copy.",
                self.expired,
            )
            lines.append(message % {"count": self.expired})
        elif self.not_listed and not self.expire_missing:
            message = ngettext(
                "%(count)s patron with a valid card here is not in the export (--expire-missing ends "
                "their card).",
                "%(count)s patrons with a valid card here are not in the export (--expire-missing ends "
                "their cards).",
                self.not_listed,
            )
            lines.append(message % {"count": self.not_listed})
        return lines


def import_patron_files(
    paths,
    *,
    encoding: str | None = None,
    set_pins: bool = False,
    expire_missing: bool = False,
    codes=None,
    date_format: str = "metric",
    replace_cards: bool = False,
    stdout: TextIO | None = None,
) -> PatronImports:
    """The files, one after the other, as one export: a patron may be in any of them.
    Raises ValueError before reading when an option is wrong (``import_patrons``)."""
    encoding_option(encoding)
    codes = _options(codes, date_format)
    # The valid cards before this run: those it creates are listed, and counted in the
    # truncated-export guard they would hide a whole export of changed card numbers.
    run = PatronImports(expire_missing=expire_missing, valid_before=_imported_valid_cards().count())
    second_passes = []
    for path in paths:
        report = _import_file(
            path,
            encoding=encoding,
            set_pins=set_pins,
            codes=codes,
            date_format=date_format,
            replace_cards=replace_cards,
            stdout=stdout,
            second_passes=second_passes,
        )
        run.files.append(report)
    for second_pass in second_passes:  # a child in one file, their guardian in another
        second_pass()
    if run.failed:
        if expire_missing:
            reason = _("some files could not be read, or gave no patron")
            _refuse_expiry(run, reason, stdout)
        return run
    listed = set().union(*(f.cards for f in run.files))
    absent = _not_listed(listed, set().union(*(f.sources for f in run.files)))
    run.not_listed = len(absent)
    if expire_missing:
        _expire_missing(run, absent, stdout)
    return run


def _expire_missing(run: PatronImports, absent: list, stdout: TextIO | None) -> None:
    """The export is the library system's whole list of patrons: a patron an import
    brought (``imported_at``), with a valid card here, that it lists neither by card nor
    by id has left it, and their card ends (expires yesterday, never later than it did):
    they may still sign in and read their account, their requests keep their place but
    take no copy (``holds.services.borrowing_patrons``), and a later export that lists
    them again gives their card its date back (the files must have a ``card_expires``
    column). A child is not ended with their guardian: they have their own card. A patron
    made in the admin is not the library system's to end (Koha's own import ends nobody)
    until a file lists them. Ends none, and says why, when a row could not be read or had
    neither card number nor id (it may be a listed patron's: a line cut in its card, or
    with cells too many, too), when a file has no ``card_expires`` column, or when the
    export leaves out more than EXPIRE_AT_MOST of the valid cards (a truncated export, or
    card numbers a spreadsheet changed: "0001234" read as 1234)."""
    unread = sum(f.unread for f in run.files)
    if unread:
        message = ngettext(
            "%(count)s row could not be read or had no card number: it may be a listed patron's",
            "%(count)s rows could not be read or had no card number: they may be listed patrons'",
            unread,
        )
        _refuse_expiry(run, message % {"count": unread}, stdout)
        return
    without = [f.path for f in run.files if not f.has_expiry_column]
    if without:
        message = _("%(files)s has no card_expires column: a patron it lists again would keep the card ended")
        _refuse_expiry(run, message % {"files": ", ".join(without)}, stdout)
        return
    total = run.valid_before
    if absent and len(absent) > EXPIRE_AT_MOST * total:
        message = _(
            "%(count)s of the %(total)s patrons with a valid card here are not in the export: more "
            "than half (a truncated export, or card numbers changed?)"
        )
        _refuse_expiry(run, message % {"count": len(absent), "total": total}, stdout)
        return
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    where = run.files[-1].path
    for start in range(0, len(absent), 1000):
        chunk = absent[start : start + 1000]
        # Still valid now (the card renewed meanwhile keeps its date only if the export
        # lists it): never later than the card's own date.
        ended = set(_valid_cards().filter(pk__in=[row[0] for row in chunk]).values_list("pk", flat=True))
        _valid_cards().filter(pk__in=ended).update(card_expires=yesterday)
        for pk, card, first_name, last_name in chunk:
            if pk not in ended:
                continue
            run.expired += 1
            message = _("%(card)s (%(name)s) is not in the export: the card expired yesterday") % {
                "card": card,
                "name": f"{first_name} {last_name}".strip(),
            }
            _say(run, Problem(where, None, None, None, "card_ended", message), stdout)


def _refuse_expiry(run: PatronImports, reason: str, stdout: TextIO | None) -> None:
    run.expire_refused = reason
    where = run.files[-1].path if run.files else ""
    message = _("no card was ended: %(reason)s") % {"reason": reason}
    _say(run, Problem(where, None, None, None, "expire_refused", message), stdout)


def _say(run: PatronImports, problem: Problem, stdout: TextIO | None) -> None:
    run.extra_problems.append(problem)
    if stdout is not None:
        stdout.write(f"{problem}\n")


# Names keep the joiners of their script; the rest is looked up or typed as it is.
NAME_COLUMNS = frozenset(("first_name", "last_name"))


def _cells(names: list[str], values: list[str]) -> dict[str, str]:
    """A row's values by column, cleaned as the copies import does: no control or
    invisible character (a NUL, an ESC, a zero-width space, a BOM left by joining two
    files), UTF-8 read as Windows-1252 repaired ("RÃ©mi" -> "Rémi"), spaces collapsed.
    The branch code is looked up as it is written: a damaged one is reported, as any
    unknown code. Koha's ``mobile`` is the phone of a row without one."""
    row = {name: _cell(name, value) for name, value in zip(names, values, strict=False) if name}
    if "mobile" in row:  # an emptied mobile clears the phone, as an emptied phone does
        mobile = row.pop("mobile")
        if not row.get("phone"):
            row["phone"] = mobile
    return row


def _cell(name: str, value: str) -> str:
    if name == "home_branch":
        return value.strip()
    value = visible(clean(value), keep=JOINERS if name in NAME_COLUMNS else "")
    return "" if name == "guardian_source_id" and value == NO_GUARDIAN_ID else value


def _cut(values: list[str], names: list[str], *, unterminated: bool = False) -> "RowError | None":
    """Why a row is not read when its cells are not the header's: fewer when it is the
    file's last line without a line break (``unterminated``: a file cut short, its last
    cell may be cut too, and the cells missing would leave alone what the row means to
    clear) or when a required column is missing (a line broken in two, not a row a
    spreadsheet wrote), or more that are not empty (a separator in a cell, unquoted: the
    cells after it are under the wrong columns). Fewer elsewhere are columns the row lacks
    (a spreadsheet leaves out the separators of empty cells at the end of a line), and
    empty cells past the header's (a separator at the end of the line) are nothing. None
    when the row is read."""
    width = max((n + 1 for n, name in enumerate(names) if name), default=0)
    needed = max((names.index(column) + 1 for column in REQUIRED if column in names), default=0)
    if len(values) < width and (unterminated or len(values) < needed):
        message = ngettext(
            "this row has %(count)s cell, the header %(columns)s: the line was cut short, it is skipped",
            "this row has %(count)s cells, the header %(columns)s: the line was cut short, it is skipped",
            len(values),
        )
        return RowError("short_row", message % {"count": len(values), "columns": width})
    if any(value.strip() for value in values[len(names) :]):
        message = _(
            "this row has %(count)s cells, the header %(columns)s: a cell holds the separator without "
            "quotes? The row is skipped"
        )
        return RowError("long_row", message % {"count": len(values), "columns": len(names)})
    return None


def _whose(row: dict[str, str], values: list[str], names: list[str]) -> dict[str, str]:
    """The cells of a row that is not whole (``_cut``) that can say whose row it is: a short
    row's but its last (cut in the middle, maybe), none of a long row's."""
    if len(values) > len(names):
        return {}
    return {name: row[name] for name in names[: len(values) - 1] if name in row}


def _list(report: PatronImportReport, row: dict[str, str]) -> None:
    """The row's patron is listed by the file (``expire_missing``), by card or by id; a row
    naming neither is a row whose patron is not known."""
    card, source = row.get("card_number", ""), row.get("source_id", "")
    if card:
        report.cards.add(_key(card))
    if source:
        report.sources.add(source)
    if not (card or source):
        report.unread += 1


def _first_time(card: str, cards: dict[str, int]) -> None:
    """RowError when an earlier row of the file imported this card: the first row wins
    (the second would silently replace that person), in any capitals (one card)."""
    if card.lower() in cards:
        message = _("card %(card)s already imported from line %(line)s: this row is skipped")
        raise RowError("duplicate_card", message % {"card": card, "line": cards[card.lower()]})


def _first_time_source(source: str, sources: dict[str, int]) -> None:
    """RowError when an earlier row of the file imported the patron with this id: the
    first row wins, as for a card."""
    if source in sources:
        message = _("the id %(id)s was already imported from line %(line)s: this row is skipped")
        raise RowError("duplicate_source_id", message % {"id": source, "line": sources[source]})


class RowError(Exception):
    """A row refused. ``listed``: a card here the row is about all the same (the patron is
    in the file: --expire-missing leaves it); ``unread``: whose row it is is not known (as
    an unreadable row, it stops --expire-missing)."""

    def __init__(self, code: str, message: str, *, listed: str = "", unread: bool = False):
        self.code, self.message = code, message
        self.listed, self.unread = listed, unread


def _clean(row: dict, branches: dict, codes: PatronCodes | None = None, date_format: str = "metric") -> dict:
    codes = codes or PatronCodes()
    for column in REQUIRED:
        if not row.get(column):
            raise RowError("missing_value", _("no %(column)s") % {"column": column})
    for column, limit in LIMITS.items():
        if len(row.get(column, "")) > limit:
            raise RowError("value_too_long", too_long(column, row[column], limit))
    branch = branches.get(codes.branch(row["home_branch"]).lower())
    if branch is None:
        raise RowError("no_branch", _("no branch has the code %(code)s") % {"code": row["home_branch"]})
    values = {"last_name": row["last_name"], "home_branch": branch}
    # A column the file does not have leaves the patron's value alone: a file of names
    # and cards only must not blank everybody's email (nor stop their notices).
    values |= {column: row[column] for column in ("first_name", "phone", "email") if column in row}
    if values.get("email"):
        try:
            validate_email(values["email"])
        except ValidationError as error:
            message = _("%(email)s is not an email address") % {"email": values["email"]}
            raise RowError("bad_email", message) from error
    if language := _language(row.get("language", "")):
        if language not in LANGUAGE_CODES:
            raise RowError("bad_language", _("unknown language %(value)s") % {"value": row["language"]})
        values["language"] = language
    if row.get("category"):
        category = codes.category(row["category"]).lower()
        if category not in PatronCategory.values:
            raise RowError("bad_category", _("unknown category %(value)s") % {"value": row["category"]})
        values["category"] = category
    if "card_expires" in row and (not row["card_expires"] or ZERO_DATE.fullmatch(row["card_expires"])):
        values["card_expires"] = None
    elif row.get("card_expires"):
        try:
            values["card_expires"] = parse_date(row["card_expires"], date_format)
        except ValueError as error:
            if date_format == "us":
                message = _("%(value)s is not a date (YYYY-MM-DD or MM/DD/YYYY)")
            else:
                message = _("%(value)s is not a date (YYYY-MM-DD or DD/MM/YYYY)")
            raise RowError("bad_date", message % {"value": row["card_expires"]}) from error
    if row.get("guardian_source_id") or row.get("guardian"):
        if _own_guardian(row):
            message = _("a patron cannot be their own guardian (card %(card)s)")
            raise RowError("bad_guardian", message % {"card": row["card_number"]})
        # Linked once every row is written (_link): the guardian may come later.
    elif "guardian" in row or "guardian_source_id" in row:
        values["guardian"] = None  # empty cells: a child come of age
    if row.get("source_id"):  # an empty cell leaves it alone: the id is the patron's for good
        values["source_id"] = row["source_id"]
    # A PIN that is not one is said, not set (_upsert): the row's other news goes in.
    return values | {"pin": row.get("pin", "")}


def _own_guardian(row: dict) -> bool:
    """Whether the row names its own patron as guardian: by id when it gives the
    guardian's id (read before their card, ``_guardian``), else by card."""
    if row.get("guardian_source_id"):
        return row["guardian_source_id"] == row.get("source_id")
    return row["guardian"].lower() == row["card_number"].lower()


def _is_pin(pin: str) -> bool:
    # ASCII digits, as services.change_pin: "١٢٣٤" is digits to str.isdigit.
    return pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8


def _has_pin(password: str | None) -> bool:
    """Whether an account's password opens it: not an import's "no PIN" (unusable)."""
    return bool(password) and is_password_usable(password)


def _link(card: str, guardian_card: str, guardian_source: str = "") -> bool:
    """The patron of ``card`` in the care of the guardian a row names, by their id in the
    library system or else by their card (the second pass, every row written); returns
    whether the link changed. RowError when the guardian is not found or would make a
    circle: the patron keeps the guardian they had."""
    patron = Patron.objects.with_card(card).select_for_update().first()
    if patron is None:  # deleted meanwhile (the admin)
        return False
    guardian = _guardian(patron, guardian_card, guardian_source)
    if patron.guardian_id == guardian.pk:
        return False
    patron.guardian, patron.imported_at = guardian, timezone.now()
    patron.save(update_fields=["guardian", "imported_at"])
    return True


def _guardian(patron: Patron, guardian_card: str, guardian_source: str = "") -> Patron:
    """The guardian named by a row (by id first: it follows a replaced card), neither the
    patron nor someone whose guardians lead back to them: a patron would be their own ward
    (and a guardian's wards, listed on their account pages and notices, would go round in
    circles)."""
    if guardian_source:
        guardian = Patron.objects.filter(source_id=guardian_source).first()
        if guardian is None:
            message = _(
                "no patron has the id %(id)s in the library system: the patron is imported without "
                "this guardian (one they had is kept)"
            )
            raise RowError("no_guardian", message % {"id": guardian_source})
    else:
        guardian = Patron.objects.with_card(guardian_card).first()
        if guardian is None:
            message = _(
                "no patron has the card %(card)s: the patron is imported without this guardian (one "
                "they had is kept)"
            )
            raise RowError("no_guardian", message % {"card": guardian_card})
    if guardian.pk == patron.pk:
        message = _("a patron cannot be their own guardian (card %(card)s)")
        raise RowError("bad_guardian", message % {"card": patron.card_number})
    if leads_back(guardian, patron.pk):
        message = _(
            "%(guardian)s cannot be the guardian of %(card)s: %(card)s is already the "
            "guardian of %(guardian)s, or of their guardian (a circle)"
        )
        raise RowError(
            "bad_guardian", message % {"card": patron.card_number, "guardian": guardian.card_number}
        )
    return guardian


def _find(row: dict, plan: "_Plan | None" = None, moving: frozenset[str] = frozenset()) -> Patron | None:
    """The patron a row is about (with their account), or None: a new one. By the library
    system's id first: a lost card replaced there comes with a new number, and is still
    this patron. A patron found by card without an id yet is theirs (the id is written).
    RowError when the row's id and card are two patrons' here: which one the row means is
    not guessed, and nothing is changed; but for a new card the patron found by id keeps
    their card anyway (``_Plan.refusal``: the row is theirs). ``moving``: the ids of the
    patrons whose cards are set aside in the row's transaction (``_free_cards``)."""
    patrons = Patron.objects.select_related("user")
    card, source = row.get("card_number", ""), row.get("source_id", "")
    holder = patrons.with_card(card).first()
    if not source:
        return holder
    patron = patrons.filter(source_id=source).first()
    if holder is not None and holder.source_id and holder.source_id in moving:
        holder = None
    if patron is None and holder is not None and holder.source_id:
        message = _(
            "the card %(card)s is the card of the patron whose id in the library system is %(other)s, "
            "not %(id)s: this row is skipped, nothing changed"
        )
        raise RowError(
            "source_id_conflict", message % {"card": card, "other": holder.source_id, "id": source}
        )
    if patron is not None and holder is not None and holder.pk != patron.pk:
        if plan is not None and plan.refusal(patron.card_number, card, source):
            return patron
        message = _(
            "the card %(card)s is another patron's: the patron whose id in the library system is %(id)s "
            "keeps the card %(old)s, this row is skipped"
        )
        raise RowError("card_taken", message % {"card": card, "id": source, "old": patron.card_number})
    return patron or holder


def _pin_hash(
    row: dict, *, set_pins: bool, plan: "_Plan | None" = None, moving: frozenset[str] = frozenset()
) -> str | None:
    """The file's PIN hashed before the row's transaction, when it is to be set: a hash
    takes a good part of a second, and on SQLite the write lock would be held all along
    (other people's writes wait, then fail). None when it will not be set: no valid PIN,
    an existing patron's PIN without ``set_pins``, or the same as theirs."""
    pin = row.get("pin", "")
    if not _is_pin(pin):
        return None
    patron = _find(row, plan, moving)
    current = patron.user.password if patron is not None else None
    if _has_pin(current) and (not set_pins or check_password(pin, current, preferred=PinHasher())):
        return None
    return hash_pin(pin)


@dataclass(frozen=True)
class _Written:
    state: str  # "created", "updated" or "unchanged"
    pin: str  # what became of the file's PIN: "set", "ignored", "bad" (not a PIN, not set) or ""
    card: str  # the patron's card now: the row's, or theirs kept (``card_change``)
    card_change: str = ""  # "replaced", or why the row's new card was refused (``_Plan.refusal``)


def _upsert(
    row: dict,
    branches: dict,
    *,
    set_pins: bool,
    hashed: str | None = None,
    codes: PatronCodes | None = None,
    date_format: str = "metric",
    plan: "_Plan | None" = None,
) -> _Written:
    """The row's patron created or updated; a new card number is theirs unless ``plan``
    refuses it (``_Plan.refusal``): they keep their own, and the row's other values go in."""
    values = _clean(row, branches, codes, date_format)
    pin = values.pop("pin")
    card = row["card_number"]
    patron = _find(row, plan)
    created = patron is None
    if created:
        _refuse_a_number_made_of_a_card(card, plan, with_id=bool(row.get("source_id")))
        patron = Patron(user=_account(card), card_number=card)
        if plan is not None:
            plan.created(card)
    elif patron.language:
        # Chosen on the site since (services.set_language): the patron's, not the file's.
        values.pop("language", None)
    replaced = not created and _key(patron.card_number) != _key(card)
    refused = plan.refusal(patron.card_number, card, row.get("source_id", "")) if replaced and plan else ""
    if refused:  # the row's other values are news all the same
        card, replaced = patron.card_number, False
    # The library's system writes the card: in other capitals, it is this card written anew.
    values["card_number"] = card
    changed = [name for name, value in values.items() if created or getattr(patron, name) != value]
    for name in changed:
        setattr(patron, name, values[name])
    # A patron made in the admin and listed now is the library system's (expire_missing).
    written = created or changed or patron.imported_at is None
    if written:
        patron.imported_at = timezone.now()
    # Only the file's columns that differ: a full save would write back a sign-in lock or
    # a language chosen meanwhile as they were read.
    if created:
        patron.save()
        _first_pin(patron.user, pin if _is_pin(pin) else "", hashed)
        return _Written("created", _first_pin_state(pin), card)
    if replaced:
        _rename_account(patron.user, card)
    if written:
        patron.save(update_fields=[*changed, "imported_at"])
    state = "updated" if changed else "unchanged"
    state, pin_state = _update_pin(patron.user, pin, state, set_pins=set_pins, hashed=hashed)
    return _Written(state, pin_state, card, "replaced" if replaced else refused)


def _refuse_a_number_made_of_a_card(card: str, plan: "_Plan | None", *, with_id: bool) -> None:
    """A row no patron is found for, whose card number a spreadsheet made of a number: no
    new patron (RowError ``card_mangled``). Without the library system's ids nothing else
    tells it from a new card, and each such row was a second patron whose card scans as
    nothing, while --expire-missing ended the real one's card. A new id is a new patron
    there: their card may be a shorter one's (not the zeros' check)."""
    if AS_A_NUMBER.fullmatch(card):
        message = _(
            "the card number %(card)s is written as a spreadsheet writes a number (1.23E+12, 123.0), "
            "its digits maybe lost: no patron was created"
        )
        raise RowError("card_mangled", message % {"card": card}, unread=True)
    padded = plan.padded_card(card) if plan is not None and not with_id else ""
    if padded:
        message = _(
            "the card number %(card)s is the card %(old)s without its leading zeros (a spreadsheet read "
            "it as a number?): no patron was created, the patron with the card %(old)s is unchanged"
        )
        raise RowError("card_mangled", message % {"card": card, "old": padded}, listed=padded)


def _update_pin(user, pin: str, state: str, *, set_pins: bool, hashed: str | None) -> tuple[str, str]:
    """An existing patron's (state, what became of the file's PIN)."""
    if not pin:
        return state, ""
    if not _has_pin(user.password):
        # Created without a PIN (an empty cell, a first file without PINs): nobody's
        # PIN is replaced, no session to end; the file's is theirs, as a new patron's.
        if not _is_pin(pin):
            return state, "bad"
        set_pin(user, pin, hashed=hashed)
        return "updated", "set"
    if not set_pins:
        return state, "ignored"  # a PIN cell that is not a PIN too: theirs is kept anyway
    if not _is_pin(pin):
        return state, "bad"
    # Compared before the transaction (_pin_hash): None is the same PIN as theirs.
    if hashed is None:
        return state, ""
    set_pin(user, pin, hashed=hashed)  # as a PIN change: sessions and API tokens end
    return "updated", "set"


def _rename_account(user, card: str) -> None:
    """A replaced card's account takes the new number as its user name, so that the old
    number is free for a card issued later; its PIN, sessions and tokens stay. Kept when
    another account has that name: the patron signs in all the same (the sign-in finds
    the account through the card, ``services._check_pin``), and the old card does not."""
    User = get_user_model()
    name = User.USERNAME_FIELD
    if User._default_manager.filter(**{name: card}).exclude(pk=user.pk).exists():
        return
    setattr(user, name, card)
    user.save(update_fields=[name])


def _first_pin_state(pin: str) -> str:
    if not pin:
        return ""
    return "set" if _is_pin(pin) else "bad"


def _account(card: str):
    """A new user for a new patron, or the one a deleted patron left behind."""
    User = get_user_model()
    user = User._default_manager.filter(**{User.USERNAME_FIELD: card}).first()
    if user is None:
        return User._default_manager.create_user(**{User.USERNAME_FIELD: card})
    if not _left_behind(user):
        message = _(
            "the card number is the user name of another account (staff, disabled or another "
            "patron's): rename or delete that account first"
        )
        raise RowError("username_taken", message)
    return user


def _left_behind(user) -> bool:
    """An account with nothing of its own left: no patron, no staff role nor rights,
    not disabled by an administrator."""
    return (
        user.is_active
        and not (user.is_staff or user.is_superuser)
        and not Patron.objects.filter(user=user).exists()
        and not user.staff_roles.exists()
        and not user.groups.exists()
        and not user.user_permissions.exists()
    )


def _first_pin(user, pin: str, hashed: str | None = None) -> None:
    """A new patron's PIN, or none. The account may be one left behind: whatever it
    could open (a password, sessions, API tokens) ends here."""
    if pin:
        set_pin(user, pin, hashed=hashed)
        return
    user.set_unusable_password()
    user.save(update_fields=["password"])
    user.api_tokens.all().delete()
