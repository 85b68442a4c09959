"""Numbers and links from requests that are not what the forms send: a clear answer, never a 500."""

import pytest

from emporter.catalogue.marcdata import ean13
from emporter.holds.models import Request
from emporter.holds.services import place_requests
from emporter.inputs import parse_id, parse_ids
from emporter.patrons.models import Role
from tests.conftest import make_record
from tests.test_api import V1, post, sign_in
from tests.test_patron_pages import sign_in as sign_in_patron
from tests.test_phone_desk import make_staff, patron_url

# "²" and "٣" pass str.isdigit(); int() refuses the first and reads the second as 3.
NOT_ASCII = ["²", "٣", "１"]
TOO_LONG = "9" * 30


@pytest.mark.parametrize(
    "value, expected",
    [("12", 12), (" 7 ", 7), ("0", None), ("-3", None), ("", None), (None, None), (12, None)]
    + [(v, None) for v in NOT_ASCII + [TOO_LONG]],
)
def test_parse_id_takes_positive_ascii_numbers_only(value, expected):
    assert parse_id(value) == expected


def test_parse_ids_keeps_the_order_and_drops_repeats_and_junk():
    assert parse_ids(["3", "²", "1", "3", "x", TOO_LONG]) == [3, 1]


def test_a_non_ascii_digit_in_an_ean_is_no_ean():
    assert ean13("978207036822²") == ""
    assert ean13("9782070368228") == "9782070368228"


@pytest.mark.parametrize("page", NOT_ASCII + [TOO_LONG, "-1"])
def test_browsing_discovery_with_a_strange_page_number_shows_the_first_page(client, db, page):
    assert client.get("/discover/browse/", {"page": page}).status_code == 200


def test_a_basket_confirmed_with_a_broken_branch_or_ids_says_so(client, patron, branch):
    record = make_record(title="Disponible", copies=[branch])
    sign_in_patron(client)
    for branch_value in ("abc", "²", TOO_LONG):
        response = client.post("/basket/confirm/", {"pickup_branch": branch_value, "record": [record.pk]})
        # Back to the basket, told to choose a library: nothing placed.
        assert (response.status_code, response["Location"]) == (302, "/basket/")
        assert not Request.objects.exists()
    response = client.post(
        "/basket/confirm/", {"pickup_branch": branch.pk, "record": ["²", TOO_LONG, record.pk]}, follow=True
    )
    assert response.status_code == 200
    assert Request.objects.get(patron=patron).record == record


def test_a_document_deleted_since_it_went_into_the_basket_is_explained(client, patron, branch):
    kept = make_record(title="Toujours là", copies=[branch])
    deleted = make_record(title="Supprimé", copies=[branch])
    sign_in_patron(client)
    for record in (kept, deleted):
        client.post(f"/basket/add/{record.pk}/")
    deleted_pk = deleted.pk
    deleted.delete()
    response = client.post(
        "/basket/confirm/", {"pickup_branch": branch.pk, "record": [kept.pk, deleted_pk]}, follow=True
    )
    assert response.status_code == 200
    assert "ne sont plus au catalogue" in response.content.decode()
    assert Request.objects.get(patron=patron).record == kept
    assert client.session["basket"] == []


def test_a_confirmation_key_that_did_not_come_from_the_form_is_ignored(client, patron, branch):
    record = make_record(title="Disponible", copies=[branch])
    sign_in_patron(client)
    form = {"pickup_branch": branch.pk, "record": [record.pk], "confirm_key": "k" * 500}
    assert client.post("/basket/confirm/", form).status_code == 302
    assert Request.objects.get(patron=patron).idempotency_key is None


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "javascript:alert(1)"])
def test_adding_to_the_basket_never_sends_the_patron_to_another_site(client, db, branch, next_url):
    record = make_record(title="Disponible", copies=[branch])
    response = client.post(f"/basket/add/{record.pk}/", {"next": next_url})
    assert response.status_code == 302 and response["Location"] == "/basket/"


def test_adding_to_the_basket_goes_back_to_the_page_it_came_from(client, db, branch):
    record = make_record(title="Disponible", copies=[branch])
    response = client.post(f"/basket/add/{record.pk}/", {"next": "/catalogue/?q=x"})
    assert response["Location"] == "/catalogue/?q=x"


def test_the_phone_desk_refuses_strange_record_numbers_without_failing(client, branch, patron):
    client.force_login(make_staff(role=Role.PHONE_DESK, branch=branch))
    for value in NOT_ASCII + [TOO_LONG]:
        assert client.post(patron_url(patron, "add/"), {"record": value}).status_code == 404


def test_the_api_refuses_record_ids_beyond_the_databases_integers(client, patron):
    response = post(client, f"{V1}/requests", {"record_ids": [2**70]}, sign_in(client))
    assert response.status_code == 422


def test_placing_a_request_for_a_record_that_does_not_exist_is_refused_with_a_code(patron, branch):
    (outcome,) = place_requests(patron=patron, record_ids=[987654], pickup_branch=branch)
    assert not outcome.ok and outcome.error.code == "unknown_record"
    assert outcome.error.message == "Ce document n’est plus au catalogue."
    assert not Request.objects.exists()


def test_the_api_search_refuses_a_branch_id_beyond_the_databases_integers(client, db):
    response = client.get(f"{V1}/records", {"q": "x", "branch": str(10**20)})
    assert response.status_code == 422
    assert client.get(f"{V1}/records", {"q": "x", "branch": "1"}).status_code == 200
