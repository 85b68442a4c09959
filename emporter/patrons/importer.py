"""Import patrons from a CSV file, keyed by card number (re-import updates).

Columns (header row, any order; ``,`` ``;`` or tab separated; UTF-8, else Windows-1252):
``card_number`` (required), ``first_name``, ``last_name`` (required), ``email``,
``phone``, ``home_branch`` (a branch code, required), ``language`` (fr/en),
``category`` (adult/child), ``guardian`` (the guardian's card number, imported in the
same file or before), ``card_expires`` (YYYY-MM-DD), ``pin`` (4–8 digits; empty keeps
the current PIN, or leaves a new patron unable to sign in until staff set one).

A row with a problem is reported with its line number and skipped; the rest goes in.
"""

import csv
import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from emporter.catalogue.csv_import import detect_encoding
from emporter.catalogue.importer import Problem
from emporter.network.models import Branch

from .models import Patron, PatronCategory

REQUIRED = ("card_number", "last_name", "home_branch")


@dataclass
class PatronImportReport:
    path: str
    created: int = 0
    updated: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        return _("%(file)s: patrons %(created)s created, %(updated)s updated, %(skipped)s skipped.") % {
            "file": self.path,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
        }


def import_patrons(path, *, stdout: TextIO | None = None) -> PatronImportReport:
    path = Path(path)
    report = PatronImportReport(path=str(path))

    def problem(line, code, message):
        item = Problem(str(path), None, None, line, code, message)
        report.problems.append(item)
        if stdout is not None:
            stdout.write(f"{item}\n")

    try:
        encoding = detect_encoding(path)
    except OSError as exc:
        problem(None, "unreadable", _("cannot read the file: %(error)s") % {"error": exc.strerror})
        return report
    branches = {b.code.lower(): b for b in Branch.objects.all()}
    with open(path, encoding=encoding, newline="") as fh:
        sample = fh.read(8192)
        fh.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(fh, dialect=dialect)
        reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames or []]
        missing = [c for c in REQUIRED if c not in reader.fieldnames]
        if missing:
            problem(1, "bad_header", _("missing columns: %(columns)s") % {"columns": ", ".join(missing)})
            return report
        for row in reader:
            line = reader.line_num
            try:
                with transaction.atomic():
                    created = _upsert({k: (v or "").strip() for k, v in row.items() if k}, branches)
            except RowError as error:
                report.skipped += 1
                problem(line, error.code, error.message)
            else:
                report.created += created
                report.updated += not created
    return report


class RowError(Exception):
    def __init__(self, code: str, message: str):
        self.code, self.message = code, message


def _clean(row: dict, branches: dict) -> dict:
    for column in REQUIRED:
        if not row.get(column):
            raise RowError("missing_value", _("no %(column)s") % {"column": column})
    branch = branches.get(row["home_branch"].lower())
    if branch is None:
        raise RowError("no_branch", _("no branch has the code %(code)s") % {"code": row["home_branch"]})
    values = {
        "first_name": row.get("first_name", ""),
        "last_name": row["last_name"],
        "home_branch": branch,
        "phone": row.get("phone", ""),
        "email": row.get("email", ""),
    }
    if values["email"]:
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
    if row.get("card_expires"):
        try:
            values["card_expires"] = datetime.date.fromisoformat(row["card_expires"])
        except ValueError as error:
            raise RowError(
                "bad_date", _("%(value)s is not a date (YYYY-MM-DD)") % {"value": row["card_expires"]}
            ) from error
    if row.get("guardian"):
        guardian = Patron.objects.filter(card_number=row["guardian"]).first()
        if guardian is None:
            raise RowError("no_guardian", _("no patron has the card %(card)s") % {"card": row["guardian"]})
        values["guardian"] = guardian
    pin = row.get("pin", "")
    if pin and not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise RowError("bad_pin", _("a PIN is 4 to 8 digits"))
    return values | {"pin": pin}


def _upsert(row: dict, branches: dict) -> bool:
    values = _clean(row, branches)
    pin = values.pop("pin")
    card = row["card_number"]
    patron = Patron.objects.filter(card_number=card).select_related("user").first()
    created = patron is None
    if created:
        user = get_user_model().objects.create_user(username=card)
        patron = Patron(user=user, card_number=card)
    for name, value in values.items():
        setattr(patron, name, value)
    patron.save()
    if pin:
        patron.user.set_password(pin)
        patron.user.save(update_fields=["password"])
    elif created:
        patron.user.set_unusable_password()
        patron.user.save(update_fields=["password"])
    return created
