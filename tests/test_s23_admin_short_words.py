"""The admin's record search with words too short for the trigram index ("la", "de",
"Ça"): on 1,000,000 records it folded every title and responsibility, twice a page
(5.6-6.2 s on the bench catalogue). Such words now name a whole title, through the
title-key index, and the page says so."""

import html

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from emporter.holds.services import place_request
from tests.conftest import make_patron, make_record

SAID = "Words of fewer than three letters are looked for as a whole title"


def _listed(admin_client, url_name, term) -> tuple[str, str]:
    with translation.override("en"):
        url = reverse(url_name)
    page = admin_client.get(url, {"q": term})
    assert page.status_code == 200
    text = html.unescape(page.text)
    rows = text.split('id="result_list"', 1)[1] if 'id="result_list"' in text else ""
    return rows, text


def count_and_plan(admin_client, url_name, term) -> tuple[str, str]:
    """The count an admin list makes for ``term``, and its plan with sequential scans off
    (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        with CaptureQueriesContext(connection) as queries:
            admin_client.get(reverse(url_name), {"q": term})
        counted = next(q["sql"] for q in queries.captured_queries if "COUNT(*)" in q["sql"])
        cursor.execute("EXPLAIN " + counted)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    return counted, plan


def test_short_words_find_the_title_they_are_and_the_page_says_how(admin_client, branch):
    make_record("Ça", copies=[branch])
    make_record("Le Ça des enfants", copies=[branch])
    make_record("La Peste", copies=[branch])
    rows, page = _listed(admin_client, "admin:catalogue_record_changelist", "ca")
    assert "Ça" in rows and "Le Ça des enfants" not in rows and "La Peste" not in rows
    assert f"{SAID} (“ca”), not inside titles and authors." in page
    # A word long enough is looked for inside titles, the short ones with it.
    rows, page = _listed(admin_client, "admin:catalogue_record_changelist", "la peste")
    assert "La Peste" in rows and SAID not in page
    rows, _ = _listed(admin_client, "admin:catalogue_record_changelist", "la")
    assert "La Peste" not in rows and "Ça" not in rows


def test_a_request_is_found_by_the_short_title_of_its_document(admin_client, branch):
    patron = make_patron(branch)
    short = make_record("Up", copies=[branch])
    other = make_record("Up and down the river", copies=[branch])
    for record in (short, other):
        place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    rows, page = _listed(admin_client, "admin:holds_request_changelist", "UP")
    assert rows.count("Up and down the river") == 0 and ">Up<" in rows.replace("\n", "")
    assert SAID in page


def test_short_words_read_the_title_key_index_not_every_title(postgres, admin_client):
    make_record("Ça")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalogue_record")
    counted, plan = count_and_plan(admin_client, "admin:catalogue_record_changelist", "ça")
    assert "catalogue_record_title_key" in plan, plan
    assert "emporter_fold" not in counted, counted
