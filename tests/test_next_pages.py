"""Where a form sends people next: a page of this site they can GET, nothing else."""

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from emporter.http import safe_next
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_record


@pytest.mark.parametrize(
    "url, expected",
    [
        ("/basket/", "/basket/"),
        ("/en/basket/", "/basket/"),  # resolved in its own language, given in the page's
        ("/en/basket/confirm/", ""),
        ("/catalogue/?q=nuit#hit-3", "/catalogue/?q=nuit#hit-3"),
        ("basket", ""),  # a bare word: redirect() would take it for a URL name
        ("abc", ""),
        ("//evil.example/", ""),
        ("/\\evil.example/", ""),
        ("https://evil.example/", ""),
        ("/no/such/page/", ""),
        ("/basket/confirm/", ""),  # takes POST only: a sign-in would GET it, a 405
        (None, ""),
    ],
)
def test_safe_next(db, url, expected):
    assert safe_next(RequestFactory().get("/"), url) == expected


def test_a_next_is_given_in_the_language_of_the_page_that_sends_there(db):
    from django.utils import translation

    with translation.override("en"):
        assert (
            safe_next(RequestFactory().get("/"), "/catalogue/?q=nuit#hit-3") == "/en/catalogue/?q=nuit#hit-3"
        )
        assert safe_next(RequestFactory().get("/"), "/en/basket/") == "/en/basket/"


def test_english_chosen_on_the_sign_in_page_stays_english_after_signing_in(client, patron, branch):
    response = client.post("/en/account/login/?next=/basket/", {"card_number": "10000001", "pin": "1234"})
    assert response["Location"] == "/en/basket/"
    client.post("/account/logout/")
    user = get_user_model().objects.create_user("porte", password="correct horse battery")
    StaffRole.objects.create(user=user, role=Role.DOOR_DESK, branch=branch)
    response = client.post(
        f"/en/staff/login/?next=/staff/door/{branch.pk}/",
        {"username": "porte", "password": "correct horse battery"},
    )
    assert response["Location"] == f"/en/staff/door/{branch.pk}/"


def test_signing_in_for_a_form_that_takes_post_only_lands_on_the_account(client, patron):
    # The session ran out on the basket page: "Confirm" sent the patron to sign in.
    response = client.post("/basket/confirm/")
    assert response.status_code == 302 and "next=/basket/confirm/" in response["Location"]

    response = client.post(
        "/account/login/?next=/basket/confirm/", {"card_number": "10000001", "pin": "1234"}
    )
    assert response["Location"] == "/account/"
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize("next_url", ["basket", "abc", "//evil.example/"])
def test_a_next_that_is_no_path_is_ignored_not_a_500(client, patron, branch, next_url):
    response = client.post(f"/account/login/?next={next_url}", {"card_number": "10000001", "pin": "1234"})
    assert response.status_code == 302 and response["Location"] == "/account/"

    record = make_record(copies=[branch])
    response = client.post(f"/basket/add/{record.pk}/", {"next": next_url})
    assert response.status_code == 302 and response["Location"] == "/basket/"


def test_a_librarian_is_not_sent_back_to_a_post_only_screen(client, branch):
    user = get_user_model().objects.create_user("porte", password="correct horse battery")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    response = client.post(
        "/staff/login/?next=/staff/picking/missing/1/put-back/",
        {"username": "porte", "password": "correct horse battery"},
    )
    assert response.status_code == 302
    assert "put-back" not in response["Location"]
    assert client.get(response["Location"]).status_code == 200


def test_put_back_with_a_bad_next_goes_to_the_missing_list(client, branch):
    user = get_user_model().objects.create_user("rayon", password="correct horse battery")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    client.force_login(user)
    record = make_record(copies=[(branch, "missing")])
    copy = record.copies.get()
    response = client.post(f"/staff/picking/missing/{copy.pk}/put-back/", {"next": "abc"})
    assert response.status_code == 302 and response["Location"] == "/staff/picking/missing/"
