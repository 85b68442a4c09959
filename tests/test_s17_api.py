"""The API's inputs say what is wrong with them (seventeenth session): a page number or
size out of range is refused with the field named, not quietly bent into another page;
an id in a JSON body is a number, not a string or a boolean a client's bug sent; HEAD
answers where GET does (a body too large is 413: tests/test_api_hardening.py)."""

import pytest

from emporter.holds.models import Request
from tests.conftest import make_record
from tests.test_api import V1, post, sign_in


@pytest.fixture
def auth(client, patron):
    return sign_in(client)


def _refused(response, field):
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid_input"
    assert [e["loc"] for e in body["errors"]] == [field]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": -5}, ["query", "per_page"]),
        ({"per_page": 0}, ["query", "per_page"]),
        ({"per_page": 101}, ["query", "per_page"]),
        ({"page": 0}, ["query", "page"]),
        ({"page": -1}, ["query", "page"]),
    ],
)
def test_a_search_page_out_of_range_is_refused_with_its_field_named(client, db, params, field):
    # Before, per_page=-5 answered one hit a page and page=0 the first page: a client
    # counting its pages from 0 read page 1 twice and never learnt why.
    _refused(client.get(f"{V1}/records", {"q": "jardin", **params}), field)


def test_a_search_page_size_in_range_is_taken(client, db):
    make_record("Un jardin")
    make_record("Le jardin secret")
    answer = client.get(f"{V1}/records", {"q": "jardin", "per_page": 1, "page": 2}).json()
    assert (answer["per_page"], answer["page"], answer["total"], len(answer["items"])) == (1, 2, 2, 1)


def test_a_search_page_past_the_last_one_the_search_reads_is_refused(client, db):
    # The search stops at its MAX_PAGE-th page: past it, the last page's hits came back
    # under the number asked, and a client reading every page read them again and again.
    from emporter.catalogue.search import MAX_PAGE

    _refused(client.get(f"{V1}/records", {"q": "jardin", "page": MAX_PAGE + 1}), ["query", "page"])
    assert client.get(f"{V1}/records", {"q": "jardin", "page": MAX_PAGE}).status_code == 200


def test_a_search_says_no_more_pages_than_it_reads(client, db, monkeypatch):
    from emporter.api import catalogue

    monkeypatch.setattr(catalogue, "MAX_PAGE", 2)
    for n in range(5):
        make_record(f"Un jardin {n}")
    answer = client.get(f"{V1}/records", {"q": "jardin", "per_page": 1}).json()
    assert (answer["total"], answer["pages"]) == (5, 2)


@pytest.mark.parametrize("page", [0, -3])
def test_a_request_page_below_one_is_refused(client, auth, page):
    _refused(client.get(f"{V1}/requests", {"page": page}, headers=auth), ["query", "page"])


@pytest.mark.parametrize("wrong", ["7", True, 7.0, "seven"])
def test_a_record_id_in_a_body_is_a_number(client, auth, branch, wrong):
    # "7" or true were read as 7 and 1: a client's bug placed a request for another record.
    response = post(client, f"{V1}/requests", {"record_ids": [wrong]}, auth, HTTP_IDEMPOTENCY_KEY="k1")
    _refused(response, ["body", "record_ids", 0])
    assert not Request.objects.exists()


def test_a_pickup_branch_id_in_a_body_is_a_number(client, auth, branch):
    record = make_record("Un jardin", copies=[branch])
    response = post(
        client,
        f"{V1}/requests",
        {"record_ids": [record.pk], "pickup_branch_id": str(branch.pk)},
        auth,
        HTTP_IDEMPOTENCY_KEY="k2",
    )
    _refused(response, ["body", "pickup_branch_id"])


def test_a_pickup_change_to_an_id_too_large_is_refused_not_a_500(client, auth, branch):
    record = make_record("Un jardin", copies=[branch])
    placed = post(client, f"{V1}/requests", {"record_ids": [record.pk]}, auth, HTTP_IDEMPOTENCY_KEY="k3")
    request_id = placed.json()["items"][0]["request"]["id"]
    response = post(client, f"{V1}/requests/{request_id}/pickup", {"pickup_branch_id": 2**70}, auth)
    _refused(response, ["body", "pickup_branch_id"])


def test_head_answers_where_get_does(client, db):
    # A monitoring probe or a proxy's check sends HEAD: it was refused with 405.
    response = client.head(f"{V1}/branches")
    assert response.status_code == 200
    assert response.content == b""
