from django.core.management.base import BaseCommand, CommandError

from emporter.catalogue.importer import not_imported
from emporter.patrons.importer import import_patrons


class Command(BaseCommand):
    help = (
        "Import or update patrons from CSV files (keyed by card number); bad rows are listed and "
        "skipped. Exit status 1 when a file could not be read (unreadable, refused for its encoding, "
        "required columns missing) or no patron was imported from it; 0 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")
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

    def handle(self, *args, files, encoding, set_pins, **options):
        failed = []
        for path in files:
            try:
                report = import_patrons(path, encoding=encoding, set_pins=set_pins, stdout=self.stderr)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(report.summary())
            if report.failed:
                failed.append(report.path)
        if failed:
            raise CommandError(not_imported(failed))
