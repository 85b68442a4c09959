"""A card account's password changed in Django's user admin ends its app tokens, as a
PIN set by the library does (twenty-fifth session): a token on a stolen phone kept
reading and acting on the account for its 30 days."""

import pytest
from django.contrib.auth import get_user_model

from tests.conftest import make_patron


@pytest.fixture
def root_client(client, db):
    from django.test import Client

    root = Client()
    root.force_login(get_user_model().objects.create_superuser("root", "root@example.org", "pw-root-123"))
    return root


@pytest.mark.parametrize(
    "form",
    [
        {"usable_password": "false", "unset-password": "1"},  # password sign-in turned off
        {"usable_password": "true", "password1": "Nouveau-2468-x", "password2": "Nouveau-2468-x"},
    ],
)
def test_a_password_changed_in_the_user_admin_ends_the_cards_app_tokens(client, root_client, branch, form):
    patron = make_patron(branch, card="10000077", pin="2468")
    signed_in = client.post(
        "/api/v1/auth/token", {"card_number": "10000077", "pin": "2468"}, content_type="application/json"
    )
    bearer = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    assert client.get("/api/v1/me", headers=bearer).status_code == 200
    changed = root_client.post(f"/admin/auth/user/{patron.user_id}/password/", form)
    assert changed.status_code == 302
    assert client.get("/api/v1/me", headers=bearer).status_code == 401
