from pathlib import Path

import pytest
from django.db import connection

from emporter.catalogue import search
from emporter.catalogue.importer import import_marc
from emporter.catalogue.models import Audience, Copy, CopyStatus, DocType, Record
from emporter.catalogue.search import Filters, isbn10_to_13, search_records
from emporter.network.models import Branch, Location, ServiceMode
from tests.conftest import make_department, make_location


def make_record(key, title, copies=(), **fields):
    record = Record.objects.create(source_key=f"test:{key}", title=title, **fields)
    for n, (branch, call_number, status) in enumerate(copies):
        Copy.objects.create(
            record=record,
            barcode=f"{key}-{n}",
            branch=branch,
            call_number=call_number,
            status=status,
            doc_type=record.doc_type,
        )
    return record


@pytest.fixture
def catalogue(branch, other_branch):
    return {
        "etrangere": make_record(
            "1",
            "La Femme étrangère",
            responsibility="Marguerite Durand",
            subjects=["Exil", "Roman"],
            language="fre",
            isbn="9782070368228",
            copies=[(branch, "R DUR", CopyStatus.ON_SHELF), (other_branch, "R DUR", CopyStatus.ON_LOAN)],
        ),
        "chevaux": make_record(
            "2",
            "Les Chevaux de la nuit",
            responsibility="Anne Morel",
            subjects=["Roman"],
            doc_type=DocType.COMIC,
            audience=Audience.YOUTH,
            language="fre",
            copies=[(other_branch, "BD MOR", CopyStatus.ON_SHELF)],
        ),
        "friendly": make_record(
            "3",
            "Friendly fire",
            responsibility="Joe Lovano and Greg Osby",
            publisher="Blue Note",
            doc_type=DocType.CD,
            language="eng",
            copies=[(branch, "3489 CD", CopyStatus.ON_LOAN)],
        ),
        "chine": make_record(
            "4",
            "Histoire de la Chine",
            summary="Un roman national raconté par ses historiens.",
            subjects=["Roman", "Chine"],
            language="fre",
            copies=[(branch, "951 HIS", CopyStatus.MISSING)],
        ),
    }


def titles(result):
    return [hit.record.title for hit in result.hits]


def test_finds_a_record_by_a_title_word(catalogue):
    assert titles(search_records(q="friendly")) == ["Friendly fire"]


def test_finds_a_record_by_its_author(catalogue):
    assert titles(search_records(q="Lovano")) == ["Friendly fire"]
    assert titles(search_records(q="durand", field="author")) == ["La Femme étrangère"]


def test_author_field_does_not_search_titles(catalogue):
    assert search_records(q="friendly", field="author").total == 0
    assert search_records(q="lovano", field="title").total == 0


def test_search_ignores_accents_both_ways(catalogue):
    assert titles(search_records(q="etrangere")) == ["La Femme étrangère"]
    assert titles(search_records(q="ÉTRANGÈRE femme")) == ["La Femme étrangère"]


def test_last_word_may_be_unfinished(catalogue):
    assert titles(search_records(q="femme etran")) == ["La Femme étrangère"]
    assert titles(search_records(q="Lova")) == ["Friendly fire"]


def test_finds_by_isbn_with_or_without_hyphens(catalogue):
    assert titles(search_records(q="978-2-07-036822-8")) == ["La Femme étrangère"]
    assert titles(search_records(q="9782070368228", field="isbn")) == ["La Femme étrangère"]
    assert titles(search_records(q="978207036", field="isbn")) == ["La Femme étrangère"]


def test_an_isbn_10_finds_the_isbn_13():
    assert isbn10_to_13("2070368226") == "9782070368228"


def test_finds_by_call_number(catalogue):
    assert titles(search_records(q="951 his")) == ["Histoire de la Chine"]
    assert titles(search_records(q="951")) == ["Histoire de la Chine"]
    assert titles(search_records(q="bd m", field="call_number")) == ["Les Chevaux de la nuit"]


def test_a_call_number_prefix_is_not_a_like_pattern(catalogue):
    assert search_records(q="%", field="call_number").total == 0
    assert search_records(q="_ d", field="call_number").total == 0


def test_facets_count_the_matching_records(catalogue, branch, other_branch):
    result = search_records(q="roman")
    assert result.total == 3
    facets = {name: {v.value: v.count for v in values} for name, values in result.facets.items()}
    assert facets["doc_type"] == {"book": 2, "comic": 1}
    assert facets["audience"] == {"adult": 2, "youth": 1}
    assert facets["language"] == {"fre": 3}
    assert facets["branch"] == {str(branch.pk): 2, str(other_branch.pk): 2}
    assert result.available_count == 2


def test_facet_filters_narrow_the_results(catalogue, branch, other_branch):
    assert titles(search_records(q="roman", filters=Filters(doc_type="comic"))) == ["Les Chevaux de la nuit"]
    assert search_records(q="roman", filters=Filters(audience="adult")).total == 2
    assert search_records(q="roman", filters=Filters(branch_id=branch.pk)).total == 2


def test_available_now_can_be_limited_to_a_branch(catalogue, branch, other_branch):
    anywhere = search_records(q="roman", filters=Filters(available=True))
    assert sorted(titles(anywhere)) == ["La Femme étrangère", "Les Chevaux de la nuit"]
    there = search_records(q="roman", filters=Filters(available=True, branch_id=other_branch.pk))
    assert titles(there) == ["Les Chevaux de la nuit"]
    assert there.available_count == 1
    branch_counts = {v.value: v.count for v in there.facets["branch"]}
    assert branch_counts == {str(other_branch.pk): 1}


def test_filters_alone_browse_the_catalogue(catalogue):
    assert titles(search_records(q="", filters=Filters(audience="youth"))) == ["Les Chevaux de la nuit"]


def test_an_empty_search_returns_nothing_without_querying(catalogue, django_assert_num_queries):
    with django_assert_num_queries(0):
        result = search_records(q="   ")
    assert result.total == 0 and not result.searched


def test_exact_title_ranks_first(catalogue):
    make_record("5", "La nuit", summary="nuit nuit nuit")
    make_record("6", "Nuit blanche", responsibility="Nuit")
    assert titles(search_records(q="la nuit"))[0] == "La nuit"


def test_results_are_paginated(branch):
    for n in range(25):
        make_record(f"p{n}", f"Contes numéro {n}")
    first, second = search_records(q="contes", per_page=20), search_records(q="contes", page=2, per_page=20)
    assert (first.total, first.pages, len(first.hits), len(second.hits)) == (25, 2, 20, 5)
    assert not {h.record.pk for h in first.hits} & {h.record.pk for h in second.hits}
    assert search_records(q="contes", page=99).page == 2
    assert search_records(q="contes", page=10**30).page == 2


def test_a_search_costs_the_same_few_queries_whatever_the_hits(branch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(25):
        make_record(f"q{n}", f"Contes numéro {n}", publisher="Zulma", copies=[(branch, "C", "on_shelf")])
    # The ranked page with its total and facets, the branches, the records with their copies
    # (on PostgreSQL the first runs in a transaction of its own, with one setting).
    with CaptureQueriesContext(connection) as ctx:
        result = search_records(q="contes")
        assert {(h.record.publisher, h.record.isbn, h.available) for h in result.hits} == {("Zulma", "", 1)}
    control = ("SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL")
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(control)]
    assert len(statements) == 3, statements


def test_index_follows_every_writer(catalogue):
    record = catalogue["friendly"]
    Record.objects.filter(pk=record.pk).update(title="Unfriendly sky")
    old_title = search_records(q="friendly")
    assert old_title.total == 0 or old_title.approximate  # PostgreSQL shows look-alikes
    assert titles(search_records(q="unfriendly")) == ["Unfriendly sky"]
    record.title, record.subjects = "Quiet water", ["Jazz"]
    Record.objects.bulk_update([record], ["title", "subjects"])
    assert titles(search_records(q="jazz", field="subject")) == ["Quiet water"]
    Record.objects.bulk_create([Record(source_key="test:bulk", title="Bulk arrival")])
    assert titles(search_records(q="arrival")) == ["Bulk arrival"]
    record.delete()
    assert search_records(q="quiet").total == 0


def test_availability_summary_per_result(catalogue, branch):
    (hit,) = search_records(q="etrangere").hits
    assert (hit.copies, hit.available, hit.available_at) == (2, 1, [branch.name])


def test_a_result_calls_available_only_what_a_request_can_take(branch, other_branch):
    """On the shelf, but without a barcode, in the reference stacks or at a closed
    library: allocation would not take it, so the result line does not offer it."""
    reference = make_location(make_department(branch), code="fonds", name="Fonds", requestable=False)
    record = make_record("9", "Les Voies du nord", copies=[(branch, "R NOR", CopyStatus.ON_SHELF)] * 3)
    no_barcode, in_reference, closed = record.copies.order_by("pk")
    Copy.objects.filter(pk=no_barcode.pk).update(barcode=None)
    Copy.objects.filter(pk=in_reference.pk).update(location=reference)
    Copy.objects.filter(pk=closed.pk).update(branch=other_branch)
    Branch.objects.filter(pk=other_branch.pk).update(service_mode=ServiceMode.CLOSED)
    (hit,) = search_records(q="voies nord").hits
    assert (hit.copies, hit.available, hit.available_at) == (3, 0, [])
    Location.objects.filter(pk=reference.pk).update(requestable=True)
    (hit,) = search_records(q="voies nord").hits
    assert (hit.copies, hit.available, hit.available_at) == (3, 1, [branch.name])


HOSTILE = [
    '"',
    "'",
    "(",
    ")",
    "*",
    "-",
    "AND",
    "OR NOT NEAR",
    "femme AND",
    "NEAR(femme étrangère, 2)",
    'title:"x',
    "{title} : femme",
    "a:* & !b | (c",
    "\\",
    "%",
    "_",
    "😀",
    "' OR 1=1 --",
    "x" * 500,
    "le la les de",
    "\x00",
]


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_queries_do_not_crash(catalogue, client, q):
    for field in ("all", "title", "author", "subject", "isbn", "call_number"):
        search_records(q=q, field=field)
    response = client.get("/catalogue/", {"q": q})
    assert response.status_code == 200


def test_search_page_lists_results_with_facets_in_french(catalogue, client):
    response = client.get("/catalogue/", {"q": "roman"})
    page = response.content.decode()
    assert response["Content-Language"] == "fr"
    assert "Les Chevaux de la nuit" in page and "Histoire de la Chine" in page
    assert "Friendly fire" not in page
    assert 'for="search-q"' in page
    assert "?q=roman&amp;doc_type=comic" in page


def test_search_page_rejects_a_bad_facet_and_keeps_the_query(catalogue, client):
    response = client.get("/catalogue/", {"q": "roman", "doc_type": "spaceship"})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'role="alert"' in page
    assert 'value="roman"' in page
    assert client.get("/catalogue/", {"q": "roman", "page": "9" * 40}).status_code == 200
    assert client.get("/catalogue/", {"q": "roman", "branch": "x"}).status_code == 200


def test_search_page_in_english(catalogue, client):
    page = client.get("/en/catalogue/", {"q": "lovano"}).content.decode()
    assert "1 result" in page and "Friendly fire" in page


def test_french_stemming_finds_plural_forms(catalogue, postgres):
    assert titles(search_records(q="cheval")) == ["Les Chevaux de la nuit"]
    assert titles(search_records(q="nuits")) == ["Les Chevaux de la nuit"]


def test_a_plural_finds_the_singular_on_both_engines(catalogue):
    """SQLite's FTS5 has no French stemmer: a plural is looked up as its singular's start."""
    assert titles(search_records(q="nuits")) == ["Les Chevaux de la nuit"]
    assert titles(search_records(q="chevaux nuits")) == ["Les Chevaux de la nuit"]
    assert search._french_singular("journaux") == "journa"
    assert search._french_singular("sur") == "sur"


def test_a_misspelt_word_is_replaced_by_the_closest_word_the_catalogue_knows(catalogue):
    """On both engines: PostgreSQL's trigram dictionary, SQLite's full-text vocabulary."""
    result = search_records(q="frendly fire")
    assert (result.approximate, result.corrected) == (True, "friendly fire")
    assert titles(result) == ["Friendly fire"]
    # Catalogued after the dictionary was built: its words were added by the trigger.
    make_record("7", "Le Labyrinthe perdu")
    result = search_records(q="labirinthe")
    assert result.corrected == "labyrinthe"
    assert titles(result) == ["Le Labyrinthe perdu"]


def test_known_words_are_kept_and_only_the_unknown_one_is_replaced(catalogue):
    make_record("8", "Le Seigneur des anneaux", responsibility="J. R. R. Tolkien")
    make_record("9", "Les Anneaux de Saturne")
    result = search_records(q="seigneur des aneaux")
    assert result.corrected == "seigneur des anneaux"
    assert titles(result) == ["Le Seigneur des anneaux"]
    assert titles(search_records(q="tolkein", field="author")) == ["Le Seigneur des anneaux"]


def test_words_of_an_edited_or_bulk_created_title_are_known(catalogue):
    record = make_record("10", "Titre provisoire")
    record.title = "Zygomatiques"
    record.save()
    Record.objects.bulk_create([Record(source_key="test:11", title="Xylophonistes")])
    # Found through the dictionary (corrected), not only through look-alike titles.
    for typed, known in (("zygomatiqes", "Zygomatiques"), ("xylofonistes", "Xylophonistes")):
        result = search_records(q=typed)
        assert (result.corrected, titles(result)) == (known.lower(), [known])


def test_without_a_close_word_a_typo_falls_back_to_look_alike_titles(catalogue, postgres):
    # A swap of two letters leaves too few trigrams in common for a word, enough for a title.
    make_record("12", "Le Dragon des mers")
    result = search_records(q="le dargon des mers")
    assert result.approximate and not result.corrected
    assert titles(result) == ["Le Dragon des mers"]


def test_the_page_says_which_words_were_searched_instead(catalogue, client):
    page = client.get("/catalogue/", {"q": "frendly"}).content.decode()
    assert (
        "Rien ne correspond à «\u00a0frendly\u00a0»\u00a0; voici les résultats pour «\u00a0friendly\u00a0»."
        in page
    )
    assert "Friendly fire" in page


def test_friendly_fire_from_the_shared_marc_file_is_found_by_title_and_author(branch):
    jazz = Path(__file__).resolve().parents[2] / "shared" / "data" / "marc" / "jazz_1k.mrc"
    assert jazz.is_file(), f"shared MARC file missing: {jazz}"
    import_marc([jazz], preset="sirsi", default_branch=branch.code, progress=False)
    by_title = search_records(q="friendly fire")
    assert by_title.hits[0].record.title.startswith("Friendly fire")
    assert by_title.hits[0].available_at == [branch.name]
    assert "Friendly fire" in [h.record.title for h in search_records(q="lovano", per_page=100).hits]
    assert "Friendly fire" in [h.record.title for h in search_records(q="Lovano", field="author").hits]


def test_home_page_has_a_labelled_search_box(client, db):
    page = client.get("/").content.decode()
    assert 'action="/catalogue/"' in page
    assert '<label class="visually-hidden" for="search-q">' in page


def test_a_query_matching_more_than_the_sample_says_so(branch, monkeypatch, client):
    monkeypatch.setattr(search, "SAMPLE", 3)
    for n in range(6):
        make_record(f"s{n}", f"Contes de la nuit {n}")
    result = search_records(q="contes")
    assert (result.sample, result.total, len(result.hits)) == (3, 4, 4)
    assert not search_records(q="contes nuit 5").sample
    assert "More than 3 results" in client.get("/en/catalogue/", {"q": "contes"}).content.decode()


def test_the_exact_title_is_kept_when_the_sample_is_full(branch, monkeypatch, postgres):
    monkeypatch.setattr(search, "SAMPLE", 3)
    for n in range(6):
        make_record(f"s{n}", f"Contes de la nuit {n}")
    exact = make_record("exact", "Contes")
    assert search_records(q="contes").hits[0].record == exact


@pytest.mark.parametrize(
    "filters",
    [Filters(), Filters(available=True), Filters(branch_id=-1), Filters(available=True, branch_id=-1)],
    ids=["none", "available", "branch", "available-at-branch"],
)
def test_postgres_one_pass_counts_equal_the_portable_ones(
    catalogue, other_branch, postgres, monkeypatch, filters
):
    if filters.branch_id:
        filters = Filters(available=filters.available, branch_id=other_branch.pk)
    fast = search_records(q="roman", filters=filters)
    monkeypatch.setattr(search, "_postgres_counts", search._portable_counts)
    portable = search_records(q="roman", filters=filters)
    assert fast.total and (fast.total, fast.available_count) == (portable.total, portable.available_count)
    assert fast.facets == portable.facets


def test_a_document_type_filter_can_use_its_own_index(catalogue, postgres):
    # Intersected with the full-text index, it spares reading every record a word matches.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN SELECT id FROM catalogue_record WHERE doc_type = %s", [DocType.DVD])
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "catalogue_record_doc_type" in plan


def test_a_closed_library_is_neither_available_nor_offered_as_a_choice(branch, other_branch):
    """Its copies are on its shelves, but a closed library lends nothing: not in the
    "available now" count or filter, not in the library facet (on both engines)."""
    only_there = make_record("21", "Neige du nord", copies=[(other_branch, "R NEI", CopyStatus.ON_SHELF)])
    here_too = make_record(
        "22",
        "Neige du sud",
        copies=[(other_branch, "R NEI", CopyStatus.ON_SHELF), (branch, "R NEI", CopyStatus.ON_SHELF)],
    )
    result = search_records(q="neige")
    assert (result.total, result.available_count) == (2, 2)
    Branch.objects.filter(pk=other_branch.pk).update(service_mode=ServiceMode.CLOSED)
    result = search_records(q="neige")
    assert (result.total, result.available_count) == (2, 1)
    assert [v.label for v in result.facets["branch"]] == [branch.name]
    available = search_records(q="neige", filters=Filters(available=True))
    assert [hit.record for hit in available.hits] == [here_too]
    assert only_there not in [hit.record for hit in search_records(q="neige").hits if hit.available]
    # Available *at* the closed library: nothing, on both engines, though "sud" is on
    # the shelf there and elsewhere.
    there = search_records(q="neige", filters=Filters(branch_id=other_branch.pk, available=True))
    assert (there.total, there.available_count) == (0, 0)
    at_home = search_records(q="neige", filters=Filters(branch_id=branch.pk, available=True))
    assert [hit.record for hit in at_home.hits] == [here_too] and at_home.available_count == 1


def test_the_filters_on_are_said_above_the_results_each_with_its_way_out(catalogue, client):
    plain = client.get("/en/catalogue/", {"q": "roman"}).content.decode()
    assert "active-filters" not in plain
    chosen = {"q": "roman", "doc_type": "comic", "available": "on"}
    page = client.get("/en/catalogue/", chosen).content.decode()
    filters = page.split('class="plain active-filters"', 1)[1].split("</ul>", 1)[0]
    assert page.index("active-filters") < page.index('class="results')  # before the list, not after it
    assert "Comic" in filters and "Available now" in filters
    assert 'href="?q=roman&amp;available=on#results-title"' in filters  # the comic filter off
    assert 'aria-label="Remove the filter Comic"' in filters


def test_a_title_in_another_language_says_so_to_screen_readers(client, branch):
    from tests.conftest import make_record

    english = make_record(title="Friendly fire", copies=[branch], language="eng", summary="A war story.")
    french = make_record(title="Feu ami", copies=[branch], language="fre")
    assert (
        '<h1 id="record-title" lang="en">Friendly fire</h1>'
        in client.get(f"/catalogue/record/{english.pk}/").text
    )
    # The summary is in the cataloguing language, whatever the document's.
    assert "<p>A war story.</p>" in client.get(f"/catalogue/record/{english.pk}/").text
    # A film's language is its soundtrack's: its (French) title says nothing.
    film = make_record(title="Le Mépris", copies=[branch], language="eng", doc_type="dvd")
    assert '<h1 id="record-title">Le Mépris</h1>' in client.get(f"/catalogue/record/{film.pk}/").text
    assert '<h1 id="record-title">Feu ami</h1>' in client.get(f"/catalogue/record/{french.pk}/").text
    page = client.get("/catalogue/", {"q": "friendly"}).text
    assert '<strong lang="en">Friendly fire</strong>' in page
    # On the English page, the English title is in the page's language: nothing to say.
    assert 'lang="en">Friendly' not in client.get(f"/en/catalogue/record/{english.pk}/").text


def test_a_chosen_filter_nothing_matched_is_named_in_words(client, branch):
    page = client.get("/catalogue/", {"q": "zzzzqqq", "branch": branch.pk, "doc_type": "cd"}).text
    assert f"Retirer le filtre {branch.name}" in page and "Retirer le filtre CD" in page
    assert f"Retirer le filtre {branch.pk}<" not in page and "Retirer le filtre cd" not in page
