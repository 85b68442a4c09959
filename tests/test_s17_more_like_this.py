""" "More like this" at a network's size: ranked ids alone (no total, no facet), genre
headings only to fill the row, the likenesses worked out once per record and library for
a while, and what can be had read every time."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from emporter.catalogue import search
from emporter.catalogue.models import Copy, CopyStatus
from emporter.catalogue.search import Filters, search_ids, search_records
from emporter.discovery import selectors
from tests.conftest import make_record

pytestmark = pytest.mark.django_db

# What the catalogue search's page statement, its branches and its page of hits say:
# none is the business of a row of tiles.
PAGE_ONLY = ("'total'", "'branch'", "lb.name", "hit_copies")


def titles(tiles):
    return [t.record.title for t in tiles]


def a_rich_record(branch):
    """A record with a series, an author and two subjects, and a neighbour for each."""
    record = make_record(
        title="Tome 1",
        copies=[branch],
        series="Astérix",
        responsibility="Goscinny",
        subjects=["Gaulois", "Rome"],
    )
    make_record(title="Tome 2", copies=[branch], series="Astérix")
    make_record(title="Le Petit Nicolas", copies=[branch], responsibility="Goscinny")
    make_record(title="Vercingétorix", copies=[branch], subjects=["Gaulois"])
    return record


def test_more_like_this_searches_ranked_ids_only(branch):
    record = a_rich_record(branch)

    with CaptureQueriesContext(connection) as queries:
        found = selectors.more_like_this(record, branch=branch)

    assert set(titles(found)) == {"Tome 2", "Le Petit Nicolas", "Vercingétorix"}
    sql = [q["sql"] for q in queries]
    assert not [s for s in sql if any(part in s for part in PAGE_ONLY)]
    # Series, author, two subjects: one statement each; the request policy and one query
    # to check them all; the policy and one query to fill the row (same audience); the
    # tiles: the policy, the copies, the records, the covers.
    assert len(sql) == 4 + 2 + 2 + 4


def test_the_likenesses_are_worked_out_once_and_availability_read_every_time(branch):
    record = a_rich_record(branch)
    selectors.more_like_this(record, branch=branch)
    Copy.objects.filter(record__title="Tome 2").update(status=CopyStatus.ON_LOAN)
    make_record(title="Tome 3", copies=[branch], series="Astérix")

    with CaptureQueriesContext(connection) as queries:
        found = titles(selectors.more_like_this(record, branch=branch))

    # Lent meanwhile: no longer offered. Added meanwhile: waits until the likenesses expire.
    assert "Tome 2" not in found and "Tome 3" not in found
    assert len(queries) == 4 and not [q for q in queries if "WITH m AS" in q["sql"]]
    cache.clear()
    assert titles(selectors.more_like_this(record, branch=branch))[0] == "Tome 3"


def test_the_likenesses_are_kept_per_library(branch, other_branch):
    record = a_rich_record(branch)
    make_record(title="Tome 4", copies=[other_branch], series="Astérix")

    assert titles(selectors.more_like_this(record, branch=branch))[0] == "Tome 2"
    assert titles(selectors.more_like_this(record, branch=other_branch))[0] == "Tome 4"


def test_a_genre_heading_is_not_used_when_better_likenesses_fill_the_row(branch, monkeypatch):
    monkeypatch.setattr(selectors, "BROAD_SUBJECT", 2)
    record = make_record(
        title="Le Vent", copies=[branch], responsibility="Anne Marin", subjects=["Roman", "Marine à voile"]
    )
    for n in range(3):  # "Roman" matches more than BROAD_SUBJECT documents: a genre
        make_record(title=f"Roman {n}", copies=[branch], doc_type="dvd", subjects=["Roman"])
    make_record(title="Voiles", copies=[branch], doc_type="dvd", subjects=["Marine à voile"])
    make_record(title="Écume", copies=[branch], doc_type="dvd", responsibility="Anne Marin")

    assert sorted(titles(selectors.more_like_this(record, branch=branch, limit=2))) == ["Voiles", "Écume"]
    cache.clear()
    # A row the better likenesses leave room in: the genre fills it, after them.
    found = titles(selectors.more_like_this(record, branch=branch))
    assert found[:2] == ["Écume", "Voiles"]
    # (Those of the first BROAD_SUBJECT + 1 matches: a genre's search stops counting there.)
    assert found[2:] and set(found[2:]) <= {"Roman 0", "Roman 1", "Roman 2"}


def test_a_heading_few_documents_share_counts_as_a_likeness(branch, monkeypatch):
    monkeypatch.setattr(selectors, "BROAD_SUBJECT", 2)
    record = make_record(title="Le Vent", copies=[branch], subjects=["Marine à voile"])
    make_record(title="Voiles", copies=[branch], doc_type="dvd", subjects=["Marine à voile"])
    make_record(title="Autre", copies=[branch], doc_type="dvd", subjects=["Cuisine"])

    assert titles(selectors.more_like_this(record, branch=branch)) == ["Voiles"]


def test_record_page_queries_do_not_grow_with_copies(client, branch, other_branch):
    record = a_rich_record(branch)

    def page_queries():
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/catalogue/record/{record.pk}/").status_code == 200
        return len(queries)

    few = page_queries()
    # The popular title and the tiles' documents: a score of copies each, at two libraries.
    for title in ("Tome 1", "Tome 2", "Vercingétorix"):
        copy = Copy.objects.filter(record__title=title).first()
        for n in range(20):
            copy.pk, copy.barcode, copy.branch = None, f"X{copy.record_id}-{n}", [branch, other_branch][n % 2]
            copy.save()
    assert Copy.objects.filter(record=record).count() == 21
    assert page_queries() == few


def test_search_ids_ranks_as_the_search_does_in_one_statement(branch, monkeypatch):
    for n in range(6):
        make_record(title=f"Contes de la nuit {n}", copies=[branch] if n % 2 else [])
    make_record(title="Contes", copies=[branch])

    with CaptureQueriesContext(connection) as queries:
        found = search_ids(q="contes", limit=3)
    assert len(queries) == 1
    assert found.ids == [h.record.pk for h in search_records(q="contes", per_page=3).hits]
    assert found.matched == 7
    available = search_ids(q="contes", filters=Filters(available=True))
    assert available.ids == [
        h.record.pk for h in search_records(q="contes", filters=Filters(available=True)).hits
    ]
    # Counted up to the sample's size + 1 only: more than the sample is "many".
    assert search_ids(q="contes", sample=3).matched == 4
    monkeypatch.setattr(search, "SAMPLE", 3)
    assert search_ids(q="contes").matched == 4
    assert search_ids(q="\x00 ").ids == []


def test_search_ids_can_take_the_last_word_whole(branch):
    artiste = make_record(title="Artiste", copies=[branch])

    assert search_ids(q="art").ids == [artiste.pk]  # typed: perhaps unfinished
    assert search_ids(q="art", whole_words=True).ids == []


# The row's fillers are kept with the likenesses (third review): the scored neighbours
# lent meanwhile, the row stayed short for ten minutes though fillers were on the shelf.
def test_the_row_refills_when_its_likenesses_are_lent_meanwhile(branch):
    record = make_record(title="Original", copies=[branch], responsibility="Goscinny")
    for i in range(8):
        make_record(title=f"Goscinny {i}", copies=[branch], responsibility="Goscinny")
    for i in range(8):
        make_record(title=f"Autre {i}", copies=[branch])  # same audience and type: fillers
    assert len(selectors.more_like_this(record, branch=branch)) == 8
    Copy.objects.filter(record__title__startswith="Goscinny ").exclude(
        record__title__in=["Goscinny 0", "Goscinny 1"]
    ).update(status=CopyStatus.ON_LOAN)

    shown = selectors.more_like_this(record, branch=branch)
    cache.clear()
    fresh = selectors.more_like_this(record, branch=branch)
    assert len(fresh) == 8  # what the page showed before the cache
    assert len(shown) == len(fresh), [t.record.title for t in shown]
