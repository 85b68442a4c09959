"""One address trying a PIN on many cards: each card's lock never trips, the address's does."""

import datetime

import pytest
from django.utils import timezone

from emporter.patrons import throttle
from emporter.patrons.models import SignInFailures
from tests.conftest import pause_over
from tests.test_api import V1

GUESSER, NEIGHBOUR = "203.0.113.7", "198.51.100.2"


pytestmark = pytest.mark.usefixtures("one_quarter")


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


def test_a_busy_day_of_mistakes_never_locks_an_address(client, patron, monkeypatch):
    """A library's computers and Wi-Fi behind one address: a mistake every few minutes all
    day long. Counted until a quiet quarter of an hour, they added up to a lock by noon."""
    for n in range(throttle.ADDRESS_MAX_FAILURES * 2):
        monkeypatch.setattr(throttle, "_quarter", lambda _now, n=n: n // 3)  # three a quarter
        spray(client, 1)
    assert not SignInFailures.objects.filter(username__startswith="!cards ", locked_until__isnull=False)
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
    SignInFailures.objects.filter(username__startswith=f"!cards {GUESSER} ").update(
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
    """Every home line gets a whole /56: a guesser changing address within it is still one."""
    for i in range(throttle.ADDRESS_MAX_FAILURES):
        try_card(client, f"9{i:07d}", address=f"2001:db8:1:2::{i + 1:x}")
    response = try_card(client, patron.card_number, pin="1234", address="2001:db8:1:2:ffff::1")
    assert response.status_code == 200 and LOCKED in response.content.decode()
    # The next /56, another subscriber, is not held back.
    assert try_card(client, patron.card_number, pin="1234", address="2001:db8:1:100::1").status_code == 302


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


PROXY = "127.0.0.1"


def test_behind_a_trusted_proxy_the_guesser_is_stopped_not_everybody(client, patron, settings):
    """Every request reaches the application from the proxy: the client's address is the
    right-most of X-Forwarded-For that is not a proxy of ours."""
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network(PROXY)]
    # The guesser writes a neighbour's address at the left of the header: the proxy
    # appends the real one, which is what counts.
    forged = f"{NEIGHBOUR}, {GUESSER}"
    for i in range(throttle.ADDRESS_MAX_FAILURES):
        client.post(
            "/account/login/",
            {"card_number": f"9{i:07d}", "pin": "0"},
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=forged,
        )
    stopped = client.post(
        "/account/login/",
        {"card_number": patron.card_number, "pin": "1234"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=GUESSER,
    )
    assert LOCKED in stopped.content.decode()
    signed_in = client.post(
        "/account/login/",
        {"card_number": patron.card_number, "pin": "1234"},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=NEIGHBOUR,
    )
    assert signed_in.status_code == 302


def test_x_forwarded_for_from_an_untrusted_address_is_ignored(rf, settings):
    import ipaddress

    from emporter.patrons.backends import client_address

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    assert client_address(rf.get("/", REMOTE_ADDR=GUESSER, HTTP_X_FORWARDED_FOR=NEIGHBOUR)) == GUESSER
    behind_two = rf.get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"{GUESSER}, 10.0.0.2")
    assert client_address(behind_two) == GUESSER


def test_check_deploy_refuses_a_proxy_without_trusted_proxies(settings):
    from emporter.patrons.checks import proxies_are_trusted

    settings.BEHIND_HTTPS_PROXY, settings.TRUSTED_PROXIES = True, []
    assert [e.id for e in proxies_are_trusted()] == ["patrons.E001"]
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    assert proxies_are_trusted() == []


def lock_everywhere(card):
    """Twenty wrong PINs from four addresses, each after the pause before it."""
    for n in range(throttle.PIN_MAX_FAILURES_ANYWHERE // throttle.PIN_MAX_FAILURES):
        for _ in range(throttle.PIN_MAX_FAILURES):
            throttle.pin_try(card, f"192.0.2.{n + 10}")
            pause_over()
    return SignInFailures.objects.get(username=throttle.PIN_KEY.format(card))


def end_the_lock(card):
    SignInFailures.objects.filter(locked_until__isnull=False).update(locked_until=timezone.now())


def test_a_card_locked_again_and_again_is_locked_longer_each_time(patron):
    """Twenty guesses every quarter of an hour would find a four-digit PIN in days."""
    lengths = []
    for _ in range(5):
        before = timezone.now()
        row = lock_everywhere(patron.card_number)
        lengths.append(round((row.locked_until - before).total_seconds() / 60))
        end_the_lock(patron.card_number)
    assert lengths == [15, 60, 240, 960, 960]


def test_the_owners_right_pin_starts_again_from_a_quarter_of_an_hour(client, patron):
    lock_everywhere(patron.card_number)
    end_the_lock(patron.card_number)
    assert try_card(client, patron.card_number, pin="1234", address=NEIGHBOUR).status_code == 302
    before = timezone.now()
    row = lock_everywhere(patron.card_number)
    assert round((row.locked_until - before).total_seconds() / 60) == 15


def test_the_locks_in_a_row_are_remembered_for_a_week(patron):
    row = lock_everywhere(patron.card_number)
    end_the_lock(patron.card_number)
    two_days = timezone.now() + datetime.timedelta(days=2)
    throttle.forget_old(now=two_days)
    assert SignInFailures.objects.filter(pk=row.pk).exists()
    assert throttle.forget_old(now=timezone.now() + datetime.timedelta(days=8)) >= 1
    assert not SignInFailures.objects.filter(pk=row.pk).exists()


def test_the_lock_says_until_when(client, patron):
    lock_everywhere(patron.card_number)
    end_the_lock(patron.card_number)
    lock_everywhere(patron.card_number)  # the second: an hour
    response = client.post(
        f"{V1}/auth/token",
        {"card_number": patron.card_number, "pin": "1234"},
        content_type="application/json",
        REMOTE_ADDR=NEIGHBOUR,
    )
    assert response.status_code == 429
    assert 3500 < int(response["Retry-After"]) <= 3601
    until = timezone.localtime(timezone.now() + datetime.timedelta(seconds=int(response["Retry-After"])))
    assert f"{until:%H:%M}" in response.json()["message"] or f"{until:%-H:%M}" in response.json()["message"]


def test_a_staff_name_locked_again_is_locked_a_quarter_of_an_hour_again(db):
    """A twelve-character password is not found twenty guesses at a time: a longer lock
    would only help someone keep a librarian out."""
    lengths = []
    for _ in range(2):
        before = timezone.now()
        for n in range(throttle.MAX_FAILURES_ANYWHERE):
            throttle.failed("pdi-accueil", f"192.0.2.{n}")
        row = SignInFailures.objects.get(username="pdi-accueil")
        lengths.append(round((row.locked_until - before).total_seconds() / 60))
        SignInFailures.objects.filter(locked_until__isnull=False).update(locked_until=timezone.now())
    assert lengths == [15, 15]


def test_proxy_hops_with_ports_mapped_addresses_and_garbage(rf, settings):
    import ipaddress

    from emporter.patrons.backends import client_address

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("127.0.0.1")]

    def seen(remote, forwarded):
        return client_address(rf.get("/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded))

    # gunicorn on a dual-stack socket sees the proxy as ::ffff:127.0.0.1
    assert seen("::ffff:127.0.0.1", GUESSER) == GUESSER
    # A port on the hop: the same client on every connection
    assert seen(PROXY, f"{GUESSER}:51234") == GUESSER
    assert seen(PROXY, "[2001:db8::1]:443") == "2001:db8::1"
    # Not an address: the walk stops at the last one believed (the proxy)
    assert seen(PROXY, f"{GUESSER}, unknown") == PROXY
