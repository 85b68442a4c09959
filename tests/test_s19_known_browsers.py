"""A lock from anywhere does not hold against the owner's own browser (OWASP's "device
cookie", emporter/patrons/throttle.py): twenty wrong PINs from a few addresses, or twenty
wrong passwords, lock a card or a staff name against everyone else, not against the
browser that signed in to it before."""

import datetime
import itertools

import pytest
from django.contrib.auth import get_user_model
from django.core import signing
from django.test import Client
from django.utils import timezone

from emporter.patrons import throttle
from emporter.patrons.models import Role, SignInFailures, StaffRole
from emporter.patrons.services import change_pin, reset_pin
from tests.conftest import make_patron, pause_over
from tests.test_api import V1

HOME, STRANGER, THIEF = "198.51.100.7", "203.0.113.9", "192.0.2.200"
CARD_LOCKED = "verrouillée"
WRONG_PIN = "Numéro de carte ou code PIN incorrect."
PAUSED = "merci de patienter"
NAME_LOCKED = "ce compte est bloqué encore"
PASSWORD = "correct horse battery"


def card_sign_in(client, card, pin, address=HOME):
    return client.post("/account/login/", {"card_number": card, "pin": pin}, REMOTE_ADDR=address)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def signed_out(client) -> None:
    """The patron signs out: the session ends, the browser keeps its other cookies."""
    client.post("/account/logout/")


GUESSERS = itertools.count(1)


def guesser_address(n: int) -> str:
    """An address of a line no other try came from: its address-wide counts start at 0."""
    return f"2001:db8:{next(GUESSERS):x}:{n:x}::1"


def lock_card_from_anywhere(card):
    """Twenty wrong PINs from four addresses, through the API: the card is locked from anywhere."""
    guesser = Client()
    for n in range(throttle.PIN_MAX_FAILURES_ANYWHERE // throttle.PIN_MAX_FAILURES):
        address = guesser_address(n)
        for _ in range(throttle.PIN_MAX_FAILURES):
            body = {"card_number": card, "pin": "0000"}
            guesser.post(f"{V1}/auth/token", body, "application/json", REMOTE_ADDR=address)
            pause_over()
    assert SignInFailures.objects.get(username=f"!pin {card}").locked_until > timezone.now()


@pytest.fixture
def owner(patron):
    """The patron's own browser, which signed in once, from home."""
    browser = Client()
    assert card_sign_in(browser, patron.card_number, "1234").status_code == 302
    signed_out(browser)
    return browser


def test_the_owners_browser_signs_in_through_the_lock_a_strangers_does_not(client, patron, owner):
    lock_card_from_anywhere(patron.card_number)
    response = card_sign_in(client, patron.card_number, "1234", STRANGER)
    assert response.status_code == 200 and CARD_LOCKED in response.content.decode()
    # The owner, with the right PIN, from home or from anywhere else:
    assert card_sign_in(owner, patron.card_number, "1234").status_code == 302
    signed_out(owner)
    assert card_sign_in(owner, patron.card_number, "1234", "192.0.2.77").status_code == 302
    # The guesser's lock is still there for everyone else, as long as before.
    assert CARD_LOCKED in card_sign_in(client, patron.card_number, "1234", STRANGER).content.decode()
    assert SignInFailures.objects.get(username=f"!pin {patron.card_number}").locks == 1


def test_the_owners_browser_changes_its_pin_through_the_lock(client, patron, owner):
    lock_card_from_anywhere(patron.card_number)
    card_sign_in(owner, patron.card_number, "1234")
    body = {"old_pin": "1234", "new_pin": "4821", "confirm_pin": "4821"}
    assert owner.post("/account/pin/", body, REMOTE_ADDR=HOME).status_code == 302
    signed_out(owner)
    assert card_sign_in(owner, patron.card_number, "4821").status_code == 302  # still known
    assert CARD_LOCKED in card_sign_in(client, patron.card_number, "4821", STRANGER).content.decode()


def test_the_owners_browser_keeps_every_other_count(patron, owner):
    # Its wrong PINs count toward the lock from anywhere, as anyone's.
    card_sign_in(owner, patron.card_number, "0000", STRANGER)
    assert SignInFailures.objects.get(username=f"!pin {patron.card_number}").failures == 1
    lock_card_from_anywhere(patron.card_number)
    for _ in range(throttle.PIN_SLOW_AFTER):
        card_sign_in(owner, patron.card_number, "0000")
    # Its third wrong PIN paused the card from its address, as for anyone.
    assert PAUSED in card_sign_in(owner, patron.card_number, "1234").content.decode()
    assert not signed_in(owner)


def test_a_stolen_cookie_gets_five_wrong_tries_then_is_refused_like_any_browser(patron, owner):
    thief = Client()
    thief.cookies[throttle.KNOWN_COOKIE] = owner.cookies[throttle.KNOWN_COOKIE].value
    lock_card_from_anywhere(patron.card_number)
    for n in range(throttle.KNOWN_MAX_FAILURES):  # each from another address: no pause, no lock
        response = card_sign_in(thief, patron.card_number, f"000{n}", f"192.0.2.{n + 100}")
        assert WRONG_PIN in response.content.decode()  # tried, and wrong
    response = card_sign_in(thief, patron.card_number, "1234", THIEF)  # even the right PIN
    assert response.status_code == 200 and CARD_LOCKED in response.content.decode()


def through_the_lock_then_unlocked(patron, owner):
    """The owner's browser signs in through the card's lock, signs out; then the lock is lifted."""
    lock_card_from_anywhere(patron.card_number)
    assert card_sign_in(owner, patron.card_number, "1234").status_code == 302
    signed_out(owner)
    throttle.pin_succeeded(patron.card_number)  # the admin's unlock


def test_a_new_pin_given_at_the_desk_ends_the_trust(patron, owner):
    through_the_lock_then_unlocked(patron, owner)
    pin = reset_pin(patron=patron)
    lock_card_from_anywhere(patron.card_number)
    response = card_sign_in(owner, patron.card_number, pin)
    assert response.status_code == 200 and CARD_LOCKED in response.content.decode()


def test_a_pin_changed_elsewhere_ends_the_trust_the_browser_changing_it_keeps_it(patron, owner):
    elsewhere = Client()
    card_sign_in(elsewhere, patron.card_number, "1234", STRANGER)
    body = {"old_pin": "1234", "new_pin": "4821", "confirm_pin": "4821"}
    assert elsewhere.post("/account/pin/", body, REMOTE_ADDR=STRANGER).status_code == 302
    lock_card_from_anywhere(patron.card_number)
    assert CARD_LOCKED in card_sign_in(owner, patron.card_number, "4821").content.decode()
    signed_out(elsewhere)
    assert card_sign_in(elsewhere, patron.card_number, "4821", STRANGER).status_code == 302


def test_a_pin_changed_by_the_service_ends_the_trust(patron, owner):
    through_the_lock_then_unlocked(patron, owner)
    change_pin(patron=patron, old_pin="1234", new_pin="4821")
    lock_card_from_anywhere(patron.card_number)
    assert CARD_LOCKED in card_sign_in(owner, patron.card_number, "4821").content.decode()


def test_a_cookie_for_another_card_changes_nothing(client, patron, branch, owner):
    other = make_patron(branch, card="10000002")
    lock_card_from_anywhere(other.card_number)
    lock_card_from_anywhere("99999999")  # no such card
    lock_card_from_anywhere(patron.card_number)
    assert card_sign_in(owner, patron.card_number, "1234").status_code == 302
    # The answers to a browser known to another card are a stranger's, card or no card.
    for card in (other.card_number, "99999999"):
        theirs = card_sign_in(owner, card, "1234", STRANGER).content.decode()
        strangers = card_sign_in(client, card, "1234", "192.0.2.78").content.decode()
        assert CARD_LOCKED in theirs and CARD_LOCKED in strangers


def test_the_api_keeps_every_lock(patron, owner):
    lock_card_from_anywhere(patron.card_number)
    assert card_sign_in(owner, patron.card_number, "1234").status_code == 302  # the web form: in
    body = {"card_number": patron.card_number, "pin": "1234"}
    response = owner.post(f"{V1}/auth/token", body, "application/json", REMOTE_ADDR=HOME)
    assert response.json()["code"] == "login_locked"


def test_the_cookie_names_no_card_and_is_kept_from_scripts(patron, branch, owner, settings):
    cookie = owner.cookies[throttle.KNOWN_COOKIE]
    assert patron.card_number not in cookie.value
    entries = signing.loads(cookie.value, salt=throttle.KNOWN_SALT)
    assert patron.card_number not in repr(entries) and len(entries) == 1
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    assert int(cookie["max-age"]) == 365 * 24 * 3600
    # A handful at most, the latest; over HTTPS, sent only over it.
    settings.SESSION_COOKIE_SECURE = True
    for n in range(2, 8):
        card = f"1000000{n}"
        make_patron(branch, card=card)
        card_sign_in(owner, card, "1234")
        signed_out(owner)
    cookie = owner.cookies[throttle.KNOWN_COOKIE]
    assert cookie["secure"] and len(signing.loads(cookie.value, salt=throttle.KNOWN_SALT)) == 5
    lock_card_from_anywhere("10000007")
    lock_card_from_anywhere(patron.card_number)  # the first one, pushed out
    assert card_sign_in(owner, "10000007", "1234").status_code == 302
    signed_out(owner)
    assert CARD_LOCKED in card_sign_in(owner, patron.card_number, "1234").content.decode()


def test_a_cookie_past_a_year_is_forgotten(patron, owner, monkeypatch):
    lock_card_from_anywhere(patron.card_number)
    now = timezone.now()
    SignInFailures.objects.update(locked_until=now + datetime.timedelta(days=400))  # still locked then
    monkeypatch.setattr(timezone, "now", lambda: now + datetime.timedelta(days=366))
    assert CARD_LOCKED in card_sign_in(owner, patron.card_number, "1234").content.decode()
    monkeypatch.setattr(timezone, "now", lambda: now + datetime.timedelta(days=364))
    assert card_sign_in(owner, patron.card_number, "1234").status_code == 302


# -- Staff names ----------------------------------------------------------------------


@pytest.fixture
def librarian(branch):
    user = get_user_model().objects.create_user("pdi-rayon", password=PASSWORD)
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    return user


def staff_sign_in(client, password, address=HOME):
    return client.post("/staff/login/", {"username": "pdi-rayon", "password": password}, REMOTE_ADDR=address)


def lock_name_from_anywhere():
    """Twenty wrong passwords from four addresses, through the API's staff door."""
    for n in range(throttle.MAX_FAILURES_ANYWHERE // throttle.MAX_FAILURES):
        address = guesser_address(n)
        for _ in range(throttle.MAX_FAILURES):
            body = {"username": "pdi-rayon", "password": "guess"}
            Client().post(f"{V1}/auth/token", body, "application/json", REMOTE_ADDR=address)
    assert SignInFailures.objects.get(username="pdi-rayon").locked_until > timezone.now()


@pytest.fixture
def desk(librarian):
    """The librarian's browser at the library, signed in once."""
    browser = Client()
    assert staff_sign_in(browser, PASSWORD).status_code == 302
    browser.post("/account/logout/")
    assert not signed_in(browser)
    return browser


def test_the_librarians_browser_signs_in_through_the_names_lock(client, librarian, desk):
    assert "pdi-rayon" not in desk.cookies[throttle.KNOWN_COOKIE].value
    lock_name_from_anywhere()
    assert NAME_LOCKED in staff_sign_in(client, PASSWORD, STRANGER).content.decode()
    assert staff_sign_in(desk, PASSWORD).status_code == 302 and signed_in(desk)
    assert NAME_LOCKED in staff_sign_in(client, PASSWORD, STRANGER).content.decode()  # still locked
    # The API's staff door keeps the lock, cookie or not.
    body = {"username": "pdi-rayon", "password": PASSWORD}
    assert desk.post(f"{V1}/auth/token", body, "application/json").json()["code"] == "staff_login_locked"


def test_a_stolen_staff_cookie_gets_five_wrong_tries(librarian, desk):
    thief = Client()
    thief.cookies[throttle.KNOWN_COOKIE] = desk.cookies[throttle.KNOWN_COOKIE].value
    lock_name_from_anywhere()
    for n in range(throttle.KNOWN_MAX_FAILURES):
        assert NAME_LOCKED not in staff_sign_in(thief, "guess", f"192.0.2.{n + 100}").content.decode()
    assert NAME_LOCKED in staff_sign_in(thief, PASSWORD, THIEF).content.decode()


def test_a_new_staff_password_ends_the_trust(librarian, desk):
    lock_name_from_anywhere()
    assert staff_sign_in(desk, PASSWORD).status_code == 302
    desk.post("/account/logout/")
    throttle.unlock_name("pdi-rayon")
    librarian.set_password("another long staff password")
    librarian.save()
    lock_name_from_anywhere()
    assert NAME_LOCKED in staff_sign_in(desk, "another long staff password").content.decode()
