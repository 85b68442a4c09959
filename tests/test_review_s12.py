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


@pytest.fixture
def one_quarter(monkeypatch):
    """The staff address count is kept per quarter of an hour: fifty wrong sign-ins sent
    across its turn (the test ran at 11:59:59) were two counts, and no lock."""
    from django.utils import timezone

    from emporter.patrons import throttle

    real, now = throttle._staff_address_key, timezone.now()
    monkeypatch.setattr(throttle, "_staff_address_key", lambda ip, _now: real(ip, now))


def test_the_staff_address_lock_does_not_stop_another_address(client, branch, hashes, one_quarter):
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


def test_the_staff_address_lock_says_it_is_the_networks_not_the_account(client, db, one_quarter):
    for n in range(50):
        client.post("/staff/login/", {"username": f"nobody-{n}", "password": "x"}, REMOTE_ADDR="198.51.100.7")
    page = client.post("/staff/login/", {"username": "desk", "password": "x"}, REMOTE_ADDR="198.51.100.7")
    assert "depuis ce réseau" in page.text and "ce compte est bloqué" not in page.text


@pytest.mark.django_db(transaction=True)
def test_a_return_serving_a_new_bag_and_a_picker_filling_one_do_not_deadlock(postgres, monkeypatch):
    """A copy of a title comes back at the desk and goes to a patron waiting for it (a new
    bag here) while a picker finds another copy of it for another patron (a new bag too).
    The return changed its copy first (which locks the title's record), then wanted the
    branch to label a bag; the picker's make_ready took the branch first, then changed its
    copy: each waited for the other, and PostgreSQL killed one, copy in hand."""
    import threading

    from emporter.catalogue.models import Copy, CopyStatus
    from emporter.desk import services as desk
    from emporter.holds import bags
    from emporter.holds.models import Status
    from emporter.picking import services as picking
    from tests.conftest import backend_pid, make_record, wait_until_blocked
    from tests.test_picking_fixes import FRIDAY, at, place
    from tests.test_place_requests_concurrency import run_side_by_side

    branch = make_branch()
    record = make_record(copies=[branch, branch])
    lent, listed = Copy.objects.filter(record=record).order_by("pk")
    Copy.objects.filter(pk=lent.pk).update(status=CopyStatus.ON_LOAN)  # lent at the library system's desk
    finding = place(make_patron(branch, card="10000002", last_name="Durand"), record, branch)
    waiting = place(make_patron(branch, card="10000003", last_name="Moreau"), record, branch)
    assert (finding.copy_id, waiting.status) == (listed.pk, Status.WAITING)
    line = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get(request=finding)
    picker_in_bag, returned, return_pid = threading.Event(), threading.Event(), []
    real_put_in_bag = bags._put_in_bag

    def put_in_bag_then_let_the_return_in(**kwargs):
        bag = real_put_in_bag(**kwargs)
        if threading.current_thread().name == "picker":
            picker_in_bag.set()
            wait_until_blocked(return_pid, unless_done=returned.is_set)
        return bag

    monkeypatch.setattr("emporter.holds.bags._put_in_bag", put_in_bag_then_let_the_return_in)

    def picker():
        threading.current_thread().name = "picker"
        picking.mark_found(line=line)

    def desk_return():
        return_pid.append(backend_pid())
        assert picker_in_bag.wait(10)
        desk.check_in(barcode=lent.barcode, branch=branch)
        returned.set()

    assert run_side_by_side(picker, desk_return) == []
    finding.refresh_from_db(), waiting.refresh_from_db()
    assert (finding.status, waiting.status) == (Status.READY, Status.READY)
    assert finding.bag_id != waiting.bag_id


def test_the_staff_locks_say_1_minute_not_1_minutes(client, db):
    import datetime

    from django.utils import timezone

    from emporter.patrons import throttle
    from emporter.patrons.models import SignInFailures

    now = timezone.now()
    SignInFailures.objects.create(
        username=throttle._staff_address_key("198.51.100.7", now),
        failures=0,
        locked_until=now + datetime.timedelta(seconds=30),
    )
    page = client.post("/staff/login/", {"username": "desk", "password": "x"}, REMOTE_ADDR="198.51.100.7")
    assert "réessayez dans 1 minute." in page.text
    body = json.dumps({"username": "desk", "password": "x"})
    answer = client.post(
        "/api/v1/auth/token", body, content_type="application/json", REMOTE_ADDR="198.51.100.7"
    )
    assert answer.status_code == 429 and "1 minute." in answer.json()["message"]
