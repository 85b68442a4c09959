"""``manage.py import_patrons FILE… [--encoding NAME] [--set-pins] [--expire-missing]
[--wait MINUTES]``.

Exit status 1 when a file could not be read (unreadable, refused for its encoding,
required columns missing) or no patron was imported from it, or when another import was
still being read after ``--wait`` minutes; 0 otherwise, even when rows were skipped
(they are listed).

It takes the imports' turn, as ``import_marc`` does (``imports.services.read_in_turn``):
a file sent from the imports page, or another command, is read before or after it, never
beside it (two imports of the same cards at once race); the run shows on that page. The
files are read as one export (``patrons.importer.import_patron_files``)."""

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from emporter.catalogue.importer import not_imported
from emporter.imports.models import Kind
from emporter.imports.services import ImportBusy, read_in_turn, wait_option
from emporter.patrons.importer import import_patron_files


class Command(BaseCommand):
    help = (
        "Import or update patrons from CSV files (keyed by card number); bad rows are listed and "
        "skipped. Exit status 1 when a file could not be read (unreadable, refused for its encoding, "
        "required columns missing) or no patron was imported from it; 0 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--encoding",
            metavar="NAME",
            help="the files' encoding when it is neither UTF-8 nor Windows-1252 (mac_roman, cp850…)",
        )
        parser.add_argument(
            "--set-pins",
            action="store_true",
            help="replace existing patrons' PINs that differ from the file (ends their sessions); slow",
        )
        parser.add_argument(
            "--expire-missing",
            action="store_true",
            help="the files are the library system's whole list of patrons: the card of a patron they "
            "do not list expires yesterday (their requests wait, taking no copy); a later file that "
            "lists them gives it its date back. Not when a row could not be read or has no card number, "
            "not without a card_expires column, nor when more than half of the valid cards are missing",
        )
        wait_option(parser)

    def handle(self, *args, files, encoding, set_pins, expire_missing, wait, **options):
        try:
            report = read_in_turn(
                kind=Kind.PATRONS,
                paths=files,
                wait=wait,
                say=self.stderr.write,
                read=lambda: import_patron_files(
                    files,
                    encoding=encoding,
                    set_pins=set_pins,
                    expire_missing=expire_missing,
                    stdout=self.stderr,
                ),
            )
        except (ValueError, ImportBusy) as exc:  # a wrong option, or no turn in time
            raise CommandError(str(exc)) from exc
        for line in report.summary_lines():
            self.stdout.write(line)
        if report.problems:
            self.stdout.write(_("%(count)s problems reported.") % {"count": len(report.problems)})
        if report.failed:
            raise CommandError(not_imported([f.path for f in report.failed]))
