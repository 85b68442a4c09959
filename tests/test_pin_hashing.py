"""PINs are hashed with far fewer rounds than staff passwords (emporter/patrons/pins.py):
a crowd signing in at opening must not take every web worker for a second each. Their
hashes stay Django's own PBKDF2, so any version checks them (a rollback, two releases
side by side)."""

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher

from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron
from emporter.patrons.pins import hash_pin
from emporter.patrons.services import change_pin, reset_pin
from tests.conftest import make_patron
from tests.test_patron_pages import sign_in


def pin_hashed(user) -> bool:
    """Whether ``user``'s password is a PIN as the app hashes it (the tests' rounds: 1)."""
    user.refresh_from_db()
    return user.password.startswith(f"pbkdf2_sha256${settings.PIN_HASH_ROUNDS}$")


def test_a_pin_hash_is_djangos_own_pbkdf2_with_far_fewer_rounds(settings):
    from emporter import settings as project  # the module's value, not the tests' fixture

    assert PBKDF2PasswordHasher.iterations >= 20 * project.PIN_HASH_ROUNDS
    settings.PIN_HASH_ROUNDS = 1000
    encoded = hash_pin("4821")
    assert encoded.startswith("pbkdf2_sha256$1000$")
    # Django's default hasher, any version, checks it: the rounds are in the hash.
    assert PBKDF2PasswordHasher().verify("4821", encoded)
    assert not PBKDF2PasswordHasher().verify("4822", encoded)


def test_a_pin_set_at_the_desk_or_changed_is_hashed_as_a_pin(client, patron):
    pin = reset_pin(patron=patron)
    assert pin_hashed(patron.user)
    change_pin(patron=patron, old_pin=pin, new_pin="4821")
    assert pin_hashed(patron.user)
    assert sign_in(client, pin="4821")["Location"] == "/account/"


def test_a_pin_hashed_by_an_older_version_signs_in_and_is_hashed_anew(client, patron):
    # make_patron hashes with the settings' default, as every PIN was before pins.py.
    assert not pin_hashed(patron.user)
    assert sign_in(client)["Location"] == "/account/"
    assert pin_hashed(patron.user)
    client.logout()
    assert sign_in(client)["Location"] == "/account/"  # and still signs in
    assert pin_hashed(patron.user)  # not moved back to the default's rounds


def test_a_pin_hashed_with_other_rounds_is_hashed_anew(client, patron, settings):
    settings.PIN_HASH_ROUNDS = 2
    get_user_model().objects.filter(pk=patron.user_id).update(password=hash_pin("1234"))
    settings.PIN_HASH_ROUNDS = 3
    assert sign_in(client)["Location"] == "/account/"
    assert pin_hashed(patron.user)


def test_a_wrong_pin_changes_no_hash(client, patron):
    before = get_user_model().objects.get(pk=patron.user_id).password
    sign_in(client, pin="0000")
    assert get_user_model().objects.get(pk=patron.user_id).password == before


def test_imported_pins_are_hashed_as_pins(tmp_path, branch):
    path = tmp_path / "patrons.csv"
    path.write_text("card_number;first_name;last_name;home_branch;pin\n555;Ana;Lopez;PDI;4821\n")
    import_patrons(path)
    assert pin_hashed(Patron.objects.get(card_number="555").user)


def test_staff_passwords_keep_the_default_hasher(client, branch):
    user = get_user_model().objects.create_user(username="biblio", password="long enough password 42")
    default = get_hasher().algorithm
    response = client.post("/staff/login/", {"username": "biblio", "password": "long enough password 42"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password.startswith(f"{default}$") and not pin_hashed(user)


def test_a_card_holder_with_a_disabled_account_is_refused(client, branch):
    patron = make_patron(branch, card="777")
    get_user_model().objects.filter(pk=patron.user_id).update(is_active=False)
    assert sign_in(client, card="777").status_code == 200


def test_a_card_without_a_pin_costs_what_a_wrong_card_costs(branch, monkeypatch):
    # Django would check it with the default hasher (a second): the delay would tell
    # a card without a PIN yet from a card that does not exist.
    from django.test import RequestFactory

    from emporter.errors import ServiceError
    from emporter.patrons import pins
    from emporter.patrons.services import authenticate_patron

    hashed = []
    real = pins.hash_pin
    monkeypatch.setattr(pins, "hash_pin", lambda pin: hashed.append(pin) or real(pin))
    monkeypatch.setattr("emporter.patrons.backends.hash_pin", pins.hash_pin)
    patron = make_patron(branch, card="888")
    patron.user.set_unusable_password()
    patron.user.save()
    for n, card in enumerate(["99999999", "888"]):
        request = RequestFactory().post("/", REMOTE_ADDR=f"203.0.113.{n + 1}")
        with pytest.raises(ServiceError):
            authenticate_patron(request=request, card_number=card, pin="1234")
    assert hashed == ["1234", "1234"]  # one PIN hash each, nothing else


def test_a_wrong_pin_costs_a_pin_hash_not_a_staff_password_hash(patron, settings, monkeypatch):
    # With the production hashers Django padded a wrong PIN's check up to the default's
    # 1,500,000 rounds (harden_runtime): a second, and telling the card exists.
    from django.conf import global_settings

    from emporter.patrons.pins import pin_matches

    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    settings.PIN_HASH_ROUNDS = 1000
    get_user_model().objects.filter(pk=patron.user_id).update(password=hash_pin("1234"))
    patron.user.refresh_from_db()
    padded = []
    monkeypatch.setattr(PBKDF2PasswordHasher, "harden_runtime", lambda self, *args: padded.append(args))
    assert pin_matches(patron.user, "1234") and not pin_matches(patron.user, "9999")
    assert padded == []
