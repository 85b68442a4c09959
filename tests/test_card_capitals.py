"""A card number is one card whatever its capitals: "b0012" typed is the card "B0012"
(patrons/0010). Scanned or typed, at sign-in, the door, the phone desk, an import."""

import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from emporter.patrons import throttle
from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron
from emporter.patrons.search import find_patrons
from tests.conftest import make_patron, make_ready_requests, pause_over
from tests.test_door_pages import door, scan  # noqa: F401 (door is a fixture)
from tests.test_patron_pages import sign_in

CARD = "B0012AX"


@pytest.fixture
def lettered(branch):
    return make_patron(branch, card=CARD)


def test_a_card_typed_in_small_letters_signs_in(client, lettered):
    response = sign_in(client, card=CARD.lower())
    assert response.status_code == 302 and response["Location"] == "/account/"


def test_a_replaced_card_signs_in_and_the_old_one_no_longer_does(client, lettered):
    # The user keeps the name of the card first issued; the patron holds the new one.
    Patron.objects.filter(pk=lettered.pk).update(card_number="B0099ZZ")
    assert sign_in(client, card="b0099zz")["Location"] == "/account/"
    client.logout()
    assert sign_in(client, card=CARD).status_code == 200  # refused, the form again


def test_wrong_pins_in_small_letters_lock_the_card_in_capitals(client, lettered):
    for _ in range(throttle.PIN_MAX_FAILURES):
        sign_in(client, card=CARD.lower(), pin="0000")
        pause_over()  # the pauses between wrong PINs waited out
    response = sign_in(client, card=CARD)  # the right PIN, but the card is locked
    assert response.status_code == 200 and "verrouillée" in response.text


def test_the_database_keeps_one_card_in_any_capitals(lettered, branch):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_patron(branch, card=CARD.lower())


def test_the_admin_says_the_card_is_taken(lettered, branch):
    twin = Patron(card_number=CARD.lower(), first_name="A", last_name="B", home_branch=branch)
    with pytest.raises(ValidationError, match="déjà ce numéro de carte"):
        twin.validate_constraints()


def test_the_door_finds_the_bag_of_a_card_typed_in_small_letters(door, branch, lettered):  # noqa: F811
    make_ready_requests(lettered, branch, ["Un"])
    page = scan(door, branch, CARD.lower())
    assert page.status_code == 200 and "Un" in page.text


def test_the_phone_desk_finds_a_card_typed_in_small_letters(lettered):
    assert find_patrons(CARD.lower()) == [lettered]


HEADER = "card_number;first_name;last_name;home_branch\n"


def test_an_import_in_other_capitals_updates_the_patron_and_writes_the_card_anew(tmp_path, lettered):
    path = tmp_path / "patrons.csv"
    path.write_text(HEADER + f"{CARD.lower()};Camille;Martin;PDI\n", encoding="utf-8")
    report = import_patrons(path)
    assert (report.created, report.updated, report.skipped) == (0, 1, 0)
    assert list(Patron.objects.values_list("card_number", flat=True)) == [CARD.lower()]


def test_one_card_twice_in_a_file_in_other_capitals_is_said(tmp_path, branch):
    path = tmp_path / "patrons.csv"
    path.write_text(HEADER + f"{CARD};Camille;Martin;PDI\n{CARD.lower()};Autre;Personne;PDI\n")
    report = import_patrons(path)
    assert (report.created, report.skipped) == (1, 1)
    assert [(p.line, p.code) for p in report.problems] == [(3, "duplicate_card")]


def test_a_guardian_named_in_other_capitals_is_found(tmp_path, lettered):
    path = tmp_path / "patrons.csv"
    path.write_text(
        "card_number;first_name;last_name;home_branch;category;guardian\n"
        f"C77;Léo;Martin;PDI;child;{CARD.lower()}\n",
        encoding="utf-8",
    )
    assert import_patrons(path).created == 1
    assert Patron.objects.get(card_number="C77").guardian == lettered


def test_the_upgrade_stops_with_the_list_when_two_cards_differ_by_capitals(branch):
    # Before patrons/0010 two such cards could exist; the unique index could not be built.
    migration = importlib.import_module("emporter.patrons.migrations.0010_card_any_capitals")
    make_patron(branch, card="X1")
    migration.refuse_cards_twice(apps, None)  # one card: the upgrade goes on
    with connection.cursor() as cursor:  # as before 0010 (the test's transaction restores it)
        cursor.execute("DROP INDEX patron_card_any_capitals")
    make_patron(branch, card="x1")
    with pytest.raises(CommandError, match="X1 / x1|x1 / X1"):
        migration.refuse_cards_twice(apps, None)


def card_field(client) -> str:
    page = client.get("/account/login/")
    return next(line for line in page.text.splitlines() if 'name="card_number"' in line)


def test_a_phone_shows_its_number_keypad_for_cards_only_where_every_card_is_digits(client, branch):
    make_patron(branch, card="10000001")
    assert 'inputmode="numeric"' in card_field(client)
    # One card with letters in the network: a number keypad could not type it.
    from django.core.cache import cache

    make_patron(branch, card=CARD)
    assert 'inputmode="numeric"' in card_field(client)  # read again at most every ten minutes
    cache.clear()
    field = card_field(client)
    assert "inputmode" not in field and 'autocapitalize="characters"' in field
