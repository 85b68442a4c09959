"""PINs are hashed with their own, cheaper hasher (emporter/patrons/pins.py): a crowd
signing in at opening must not take every web worker for a second each."""

import pytest
from django.conf import global_settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import PBKDF2PasswordHasher, get_hasher, identify_hasher, make_password

from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron
from emporter.patrons.pins import PinHasher
from emporter.patrons.services import change_pin, reset_pin
from tests.conftest import make_patron
from tests.test_patron_pages import sign_in


def algorithm(user) -> str:
    user.refresh_from_db()
    return identify_hasher(user.password).algorithm


def test_the_settings_list_the_pin_hasher_after_the_default_ones():
    # Read from the module: the tests' own fixture replaces the setting.
    from emporter import settings as project

    defaults = global_settings.PASSWORD_HASHERS
    hashers = project.PASSWORD_HASHERS
    assert hashers[-1] == "emporter.patrons.pins.PinHasher" and hashers[:-1] == defaults
    assert PinHasher.iterations * 20 <= PBKDF2PasswordHasher.iterations  # far cheaper than staff's


def test_a_pin_set_at_the_desk_or_changed_uses_the_pin_hasher(client, patron):
    pin = reset_pin(patron=patron)
    assert algorithm(patron.user) == PinHasher.algorithm
    change_pin(patron=patron, old_pin=pin, new_pin="4821")
    assert algorithm(patron.user) == PinHasher.algorithm
    assert sign_in(client, pin="4821")["Location"] == "/account/"


def test_a_pin_hashed_by_an_older_version_signs_in_and_is_hashed_anew(client, patron):
    # make_patron hashes with the settings' default, as every PIN was before pins.py.
    assert algorithm(patron.user) != PinHasher.algorithm
    assert sign_in(client)["Location"] == "/account/"
    assert algorithm(patron.user) == PinHasher.algorithm
    client.logout()
    assert sign_in(client)["Location"] == "/account/"  # and still signs in
    assert algorithm(patron.user) == PinHasher.algorithm  # not moved to the slow default


def test_a_wrong_pin_changes_no_hash(client, patron):
    before = get_user_model().objects.get(pk=patron.user_id).password
    sign_in(client, pin="0000")
    assert get_user_model().objects.get(pk=patron.user_id).password == before


def test_imported_pins_use_the_pin_hasher(tmp_path, branch):
    path = tmp_path / "patrons.csv"
    path.write_text("card_number;first_name;last_name;home_branch;pin\n555;Ana;Lopez;PDI;4821\n")
    import_patrons(path)
    assert algorithm(Patron.objects.get(card_number="555").user) == PinHasher.algorithm


def test_staff_passwords_keep_the_default_hasher(client, branch):
    user = get_user_model().objects.create_user(username="biblio", password="long enough password 42")
    default = get_hasher().algorithm
    assert algorithm(user) == default
    response = client.post("/staff/login/", {"username": "biblio", "password": "long enough password 42"})
    assert response.status_code == 302
    assert algorithm(user) == default


def test_a_card_holder_with_a_disabled_account_is_refused(client, branch):
    patron = make_patron(branch, card="777")
    get_user_model().objects.filter(pk=patron.user_id).update(is_active=False)
    assert sign_in(client, card="777").status_code == 200


def test_the_pin_hasher_checks_what_it_hashed():
    encoded = make_password("4821", hasher=PinHasher.algorithm)
    assert get_hasher(PinHasher.algorithm).verify("4821", encoded)
    assert not get_hasher(PinHasher.algorithm).verify("4822", encoded)


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
