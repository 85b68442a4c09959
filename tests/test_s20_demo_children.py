"""The demo's invented children's collection: imported by the real importer, shelved in
Jeunesse, found by age and kind, and alone in the children's bands (no adult book made
"3–6 years" at random any more)."""

import io
import re

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from emporter.catalogue.models import Audience, Copy, CopyStatus, DocType, Record
from emporter.demo import children, imported
from emporter.discovery import selectors
from emporter.discovery.kinds import AgeBand, Kind

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Where a children's call number is shelved in a Jeunesse department (demo/network.py).
SHELVES = (
    (r"^(TP |A |E A/)", "albums"),
    (r"^J PL ", "premieres-lectures"),
    (r"^(J R |J 8\d\d |ADO )", "romans"),
    (r"^J [0-79]\d\d(\.\d+)? ", "documentaires"),
    (r"^(BD|MANGA) ", "bd"),
    (r"^DVD J ", "dvd"),
)


@pytest.fixture(scope="module")
def seed_output(django_db_setup, django_db_blocker):
    """Seed once for the module (committed) and wipe it afterwards, even if seeding failed."""
    out = io.StringIO()
    try:
        with django_db_blocker.unblock(), override_settings(PASSWORD_HASHERS=FAST_HASHERS):
            call_command("seed_demo", verbosity=1, stdout=out, on_purpose=True)
        yield out.getvalue()
    finally:
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def seeded(seed_output, db, settings):
    settings.PASSWORD_HASHERS = FAST_HASHERS
    return seed_output


def counts():
    return {
        "records": Record.objects.count(),
        "copies": Copy.objects.count(),
        "youth": Record.objects.filter(audience=Audience.YOUTH).count(),
        "children": children.records().count(),
        "children copies": Copy.objects.filter(record__in=children.records()).count(),
    }


def placement():
    return set(Copy.objects.values_list("barcode", "branch_id", "department_id", "location_id", "status"))


def test_the_summary_mentions_the_invented_childrens_collection(seeded):
    books, copies = len(children.BOOKS), sum(children.KINDS[b.kind].copies for b in children.BOOKS)
    assert f"Children's collection: {books} invented records" in seeded
    assert f"{copies} copies imported" in seeded
    assert "made youth" not in seeded


def test_the_childrens_records_come_through_the_importer_as_marc_says(seeded):
    records = children.records()
    assert records.count() == len(children.BOOKS) >= 45
    assert not records.exclude(audience=Audience.YOUTH).exists()
    assert not records.filter(age_min=None).exists() and not records.filter(age_max=None).exists()
    ages = set(records.values_list("age_min", "age_max"))
    assert ages == {(0, 5), (6, 8), (9, 13), (14, 17)}  # 008/22 a, b, c, d
    assert set(records.values_list("doc_type", flat=True)) == {DocType.BOOK, DocType.COMIC, DocType.DVD}
    assert set(records.filter(doc_type=DocType.DVD).values_list("copies__call_number", flat=True)) == {
        b.call_number for b in children.BOOKS if b.kind == "film"
    }
    for record in records:
        assert record.summary and record.subjects and record.responsibility, record.title
        assert record.language == "fre"
    # The invented titles do not borrow the shared files' ones.
    titles = set(records.values_list("title", flat=True))
    assert not titles & set(imported.demo_records().values_list("title", flat=True))


def test_browsing_3_6_picture_books_lists_the_invented_albums_and_no_adult_record(seeded, client):
    tiles, _ = selectors.browse(age_band=AgeBand.TODDLERS, kind=Kind.PICTURE_BOOKS)
    found = [t.record for t in tiles]
    keys = {r.source_key for r in found}
    assert all(key.startswith(f"{children.SOURCE}:") for key in keys), keys
    assert all(r.audience == Audience.YOUTH and r.age_max <= 6 for r in found)
    albums = {b.title for b in children.BOOKS if b.kind == "album"}
    assert len({r.title for r in found} & albums) >= 5
    # The page a reviewer opens.
    page = client.get(reverse("discovery:browse", args=[AgeBand.TODDLERS, Kind.PICTURE_BOOKS]))
    assert page.status_code == 200
    text = page.content.decode()
    assert sum(title.replace("'", "&#x27;") in text for title in albums) >= 5
    assert "Souvenirs du congrès de Vienne" not in text


def test_no_shared_record_is_made_youth_beside_the_childrens_collection(seeded):
    assert not imported.demo_records().filter(audience=Audience.YOUTH).exists()
    assert imported.declare_youth_records(seed=2020) == 0
    for band in AgeBand.values:
        tiles, _ = selectors.browse(age_band=band)
        assert tiles, band
        assert all(t.record.source_key.startswith(f"{children.SOURCE}:") for t in tiles), band


@pytest.mark.parametrize("band", AgeBand.values)
def test_every_age_band_has_an_available_childrens_record(seeded, band):
    tiles, _ = selectors.browse(age_band=band)
    ids = [t.record.pk for t in tiles]
    assert Copy.objects.filter(
        record__in=ids, status=CopyStatus.ON_SHELF, location__requestable=True
    ).exists()


@pytest.mark.parametrize(
    "band, kind",
    [
        (AgeBand.BABIES, Kind.PICTURE_BOOKS),
        (AgeBand.YOUNG, Kind.FIRST_NOVELS),
        (AgeBand.YOUNG, Kind.DOCUMENTARIES),
        (AgeBand.CHILDREN, Kind.COMICS),
        (AgeBand.CHILDREN, Kind.FIRST_NOVELS),
        (AgeBand.TEENS, Kind.FIRST_NOVELS),
        (AgeBand.YOUNG, Kind.FILMS),
    ],
)
def test_each_kind_has_something_for_its_ages(seeded, band, kind):
    tiles, _ = selectors.browse(age_band=band, kind=kind)
    assert tiles, (band, kind)


def test_childrens_copies_sit_on_the_jeunesse_shelf_their_call_number_names(seeded):
    copies = Copy.objects.filter(record__in=children.records()).select_related(
        "department", "location__department"
    )
    assert copies.count() == sum(children.KINDS[b.kind].copies for b in children.BOOKS)
    for copy in copies:
        assert copy.department.code == "jeunesse", copy.call_number
        assert copy.department.branch_id == copy.branch_id
        assert copy.location.department_id == copy.department_id
        expected = next(shelf for pattern, shelf in SHELVES if re.match(pattern, copy.call_number))
        assert copy.location.code == expected, (copy.call_number, copy.location.code)
    # Spread over the network as the other demo copies are, mostly on the shelf.
    assert copies.values("branch").distinct().count() >= 10
    assert copies.filter(status=CopyStatus.ON_SHELF).count() > 0.7 * copies.count()


def test_seeding_again_does_not_import_the_childrens_collection_again(seeded):
    before, where = counts(), placement()
    out = io.StringIO()
    call_command("seed_demo", verbosity=1, stdout=out, on_purpose=True)
    assert "Children's collection: the invented records are imported already." in out.getvalue()
    assert counts() == before
    assert placement() == where


def test_importing_the_childrens_collection_again_updates_and_never_duplicates(seeded):
    before, where = counts(), placement()
    report = children.import_children()
    assert not report.failed and not report.problems
    assert (report.records_created, report.copies_created) == (0, 0)
    assert report.records_unchanged == len(children.BOOKS)
    assert counts() == before
    # The import puts the copies back at the central library; the demo's spreading
    # returns every one of them to its shelf.
    assert imported.spread_copies(seed=2020) == before["children copies"]
    assert placement() == where
    assert imported.spread_copies(seed=2020) == 0
