from django.core.management.base import BaseCommand

from emporter.patrons.importer import import_patrons


class Command(BaseCommand):
    help = "Import or update patrons from CSV files (keyed by card number); bad rows are reported."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+")

    def handle(self, *args, files, **options):
        for path in files:
            report = import_patrons(path, stdout=self.stderr)
            self.stdout.write(report.summary())
