"""Import patrons from a CSV file, keyed by card number (re-import updates).

Columns (header row, any order; ``,`` ``;`` tab or ``|`` separated; the encoding as for
copies, see ``catalogue.csv_import``: UTF-8, else Windows-1252, else refused unless
``encoding`` names it): ``card_number`` (required), ``first_name``, ``last_name``
(required), ``email``, ``phone``, ``home_branch`` (a branch code, required),
``language`` (fr/en), ``category`` (adult/child), ``guardian`` (the guardian's card
number, imported in the same file or before; not the patron, nor one of their wards:
``bad_guardian``), ``card_expires`` (YYYY-MM-DD), ``pin``. Values are cleaned as the
copies import does (``catalogue.marcdata.clean``), without control or invisible characters.
An empty cell of a column the file has clears the patron's value (an email, a phone, an
expiry, a guardian: a child come of age in the library system loses their guardian here,
who would otherwise keep collecting, reading and cancelling for them); a column the file
lacks leaves it alone.

PINs (4–8 digits). A new patron gets the file's PIN, or none (unable to sign in until
staff set one). An existing patron keeps theirs: a nightly file would otherwise re-hash
every PIN (a full PBKDF2 each: hours for 100,000 patrons) and sign every patron out.
``set_pins`` (``--set-pins``) replaces the PINs that differ, as a PIN change does: the
patron's sessions and API tokens end. Checking that a PIN differs costs a hash too:
it is an option for the day PINs move from another system, not for every night.

A card number that is already the user name of an account without a patron (its patron
was deleted in the admin) reuses that account, with no PIN, session or token of the old
one; an account that is staff's, or disabled, is never turned into a patron
(``username_taken``).

Header cells are matched case- and space-insensitively ("Card number" is
``card_number``). A row with a problem is reported with its line number and skipped; the
rest goes in. A card number given again later in the file: the first row wins, the
later one is reported (``duplicate_card``). Each row is written in its own transaction:
a value the database refuses ends that row only (``database_error``).
``PatronImportReport.failed``: the file could not be read (unreadable, refused for its
encoding, required columns missing) or no patron was imported from it.
"""

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, transaction
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
from emporter.catalogue.marcdata import clean
from emporter.network.models import Branch

from .models import Patron, PatronCategory
from .pins import PinHasher, hash_pin
from .services import set_pin, too_easy

REQUIRED = ("card_number", "last_name", "home_branch")
# Stored as they are: a longer value is reported, not cut (nor refused by PostgreSQL).
LIMITS = {
    name: Patron._meta.get_field(name).max_length
    for name in ("card_number", "first_name", "last_name", "email", "phone")
}


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
    problems: list[Problem] = field(default_factory=list)
    # Not read: unreadable, refused for its encoding, or without the required columns.
    fatal: bool = False

    @property
    def failed(self) -> bool:
        """Not read, or no patron imported from it: the command exits with an error."""
        return self.fatal or not (self.created + self.updated + self.unchanged)

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
        return text


def import_patrons(
    path, *, encoding: str | None = None, set_pins: bool = False, stdout: TextIO | None = None
) -> PatronImportReport:
    """Raises ValueError before reading when ``encoding`` names no encoding."""
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

    encoding = choose_encoding(path, forced, problem)
    if encoding is None:
        report.fatal = True
        return report
    report.encoding = encoding.removesuffix("-sig")
    branches = {b.code.lower(): b for b in Branch.objects.all()}
    rows = read_rows(path, encoding, skip)
    names = [header_name(name) for name in next(rows, (1, []))[1]]
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        problem(1, "bad_header", _("missing columns: %(columns)s") % {"columns": ", ".join(missing)})
        report.fatal = True
        return report
    cards: dict[str, int] = {}  # card number: the line it was imported from
    read = 0
    for line, values in rows:
        read += 1
        row = _cells(names, values)
        try:
            _first_time(row.get("card_number", ""), cards)
            hashed = _pin_hash(row, set_pins=set_pins)
            with transaction.atomic():
                state, pin = _upsert(row, branches, set_pins=set_pins, hashed=hashed)
        except RowError as error:
            skip(line, error.code, error.message)
        except DatabaseError as error:
            skip(line, "database_error", database_refused(error))
        else:
            cards[row["card_number"].lower()] = line
            report.created += state == "created"
            report.updated += state == "updated"
            report.unchanged += state == "unchanged"
            report.pins_set += pin == "set"
            report.pins_ignored += pin == "ignored"
            if pin == "set" and too_easy(row["pin"]):
                # Set all the same (the patron signs in as before the move), but said:
                # a PIN change refuses such a PIN (services.too_easy).
                # The line only: a list of cards with easy PINs is a list of cards to try.
                message = _("the PIN is easy to guess; it was set, ask the patron to change it")
                problem(line, "pin_too_easy", message)
    if not read and not report.skipped:
        problem(None, "no_rows", no_rows())
    return report


# Names keep the joiners of their script; the rest is looked up or typed as it is.
NAME_COLUMNS = frozenset(("first_name", "last_name"))


def _cells(names: list[str], values: list[str]) -> dict[str, str]:
    """A row's values by column, cleaned as the copies import does: no control or
    invisible character (a NUL, an ESC, a zero-width space, a BOM left by joining two
    files), UTF-8 read as Windows-1252 repaired ("RÃ©mi" -> "Rémi"), spaces collapsed.
    The branch code is looked up as it is written: a damaged one is reported, as any
    unknown code."""
    return {name: _cell(name, value) for name, value in zip(names, values, strict=False) if name}


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


def _clean(row: dict, branches: dict) -> dict:
    for column in REQUIRED:
        if not row.get(column):
            raise RowError("missing_value", _("no %(column)s") % {"column": column})
    for column, limit in LIMITS.items():
        if len(row.get(column, "")) > limit:
            raise RowError("value_too_long", too_long(column, row[column], limit))
    branch = branches.get(row["home_branch"].lower())
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
    if row.get("language"):
        if row["language"].lower() not in ("fr", "en"):
            raise RowError("bad_language", _("unknown language %(value)s") % {"value": row["language"]})
        values["language"] = row["language"].lower()
    if row.get("category"):
        if row["category"].lower() not in PatronCategory.values:
            raise RowError("bad_category", _("unknown category %(value)s") % {"value": row["category"]})
        values["category"] = row["category"].lower()
    if "card_expires" in row and not row["card_expires"]:
        values["card_expires"] = None
    elif row.get("card_expires"):
        try:
            values["card_expires"] = datetime.date.fromisoformat(row["card_expires"])
        except ValueError as error:
            raise RowError(
                "bad_date", _("%(value)s is not a date (YYYY-MM-DD)") % {"value": row["card_expires"]}
            ) from error
    if "guardian" in row:
        values["guardian"] = _guardian(row["card_number"], row["guardian"]) if row["guardian"] else None
    pin = row.get("pin", "")
    # ASCII digits, as services.change_pin: "١٢٣٤" is digits to str.isdigit.
    if pin and not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        raise RowError("bad_pin", _("a PIN is 4 to 8 digits"))
    return values | {"pin": pin}


# Farther than any family: a longer chain is a cycle made before this check.
MAX_GUARDIANS = 10


def _guardian(card: str, guardian_card: str) -> Patron:
    """The guardian named by a row, neither the patron nor someone whose guardians lead
    back to them: a patron would be their own ward (and a guardian's wards, listed on
    their account pages and notices, would go round in circles)."""
    if guardian_card.lower() == card.lower():
        message = _("a patron cannot be their own guardian (card %(card)s)")
        raise RowError("bad_guardian", message % {"card": card})
    guardian = Patron.objects.with_card(guardian_card).first()
    if guardian is None:
        raise RowError("no_guardian", _("no patron has the card %(card)s") % {"card": guardian_card})
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
    an existing patron's without ``set_pins``, or the same as theirs."""
    pin = row.get("pin", "")
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8):
        return None
    current = (
        Patron.objects.with_card(row.get("card_number", "")).values_list("user__password", flat=True).first()
    )
    if current is not None and (not set_pins or check_password(pin, current, preferred=PinHasher())):
        return None
    return hash_pin(pin)


def _upsert(row: dict, branches: dict, *, set_pins: bool, hashed: str | None = None) -> tuple[str, str]:
    """("created", "updated" or "unchanged"; what became of the file's PIN: "set",
    "ignored" or "")."""
    values = _clean(row, branches)
    pin = values.pop("pin")
    card = row["card_number"]
    patron = Patron.objects.with_card(card).select_related("user").first()
    created = patron is None
    if created:
        patron = Patron(user=_account(card), card_number=card)
    # The library's system writes the card: in other capitals, it is this card written anew.
    values["card_number"] = card
    changed = [name for name, value in values.items() if created or getattr(patron, name) != value]
    for name in changed:
        setattr(patron, name, values[name])
    # Only the file's columns that differ: a full save would write back a sign-in lock or
    # a language chosen meanwhile as they were read.
    if created:
        patron.save()
        _first_pin(patron.user, pin, hashed)
        return "created", "set" if pin else ""
    if changed:
        patron.save(update_fields=changed)
    state = "updated" if changed else "unchanged"
    if not pin:
        return state, ""
    if not set_pins:
        return state, "ignored"
    # Compared before the transaction (_pin_hash): None is the same PIN as theirs.
    if hashed is None:
        return state, ""
    set_pin(patron.user, pin, hashed=hashed)  # as a PIN change: sessions and API tokens end
    return "updated", "set"


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
