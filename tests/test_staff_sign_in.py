"""Every door that checks a password does it with a lock-out (emporter/patrons/backends.py)."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from emporter.patrons import throttle
from emporter.patrons.models import Role, SignInFailures, StaffRole
from tests.conftest import make_patron

PASSWORD = "correct horse battery"


@pytest.fixture
def librarian(branch):
    user = get_user_model().objects.create_user("Rayon", password=PASSWORD)
    StaffRole.objects.create(user=user, role=Role.DOOR_DESK, branch=branch)
    return user


def sign_in(client, username, password):
    return client.post("/staff/login/", {"username": username, "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_a_librarian_signs_in_and_a_wrong_password_is_counted(client, librarian):
    assert sign_in(client, "Rayon", "nope").status_code == 200
    assert SignInFailures.objects.get(username="rayon").failures == 1
    assert sign_in(client, "Rayon", PASSWORD).status_code == 302
    assert signed_in(client)
    assert not SignInFailures.objects.filter(username="rayon").exists()  # the count starts again


def test_five_wrong_passwords_lock_the_name_at_every_door(client, librarian):
    for _ in range(throttle.MAX_FAILURES):
        sign_in(client, "rayon", "nope")  # any case: one count per name
    page = sign_in(client, "Rayon", PASSWORD).content.decode()
    assert not signed_in(client)
    assert "Trop de mots de passe erronés\u00a0: ce compte est bloqué encore 15 minutes." in page
    # The admin's own sign-in and the API's staff door are locked too.
    client.post("/admin/login/", {"username": "Rayon", "password": PASSWORD})
    assert not signed_in(client)
    answer = client.post(
        "/api/v1/auth/token", {"username": "Rayon", "password": PASSWORD}, "application/json"
    )
    assert (answer.status_code, answer.json()["code"]) == (429, "staff_login_locked")


def test_the_lock_ends_after_a_quarter_of_an_hour(client, librarian):
    for _ in range(throttle.MAX_FAILURES):
        sign_in(client, "Rayon", "nope")
    SignInFailures.objects.update(locked_until=timezone.now() - datetime.timedelta(seconds=1))
    sign_in(client, "Rayon", PASSWORD)
    assert signed_in(client)


def test_a_pin_cannot_be_tried_at_the_staff_doors(client, branch):
    """A patron's user name is the card, its password the PIN: only the patron sign-in,
    with the card's own lock-out, may check it."""
    patron = make_patron(branch, card="10000042", pin="4321")
    sign_in(client, "10000042", "4321")
    assert not signed_in(client)
    client.post("/admin/login/", {"username": "10000042", "password": "4321"})
    assert not signed_in(client)
    client.post("/account/login/", {"card_number": "10000042", "pin": "4321"})
    assert int(client.session["_auth_user_id"]) == patron.user_id


def sign_in_from(client, address, username, password):
    return client.post("/staff/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def test_failures_from_one_address_do_not_lock_the_librarian_at_the_desk(client, librarian):
    for _ in range(throttle.MAX_FAILURES):
        sign_in_from(client, "203.0.113.9", "Rayon", "nope")
    sign_in_from(client, "203.0.113.9", "Rayon", PASSWORD)
    assert not signed_in(client)  # that address is locked out…
    sign_in_from(client, "10.0.0.12", "Rayon", PASSWORD)
    assert signed_in(client)  # …the desk's is not


def test_failures_from_many_addresses_lock_the_name_everywhere(client, librarian):
    for n in range(throttle.MAX_FAILURES_ANYWHERE):
        sign_in_from(client, f"198.51.100.{n}", "Rayon", "nope")
    sign_in_from(client, "10.0.0.12", "Rayon", PASSWORD)
    assert not signed_in(client)


def test_old_counts_are_forgotten_but_not_a_running_lock(librarian):
    throttle.failed("someone", "192.0.2.1")
    for _ in range(throttle.MAX_FAILURES):
        throttle.failed("rayon", "192.0.2.1")
    later = timezone.now() + throttle.FORGET_AFTER + datetime.timedelta(minutes=1)
    SignInFailures.objects.update(
        updated_at=timezone.now() - throttle.FORGET_AFTER - datetime.timedelta(minutes=1)
    )
    SignInFailures.objects.filter(username="rayon 192.0.2.1").update(locked_until=later)
    # "someone" twice, "rayon" from anywhere (not locked) and the address's staff count.
    assert throttle.forget_old() == 4
    assert throttle.locked_for("Rayon", "192.0.2.1")


def test_a_card_at_the_staff_page_is_counted_and_hashed_like_any_wrong_password(client, branch, monkeypatch):
    from django.contrib.auth import hashers

    make_patron(branch, card="10000042", pin="4321")
    calls = []
    real = hashers.get_hasher
    monkeypatch.setattr(
        hashers, "get_hasher", lambda algorithm="default": calls.append(algorithm) or real(algorithm)
    )
    sign_in(client, "10000042", "4321")
    assert calls  # a password was hashed: as slow as a wrong password
    assert SignInFailures.objects.get(username="10000042").failures == 1
    for _ in range(throttle.MAX_FAILURES):
        sign_in(client, "10000042", "4321")
    assert throttle.locked_for("10000042", "127.0.0.1")
    assert not signed_in(client)
