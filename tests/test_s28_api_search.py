"""The API's search refuses a filter value or field the search page's form would refuse
(422 invalid_input naming it), instead of answering no hits ("remove a filter") or
searching everything."""

import pytest

from tests.conftest import make_record

V1 = "/api/v1"


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"doc_type": "DVD"}, "doc_type"),
        ({"doc_type": "livre"}, "doc_type"),
        ({"audience": "kids"}, "audience"),
        ({"field": "titre"}, "field"),
        ({"language": "fr-"}, "language"),
    ],
)
def test_the_api_search_refuses_a_value_the_page_would_refuse(client, branch, params, named):
    make_record("Neige", copies=[branch])
    response = client.get(f"{V1}/records", {"q": "neige", **params})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid_input" and [e["loc"] for e in body["errors"]] == [["query", named]]


def test_the_api_search_takes_every_value_the_page_offers(client, branch):
    make_record("Neige", copies=[branch], language="fre", audience="adult")
    params = {"q": "neige", "doc_type": "book", "audience": "adult", "field": "title", "language": "fre"}
    response = client.get(f"{V1}/records", params)
    assert response.status_code == 200 and response.json()["total"] == 1
    assert client.get(f"{V1}/records", {"q": "neige", "doc_type": "", "audience": ""}).json()["total"] == 1
