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

from django.core.management.base import BaseCommand

from emporter.imports.models import Kind
from emporter.imports.services import run_command, wait_option
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
        run_command(
            self,
            kind=Kind.PATRONS,
            paths=files,
            wait=wait,
            read=lambda: import_patron_files(
                files,
                encoding=encoding,
                set_pins=set_pins,
                expire_missing=expire_missing,
                stdout=self.stderr,
            ),
            failed=lambda report: [f.path for f in report.failed],
        )
