"""MARC21 personal names keep their numeration ($b), titles ($c), dates ($d) and fuller
form ($q) in the record's headings, as the record punctuates them: they tell namesakes
apart (Dumas father and son). The author link still searches the name itself."""

import html

import pymarc
from django.urls import reverse

from emporter.catalogue.marcdata import extract
from emporter.catalogue.search import heading_query
from tests.conftest import make_record


def marc21(*names: tuple[str, list[tuple[str, str]]]) -> pymarc.Record:
    record = pymarc.Record()
    record.add_field(
        pymarc.Field(tag="245", indicators=["1", "0"], subfields=[pymarc.Subfield("a", "Titre.")])
    )
    for tag, subfields in names:
        codes = [pymarc.Subfield(code, value) for code, value in subfields]
        record.add_field(pymarc.Field(tag=tag, indicators=["1", " "], subfields=codes))
    return record


def headings(record: pymarc.Record) -> list[str]:
    return extract(record).authors.split("\n")


def test_a_king_keeps_his_numeral_his_title_and_his_dates():
    louis = [("a", "Louis"), ("b", "XIV,"), ("c", "roi de France,"), ("d", "1638-1715.")]
    assert headings(marc21(("100", louis))) == ["Louis XIV, roi de France, 1638-1715"]
    assert heading_query("Louis XIV, roi de France, 1638-1715") == "Louis XIV"


def test_namesakes_are_two_headings_and_their_links_search_the_surname():
    father = ("100", [("a", "Dumas, Alexandre,"), ("d", "1802-1870.")])
    son = ("700", [("a", "Dumas, Alexandre,"), ("d", "1824-1895.")])
    both = headings(marc21(father, son))
    assert both == ["Dumas, Alexandre, 1802-1870", "Dumas, Alexandre, 1824-1895"]
    assert {heading_query(h) for h in both} == {"Dumas"}


def test_a_fuller_form_stays_in_the_heading_and_out_of_the_search():
    chapman = [("a", "Chapman, W."), ("q", "(William),"), ("d", "1850-1917.")]
    assert headings(marc21(("100", chapman))) == ["Chapman, W. (William), 1850-1917"]
    assert heading_query("Chapman, W. (William), 1850-1917") == "Chapman"
    # An initial's full stop is not ISBD punctuation: it stays.
    assert headings(marc21(("700", [("a", "Chapman, W.")]))) == ["Chapman, W."]


def test_the_record_page_shows_the_dates_and_links_the_surname(client, db):
    record = make_record("Le Comte de Monte-Cristo", authors="Dumas, Alexandre, 1802-1870")
    page = html.unescape(client.get(reverse("catalogue:record", args=[record.pk])).content.decode())
    assert "Dumas, Alexandre, 1802-1870</a>" in page
    assert "field=author&q=Dumas" in page
