"""A staff account has no card: a patron's own pages and actions answer 404 to it (a
500 before on the surprise bag's cancel), whatever it posts."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation


@pytest.fixture
def staff_client(client, db):
    user = get_user_model().objects.create_user("bibliothecaire", password="x-long-enough")
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("discovery:surprise_cancel", [1]),
        ("discovery:surprise", []),
        ("holds:confirm", []),
        ("holds:cancel", [1]),
        ("curbside:times", [1]),
        ("loans:renew", [1]),
    ],
)
def test_a_patrons_own_action_is_a_404_for_a_staff_account(staff_client, name, args):
    with translation.override("en"):
        url = reverse(name, args=args)
    assert staff_client.post(url).status_code == 404


def test_pages_for_someone_signed_in_are_kept_by_no_cache(client, patron):
    """Library computers are shared: Back must not show the previous user's account."""
    assert "no-store" not in client.get("/").get("Cache-Control", "")
    client.post("/account/login/", {"card_number": patron.card_number, "pin": "1234"})
    account = client.get("/account/")
    assert "no-store" in account["Cache-Control"] and "private" in account["Cache-Control"]
