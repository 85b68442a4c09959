"""Sign-in counts that cover every card or name from one client keep an IPv6 client by its
/56: one home line holds 256 /64s, and moving to the next one lifted the stop."""

from django.contrib.auth import get_user_model

from emporter.patrons import throttle
from emporter.patrons.models import Role, StaffRole
from tests.test_api import V1


def line(n: int, host: int = 1) -> str:
    """An address in the n-th /64 of one home line (2001:db8:42:100::/56)."""
    return f"2001:db8:42:1{n:02x}::{host:x}"


def card_sign_in(client, card, pin, address):
    body = {"card_number": card, "pin": pin}
    return client.post(f"{V1}/auth/token", body, content_type="application/json", REMOTE_ADDR=address)


def test_keys():
    assert throttle.client_key("2001:db8:42:1ff:3:4:5:6") == "2001:db8:42:100::/56"
    assert throttle.client_key("203.0.113.7") == "203.0.113.7"
    assert throttle.client_key("::ffff:203.0.113.7") == "203.0.113.7"
    # A card's or a name's own count from one address stays by the /64.
    assert throttle.address_key("2001:db8:42:1ff:3:4:5:6") == "2001:db8:42:1ff::/64"


def test_a_pin_sprayed_over_cards_is_stopped_on_the_next_64_of_the_same_line(client, patron, one_quarter):
    for i in range(throttle.ADDRESS_MAX_FAILURES):
        card_sign_in(client, f"2069{i:09d}", "1234", line(1))
    assert card_sign_in(client, patron.card_number, "1234", line(1)).status_code == 429
    response = card_sign_in(client, patron.card_number, "1234", line(2))
    assert response.status_code == 429 and response.json()["code"] == "login_address_locked"
    # Another home line, and an IPv4 client, sign in as usual.
    assert card_sign_in(client, patron.card_number, "1234", "2001:db8:42:200::1").status_code == 201
    assert card_sign_in(client, patron.card_number, "1234", "198.51.100.2").status_code == 201


def test_staff_names_tried_from_one_line_are_stopped_on_its_other_64s(
    client, branch, monkeypatch, one_quarter
):
    monkeypatch.setattr(throttle, "ADDRESS_MAX_FAILURES", 6)  # a full hash each: fewer tries
    user = get_user_model().objects.create_user(username="pdi-rayon", password="a-long-staff-pass")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    for n in range(6):
        client.post("/staff/login/", {"username": f"name{n}", "password": "guess"}, REMOTE_ADDR=line(n))
    assert throttle.staff_address_locked_for(line(7)) > 0
    assert throttle.staff_address_locked_for("2001:db8:42:200::1") == 0


def test_a_library_sharing_one_line_is_never_stopped_by_a_busy_days_mistakes(db, monkeypatch):
    """Its computers and its Wi-Fi, two /64s of its /56, mistyping in turn every 8 minutes
    all day: a count that only a quiet quarter restarted stopped them after fifty."""
    for n in range(throttle.ADDRESS_MAX_FAILURES * 2):
        monkeypatch.setattr(throttle, "_quarter", lambda _now, n=n: n // 2)  # 8 minutes apart
        throttle.card_failed(line(1) if n % 2 else line(2))
    assert throttle.card_address_locked_for(line(1)) == 0


def test_an_administrator_finds_a_clients_counts_by_the_address_given(admin_client, one_quarter):
    for _ in range(throttle.ADDRESS_MAX_FAILURES):
        throttle.card_failed("2001:db8:ab:110::21")
    url = "/admin/patrons/signinfailures/"
    for typed in ("2001:db8:ab:110::21", "2001:db8:ab:110"):  # as given, or its /64
        assert "2001:db8:ab:100::/56" in admin_client.get(url, {"q": typed}).content.decode()
