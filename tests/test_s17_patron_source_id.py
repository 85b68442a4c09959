"""The library system's own id of a patron (Koha's borrowernumber, ``Patron.source_id``):
a lost card replaced there is the same patron here, with their PIN, session and requests;
Koha's guarantorid links a child by it; ``--expire-missing`` ends neither a replaced card
nor a patron made in the admin; a file cut short in its last line, or a line with cells
too many, is skipped."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation
from django.utils.html import escape

from emporter.holds.models import Request
from emporter.imports.models import ImportJob
from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron, Role, StaffRole
from tests.conftest import make_patron, make_ready_requests
from tests.test_imports_page import send, url
from tests.test_patron_pages import sign_in
from tests.test_s16_patron_import import (  # noqa: F401
    CELINE,
    HEADER,
    JEAN,
    card,
    codes,
    command,
    data_dir,
    write,
    yesterday,
)

KOHA = (
    "borrowernumber;cardnumber;surname;firstname;email;branchcode;categorycode;dateexpiry;guarantorid;pin\n"
)
EXPIRES = datetime.date(2027, 6, 30)


def koha(source, number, first="Jean", *, email="", category="adult", guarantor="", pin=""):
    return f"{source};{number};DUPONT;{first};{email};PDI;{category};2027-06-30;{guarantor};{pin}\n"


def family(tmp_path, *rows):
    return import_patrons(write(tmp_path, "first.csv", KOHA + "".join(rows)))


# --- a card lost and replaced in the library system --------------------------------------


def test_a_replaced_card_is_the_same_patron_with_their_pin_session_and_bag(client, tmp_path, branch):
    family(tmp_path, koha(101, "0000123", pin="4821"))
    jean = card("0000123")
    bag = make_ready_requests(jean, branch, ["Un"])
    assert sign_in(client, card="0000123", pin="4821").status_code == 302

    report = import_patrons(write(tmp_path, "b.csv", KOHA + koha(101, "0000999", pin="4821")))

    assert (report.created, report.updated, report.cards_replaced, codes(report)) == (0, 1, 1, [])
    assert Patron.objects.get() == jean
    jean.refresh_from_db()
    assert (jean.card_number, jean.user.username, jean.source_id) == ("0000999", "0000999", "101")
    assert list(Request.objects.filter(patron=jean)) == bag
    assert client.get("/account/").status_code == 200  # still signed in
    with translation.override("en"):
        assert "1 patron found by their id in the library system has a new card number" in report.summary()
    client.logout()
    assert sign_in(client, card="0000123", pin="4821").status_code == 200  # the old card: refused
    assert sign_in(client, card="0000999", pin="4821").status_code == 302


def test_set_pins_compares_the_pin_of_the_patron_found_by_id(client, tmp_path, branch):
    """The PIN is compared before the row's transaction: looked up by the new card, nobody
    was found, the same PIN was set again, and the patron signed out everywhere."""
    family(tmp_path, koha(101, "0000123", pin="4821"))
    assert sign_in(client, card="0000123", pin="4821").status_code == 302

    report = import_patrons(write(tmp_path, "b.csv", KOHA + koha(101, "0000999", pin="4821")), set_pins=True)

    assert (report.cards_replaced, report.pins_set) == (1, 0)
    assert client.get("/account/").status_code == 200


def test_a_replaced_card_keeps_the_account_name_another_account_has(client, tmp_path, branch):
    family(tmp_path, koha(101, "0000123", pin="4821"))
    get_user_model().objects.create_user(username="0000999", password="x", is_staff=True)

    report = import_patrons(write(tmp_path, "b.csv", KOHA + koha(101, "0000999")))

    assert (report.cards_replaced, codes(report)) == (1, [])
    assert (card("0000999").user.username, card("0000999").pk) == ("0000123", Patron.objects.get().pk)
    assert sign_in(client, card="0000999", pin="4821").status_code == 302
    client.logout()
    assert sign_in(client, card="0000123", pin="4821").status_code == 200


def test_expire_missing_does_not_end_a_replaced_card(tmp_path, branch):
    family(tmp_path, koha(101, "0000123"), koha(102, "0000124", "Céline"), koha(103, "0000125", "Léa"))
    export = KOHA + koha(101, "0000999") + koha(102, "0000124", "Céline") + koha(103, "0000125", "Léa")

    out, err = command(write(tmp_path, "b.csv", export), "--expire-missing")

    assert "ended" not in out and "card_ended" not in err, out + err
    assert Patron.objects.count() == 3
    assert card("0000999").card_expires == EXPIRES


def test_a_replacement_row_skipped_still_lists_its_patron(tmp_path, branch):
    family(tmp_path, koha(101, "0000123"), koha(102, "0000124", "Céline"), koha(103, "0000125", "Léa"))
    bad = koha(101, "0000999", email="not-an-email")
    export = KOHA + bad + koha(102, "0000124", "Céline") + koha(103, "0000125", "Léa")

    out, err = command(write(tmp_path, "b.csv", export), "--expire-missing")

    assert "not-an-email" in err and "ended" not in out, out + err
    assert card("0000123").card_expires == EXPIRES


def test_a_patron_found_by_card_is_given_their_id_then_followed_by_it(tmp_path, branch):
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN))  # before the ids were exported

    report = family(tmp_path, koha(101, "0000123", email="jean@example.fr"))

    assert (report.updated, report.cards_replaced, codes(report)) == (1, 0, [])
    assert card("0000123").source_id == "101"
    family(tmp_path, koha(101, "0000999", email="jean@example.fr"))
    assert Patron.objects.get().card_number == "0000999"


# --- what is not guessed --------------------------------------------------------------------


def test_a_card_whose_patron_has_another_id_is_a_problem_and_nothing_changes(tmp_path, branch):
    family(tmp_path, koha(101, "0000123", email="jean@example.fr"))

    report = family(tmp_path, koha(202, "0000123", email="other@example.fr"))

    assert (report.skipped, codes(report)) == (1, [("source_id_conflict", 2)])
    jean = card("0000123")
    assert (jean.source_id, jean.email, Patron.objects.count()) == ("101", "jean@example.fr", 1)
    assert "202" in report.problems[0].message and "101" in report.problems[0].message


@pytest.mark.parametrize("holder_id", ["102", ""], ids=["another_id", "no_id"])
def test_a_new_card_that_is_another_patrons_is_a_problem(tmp_path, branch, holder_id):
    family(tmp_path, koha(101, "0000123"))
    make_patron(branch, card="0000124", source_id=holder_id)

    report = family(tmp_path, koha(101, "0000124"))

    assert (report.skipped, report.cards_replaced, codes(report)) == (1, 0, [("card_taken", 2)])
    assert card("0000123").source_id == "101" and card("0000124").source_id == holder_id


def test_one_id_twice_in_a_file_keeps_the_first_row(tmp_path, branch):
    report = family(tmp_path, koha(101, "0000123", "Jean"), koha(101, "0000124", "Jeanne"))

    assert (report.created, report.skipped, codes(report)) == (1, 1, [("duplicate_source_id", 3)])
    assert list(Patron.objects.values_list("card_number", "first_name")) == [("0000123", "Jean")]


def test_the_database_keeps_one_patron_per_id_and_any_number_without(branch):
    from django.db import IntegrityError, transaction

    make_patron(branch, card="1", source_id="101")
    make_patron(branch, card="2")
    make_patron(branch, card="3")
    with pytest.raises(IntegrityError), transaction.atomic():
        make_patron(branch, card="4", source_id="101")


# --- guardians by id ------------------------------------------------------------------------


def test_guarantorid_links_a_child_to_the_borrowernumber_listed_after_them(tmp_path, branch):
    child = koha(102, "0000125", "Léa", category="child", guarantor=101)
    report = family(tmp_path, child, koha(101, "0000123", guarantor=0))  # 0: no guarantor (old Koha)

    assert (report.created, codes(report)) == (2, [])
    assert card("0000125").guardian == card("0000123")
    # The guardian's card replaced: the link is the patron's, and the next file keeps it.
    report = family(tmp_path, child, koha(101, "0000999"))
    assert (report.cards_replaced, report.unchanged, codes(report)) == (1, 1, [])
    assert card("0000125").guardian == card("0000999")


def test_an_emptied_guarantorid_unlinks_and_an_unknown_one_keeps_the_link(tmp_path, branch):
    family(tmp_path, koha(101, "0000123"), koha(102, "0000125", "Léa", category="child", guarantor=101))

    report = family(tmp_path, koha(102, "0000125", "Léa", category="child", guarantor=999))
    assert codes(report) == [("no_guardian", 2)] and "999" in report.problems[0].message
    assert card("0000125").guardian == card("0000123")

    family(tmp_path, koha(102, "0000125", "Léa", category="adult"))  # come of age
    assert card("0000125").guardian is None


def test_a_guarantorid_naming_the_row_itself_is_refused(tmp_path, branch):
    report = family(tmp_path, koha(101, "0000123", guarantor=101))
    assert (report.skipped, codes(report)) == (1, [("bad_guardian", 2)])


def test_guarantorid_without_the_patrons_own_ids_is_ignored_and_said_once(tmp_path, branch):
    text = "cardnumber;surname;branchcode;guarantorid\n0000123;DUPONT;PDI;\n0000125;DUPONT;PDI;101\n"
    text += "0000126;DUPONT;PDI;101\n"

    report = import_patrons(write(tmp_path, "a.csv", text))

    assert (report.created, codes(report)) == (3, [("guarantor_ignored", None)])
    assert "borrowernumber" in report.problems[0].message and "source_id" in report.problems[0].message
    assert not Patron.objects.filter(guardian__isnull=False).exists()


# --- patrons made in the admin --------------------------------------------------------------


def test_expire_missing_leaves_the_patrons_made_in_the_admin(tmp_path, branch):
    three = JEAN + CELINE + "0000125;DUPONT;Léa;;PDI;adult;;2027-06-30;\n"
    import_patrons(write(tmp_path, "a.csv", HEADER + three))
    by_hand = make_patron(branch, card="0000777")

    out, err = command(write(tmp_path, "b.csv", HEADER + three), "--expire-missing")

    by_hand.refresh_from_db()
    assert by_hand.card_expires is None and "ended" not in out and "not in the export" not in out, out + err
    # Listed once by the library system, then left out: theirs is ended as anybody's.
    command(write(tmp_path, "c.csv", HEADER + three + "0000777;Martin;Camille;;PDI;adult;;2027-06-30;\n"))
    command(write(tmp_path, "d.csv", HEADER + three), "--expire-missing")
    assert card("0000777").card_expires == yesterday()


# --- rows whose cells are not the header's --------------------------------------------------


def test_a_row_cut_short_is_skipped_and_clears_nothing(tmp_path, branch):
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE))
    # "…;adult;;" : no date, no PIN, and no line break: the file ends there, cut.
    cut = JEAN.rsplit(";", 1)[0].rsplit(";", 1)[0] + ";"

    out, err = command(write(tmp_path, "b.csv", HEADER + CELINE + cut), "--expire-missing")

    assert card("0000123").card_expires == EXPIRES
    assert "line 3: this row has 8 cells, the header 9: the line was cut short" in err, err
    assert "ended" not in out, out
    assert [p["code"] for p in ImportJob.objects.order_by("pk").last().problems] == ["short_row"]


def test_a_row_cut_in_its_card_says_whose_it_is_not(tmp_path, branch):
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE))

    out, err = command(write(tmp_path, "b.csv", HEADER + JEAN + "00001\n"), "--expire-missing")

    assert "this row has 1 cell, the header 9" in err and "No card was ended" in out, out + err
    assert card("0000124").card_expires == EXPIRES


def test_a_row_with_cells_too_many_is_skipped_and_empty_ones_are_nothing(tmp_path, branch):
    text = "card_number;last_name;first_name;home_branch;phone\n"
    text += "0000123;DUPONT;Jean;PDI;04 78;00 00 00\n"  # a separator in the phone, unquoted
    text += "0000124;DUPONT;Céline;PDI;06 11 22 33 44;;\n"  # a separator at the end of the line

    report = import_patrons(write(tmp_path, "a.csv", text))

    assert (report.created, report.skipped, codes(report)) == (1, 1, [("long_row", 2)])
    assert card("0000124").phone == "06 11 22 33 44"
    assert not Patron.objects.filter(card_number="0000123").exists()


# --- where people see it --------------------------------------------------------------------


@pytest.fixture
def network_admin(client, db):
    user = get_user_model().objects.create_user(username="nadia", password="x")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    client.force_login(user)
    return client


def test_the_imports_page_lists_the_new_problems_with_their_reason(network_admin, tmp_path, branch):
    family(tmp_path, koha(101, "0000123"))
    path = write(tmp_path, "koha.csv", KOHA + koha(202, "0000123") + "0000124;DUPONT\n")

    send(network_admin, path, kind="patrons")

    job = ImportJob.objects.get()
    page = network_admin.get(url("imports:detail", job.pk)).text
    assert [p["code"] for p in job.problems] == ["source_id_conflict", "short_row"]
    assert all(p["code"] in page and escape(p["message"]) in page for p in job.problems), page


def test_the_admin_shows_the_id_and_finds_a_patron_by_it(admin_client, tmp_path, branch):
    family(tmp_path, koha(4242, "0000123"))
    make_patron(branch, card="0000124")

    found = admin_client.get("/admin/patrons/patron/", {"q": "4242"}).text

    assert "0000123" in found and "0000124" not in found
    page = admin_client.get(f"/admin/patrons/patron/{card('0000123').pk}/change/").text
    assert "4242" in page and 'name="source_id"' not in page  # shown, not edited


def test_the_data_download_gives_the_library_systems_id(client, patron):
    # Personal data too: it ties the patron to the library system's records.
    Patron.objects.filter(pk=patron.pk).update(source_id="4711")
    client.force_login(patron.user)
    assert client.get("/privacy/my-data.json").json()["patron"]["library_system_id"] == "4711"
