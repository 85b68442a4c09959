"""``manage.py import_marc FILE… [--preset|--mapping] [--codes FILE] [--default-branch CODE]
[--encoding NAME] [--source NAME] [--take-over] [--withdraw-missing] [--wait MINUTES]``.

Exit status 1 when a file could not be read (missing, unreadable, refused as another
source's export), was not read to its end (truncated, XML not well-formed), or gave no
record, or when another import was still being read after ``--wait`` minutes; 0
otherwise, even when records or items were skipped (they are listed).

It takes the imports' turn (``imports.services.read_in_turn``): a file sent from the
imports page, or another command, is read before or after it, never beside it; the run
shows on that page. The requests of a record merged at the source follow its copies
(``holds.merges.follow``)."""

from django.core.management.base import BaseCommand

from emporter.catalogue.importer import import_marc
from emporter.catalogue.item_mappings import PRESETS, load_code_map, load_mapping
from emporter.catalogue.marc import ENCODINGS
from emporter.holds.merges import follow
from emporter.imports.models import Kind
from emporter.imports.services import batch_size_option, run_command, wait_option


class Command(BaseCommand):
    help = (
        "Import MARC records and their copies (ISO 2709 or MARCXML, MARC21 or UNIMARC). Records or "
        "items that cannot be imported are listed and skipped. Exit status 1 when a file could not "
        "be read (missing, unreadable, refused as another source's export), was not read to its "
        "end (truncated, broken XML) or gave no record; 0 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument("--source", help="source name prefixing record ids (default: each file's name)")
        parser.add_argument(
            "--take-over",
            action="store_true",
            help="import a file even when most of its barcodes are copies of another source's records "
            "(they move to this source's): this source replaces that one. Without it such a file is "
            "refused, most likely the same catalogue under a new file name (use --source then)",
        )
        items = parser.add_mutually_exclusive_group()
        items.add_argument("--preset", choices=sorted(PRESETS), help="item field preset (default: detected)")
        items.add_argument("--mapping", metavar="JSON", help="custom item field mapping (JSON file)")
        parser.add_argument("--codes", metavar="JSON", help="branch/location/department/type code map")
        parser.add_argument(
            "--default-branch", metavar="CODE", help="branch for copies whose branch is unknown"
        )
        parser.add_argument(
            "--encoding",
            choices=ENCODINGS,
            help="character set of every record of ISO 2709 files (default: each record's, detected)",
        )
        parser.add_argument(
            "--withdraw-missing",
            action="store_true",
            help="the files are the source's whole catalogue: withdraw its copies they no longer list "
            "(not when a record could not be read, nor beyond 10%% of the source's copies); a later "
            "file that lists such a copy again brings it back",
        )
        batch_size_option(parser)
        parser.add_argument(
            "--progress", action="store_true", default=None, help="progress bar (default: when on a terminal)"
        )
        parser.add_argument("--no-progress", dest="progress", action="store_false")
        wait_option(parser)

    def handle(self, *args, files, mapping, codes, **options):
        run_command(
            self,
            kind=Kind.MARC,
            paths=files,
            wait=options["wait"],
            read=lambda: import_marc(
                files,
                source=options["source"],
                preset=options["preset"],
                mapping=load_mapping(mapping) if mapping else None,
                code_map=load_code_map(codes) if codes else None,
                default_branch=options["default_branch"],
                encoding=options["encoding"],
                withdraw_missing=options["withdraw_missing"],
                take_over=options["take_over"],
                batch_size=options["batch_size"],
                progress=options["progress"],
                stdout=self.stderr,
                on_merge=follow,
            ),
            failed=lambda report: [f.path for f in report.failed],
        )
