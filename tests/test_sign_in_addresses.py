"""One address trying a PIN on many cards: each card's lock never trips, the address's does."""

import datetime

from django.utils import timezone

from emporter.patrons import throttle
from emporter.patrons.models import SignInFailures
from tests.conftest import pause_over
from tests.test_api import V1

GUESSER, NEIGHBOUR = "203.0.113.7", "198.51.100.2"
LOCKED = "Trop de connexions échouées depuis cette connexion\u00a0: réessayez dans 15 minutes."


def try_card(client, card, pin="0000", address=GUESSER):
    return client.post("/account/login/", {"card_number": card, "pin": pin}, REMOTE_ADDR=address)


def spray(client, n, address=GUESSER):
    """n wrong sign-ins, each on another card (none of them exists: they count too)."""
    for i in range(n):
        try_card(client, f"9{i:07d}", address=address)


def test_one_address_guessing_across_cards_is_stopped_even_for_a_right_pin(client, patron):
    spray(client, throttle.ADDRESS_MAX_FAILURES - 1)
    assert try_card(client, patron.card_number, pin="1234").status_code == 302  # one short: still in
    client.logout()
    spray(client, 1)
    response = try_card(client, patron.card_number, pin="1234")
    assert response.status_code == 200 and LOCKED in response.content.decode()
    # Someone else, elsewhere, signs in as usual; so does this card, from another address.
    assert try_card(client, patron.card_number, pin="1234", address=NEIGHBOUR).status_code == 302


def test_a_right_pin_does_not_wipe_the_count(client, patron):
    spray(client, throttle.ADDRESS_MAX_FAILURES - 1)
    assert try_card(client, patron.card_number, pin="1234").status_code == 302
    client.logout()
    spray(client, 1)
    assert LOCKED in try_card(client, patron.card_number, pin="1234").content.decode()


def test_a_slow_trickle_of_mistakes_never_locks_an_address(client, patron):
    key = throttle.ADDRESS_KEY.format(GUESSER)
    for _ in range(throttle.ADDRESS_MAX_FAILURES + 5):
        spray(client, 1)
        # As if the next mistake came after a quiet quarter of an hour.
        quiet = timezone.now() - throttle.ADDRESS_WINDOW - datetime.timedelta(seconds=1)
        SignInFailures.objects.filter(username=key).update(updated_at=quiet)
    assert SignInFailures.objects.get(username=key).locked_until is None
    assert try_card(client, patron.card_number, pin="1234").status_code == 302


def test_the_api_says_the_address_is_stopped(client, patron):
    spray(client, throttle.ADDRESS_MAX_FAILURES)
    response = client.post(
        f"{V1}/auth/token",
        {"card_number": patron.card_number, "pin": "1234"},
        content_type="application/json",
        REMOTE_ADDR=GUESSER,
    )
    assert response.status_code == 429 and response.json()["code"] == "login_address_locked"


def test_the_lock_ends_after_its_time(client, patron):
    spray(client, throttle.ADDRESS_MAX_FAILURES)
    SignInFailures.objects.filter(username=throttle.ADDRESS_KEY.format(GUESSER)).update(
        locked_until=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert try_card(client, patron.card_number, pin="1234").status_code == 302


def test_staff_lock_outs_and_card_lock_outs_are_counted_apart(client, patron):
    # A staff name "cards" locked from this address leaves card sign-ins from it alone.
    for _ in range(throttle.MAX_FAILURES):
        throttle.failed("cards", GUESSER)
    assert throttle.locked_for("cards", GUESSER)
    assert throttle.card_address_locked_for(GUESSER) == 0
    assert try_card(client, patron.card_number, pin="1234").status_code == 302


def test_addresses_of_one_ipv6_network_count_as_one(client, patron):
    """Every subscriber gets a whole /64: a guesser changing address within it is still one."""
    for i in range(throttle.ADDRESS_MAX_FAILURES):
        try_card(client, f"9{i:07d}", address=f"2001:db8:1:2::{i + 1:x}")
    response = try_card(client, patron.card_number, pin="1234", address="2001:db8:1:2:ffff::1")
    assert response.status_code == 200 and LOCKED in response.content.decode()
    # The next network, another subscriber, is not held back.
    assert try_card(client, patron.card_number, pin="1234", address="2001:db8:1:3::1").status_code == 302


def test_address_keys():
    assert throttle.address_key("203.0.113.7") == "203.0.113.7"
    assert throttle.address_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert throttle.address_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert throttle.address_key("unknown") == "unknown"


def _codes(client, card, address, pin="0000", tries=5):
    """The answers to ``tries`` wrong PINs, each after the pause the previous one began."""
    codes = []
    for _ in range(tries):
        response = client.post(
            f"{V1}/auth/token",
            {"card_number": card, "pin": pin},
            content_type="application/json",
            REMOTE_ADDR=address,
        )
        codes.append(response.json()["code"])
        pause_over()
    return codes


def test_someone_trying_a_card_elsewhere_does_not_lock_its_owner_out(client, patron):
    assert _codes(client, patron.card_number, GUESSER)[-1] == "login_locked"
    # The owner, at home, signs in as usual.
    assert try_card(client, patron.card_number, pin="1234", address=NEIGHBOUR).status_code == 302


def test_a_card_tried_from_several_addresses_is_locked_everywhere(client, patron):
    for n in range(throttle.PIN_MAX_FAILURES_ANYWHERE // throttle.PIN_MAX_FAILURES):
        _codes(client, patron.card_number, f"192.0.2.{n + 10}")
    response = try_card(client, patron.card_number, pin="1234", address=NEIGHBOUR)
    assert response.status_code == 200 and "verrouillée" in response.content.decode()


def test_the_answers_do_not_tell_which_cards_exist(client, patron):
    assert _codes(client, "99999999", GUESSER) == _codes(client, patron.card_number, NEIGHBOUR)


def test_a_lock_near_its_end_is_still_a_lock_not_a_pause(client, patron):
    assert _codes(client, patron.card_number, GUESSER)[-1] == "login_locked"
    SignInFailures.objects.filter(locked_until__isnull=False).update(
        locked_until=timezone.now() + datetime.timedelta(seconds=20)
    )
    assert _codes(client, patron.card_number, GUESSER, pin="1234", tries=1) == ["login_locked"]
