"""Demo data: ``python manage.py seed_demo [--if-empty] [--records N] [--print-logins]``.

Builds the 16-branch network, imports the shared MARC files and an invented children's
collection (``emporter/demo/children.py``, through the same importer) and spreads their
copies, creates demo patrons and staff. Running it again completes what is missing and
leaves the rest as it is: branches, departments, locations and users are looked up by
code or name first, and the MARC records are only imported again with ``--reimport``
(copies then return to the same shelves: their placement is seeded by barcode).
``--records N`` then makes sure N synthetic records exist, for benchmarks.
"""

import os
import time
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection
from django.urls import reverse
from django.utils import timezone

from emporter.demo import children, imported, people, synthetic
from emporter.demo.network import build_network
from emporter.network.models import Branch


def _analyze() -> None:
    """The planner's figures for the tables just filled (PostgreSQL). Autovacuum's analyze
    comes a minute later, and until then PostgreSQL plans by what it last saw: a table
    it last saw (nearly) empty had each copy's update, and the selections' queries, scan
    the copies whole (minutes instead of seconds)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE catalogue_record, catalogue_copy, network_branch, network_location")


class Command(BaseCommand):
    help = "Load the demo network, catalogue, patrons and staff (and synthetic records with --records)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing if there are branches already."
        )
        parser.add_argument(
            "--print-logins", action="store_true", help="Only print the demo logins (nothing is written)."
        )
        parser.add_argument(
            "--records",
            type=int,
            default=0,
            metavar="N",
            help="Make sure N synthetic records exist (about 2.5 copies each), for benchmarks.",
        )
        parser.add_argument(
            "--reimport",
            action="store_true",
            help="Import the shared MARC files and the children's collection again if they were already.",
        )
        parser.add_argument(
            "--seed", type=int, default=2020, help="Seed of the random choices (default 2020)."
        )
        parser.add_argument(
            "--on-purpose",
            action="store_true",
            help="Seed even with DEBUG off (a benchmark or a demonstration server).",
        )

    def handle(self, *args, if_empty, print_logins, records, reimport, seed, **options):
        self.verbosity = options["verbosity"]
        if print_logins:
            self.print_logins()
            return
        if records < 0:
            raise CommandError("--records must be 0 or more.")
        if not settings.DEBUG and not options["on_purpose"]:
            # A production database left empty would get an administrator whose password
            # is printed in the README, and 200 patrons with the PIN 1234.
            raise CommandError(
                "DEBUG is off: seed_demo creates accounts with published passwords. "
                "Pass --on-purpose for a benchmark or a demonstration server."
            )
        if if_empty and Branch.objects.exists():
            self.say("The database has branches already: nothing to do.")
            return
        self.seed_demo(seed=seed, reimport=reimport)
        if records:
            self.add_records(records, seed=seed)

    def say(self, message: str) -> None:
        if self.verbosity >= 1:
            self.stdout.write(message)

    def seed_demo(self, *, seed: int, reimport: bool) -> None:
        today = timezone.localdate()
        started = time.monotonic()
        try:
            paths = imported.marc_paths()
        except FileNotFoundError as exc:  # before writing anything
            raise CommandError(str(exc)) from exc
        branches = build_network(today=today)
        self.say(f"Network: {len(branches)} branches.")
        if reimport or not imported.is_imported():
            report = imported.import_shared_marc(
                paths=paths, stdout=self.stdout if self.verbosity >= 2 else None
            )
            self.say(
                f"Catalogue: {report.records_imported} records, {report.copies_imported} copies imported"
                f" ({len(report.problems)} problems reported by the importer; -v 2 lists them)."
            )
            if report.failed:
                # Not "demo ready" over a file not read (or not to its end): said, and the
                # next run imports it again (is_imported finds none of its records).
                names = ", ".join(Path(f.path).name for f in report.failed)
                raise CommandError(f"could not import {names}: the demo is incomplete (-v 2 says why)")
        else:
            self.say(
                "Catalogue: the shared MARC files are imported already (--reimport to import them again)."
            )
        if reimport or not children.is_imported():
            report = children.import_children(stdout=self.stdout if self.verbosity >= 2 else None)
            self.say(
                f"Children's collection: {report.records_imported} invented records for the demo"
                f" (albums, novels, comics, documentaries, films, 0 to 17 years),"
                f" {report.copies_imported} copies imported."
            )
        else:
            self.say("Children's collection: the invented records are imported already.")
        _analyze()
        youth = imported.declare_youth_records(seed=seed)
        spread = imported.spread_copies(seed=seed)
        made_youth = f"; {youth} records made youth (demo)" if youth else ""
        self.say(f"Shelves: {spread} copies placed on the branches' shelves{made_youth}.")
        patrons = people.create_patrons(today=today)
        staff = people.create_staff()
        self.say(f"People: {patrons} patrons and {staff} staff users created.")
        _analyze()  # (the copies moved branch)
        # Librarians' selections for the home page, from what is on the shelves now.
        call_command("seed_selections", verbosity=self.verbosity)
        self.say(f"Demo ready in {time.monotonic() - started:.1f} s.")

    def add_records(self, count: int, *, seed: int) -> None:
        started = time.monotonic()
        step = max(count // 20, synthetic.CHUNK)

        def progress(done: int, total: int) -> None:
            if done % step < synthetic.CHUNK or done == total:
                rate = done / max(time.monotonic() - started, 1e-6)
                self.say(f"  {done:,}/{total:,} synthetic records ({rate:,.0f}/s)")

        added, copies = synthetic.add_synthetic_records(count=count, seed=seed, progress=progress)
        elapsed = time.monotonic() - started
        self.say(f"Synthetic: {added:,} records and {copies:,} copies added in {elapsed:.1f} s.")

    def print_logins(self) -> None:
        host, port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
        try:
            lines = people.demo_logins(admin_url=f"http://{host}:{port}{reverse('admin:index')}")
        except DatabaseError as exc:  # not migrated yet
            raise CommandError(f"No demo data: the database cannot be read ({exc}).") from exc
        self.stdout.write("\n".join(lines) if lines else "No demo data loaded (run: manage.py seed_demo).")
