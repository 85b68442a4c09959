"""Import patrons from a CSV file, keyed by card number (re-import updates).

Columns (header row, any order; ``,`` ``;`` tab or ``|`` separated; the encoding as for
copies, see ``catalogue.csv_import``: UTF-8, else Windows-1252, else refused unless
``encoding`` names it): ``card_number`` (required), ``first_name``, ``last_name``
(required), ``email``, ``phone``, ``home_branch`` (a branch code, required),
``language`` (fr/en: set when the patron is created, never afterwards: the site's
language switch is the patron's, ``services.set_language``), ``category`` (adult/child),
``guardian`` (the guardian's card number, anywhere in the file or imported before),
``card_expires`` (YYYY-MM-DD, or day first: 31/12/2026, 31-12-2026, 31.12.2026; month
first with ``date_format="us"``, see ``parse_date``), ``pin``. Values are cleaned as the
copies import does (``catalogue.marcdata.clean``), without control or invisible characters.
An empty cell of a column the file has clears the patron's value (an email, a phone, an
expiry, a guardian: a child come of age in the library system loses their guardian here,
who would otherwise keep collecting, reading and cancelling for them); a column the file
lacks leaves it alone.

Guardians are linked once every row of the file is written (a child may come before
their guardian). A guardian the file names but nobody here has: the patron is imported
all the same, an earlier guardian of theirs kept, and the line reported (``no_guardian``);
a link that would make a circle (the patron one of their guardian's guardians) likewise
(``bad_guardian``). A patron named as their own guardian is skipped (``bad_guardian``).

PINs (4–8 digits). A new patron gets the file's PIN, or none (unable to sign in until
staff set one); so does an existing patron without one (created without a PIN, the
next file has it). A PIN cell that is not a PIN (a spreadsheet dropped the leading zero
of "0123"): a patron without a PIN is imported without it, the line reported
(``bad_pin``); an existing patron's PIN is kept. An existing patron keeps theirs: a
nightly file would otherwise re-hash every PIN (a full PBKDF2 each: hours for 100,000
patrons) and sign every patron out.
``set_pins`` (``--set-pins``) replaces the PINs that differ, as a PIN change does: the
patron's sessions and API tokens end. Checking that a PIN differs costs a hash too:
it is an option for the day PINs move from another system, not for every night.

A card number that is already the user name of an account without a patron (its patron
was deleted in the admin) reuses that account, with no PIN, session or token of the old
one; an account that is staff's, or disabled, is never turned into a patron
(``username_taken``).

Header cells are matched case- and space-insensitively ("Card number" is
``card_number``). Koha's column names (its patron export, a report on ``borrowers``) are
read as ours (``ALIASES``): ``cardnumber``, ``surname``, ``firstname``, ``branchcode``,
``categorycode``, ``dateexpiry``, ``lang``; ``mobile`` is the phone of a row whose
``phone`` cell is empty or absent. A file naming one column twice (``cardnumber`` and
``card_number``) is refused. Koha's ``guarantorid`` is a borrowernumber, not a card
number: it is not read as ``guardian``, and the file's problems say so once.
``codes`` (``--codes``, the JSON file ``import_marc`` takes: see ``load_patron_codes``)
maps the export's branch and category codes to ours (``{"branches": {"BIB01": "PDI"},
"categories": {"PT": "adult", "J": "child"}}``); a code it does not map is looked up as
it is. ``language``: "fr-FR", "fr_FR" or "FR" is "fr"; "default" or an empty cell leaves
it alone (a new patron gets the site's).

A row with a problem is reported with its line number and skipped; the rest goes in. A
card number given again later in the file: the first row wins, the later one is reported
(``duplicate_card``). Each row is written in its own transaction: a value the database
refuses ends that row only (``database_error``).
``PatronImportReport.failed``: the file could not be read (unreadable, refused for its
encoding, required columns missing) or no patron was imported from it. Its summary says
how many patrons with a valid card here the file does not list.

``import_patron_files`` (the command) reads several files as one export and may end the
cards of the patrons it does not list (``expire_missing``): see ``_expire_missing``.
"""

import datetime
import re
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

from .models import Patron, PatronCategory
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
}
# Koha's guarantor: a borrowernumber (its own id of the patron), not a card number.
GUARANTOR_IDS = frozenset(("guarantorid", "guarantor_id"))
# Languages as Koha and browsers write them ("fr-FR"); "default" is the OPAC's own.
NO_LANGUAGE = frozenset(("", "default"))
# Koha's "dateformat" preference: day first ("metric", and "dmydot" with dots), or month first.
DATE_FORMATS = ("metric", "us")
SEPARATED_DATE = re.compile(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{4})")
# Stored as they are: a longer value is reported, not cut (nor refused by PostgreSQL).
LIMITS = {
    name: Patron._meta.get_field(name).max_length
    for name in ("card_number", "first_name", "last_name", "email", "phone")
}
# Codes of the rows ``read_rows`` could not read: whose they were is not known.
UNREAD = frozenset(("bad_row", "bad_encoding", "wrong_separator"))
# ``expire_missing`` ends no card when the export leaves out more than this share of the
# patrons whose card is valid here (a truncated export, card numbers a spreadsheet changed).
EXPIRE_AT_MOST = 0.5


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
    guarantors_ignored: int = 0  # rows with a Koha guarantorid (a borrowernumber): not read
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
    # The card numbers the file lists (in capitals), skipped rows' included.
    cards: set[str] = field(default_factory=set, repr=False)

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
    stdout: TextIO | None = None,
) -> PatronImportReport:
    """One file. Raises ValueError before reading when ``encoding`` names no encoding,
    ``codes`` is not a code map (or maps to a branch or category that does not exist),
    or ``date_format`` is not one of DATE_FORMATS."""
    encoding_option(encoding)
    codes = _options(codes, date_format)
    report = _import_file(
        path, encoding=encoding, set_pins=set_pins, codes=codes, date_format=date_format, stdout=stdout
    )
    if not report.failed:
        report.not_listed = len(_not_listed(report.cards))
    return report


def _import_file(
    path,
    *,
    encoding: str | None = None,
    set_pins: bool = False,
    codes: "PatronCodes | None" = None,
    date_format: str = "metric",
    stdout: TextIO | None = None,
    second_passes: list | None = None,
) -> PatronImportReport:
    """``second_passes``: where to leave the guardian links' pass, for the caller to run
    once every file is read (None: run at the end of this file)."""
    codes = codes or PatronCodes()
    forced = encoding_option(encoding)
    path = Path(path)
    report = PatronImportReport(path=str(path))

    def problem(line, code, message):
        item = Problem(str(path), None, None, line, code, message)
        report.problems.append(item)
        if stdout is not None:
            stdout.write(f"{item}\n")

    def skip(line, code, message, rows=1):
        report.skipped += rows
        problem(line, code, message)

    def skip_unread(line, code, message, rows=1):
        if code in UNREAD:
            report.unread += rows
        skip(line, code, message, rows)

    encoding = choose_encoding(path, forced, problem)
    if encoding is None:
        report.fatal = True
        return report
    report.encoding = encoding.removesuffix("-sig")
    branches = {b.code.lower(): b for b in Branch.objects.all()}
    rows = read_rows(path, encoding, skip_unread)
    header = [header_name(name) for name in next(rows, (1, []))[1]]
    names = [ALIASES.get(name, name) for name in header]
    twice = _named_twice(header, names)
    if twice:
        problem(1, "bad_header", twice)
        report.fatal = True
        return report
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        problem(1, "bad_header", _("missing columns: %(columns)s") % {"columns": ", ".join(missing)})
        report.fatal = True
        return report
    guarantor_column = next((name for name in header if name in GUARANTOR_IDS), "")
    report.has_expiry_column = "card_expires" in names
    cards: dict[str, int] = {}  # card number: the line it was imported from
    states: dict[str, str] = {}  # card number (in capitals): "created", "updated" or "unchanged"
    links: list[tuple[int, str, str]] = []  # (line, card, the guardian's card): the second pass
    read = 0
    for line, values in rows:
        read += 1
        row = _cells(names, values)
        report.guarantors_ignored += bool(row.pop(guarantor_column, ""))
        if (language := _language(row.get("language", ""))) and language not in LANGUAGE_CODES:
            # Koha's "es-ES": the rest of the row is news all the same (its email, its
            # card's end); the language was only ever the new patron's.
            message = _("unknown language %(value)s: the patron's language is left as it was")
            problem(line, "bad_language", message % {"value": row.pop("language")})
        card = row.get("card_number", "")
        if card:
            report.cards.add(_key(card))
        else:
            report.unread += 1  # whose row it was is not known
        try:
            _first_time(card, cards)
            hashed = _pin_hash(row, set_pins=set_pins)
            with transaction.atomic():
                state, pin = _upsert(
                    row, branches, set_pins=set_pins, hashed=hashed, codes=codes, date_format=date_format
                )
        except RowError as error:
            skip(line, error.code, error.message)
        except DatabaseError as error:
            skip(line, "database_error", database_refused(error))
        else:
            cards[card.lower()] = line
            states[_key(card)] = state
            if row.get("guardian"):
                links.append((line, card, row["guardian"]))
            report.created += state == "created"
            report.updated += state == "updated"
            report.unchanged += state == "unchanged"
            report.pins_set += pin == "set"
            report.pins_ignored += pin == "ignored"
            if pin == "bad":
                report.pins_refused += 1
                message = _("a PIN is 4 to 8 digits: the patron was imported without this one")
                problem(line, "bad_pin", message)
            if pin == "set" and too_easy(row["pin"]):
                # Set all the same (the patron signs in as before the move), but said:
                # a PIN change refuses such a PIN (services.too_easy).
                # The line only: a list of cards with easy PINs is a list of cards to try.
                message = _("the PIN is easy to guess; it was set, ask the patron to change it")
                problem(line, "pin_too_easy", message)

    # Second pass: every row is written, a child listed before their guardian finds them
    # (and, for several files read as one export, every file: ``import_patron_files``).
    def second_pass():
        for line, card, guardian_card in links:
            try:
                with transaction.atomic():
                    linked = _link(card, guardian_card)
            except RowError as error:
                report.guardians_not_linked += 1
                problem(line, error.code, error.message)
            except DatabaseError as error:
                report.guardians_not_linked += 1
                problem(line, "database_error", database_refused(error))
            else:
                if linked and states[_key(card)] == "unchanged":
                    states[_key(card)] = "updated"
                    report.unchanged -= 1
                    report.updated += 1

    if second_passes is None:
        second_pass()
    else:
        second_passes.append(second_pass)
    if report.guarantors_ignored:
        message = ngettext(
            "%(count)s row names a guarantor in %(column)s: a borrowernumber of the library system, not "
            "a card number, so it was ignored (a guardian column with the guardian's card number links "
            "them)",
            "%(count)s rows name a guarantor in %(column)s: a borrowernumber of the library system, not "
            "a card number, so it was ignored (a guardian column with the guardian's card number links "
            "them)",
            report.guarantors_ignored,
        )
        problem(
            None,
            "guarantor_ignored",
            message % {"count": report.guarantors_ignored, "column": guarantor_column},
        )
    if not read and not report.skipped:
        problem(None, "no_rows", no_rows())
    return report


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


def _not_listed(cards: set[str]) -> list[tuple[int, str, str, str]]:
    """(pk, card, first name, last name) of the patrons with a valid card here whose card
    is not in ``cards``."""
    rows = _valid_cards().values_list("pk", "card_number", "first_name", "last_name")
    return [row for row in rows.iterator(chunk_size=10_000) if _key(row[1]) not in cards]


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
    stdout: TextIO | None = None,
) -> PatronImports:
    """The files, one after the other, as one export: a patron may be in any of them.
    Raises ValueError before reading when an option is wrong (``import_patrons``)."""
    encoding_option(encoding)
    codes = _options(codes, date_format)
    # The valid cards before this run: those it creates are listed, and counted in the
    # truncated-export guard they would hide a whole export of changed card numbers.
    run = PatronImports(expire_missing=expire_missing, valid_before=_valid_cards().count())
    second_passes = []
    for path in paths:
        report = _import_file(
            path,
            encoding=encoding,
            set_pins=set_pins,
            codes=codes,
            date_format=date_format,
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
    absent = _not_listed(listed)
    run.not_listed = len(absent)
    if expire_missing:
        _expire_missing(run, absent, stdout)
    return run


def _expire_missing(run: PatronImports, absent: list, stdout: TextIO | None) -> None:
    """The export is the library system's whole list of patrons: a patron with a valid
    card here that it does not list has left it, and their card ends (expires yesterday,
    never later than it did): they may still sign in and read their account, their
    requests keep their place but take no copy (``holds.services.borrowing_patrons``),
    and a later export that lists them again gives their card its date back (the files
    must have a ``card_expires`` column). A child is not ended with their guardian: they
    have their own card. Ends none, and says why, when a row could not be read or had no
    card number (it may be a listed patron's), when a file has no ``card_expires``
    column, or when the export leaves out more than EXPIRE_AT_MOST of the valid cards (a
    truncated export, or card numbers a spreadsheet changed: "0001234" read as 1234)."""
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
    return visible(clean(value), keep=JOINERS if name in NAME_COLUMNS else "")


def _first_time(card: str, cards: dict[str, int]) -> None:
    """RowError when an earlier row of the file imported this card: the first row wins
    (the second would silently replace that person), in any capitals (one card)."""
    if card.lower() in cards:
        message = _("card %(card)s already imported from line %(line)s: this row is skipped")
        raise RowError("duplicate_card", message % {"card": card, "line": cards[card.lower()]})


class RowError(Exception):
    def __init__(self, code: str, message: str):
        self.code, self.message = code, message


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
    if "card_expires" in row and not row["card_expires"]:
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
    if row.get("guardian"):
        if row["guardian"].lower() == row["card_number"].lower():
            message = _("a patron cannot be their own guardian (card %(card)s)")
            raise RowError("bad_guardian", message % {"card": row["card_number"]})
        # Linked once every row is written (_link): the guardian may come later.
    elif "guardian" in row:
        values["guardian"] = None  # an empty cell: a child come of age
    # A PIN that is not one is said, not set (_upsert): the row's other news goes in.
    return values | {"pin": row.get("pin", "")}


def _is_pin(pin: str) -> bool:
    # ASCII digits, as services.change_pin: "١٢٣٤" is digits to str.isdigit.
    return pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8


def _has_pin(password: str | None) -> bool:
    """Whether an account's password opens it: not an import's "no PIN" (unusable)."""
    return bool(password) and is_password_usable(password)


# Farther than any family: a longer chain is a cycle made before this check.
MAX_GUARDIANS = 10


def _link(card: str, guardian_card: str) -> bool:
    """The patron of ``card`` in the care of the patron of ``guardian_card`` (the second
    pass, every row written); returns whether the link changed. RowError when the
    guardian is not found or would make a circle: the patron keeps the guardian they had."""
    patron = Patron.objects.with_card(card).select_for_update().first()
    if patron is None:  # deleted meanwhile (the admin)
        return False
    guardian = _guardian(card, guardian_card)
    if patron.guardian_id == guardian.pk:
        return False
    patron.guardian = guardian
    patron.save(update_fields=["guardian"])
    return True


def _guardian(card: str, guardian_card: str) -> Patron:
    """The guardian named by a row, neither the patron nor someone whose guardians lead
    back to them: a patron would be their own ward (and a guardian's wards, listed on
    their account pages and notices, would go round in circles)."""
    if guardian_card.lower() == card.lower():
        message = _("a patron cannot be their own guardian (card %(card)s)")
        raise RowError("bad_guardian", message % {"card": card})
    guardian = Patron.objects.with_card(guardian_card).first()
    if guardian is None:
        message = _(
            "no patron has the card %(card)s: the patron is imported without this guardian (one they "
            "had is kept)"
        )
        raise RowError("no_guardian", message % {"card": guardian_card})
    above = guardian.guardian
    for _step in range(MAX_GUARDIANS):
        if above is None:
            return guardian
        if above.card_number.lower() == card.lower():
            message = _(
                "%(guardian)s cannot be the guardian of %(card)s: %(card)s is already the "
                "guardian of %(guardian)s, or of their guardian (a circle)"
            )
            raise RowError("bad_guardian", message % {"card": card, "guardian": guardian_card})
        above = above.guardian
    return guardian


def _pin_hash(row: dict, *, set_pins: bool) -> str | None:
    """The file's PIN hashed before the row's transaction, when it is to be set: a hash
    takes a good part of a second, and on SQLite the write lock would be held all along
    (other people's writes wait, then fail). None when it will not be set: no valid PIN,
    an existing patron's PIN without ``set_pins``, or the same as theirs."""
    pin = row.get("pin", "")
    if not _is_pin(pin):
        return None
    current = (
        Patron.objects.with_card(row.get("card_number", "")).values_list("user__password", flat=True).first()
    )
    if _has_pin(current) and (not set_pins or check_password(pin, current, preferred=PinHasher())):
        return None
    return hash_pin(pin)


def _upsert(
    row: dict,
    branches: dict,
    *,
    set_pins: bool,
    hashed: str | None = None,
    codes: PatronCodes | None = None,
    date_format: str = "metric",
) -> tuple[str, str]:
    """("created", "updated" or "unchanged"; what became of the file's PIN: "set",
    "ignored", "bad" (not a PIN, not set) or "")."""
    values = _clean(row, branches, codes, date_format)
    pin = values.pop("pin")
    card = row["card_number"]
    patron = Patron.objects.with_card(card).select_related("user").first()
    created = patron is None
    if created:
        patron = Patron(user=_account(card), card_number=card)
    elif patron.language:
        # Chosen on the site since (services.set_language): the patron's, not the file's.
        values.pop("language", None)
    # The library's system writes the card: in other capitals, it is this card written anew.
    values["card_number"] = card
    changed = [name for name, value in values.items() if created or getattr(patron, name) != value]
    for name in changed:
        setattr(patron, name, values[name])
    # Only the file's columns that differ: a full save would write back a sign-in lock or
    # a language chosen meanwhile as they were read.
    if created:
        patron.save()
        _first_pin(patron.user, pin if _is_pin(pin) else "", hashed)
        return "created", _first_pin_state(pin)
    if changed:
        patron.save(update_fields=changed)
    state = "updated" if changed else "unchanged"
    if not pin:
        return state, ""
    if not _has_pin(patron.user.password):
        # Created without a PIN (an empty cell, a first file without PINs): nobody's
        # PIN is replaced, no session to end; the file's is theirs, as a new patron's.
        if not _is_pin(pin):
            return state, "bad"
        set_pin(patron.user, pin, hashed=hashed)
        return "updated", "set"
    if not set_pins:
        return state, "ignored"  # a PIN cell that is not a PIN too: theirs is kept anyway
    if not _is_pin(pin):
        return state, "bad"
    # Compared before the transaction (_pin_hash): None is the same PIN as theirs.
    if hashed is None:
        return state, ""
    set_pin(patron.user, pin, hashed=hashed)  # as a PIN change: sessions and API tokens end
    return "updated", "set"


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
