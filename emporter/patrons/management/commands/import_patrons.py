"""``manage.py import_patrons FILE… [--codes JSON] [--date-format metric|us] [--encoding NAME]
[--set-pins] [--expire-missing] [--replace-cards] [--wait MINUTES]``.

The files may use Koha's column names (``cardnumber``, ``surname``, ``branchcode``,
``borrowernumber``, ``guarantorid``…); a patron is found by the library system's id
(``source_id``, Koha's borrowernumber) before their card, so a card replaced there is
the same patron here (not for a number a spreadsheet changed, nor when many rows of a
file have new ones, unless ``--replace-cards``); ``--codes`` maps the export's branch and
category codes to ours (the JSON file ``import_marc`` takes, with a ``categories``
section); ``--date-format us`` reads ``card_expires`` month first (12/31/2026), day first
otherwise (31/12/2026), ISO always.
See ``patrons.importer``. A wrong ``--codes`` file (unreadable, not a code map, naming a
branch or category that does not exist) ends the command before any file is read.

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
from emporter.patrons.importer import DATE_FORMATS, import_patron_files


class Command(BaseCommand):
    help = (
        "Import or update patrons from CSV files (keyed by the library system's id of the patron when "
        "the files have it, so that a replaced card is the same patron, else by card number); bad rows "
        "are listed and skipped. The columns may have our names (card_number, last_name, first_name, "
        "email, phone, home_branch, language, category, guardian, card_expires, pin, source_id, "
        "guardian_source_id) or Koha's (cardnumber, surname, firstname, branchcode, categorycode, "
        "dateexpiry, lang, borrowernumber, guarantorid; mobile when there is no phone); a guardian's id "
        "is read only with the patrons' own ids. Exit status 1 when a file could not be read "
        "(unreadable, refused for its encoding, required columns missing) or no patron was imported "
        "from it; 0 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--codes",
            metavar="JSON",
            help="map of the export's codes to ours, as import_marc takes it, with a categories section: "
            '{"branches": {"BIB01": "PDI"}, "categories": {"PT": "adult", "J": "child"}}; a code it '
            "does not map is looked up as it is (an unknown one refuses its row)",
        )
        parser.add_argument(
            "--date-format",
            choices=DATE_FORMATS,
            default="metric",
            help="how card_expires dates other than YYYY-MM-DD are written: metric, day first "
            "(31/12/2026, 31-12-2026, 31.12.2026; the default), or us, month first (12/31/2026). "
            "Koha's dateformat preference; a date is never read the other way",
        )
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
            help="the files are the library system's whole list of patrons: the card of a patron an "
            "import brought that they do not list (by card or id) expires yesterday (their requests "
            "wait, taking no copy; patrons made in the admin are left alone); a later file that "
            "lists them gives it its date back. Not when a row could not be read or has no card number, "
            "not without a card_expires column, nor when more than half of the valid cards are missing",
        )
        parser.add_argument(
            "--replace-cards",
            action="store_true",
            help="the card numbers did change (the library renumbered its cards): replace the card of "
            "every patron found by their id, however many rows have a new one (never by one written as "
            "1.23E+12, nor by the old one without its leading zeros). Without it, a file giving new "
            "numbers to more than 5%% of its rows (and more than 20) replaces none",
        )
        wait_option(parser)

    def handle(
        self,
        *args,
        files,
        encoding,
        set_pins,
        expire_missing,
        replace_cards,
        codes,
        date_format,
        wait,
        **options,
    ):
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
                codes=codes,
                date_format=date_format,
                replace_cards=replace_cards,
                stdout=self.stderr,
            ),
            failed=lambda report: [f.path for f in report.failed],
        )
