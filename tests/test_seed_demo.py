import datetime
import io
import random
import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from emporter.catalogue.models import Audience, Copy, CopyStatus, DocType, Record
from emporter.demo import children, imported, people, synthetic
from emporter.demo.network import BRANCHES, french_holidays
from emporter.demo.shelves import Placer, Slot
from emporter.discovery import selectors
from emporter.discovery.kinds import AgeBand, Kind
from emporter.network.models import Branch, ClosedDay, OpeningHours, ServiceMode
from emporter.patrons.models import Patron, PatronCategory, Role, StaffRole

README_RECORDS = 1209
README_COPIES = 1481
# The demo's invented children's collection (emporter/demo/children.py), beside the files.
CHILDREN_COPIES = 151


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """Seed once for the module (committed), and wipe it afterwards, even if seeding failed.
    Gives what the command printed."""
    out = io.StringIO()
    try:
        with django_db_blocker.unblock():
            call_command("seed_demo", verbosity=1, stdout=out, on_purpose=True)  # tests run with DEBUG off
        yield out.getvalue()
    finally:
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def seeded(demo, db):
    return demo


def counts():
    return {
        "branches": Branch.objects.count(),
        "records": Record.objects.count(),
        "copies": Copy.objects.count(),
        "patrons": Patron.objects.count(),
        "users": get_user_model().objects.count(),
        "hours": OpeningHours.objects.count(),
        "closed": ClosedDay.objects.count(),
    }


def test_demo_network_has_sixteen_branches_one_of_them_central(seeded):
    assert Branch.objects.count() == 16
    assert list(Branch.objects.filter(is_central=True).values_list("code", flat=True)) == ["PDI"]
    central = Branch.objects.get(code="PDI")
    names = set(central.departments.values_list("name", flat=True))
    assert {"Arts et Loisirs", "Jeunesse", "Langues et Littératures", "Musique"} <= names
    for branch in Branch.objects.all():
        codes = set(branch.departments.values_list("code", flat=True))
        assert "jeunesse" in codes, branch.code
        assert branch.departments.filter(locations__isnull=False).exists()


def test_demo_branches_close_on_sunday_and_monday_and_on_public_holidays(seeded):
    assert not OpeningHours.objects.filter(weekday__in=[0, 6]).exists()
    assert OpeningHours.objects.filter(weekday=5).values("branch").distinct().count() < 16
    assert set(OpeningHours.objects.values_list("branch", flat=True)) == set(
        Branch.objects.values_list("id", flat=True)
    )
    year = timezone.localdate().year
    closed = set(ClosedDay.objects.filter(branch=None).values_list("date", flat=True))
    assert datetime.date(year, 12, 25) in closed
    assert datetime.date(year + 1, 7, 14) in closed


def test_most_demo_branches_are_in_click_and_collect_mode(seeded):
    modes = list(Branch.objects.values_list("service_mode", flat=True))
    assert modes.count(ServiceMode.CLOSED) == 1
    assert 1 <= modes.count(ServiceMode.OPEN) <= 2
    assert modes.count(ServiceMode.CLICK_COLLECT) >= 13


def test_the_demo_network_limits_requests_as_the_seed_did(seeded):
    from emporter.holds import policy

    rules = policy.resolve(branch=None)
    assert (rules.max_active, rules.type_limits) == (8, {"dvd": 3})


def test_french_holidays_follow_easter():
    days = dict((reason, day) for day, reason in french_holidays(2026))
    assert days["Lundi de Pâques"] == datetime.date(2026, 4, 6)
    assert days["Ascension"] == datetime.date(2026, 5, 14)
    assert days["Lundi de Pentecôte"] == datetime.date(2026, 5, 25)
    assert dict((r, d) for d, r in french_holidays(2027))["Lundi de Pâques"] == datetime.date(2027, 3, 29)


def test_demo_catalogue_has_the_counts_of_the_marc_readme(seeded):
    assert imported.demo_records().count() == README_RECORDS
    assert (
        Copy.objects.filter(record__in=imported.demo_records(), barcode__isnull=False).count()
        == README_COPIES
    )


def test_the_planner_knows_the_demo_catalogue_before_the_selections_are_made(seeded, postgres):
    """On PostgreSQL seed_demo analyzes what it imported before its own queries run: a
    table last analyzed (nearly) empty, by a test or a fresh install, had the selections'
    queries scan the copies once per record: one of them ran over 100 s in the
    PostgreSQL suite, where the whole seed takes a few seconds."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN ('catalogue_record', 'catalogue_copy')"
        )
        planned = dict(cursor.fetchall())
    assert planned["catalogue_record"] >= README_RECORDS, planned
    assert planned["catalogue_copy"] >= README_COPIES, planned


def test_every_demo_copy_sits_in_a_department_and_location_of_its_own_branch(seeded):
    copies = Copy.objects.select_related("department", "location__department")
    assert copies.count() == README_COPIES + CHILDREN_COPIES
    assert not copies.filter(department=None).exists()
    for copy in copies:
        assert copy.department.branch_id == copy.branch_id
        assert copy.location is None or copy.location.department_id == copy.department_id
    assert Copy.objects.values("branch").distinct().count() >= 12


def test_demo_dvds_and_youth_books_are_shelved_where_they_belong(seeded):
    dvds = Copy.objects.filter(doc_type=DocType.DVD)
    assert dvds.exists()
    assert all("dvd" in code for code in dvds.values_list("location__code", flat=True))
    youth_books = Copy.objects.filter(record__audience=Audience.YOUTH, doc_type=DocType.BOOK)
    assert youth_books.count() > 50
    assert set(youth_books.values_list("department__code", flat=True)) == {"jeunesse"}
    adult_books = Copy.objects.filter(record__audience=Audience.ADULT, doc_type=DocType.BOOK)
    assert "jeunesse" not in set(adult_books.values_list("department__code", flat=True))


def test_youth_records_made_up_for_the_demo_have_an_age_band(seeded):
    youth = Record.objects.filter(audience=Audience.YOUTH)
    assert youth.count() > 0.05 * README_RECORDS
    assert not youth.filter(age_min=None).exists()


def test_if_empty_does_nothing_when_there_are_branches(seeded):
    Branch.objects.filter(code="VAI").update(name="Vaise (renamed by an admin)")
    before = counts()
    out = io.StringIO()
    call_command("seed_demo", if_empty=True, stdout=out, on_purpose=True)
    assert counts() == before
    assert Branch.objects.get(code="VAI").name == "Vaise (renamed by an admin)"
    assert "nothing to do" in out.getvalue()


def test_seeding_again_changes_nothing_and_records_adds_synthetic_ones(seeded):
    before = counts()
    placement = set(
        Copy.objects.values_list("barcode", "branch_id", "department_id", "location_id", "status")
    )
    call_command("seed_demo", records=500, verbosity=0, on_purpose=True)
    after = counts()
    assert after["records"] == before["records"] + 500
    assert after["branches"] == before["branches"]
    assert after["patrons"] == before["patrons"]
    assert after["users"] == before["users"]
    assert after["hours"] == before["hours"]
    assert after["closed"] == before["closed"]
    demo_copies = Copy.objects.filter(record__in=imported.demo_records(with_children=True))
    assert (
        set(demo_copies.values_list("barcode", "branch_id", "department_id", "location_id", "status"))
        == placement
    )
    added = Copy.objects.filter(record__source_key__startswith=synthetic.PREFIX)
    assert 1_100 <= added.count() <= 1_400
    assert after["copies"] == before["copies"] + added.count()
    assert added.values("barcode").distinct().count() == added.count()


def test_copies_go_back_to_the_same_shelves_after_a_reimport(seeded):
    placement = set(
        Copy.objects.values_list("barcode", "branch_id", "department_id", "location_id", "status")
    )
    # What a re-import does: every copy back at the default branch, shelves unknown.
    Copy.objects.update(branch=Branch.objects.get(code="PDI"), department=None, location=None)
    assert imported.spread_copies(seed=2020) == README_COPIES + CHILDREN_COPIES
    assert (
        set(Copy.objects.values_list("barcode", "branch_id", "department_id", "location_id", "status"))
        == placement
    )
    assert imported.spread_copies(seed=2020) == 0


def test_synthetic_records_are_topped_up_not_duplicated(seeded):
    assert synthetic.add_synthetic_records(count=300)[0] == 300
    assert synthetic.add_synthetic_records(count=300) == (0, 0)
    added, copies = synthetic.add_synthetic_records(count=400)
    assert added == 100
    keys = Record.objects.filter(source_key__startswith=synthetic.PREFIX).values_list("source_key", flat=True)
    assert len(set(keys)) == 400
    barcodes = list(Copy.objects.values_list("barcode", flat=True))
    assert len(barcodes) == len(set(barcodes))
    # The ids given explicitly did not confuse the database's own numbering.
    Record.objects.create(source_key="test:after-synthetic", title="Après")


def _isbn_ok(isbn: str) -> bool:
    return sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(isbn)) % 10 == 0


CALL_NUMBER_SHAPES = {
    "book": r"^(R|J R|J PL|E A/|LYO 944\.58|J \d{3}(\.\d+)?|\d{3}(\.\d+)?) ?[A-Z]{0,3}$",
    "comic": r"^BD [A-Z]{3}$",
    "dvd": r"^DVD (F|J|D \d{3}(\.\d+)?) [A-Z]{3}$",
    "cd": r"^CD (J|\d(\.\d)?) [A-Z]{3}$",
    "score": r"^P \d{3}\.\d+ [A-Z]{3}$",
    "periodical": r"^PER [A-Z]{2,3}$",
    "audiobook": r"^LL R [A-Z]{3}$",
    "game": r"^JEU [A-Z]{3}$",
}


def test_synthetic_records_look_like_a_french_library_catalogue(seeded):
    synthetic.add_synthetic_records(count=400)
    records = Record.objects.filter(source_key__startswith=synthetic.PREFIX)
    assert set(records.values_list("doc_type", flat=True)) >= {"book", "comic", "dvd", "cd"}
    assert records.filter(audience=Audience.YOUTH).count() > 50
    assert any(re.search(r"[éèàêôç]", title) for title in records.values_list("title", flat=True))
    for isbn in records.exclude(isbn="").values_list("isbn", flat=True):
        assert len(isbn) == 13 and isbn.startswith("9782") and _isbn_ok(isbn), isbn
    for copy in Copy.objects.filter(record__in=records).select_related("location__department"):
        assert re.match(CALL_NUMBER_SHAPES[copy.doc_type], copy.call_number), (
            copy.doc_type,
            copy.call_number,
        )
        assert copy.location.department.branch_id == copy.branch_id
        assert copy.department_id == copy.location.department_id
    statuses = list(Copy.objects.filter(record__in=records).values_list("status", flat=True))
    assert statuses.count(CopyStatus.ON_SHELF) > 0.7 * len(statuses)
    assert statuses.count(CopyStatus.ON_LOAN) > 0


def _fake_placer() -> Placer:
    kinds = {k for k, _ in synthetic.KINDS} | {"nonfiction"}
    return Placer({k: [("PDI", Slot(1, 2, 3, None))] for k in kinds}, {"PDI": 1})


def test_synthetic_generation_is_deterministic():
    def rows(seed):
        chunks = synthetic.generate(first_index=0, count=50, first_id=1, placer=_fake_placer(), seed=seed)
        rows = []
        for records, copies in chunks:
            rows += list(records) + copies  # copies fill up as records are read
        return [row[:-2] for row in rows]  # without timestamps

    assert rows(7) == rows(7)
    assert rows(7) != rows(8)


def test_placer_prefers_bigger_branches_and_falls_back_for_missing_kinds():
    placer = Placer(
        {"dvd": [("BIG", Slot(1, 10, 100, None)), ("SMALL", Slot(2, 20, 200, None))]},
        {"BIG": 3, "SMALL": 1},
    )
    rng = random.Random(1)
    branches = [placer.place("youth_dvd", None, rng).branch_id for _ in range(2000)]
    assert 0.7 < branches.count(1) / len(branches) < 0.8


def test_demo_patrons_log_in_with_card_number_and_pin(seeded):
    assert Patron.objects.count() == people.PATRON_COUNT
    patron = Patron.objects.get(card_number=people.card_number(1))
    user = authenticate(username=patron.card_number, password=people.DEMO_PIN, patron_sign_in=True)
    assert user == patron.user
    assert authenticate(username=patron.card_number, password="0000", patron_sign_in=True) is None
    assert patron.email.endswith("@example.org")
    assert patron.phone_digits == "".join(c for c in patron.phone if c.isdigit()) != ""


def test_some_demo_children_have_a_guardian(seeded):
    children = Patron.objects.filter(category=PatronCategory.CHILD)
    with_guardian = children.exclude(guardian=None)
    assert with_guardian.count() >= 20
    for child in with_guardian.select_related("guardian"):
        assert child.guardian.category == PatronCategory.ADULT
        assert child.guardian.last_name == child.last_name


def test_demo_staff_have_their_roles(seeded):
    for code in ("PDI", "VAI"):
        roles = set(StaffRole.objects.filter(branch__code=code).values_list("role", flat=True))
        assert roles == {Role.PHONE_DESK, Role.PICKER, Role.DOOR_DESK, Role.BRANCH_MANAGER}
    admin = get_user_model().objects.get(username=people.ADMIN_USERNAME)
    assert admin.is_superuser and admin.is_staff
    assert StaffRole.objects.filter(user=admin, role=Role.NETWORK_ADMIN, branch=None).exists()
    assert authenticate(username="pdi-rayon", password=people.STAFF_PASSWORD) is not None


def test_print_logins_prints_only_the_logins(seeded):
    before = counts()
    out = io.StringIO()
    call_command("seed_demo", print_logins=True, stdout=out)
    text = out.getvalue()
    assert people.card_number(1) in text and people.DEMO_PIN in text
    assert "pdi-rayon" in text and people.STAFF_PASSWORD in text
    assert "/admin/" in text
    assert "Network:" not in text
    assert counts() == before


def test_print_logins_says_when_there_is_no_demo(db):
    Patron.objects.filter(card_number__startswith=people.CARD_PREFIX).delete()
    out = io.StringIO()
    call_command("seed_demo", print_logins=True, stdout=out)
    assert "No demo data" in out.getvalue()


def test_missing_marc_files_stop_the_seed_before_it_writes(db, settings, tmp_path):
    settings.BASE_DIR = tmp_path / "project"
    before = counts()
    with pytest.raises(CommandError, match="shared MARC files"):
        call_command("seed_demo", verbosity=0, on_purpose=True)
    assert counts() == before


def test_with_debug_off_the_demo_accounts_are_not_made_unless_asked(db):
    """An empty production database would get the README's administrator password."""
    before = counts()
    with pytest.raises(CommandError, match="--on-purpose"):
        call_command("seed_demo", verbosity=0)
    assert counts() == before


def test_records_must_not_be_negative(db):
    with pytest.raises(CommandError):
        call_command("seed_demo", records=-1, verbosity=0)


def test_synthetic_copy_into_postgresql_keeps_the_search_index(seeded, postgres):
    synthetic.add_synthetic_records(count=200)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM catalogue_record"
            " WHERE source_key LIKE 'synthetic:%%' AND search_vector IS NULL"
        )
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM catalogue_record WHERE source_key LIKE 'synthetic:%%'")
        assert cursor.fetchone()[0] == 200


def test_every_branch_spec_has_a_unique_code():
    codes = [b.code for b in BRANCHES]
    assert len(codes) == len(set(codes)) == 16


# -- The invented children's collection: imported by the real importer, shelved in
# Jeunesse, found by age and kind, and alone in the children's bands (no adult book made
# "3–6 years" at random any more). Seeded with the rest of the demo, once for the module.

# Where a children's call number is shelved in a Jeunesse department (demo/network.py).
SHELVES = (
    (r"^(TP |A |E A/)", "albums"),
    (r"^J PL ", "premieres-lectures"),
    (r"^(J R |J 8\d\d |ADO )", "romans"),
    (r"^J [0-79]\d\d(\.\d+)? ", "documentaires"),
    (r"^(BD|MANGA) ", "bd"),
    (r"^DVD J ", "dvd"),
)


def children_counts():
    return {
        "records": Record.objects.count(),
        "copies": Copy.objects.count(),
        "youth": Record.objects.filter(audience=Audience.YOUTH).count(),
        "children": children.records().count(),
        "children copies": Copy.objects.filter(record__in=children.records()).count(),
    }


def copies_placement():
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
    before, where = children_counts(), copies_placement()
    out = io.StringIO()
    call_command("seed_demo", verbosity=1, stdout=out, on_purpose=True)
    assert "Children's collection: the invented records are imported already." in out.getvalue()
    assert children_counts() == before
    assert copies_placement() == where


def test_importing_the_childrens_collection_again_updates_and_never_duplicates(seeded):
    before, where = children_counts(), copies_placement()
    report = children.import_children()
    assert not report.failed and not report.problems
    assert (report.records_created, report.copies_created) == (0, 0)
    assert report.records_unchanged == len(children.BOOKS)
    assert children_counts() == before
    # The import puts the copies back at the central library; the demo's spreading
    # returns every one of them to its shelf.
    assert imported.spread_copies(seed=2020) == before["children copies"]
    assert copies_placement() == where
    assert imported.spread_copies(seed=2020) == 0
