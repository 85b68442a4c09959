"""A record's name headings (Record.authors): read from the MARC files, searched by the
author field, and linked one by one from the record page."""

import html
import re

import pytest
from django.urls import reverse

from emporter.catalogue.models import Record
from emporter.catalogue.search import heading_query, search_records
from tests.conftest import make_branch, make_record
from tests.test_import_marc import JAZZ, LUL, MEL, run


@pytest.fixture
def pdi(db):
    return make_branch(code="PDI", name="Part-Dieu")


def titles(result) -> list[str]:
    return [hit.record.title for hit in result.hits]


def test_the_headings_come_from_the_main_and_added_entries_in_order(pdi):
    run([JAZZ, LUL, MEL])
    friendly = Record.objects.get(title="Friendly fire")
    # The dates of MARC21's $d stay in the heading (twenty-fourth session): they tell
    # namesakes apart. The author link still searches the surname.
    assert friendly.author_headings == [
        "Lovano, Joe, 1952-",
        "Osby, Greg",
        "Moran, Jason",
        "Brown, Cameron",
        "Muhammad, Idris",
    ]
    # MARC21 main entry, then the added entry of the illustrator (700), ISBD marks dropped.
    epilobium = Record.objects.get(title__startswith="Iconographie du genre Epilobium")
    assert epilobium.author_headings == ["Léveillé, Augustin Abel Hector, 1863-1918", "Cordouë, Gonzalve de"]
    # UNIMARC: 700/701 $a, $b, then the corporate body of 712.
    juglar = Record.objects.get(title__startswith="Du rapport de valeur entre les deux m")
    assert juglar.author_headings == ["Juglar, Clément", "Académie des sciences morales et politiques"]
    assert Record.objects.exclude(authors="").count() >= 1_150


def test_a_reimport_keeps_the_headings_without_duplicating_them(pdi):
    run([LUL])
    before = dict(Record.objects.values_list("source_key", "authors"))
    report, _ = run([LUL])
    assert report.records_created == 0
    assert dict(Record.objects.values_list("source_key", "authors")) == before


def test_the_author_field_finds_a_record_by_a_heading_its_title_page_abbreviates(db):
    make_record(
        "L'enseignement de la statistique", responsibility="par M.E. Cheysson", authors="Cheysson, Emile"
    )
    make_record("Un autre Cheysson", responsibility="par Jean Cheysson", authors="Cheysson, Jean")
    assert titles(search_records(q="Emile Cheysson", field="author")) == ["L'enseignement de la statistique"]


def test_a_performer_only_in_the_headings_is_found_by_the_author_field(db):
    make_record(
        "Friendly fire", responsibility="Joe Lovano and Greg Osby", authors="Lovano, Joe\nMoran, Jason"
    )
    assert titles(search_records(q="Jason Moran", field="author")) == ["Friendly fire"]
    # Changing only the headings reindexes the record (the triggers name the column).
    Record.objects.filter(title="Friendly fire").update(authors="Lovano, Joe\nBrown, Cameron")
    assert titles(search_records(q="Cameron Brown", field="author")) == ["Friendly fire"]
    assert titles(search_records(q="Jason Moran", field="author")) == []


def test_the_record_page_links_each_heading_to_its_names_other_records(client, branch):
    record = make_record(
        "Iconographie du genre Epilobium",
        copies=[branch],
        responsibility="par H. Léveillé ; dessins de Gonzalve de Cordouë",
        authors="Léveillé, Augustin Abel Hector\nCordouë, Gonzalve de\nAcadémie des sciences",
    )
    other = make_record("Flore de la Mayenne", copies=[branch], responsibility="H. Léveillé")
    page = client.get(reverse("catalogue:record", args=[record.pk])).content.decode()
    links = dict(
        (html.unescape(text), html.unescape(href))
        for href, text in re.findall(r'<a href="([^"]*field=author[^"]*)">([^<]*)</a>', page)
    )
    assert links == {
        "Léveillé, Augustin Abel Hector": "/catalogue/?field=author&q=L%C3%A9veill%C3%A9",
        "Cordouë, Gonzalve de": "/catalogue/?field=author&q=Cordou%C3%AB",
        "Académie des sciences": "/catalogue/?field=author&q=Acad%C3%A9mie%20des%20sciences",
    }
    found = titles(client.get(links["Léveillé, Augustin Abel Hector"]).context["result"])
    assert set(found) == {record.title, other.title}


@pytest.mark.parametrize(
    "heading, query",
    [
        ("Hugo, Victor", "Hugo"),
        ("Cordouë, Gonzalve de", "Cordouë"),
        ("Molière", "Molière"),
        ("Weather Report (Musical group)", "Weather Report"),
        ("Miles Davis All Stars", "Miles Davis All Stars"),
        ("Smithsonian Institution", "Smithsonian Institution"),
        ("France. Chambre des pairs", "France. Chambre des pairs"),
        (
            "Lo-Ellen Park Secondary School (Sudbury). Senior Stage Band",
            "Lo-Ellen Park Secondary School. Senior Stage Band",
        ),
    ],
)
def test_a_heading_links_a_person_by_the_surname_and_a_body_whole(heading, query):
    assert heading_query(heading) == query


def test_a_bodys_heading_keeps_its_units_and_no_comma(pdi):
    """MARC21 110/710 and UNIMARC 710-712: $a and $b joined by ". " (a comma would read
    as "Surname, Forename": "France, Chambre des pairs" linked every Anatole France)."""
    run([JAZZ, MEL])
    headings = {h for r in Record.objects.exclude(authors="") for h in r.author_headings}
    assert "Weather Report (Musical group)" in headings
    assert {"France. Chambre des pairs", "Berlin. Sénat"} <= headings
    assert not {"France, Chambre des pairs", "Berlin, Sénat"} & headings


def test_heading_words_are_offered_by_did_you_mean(postgres):
    from django.db import connection

    record = make_record("Friendly fire", responsibility="Joe Lovano", authors="Lovano, Joe\nMoran, Jason")
    Record.objects.filter(pk=record.pk).update(authors="Lovano, Joe\nMuhammad, Idris")
    with connection.cursor() as cursor:
        cursor.execute("SELECT word FROM catalogue_search_word WHERE word IN ('moran', 'muhammad')")
        assert {row[0] for row in cursor.fetchall()} == {"moran", "muhammad"}
