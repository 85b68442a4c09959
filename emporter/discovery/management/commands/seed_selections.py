"""Demo selections drawn from the catalogue as it is: what a librarian would build first."""

from django.core.management.base import BaseCommand
from django.db import transaction

from emporter.catalogue.models import Audience, DocType
from emporter.catalogue.search import Filters, search_records
from emporter.discovery import selectors
from emporter.discovery.kinds import AgeBand, Kind
from emporter.discovery.models import Selection, SelectionItem
from emporter.network.models import Branch

SIZE = 8


class Command(BaseCommand):
    help = "Create a few demo selections from available documents (existing ones are kept)."

    def handle(self, *args, **options):
        central = Branch.objects.filter(is_central=True).first()
        made = 0
        for spec in self.specs(central):
            made += self.make(**spec)
        if options["verbosity"] >= 1:
            self.stdout.write(f"Selections: {made} created.")

    def specs(self, central):
        def browse(band="", kind=""):
            return [t.record.pk for t in selectors.browse(age_band=band, kind=kind)[0]]

        def search(q, **filters):
            return [h.record.pk for h in search_records(q=q, filters=Filters(available=True, **filters)).hits]

        adult_books = selectors.available_records().filter(audience=Audience.ADULT, doc_type=DocType.BOOK)
        return [
            dict(
                title="Coups de cœur",
                text="Les livres que nos bibliothécaires ont aimés cette saison.",
                colour="#b3261e",
                records=list(adult_books.order_by("-pk").values_list("pk", flat=True)[:SIZE]),
            ),
            dict(
                title="Premières lectures",
                text="Pour lire seul, dès 6 ans.",
                colour="#1f7a3a",
                audience=Audience.YOUTH,
                age_band=AgeBand.YOUNG,
                records=browse(AgeBand.YOUNG, Kind.FIRST_NOVELS) or browse(AgeBand.YOUNG),
            ),
            dict(
                title="Polars pour l'été",
                text="Enquêtes, suspense et nuits blanches.",
                colour="#1d2433",
                audience=Audience.ADULT,
                records=search("policier") or search("crime") or search("enquête"),
            ),
            dict(
                title="Films d'animation",
                text="Pour toute la famille.",
                colour="#6a2f8e",
                audience=Audience.YOUTH,
                records=browse(AgeBand.YOUNG, Kind.FILMS) + browse(AgeBand.TODDLERS, Kind.FILMS),
            ),
            dict(
                title="Bandes dessinées 9–12 ans",
                colour="#0b5cad",
                audience=Audience.YOUTH,
                age_band=AgeBand.CHILDREN,
                branch=central,
                records=browse(AgeBand.CHILDREN, Kind.COMICS),
            ),
        ]

    @transaction.atomic
    def make(self, *, title, records, branch=None, **fields) -> int:
        if not records or Selection.objects.filter(title=title, branch=branch).exists():
            return 0
        selection = Selection.objects.create(title=title, branch=branch, **fields)
        SelectionItem.objects.bulk_create(
            SelectionItem(selection=selection, record_id=pk, position=n)
            for n, pk in enumerate(records[:SIZE])
        )
        return 1
