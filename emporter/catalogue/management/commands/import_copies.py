"""``manage.py import_copies FILE [--codes FILE] [--default-branch CODE] [--encoding NAME]
[--wait MINUTES]``.

It takes the imports' turn, as ``import_marc`` does (``imports.services.read_in_turn``)."""

from django.core.management.base import BaseCommand

from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.item_mappings import load_code_map
from emporter.holds.merges import follow
from emporter.imports.models import Kind
from emporter.imports.services import batch_size_option, run_command, wait_option


class Command(BaseCommand):
    help = (
        "Create or update copies from a CSV file (columns: barcode, record or isbn, call_number, "
        "branch, department, location, doc_type, status; a column the file lacks leaves the copies' "
        "value alone; without record and isbn columns, only the copies named are updated). "
        "Rows that cannot be imported are listed and skipped. Exit status 1 when the "
        "file could not be read (unreadable, refused for its encoding, no usable header) or no copy "
        "was imported from it; 0 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE")
        parser.add_argument("--codes", metavar="JSON", help="branch/location/department/type code map")
        parser.add_argument(
            "--default-branch", metavar="CODE", help="branch for rows whose branch is unknown"
        )
        parser.add_argument(
            "--encoding",
            metavar="NAME",
            help="the file's encoding when it is neither UTF-8 nor Windows-1252 (mac_roman, cp850…)",
        )
        batch_size_option(parser)
        wait_option(parser)

    def handle(self, *args, file, codes, default_branch, encoding, batch_size, wait, **kw):
        run_command(
            self,
            kind=Kind.COPIES,
            paths=[file],
            wait=wait,
            read=lambda: import_copies(
                file,
                code_map=load_code_map(codes) if codes else None,
                default_branch=default_branch,
                encoding=encoding,
                batch_size=batch_size,
                stdout=self.stderr,
                on_merge=follow,
            ),
            failed=lambda report: [report.path] if report.failed else [],
        )
