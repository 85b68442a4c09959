"""A search of function words only ("le", "c", "la les"): PostgreSQL's French dictionary
dropped them and the page said nothing matched, try another spelling; SQLite's index kept
them and listed every title holding "le". Both engines now look for the title they are
("La"), and failing that ask for another word."""

import html
import re

from django.urls import reverse
from django.utils import translation

from emporter.catalogue.models import Copy
from emporter.catalogue.search import search_records
from tests.conftest import make_record

ASKED = "words too common to be searched on their own. Add a word of the title, an author or a subject."


def _page(client, q: str, field: str = "all") -> str:
    with translation.override("en"):
        url = reverse("catalogue:search")
    text = html.unescape(client.get(url, {"q": q, "field": field}).text)
    return re.sub(r"\s+", " ", text)


def test_function_words_alone_ask_for_another_word_on_either_engine(client, branch):
    make_record("Le Petit Prince", copies=[branch])
    make_record("C'est la vie", copies=[branch])
    for q in ["le", "C", "la les", "l'", "Le"]:
        result = search_records(q=q)
        assert result.common_words_only and result.total == 0 and not result.hits, q
    page = _page(client, "la les")
    assert f"“la les”: {ASKED}" in page
    assert "No document matches this search" not in page


def test_the_title_they_are_is_found_alone(db):
    make_record("La")
    make_record("La Peste")
    make_record("Le Un et le multiple")
    for field in ("all", "title"):
        result = search_records(q="la", field=field)
        assert [h.record.title for h in result.hits] == ["La"] and not result.common_words_only
    assert search_records(q="la", field="author").common_words_only


def test_a_word_beside_them_is_searched_as_before(client, branch):
    make_record("Le Petit Prince", copies=[branch])
    result = search_records(q="le petit prince")
    assert not result.common_words_only and [h.record.title for h in result.hits] == ["Le Petit Prince"]
    assert ASKED not in _page(client, "le petit prince")
    assert ASKED not in _page(client, "zzzz")  # a word found nowhere is another matter


def test_a_call_number_of_one_letter_is_still_looked_up(branch):
    record = make_record("Mes premiers mots", copies=[branch])
    Copy.objects.filter(record=record).update(call_number="J")
    result = search_records(q="J", field="call_number")
    assert not result.common_words_only and [h.record.title for h in result.hits] == ["Mes premiers mots"]


def test_the_api_says_so_too(client, db):
    make_record("La Peste")
    answer = client.get("/api/v1/records", {"q": "la"}).json()
    assert answer["common_words_only"] is True and answer["total"] == 0 and answer["items"] == []
    answer = client.get("/api/v1/records", {"q": "la peste"}).json()
    assert answer["common_words_only"] is False and answer["total"] == 1
