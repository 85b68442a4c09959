"""Found by the twelfth session's reviews (security, notices, operations, a librarian's
day), each shown failing before its fix."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.urls import reverse

from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_branch, make_patron

# Security ------------------------------------------------------------------------------


def door_librarian(branch):
    user = get_user_model().objects.create_user(username="door-a", password="x")
    StaffRole.objects.create(user=user, role=Role.DOOR_DESK, branch=branch)
    return user


def test_the_receipt_page_names_no_patron_without_a_loan_on_it(client, branch):
    elsewhere = make_branch(code="VAI", name="Vaise")
    strangers = [make_patron(elsewhere, card=f"20690000009{n:02d}", last_name=f"Nom{n}") for n in range(3)]
    client.force_login(door_librarian(branch))
    for stranger in strangers:  # walking ids would list the network's cards, unaudited
        response = client.get(reverse("desk:receipt", args=[branch.pk, stranger.pk]))
        assert response.status_code == 302 and stranger.card_number not in response.content.decode()
    page = client.get(reverse("desk:receipt", args=[branch.pk, strangers[0].pk]), follow=True)
    assert "Ce reçu est vide." in page.text


@pytest.mark.parametrize("who", ["patron", "staff"])
def test_the_answer_carrying_a_token_is_kept_by_no_cache(client, patron, branch, who):
    if who == "staff":
        user = get_user_model().objects.create_user(username="desk", password="a long staff password")
        StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=branch)
        body = {"username": "desk", "password": "a long staff password"}
    else:
        body = {"card_number": patron.card_number, "pin": "1234"}
    response = client.post("/api/v1/auth/token", json.dumps(body), content_type="application/json")
    assert response.status_code == 201
    assert "no-store" in response["Cache-Control"]


@pytest.fixture
def hashes(monkeypatch):
    """How many passwords the server hashed: the tests' hasher is MD5, production's costs
    about a second each (the count is what matters)."""
    count = {"n": 0}
    encode = MD5PasswordHasher.encode

    def counting(self, password, salt):
        count["n"] += 1
        return encode(self, password, salt)

    monkeypatch.setattr(MD5PasswordHasher, "encode", counting)
    return count


def test_wrong_staff_sign_ins_from_one_address_on_new_names_are_stopped_before_hashing(client, db, hashes):
    statuses = []
    for n in range(80):
        body = json.dumps({"username": f"nobody-{n}", "password": "a wrong password"})
        statuses.append(client.post("/api/v1/auth/token", body, content_type="application/json").status_code)
    assert statuses[:50] == [401] * 50 and set(statuses[50:]) == {429}
    hashed = hashes["n"]
    for n in range(10):  # the web form and the admin's: the same lock
        client.post("/staff/login/", {"username": f"other-{n}", "password": "a wrong password"})
    assert hashes["n"] == hashed <= 55


def test_the_staff_address_lock_does_not_stop_another_address(client, branch, hashes):
    user = get_user_model().objects.create_user(username="desk", password="a long staff password")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=branch)
    for n in range(50):
        body = json.dumps({"username": f"nobody-{n}", "password": "wrong"})
        client.post("/api/v1/auth/token", body, content_type="application/json", REMOTE_ADDR="198.51.100.7")
    body = json.dumps({"username": "desk", "password": "a long staff password"})
    here = client.post(
        "/api/v1/auth/token", body, content_type="application/json", REMOTE_ADDR="198.51.100.7"
    )
    there = client.post(
        "/api/v1/auth/token", body, content_type="application/json", REMOTE_ADDR="203.0.113.9"
    )
    assert (here.status_code, there.status_code) == (429, 201)


def card_token(client, card, pin, address):
    body = json.dumps({"card_number": card, "pin": pin})
    return client.post("/api/v1/auth/token", body, content_type="application/json", REMOTE_ADDR=address)


def test_a_locked_card_stays_locked_whatever_its_spelling(client, postgres, branch):
    # PostgreSQL finds "SIS0012" typed "ſIS0012" or "SıS0012" (UPPER('ſ') = 'S', UPPER('ı') = 'I'):
    # each spelling counted apart got twenty more guesses.
    make_patron(branch, card="SIS0012", pin="4821")
    for n in range(20):
        assert card_token(client, "SIS0012", "0000", f"198.51.100.{n + 1}").status_code in (401, 429)
    for spelling in ("SIS0012", "ſIS0012", "SıS0012", "ſıs0012"):
        answer = card_token(client, spelling, "4821", "203.0.113.10")
        assert answer.status_code == 429 and answer.json()["code"] == "login_locked", spelling


def test_a_basket_confirmation_tries_no_more_ids_than_a_basket_holds(client, patron, branch, monkeypatch):
    from emporter.holds import basket, services

    client.force_login(patron.user)
    tried = []
    place = services.place_requests
    monkeypatch.setattr(
        services, "place_requests", lambda **kw: tried.extend(kw["record_ids"]) or place(**kw)
    )
    from tests.conftest import make_record

    records = [make_record(title=f"Titre {n}", copies=[branch]).pk for n in range(basket.MAX_ITEMS + 10)]
    client.post("/basket/confirm/", {"pickup_branch": branch.pk, "record": records})
    assert len(tried) == basket.MAX_ITEMS  # a made-up form of a thousand ids: a thousand locked tries


def test_a_days_typos_of_a_whole_network_behind_one_address_lock_no_staff_out(client, branch, monkeypatch):
    # Fifty librarians behind the city's one address, each mistyping once, one every 14
    # minutes: a count restarted only by a quiet quarter of an hour locked every desk.
    import datetime

    from django.utils import timezone

    from emporter.patrons import throttle

    users = []
    for n in range(throttle.ADDRESS_MAX_FAILURES + 1):
        user = get_user_model().objects.create_user(f"agent{n}", password="correct horse battery")
        StaffRole.objects.create(user=user, role=Role.DOOR_DESK, branch=branch)
        users.append(user)
    start = timezone.now()
    for n, user in enumerate(users):
        moment = start + datetime.timedelta(minutes=14 * n)
        monkeypatch.setattr(throttle.timezone, "now", lambda moment=moment: moment)
        client.post(
            "/staff/login/", {"username": user.username, "password": "typo"}, REMOTE_ADDR="203.0.113.40"
        )
        client.post(
            "/staff/login/",
            {"username": user.username, "password": "correct horse battery"},
            REMOTE_ADDR="203.0.113.40",
        )
        assert "_auth_user_id" in client.session, f"agent{n} at +{14 * n} min"
        client.logout()


def test_the_staff_address_lock_says_it_is_the_networks_not_the_account(client, db):
    for n in range(50):
        client.post("/staff/login/", {"username": f"nobody-{n}", "password": "x"}, REMOTE_ADDR="198.51.100.7")
    page = client.post("/staff/login/", {"username": "desk", "password": "x"}, REMOTE_ADDR="198.51.100.7")
    assert "depuis ce réseau" in page.text and "ce compte est bloqué" not in page.text
