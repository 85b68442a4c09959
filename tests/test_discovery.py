"""Browsing by age and kind, selections, "more like this" and new arrivals."""

import datetime
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.discovery import selectors
from emporter.discovery.covers import placeholder_svg
from emporter.discovery.models import Selection, SelectionItem
from emporter.holds.models import RequestPolicy
from emporter.network.models import ServiceMode
from tests.conftest import make_branch, make_department, make_location, make_patron, make_record

pytestmark = pytest.mark.django_db


def youth(title, branch, doc_type="book", call_number="", **kw):
    record = make_record(title=title, copies=[branch], doc_type=doc_type, audience="youth", **kw)
    if call_number:
        record.copies.update(call_number=call_number)
    return record


def titles(tiles):
    return [t.record.title for t in tiles]


def test_age_band_and_kind_keep_available_matching_records(branch):
    fits = youth("Les Dinos en BD", branch, doc_type="comic", age_min=6, age_max=9)
    youth("Manga pour grands", branch, doc_type="comic", age_min=12, age_max=15)
    youth("Album des petits", branch, age_min=0, age_max=3)
    on_loan = youth("BD prêtée", branch, doc_type="comic", age_min=6, age_max=9)
    on_loan.copies.update(status=CopyStatus.ON_LOAN)

    found, has_next = selectors.browse(age_band="6-9", kind="comics")

    assert titles(found) == [fits.title]
    assert not has_next


def test_open_age_ranges_overlap_the_bands_they_reach(branch):
    youth("Dès 7 ans", branch, age_min=7)
    youth("Jusqu'à 4 ans", branch, age_max=4)

    assert titles(selectors.browse(age_band="6-9")[0]) == ["Dès 7 ans"]
    assert titles(selectors.browse(age_band="9-12")[0]) == ["Dès 7 ans"]
    assert titles(selectors.browse(age_band="3-6")[0]) == ["Jusqu'à 4 ans"]
    assert titles(selectors.browse(age_band="teens")[0]) == []


def test_records_without_age_are_placed_by_their_call_number(branch):
    youth("Petit ours", branch, call_number="E A/SAR")
    youth("Le chevalier", branch, call_number="J PL DUP")
    youth("Les volcans", branch, call_number="J 551 GAL")
    youth("Sans cote", branch)

    assert titles(selectors.browse(age_band="3-6")[0]) == ["Petit ours"]
    assert titles(selectors.browse(age_band="6-9", kind="first-novels")[0]) == ["Le chevalier"]
    assert titles(selectors.browse(kind="picture-books")[0]) == ["Petit ours"]
    assert titles(selectors.browse(kind="documentaries")[0]) == ["Les volcans"]


def test_browse_skips_copies_a_request_could_not_take(branch):
    closed = make_branch(code="FER", name="Fermée", mode=ServiceMode.CLOSED)
    reference = make_location(make_department(branch), code="fonds", requestable=False)
    at_closed = youth("À la fermée", closed, doc_type="comic", age_min=6, age_max=9)
    reserved = youth("En réserve", branch, doc_type="comic", age_min=6, age_max=9)
    reserved.copies.update(location=reference)
    no_barcode = youth("Sans code-barres", branch, doc_type="comic", age_min=6, age_max=9)
    no_barcode.copies.update(barcode=None)
    RequestPolicy.objects.create(requestable_types=["book"])
    youth("Livre", branch, age_min=6, age_max=9)

    assert titles(selectors.browse(age_band="6-9")[0]) == ["Livre"]
    assert at_closed.copies.get().status == CopyStatus.ON_SHELF


def test_more_like_this_returns_only_requestable_available_documents_same_branch_first(branch, other_branch):
    record = make_record(
        title="Tome 1", copies=[branch], responsibility="Goscinny", series="Astérix", subjects=["Gaulois"]
    )
    # Same series and author, but only at the other branch: the best match, shown second.
    elsewhere = make_record(
        title="Tome 2", copies=[other_branch], responsibility="Goscinny", series="Astérix"
    )
    # Same author only, on the shelf here.
    here = make_record(title="Le Petit Nicolas", copies=[branch], responsibility="Goscinny")
    make_record(title="Prêté", copies=[(branch, CopyStatus.ON_LOAN)], responsibility="Goscinny")
    make_record(title="Introuvable", copies=[(branch, CopyStatus.MISSING)], series="Astérix")
    reference = make_location(make_department(branch), code="patrimoine", requestable=False)
    locked = make_record(title="Patrimoine", copies=[branch], responsibility="Goscinny")
    locked.copies.update(location=reference)

    tiles = selectors.more_like_this(record, branch=branch)

    assert titles(tiles) == [here.title, elsewhere.title]
    assert [t.here for t in tiles] == [True, False]
    assert titles(selectors.more_like_this(record)) == [elsewhere.title, here.title]


def test_more_like_this_finds_shared_subjects(branch):
    record = make_record(title="Chats et chiens", copies=[branch], subjects=["Chats", "Animaux familiers"])
    make_record(title="Mon chat", copies=[branch], subjects=["chats"])
    make_record(title="Les chevaux", copies=[branch], subjects=["Chevaux"], audience="youth")

    assert titles(selectors.more_like_this(record, branch=branch)) == ["Mon chat"]


def test_new_arrivals_per_branch_and_audience(branch, other_branch):
    old = make_record(title="Ancien", copies=[branch])
    long_ago = timezone.now() - datetime.timedelta(days=400)
    Record.objects.filter(pk=old.pk).update(created_at=long_ago)
    Copy.objects.filter(record=old).update(created_at=long_ago)
    make_record(title="Nouveau ici", copies=[branch])
    make_record(title="Nouveau jeunesse", copies=[branch], audience="youth")
    make_record(title="Nouveau là-bas", copies=[other_branch])

    assert titles(selectors.new_arrivals(branch=branch)) == ["Nouveau jeunesse", "Nouveau ici"]
    assert titles(selectors.new_arrivals(branch=branch, audience="youth")) == ["Nouveau jeunesse"]
    assert titles(selectors.new_arrivals(branch=other_branch)) == ["Nouveau là-bas"]


def test_placeholder_cover_escapes_the_title():
    svg = placeholder_svg(title='<script>alert("x")</script>', doc_type="comic")
    assert "<script>" not in svg and "&lt;script" in svg
    assert svg.startswith("<svg") and ">BD<" in svg


# -- Pages ------------------------------------------------------------------------------


def test_home_shows_age_tiles_and_selections(client, branch):
    selection = Selection.objects.create(title="Coups de cœur", text="Nos préférés", colour="#aa3300")
    SelectionItem.objects.create(selection=selection, record=make_record(title="Un roman", copies=[branch]))
    Selection.objects.create(title="Brouillon", published=False)

    html = client.get("/").content.decode()

    assert 'href="/discover/browse/6-9/"' in html
    assert "Coups de cœur" in html and "Brouillon" not in html


def test_browse_page_shows_tiles_with_one_click_add(client, branch):
    record = youth("Les Dinos en BD", branch, doc_type="comic", age_min=6, age_max=9)

    response = client.get("/discover/browse/6-9/comics/")

    html = response.content.decode()
    assert response.status_code == 200
    assert f'action="/basket/add/{record.pk}/"' in html and "<svg" in html
    client.post(f"/basket/add/{record.pk}/", {"next": "/discover/browse/6-9/comics/"})
    assert (
        f'action="/basket/add/{record.pk}/"'
        not in client.get("/discover/browse/6-9/comics/").content.decode()
    )


def test_unknown_age_or_kind_is_not_found(client, db):
    assert client.get("/discover/browse/7-8/").status_code == 404
    assert client.get("/discover/browse/6-9/poems/").status_code == 404
    assert client.get("/discover/browse/all/films/").status_code == 200
    assert client.get("/discover/browse/all/films/?page=99999999999999999999999").status_code == 200
    assert client.get("/discover/browse/all/films/?page=-1").status_code == 200


def test_selection_page_lists_documents_in_order_with_availability(client, branch):
    selection = Selection.objects.create(title="Premières lectures", branch=branch)
    lent = make_record(title="Déjà prêté", copies=[(branch, CopyStatus.ON_LOAN)])
    free = make_record(title="Sur l'étagère", copies=[branch])
    SelectionItem.objects.create(selection=selection, record=lent, position=2)
    SelectionItem.objects.create(selection=selection, record=free, position=1, note="Un régal")

    html = client.get(f"/discover/selections/{selection.pk}/").content.decode()

    assert html.index("Sur l&#x27;étagère") < html.index("Déjà prêté")
    assert "Un régal" in html
    assert f'action="/basket/add/{free.pk}/"' in html
    assert f'action="/basket/add/{lent.pk}/"' not in html
    # A type the policy does not let patrons request is never offered.
    RequestPolicy.objects.create(requestable_types=["dvd"])
    html = client.get(f"/discover/selections/{selection.pk}/").content.decode()
    assert f'action="/basket/add/{free.pk}/"' not in html


def test_branch_page_shows_its_selections_and_new_arrivals(client, branch, other_branch):
    Selection.objects.create(title="Polars pour l'été", branch=branch)
    Selection.objects.create(title="Ailleurs", branch=other_branch)
    make_record(title="Arrivé hier", copies=[branch])

    html = client.get(f"/discover/libraries/{branch.pk}/").content.decode()

    assert "Polars pour l" in html and "Arrivé hier" in html and "Ailleurs" not in html
    # Its tiles name this library, which may not be the patron's.
    assert f"En rayon à {branch.name}" in html
    assert "En rayon dans votre bibliothèque" not in html


def test_record_page_shows_more_like_this_from_the_patrons_branch_first(client, branch, other_branch):
    patron = make_patron(other_branch)
    record = make_record(title="Tome 1", copies=[branch], series="Astérix")
    make_record(title="Tome 2", copies=[branch], series="Astérix")
    make_record(title="Tome 3", copies=[other_branch], series="Astérix")
    client.force_login(patron.user)

    html = client.get(f"/catalogue/record/{record.pk}/").content.decode()

    section = html[html.index('id="more-like-this-title"') :]
    assert section.index("Tome 3") < section.index("Tome 2")


def test_browse_page_queries_do_not_grow_with_the_tiles(client, branch):
    for n in range(2):
        youth(f"BD {n}", branch, doc_type="comic", age_min=6, age_max=9)
    with CaptureQueriesContext(connection) as few:
        client.get("/discover/browse/6-9/comics/")
    for n in range(2, 12):
        youth(f"BD {n}", branch, doc_type="comic", age_min=6, age_max=9)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/discover/browse/6-9/comics/").context["tiles"]) == 12
    assert len(many) == len(few)


def test_browse_pages_newest_first(branch, monkeypatch):
    monkeypatch.setattr(selectors, "PER_PAGE", 2)
    for n in range(3):
        youth(f"BD {n}", branch, doc_type="comic", age_min=6, age_max=9)

    first, more = selectors.browse(age_band="6-9", page=1)
    last, after_last = selectors.browse(age_band="6-9", page=2)

    assert (titles(first), more) == (["BD 2", "BD 1"], True)
    assert (titles(last), after_last) == (["BD 0"], False)


def test_more_like_this_reads_structured_subject_headings(branch):
    record = make_record(
        title="Chats savants", copies=[branch], subjects=[{"a": "Chats", "x": "Comportement"}, ""]
    )
    make_record(title="Même vedette", copies=[branch], subjects=[{"a": "chats", "x": "comportement"}])
    make_record(title="Autre vedette", copies=[branch], subjects=[{"a": "Chats", "x": "Alimentation"}])

    found = titles(selectors.more_like_this(record, branch=branch))

    # Same audience fills the row after the shared heading.
    assert found[0] == "Même vedette"


def test_seed_selections_builds_from_available_documents_once(branch):
    youth("Le chevalier", branch, call_number="J PL DUP", age_min=6, age_max=8)
    lent = youth("Prêté", branch, call_number="J PL ABC", age_min=6, age_max=8)
    lent.copies.update(status=CopyStatus.ON_LOAN)
    make_record(title="Roman adulte", copies=[branch])

    call_command("seed_selections", stdout=io.StringIO())
    call_command("seed_selections", stdout=io.StringIO())

    firsts = Selection.objects.get(title="Premières lectures")
    assert [i.record.title for i in firsts.items.all()] == ["Le chevalier"]
    assert Selection.objects.filter(title="Coups de cœur").count() == 1


def test_more_like_this_does_not_put_titles_first_for_their_punctuation():
    from emporter.discovery.selectors import _sort_title

    titles = ['"En furetant"', "...Les constructeurs", "« Zazie »", "Abeilles"]
    expected = ["Abeilles", '"En furetant"', "...Les constructeurs", "« Zazie »"]
    assert sorted(titles, key=_sort_title) == expected
