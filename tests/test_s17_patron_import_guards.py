"""The patron import's guards around the library system's id: a new card number a
spreadsheet changed (leading zeros dropped, 1.23E+12) replaces no card, nor does a file
giving new numbers to many of its rows; a row whose empty trailing cells a spreadsheet
left out is read (a file cut in its last line is not); two patrons whose cards were
swapped in the library system exchange them here."""

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation

from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron
from tests.test_patron_pages import sign_in
from tests.test_s16_patron_import import CELINE, HEADER, JEAN, card, codes, command, data_dir, write  # noqa: F401

KOHA = "borrowernumber;cardnumber;surname;firstname;email;branchcode;categorycode;dateexpiry;pin\n"


def koha(source, number, first="Jean", *, email="", pin="4821"):
    return f"{source};{number};DUPONT;{first};{email};PDI;adult;2027-06-30;{pin}\n"


def family(tmp_path, *rows, name="first.csv", **options):
    return import_patrons(write(tmp_path, name, KOHA + "".join(rows)), **options)


def cards_by_id():
    return dict(Patron.objects.values_list("source_id", "card_number"))


# --- 1. card numbers a spreadsheet changed ----------------------------------------------------


@pytest.mark.parametrize("mangled", ["123", "1.23E+02", "123.0", "123,00"])
def test_a_card_number_a_spreadsheet_changed_keeps_the_card_and_takes_the_rest(
    client, tmp_path, branch, mangled
):
    family(tmp_path, koha(101, "0000123"), koha(102, "0000124", "Céline"))

    report = family(
        tmp_path, koha(101, mangled, email="jean@example.fr"), koha(102, "0000124", "Céline"), name="b.csv"
    )

    assert (report.cards_replaced, report.cards_kept, report.updated) == (0, 1, 1)
    assert codes(report) == [("card_mangled", 2)]
    assert "0000123" in report.problems[0].message and mangled in report.problems[0].message
    jean = Patron.objects.get(source_id="101")
    assert (jean.card_number, jean.user.username, jean.email) == ("0000123", "0000123", "jean@example.fr")
    assert sign_in(client, card="0000123", pin="4821").status_code == 302
    with translation.override("en"):
        assert "1 patron found by their id in the library system keeps their card number" in report.summary()


def test_a_card_without_its_zeros_that_another_patron_holds_is_still_the_patrons_row(tmp_path, branch):
    family(tmp_path, koha(101, "0000123"), koha(102, "123", "Céline"))

    report = family(
        tmp_path, koha(101, "123", email="jean@example.fr"), koha(102, "123", "Céline"), name="b.csv"
    )

    assert codes(report) == [("card_mangled", 2)]  # Céline's row is hers: not a card given twice
    assert cards_by_id() == {"101": "0000123", "102": "123"}
    assert Patron.objects.get(source_id="101").email == "jean@example.fr"


def test_replace_cards_never_takes_a_number_a_spreadsheet_made(tmp_path, branch):
    family(tmp_path, koha(101, "0000123"))
    # The old card without its zeros: the printed card would stop working.
    report = family(tmp_path, koha(101, "123"), name="b.csv", replace_cards=True)
    assert codes(report) == [("card_mangled", 2)] and cards_by_id() == {"101": "0000123"}
    # Nor a number as a spreadsheet writes it: the digits are lost.
    report = family(tmp_path, koha(101, "1.23E+02"), name="c.csv", replace_cards=True)
    assert codes(report) == [("card_mangled", 2)] and cards_by_id() == {"101": "0000123"}
    # A real new number goes in.
    report = family(tmp_path, koha(101, "B0000777"), name="d.csv", replace_cards=True)
    assert (report.cards_replaced, cards_by_id()) == (1, {"101": "B0000777"})


def many(first, count, prefix):
    return [koha(source, f"{prefix}{source:05d}", f"P{source}") for source in range(first, first + count)]


def test_a_file_giving_many_of_its_rows_new_cards_replaces_none(tmp_path, branch):
    family(tmp_path, *many(1, 30, "A"))
    rows = many(1, 21, "B") + many(22, 9, "A")  # 21 new cards of 30 rows: a column changed
    rows[0] = koha(1, "B00001", "P1", email="p1@example.fr")

    with translation.override("en"):  # the summary is written in the language of the run
        report = family(tmp_path, *rows, name="b.csv")

    assert (report.cards_replaced, report.cards_kept, report.updated) == (0, 21, 1)
    assert codes(report) == [("replacements_refused", None)]
    assert "21" in report.problems[0].message and "30" in report.problems[0].message
    assert all(number.startswith("A") for number in cards_by_id().values())
    assert Patron.objects.get(source_id="1").email == "p1@example.fr"  # the rest went in
    with translation.override("en"):
        assert "No card number was replaced: 21 of the 30 rows" in report.summary()
        assert "--replace-cards" in report.summary()


def test_the_command_replaces_them_with_replace_cards(tmp_path, branch):
    family(tmp_path, *many(1, 30, "A"))
    path = write(tmp_path, "b.csv", KOHA + "".join(many(1, 30, "B")))

    out, err = command(path)
    assert "No card number was replaced" in out and all(c.startswith("A") for c in cards_by_id().values())

    out, err = command(path, "--replace-cards")
    assert "30 patrons found by their id" in out, out + err
    assert all(number.startswith("B") for number in cards_by_id().values())


def test_twenty_new_cards_are_replaced_whatever_the_file_and_more_are_not(tmp_path, branch):
    """Lost cards come a few a day: a small file giving a few new ones is news."""
    family(tmp_path, *many(1, 21, "A"))

    report = family(tmp_path, *many(1, 20, "B"), name="b.csv")
    assert (report.cards_replaced, codes(report)) == (20, [])

    report = family(tmp_path, *many(1, 21, "C"), name="c.csv")
    assert (report.cards_replaced, [code for code, _line in codes(report)]) == (0, ["replacements_refused"])


# --- 2. rows a spreadsheet wrote without their empty trailing cells ---------------------------


def test_cells_left_out_at_the_end_of_a_row_leave_the_patrons_values_alone(client, tmp_path, branch):
    child = "0000125;DUPONT;Léa;;PDI;child;0000123;2027-06-30;1234\n"
    import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + CELINE + child))
    new = "0000126;MARTIN;Camille;camille@example.fr;PDI\n"  # no category, guardian, date, PIN
    without = "0000125;DUPONT;Léa;lea@example.fr;PDI;child\n"  # no guardian, date, PIN cells

    report = import_patrons(write(tmp_path, "b.csv", HEADER + new + without + JEAN))

    assert (report.created, report.updated, report.unchanged, codes(report)) == (1, 1, 1, [])
    lea = card("0000125")
    assert (lea.email, lea.guardian, str(lea.card_expires)) == (
        "lea@example.fr",
        card("0000123"),
        "2027-06-30",
    )
    assert sign_in(client, card="0000125", pin="1234").status_code == 302
    assert card("0000126").category == "adult"


def test_a_file_cut_in_its_last_line_skips_that_row_only(tmp_path, branch):
    new = "0000126;MARTIN;Camille;camille@example.fr;PDI"

    cut = import_patrons(write(tmp_path, "a.csv", HEADER + JEAN + new))
    whole = import_patrons(write(tmp_path, "b.csv", HEADER + JEAN + new + "\r\n"))

    assert (cut.created, codes(cut)) == (1, [("short_row", 3)])
    assert (whole.created, codes(whole)) == (1, [])


def test_a_short_row_without_its_required_cells_is_a_line_broken_in_two(tmp_path, branch):
    text = HEADER + "0000126;MARTIN\n" + "Camille;camille@example.fr;PDI;adult;;;\n" + JEAN

    report = import_patrons(write(tmp_path, "a.csv", text))

    assert [code for code, _line in codes(report)] == ["short_row", "missing_value"]
    assert report.created == 1


# --- 3. cards swapped in the library system ----------------------------------------------------


def test_two_patrons_whose_cards_were_swapped_exchange_them_with_their_sign_in(client, tmp_path, branch):
    family(tmp_path, koha(101, "0000123"), koha(102, "0000124", "Céline", pin="5932"))

    report = family(tmp_path, koha(101, "0000124"), koha(102, "0000123", "Céline", pin="5932"), name="b.csv")

    assert (report.cards_replaced, report.skipped, codes(report)) == (2, 0, [])
    assert cards_by_id() == {"101": "0000124", "102": "0000123"}
    users = dict(Patron.objects.values_list("source_id", "user__username"))
    assert users == {"101": "0000124", "102": "0000123"}
    assert sign_in(client, card="0000124", pin="4821").status_code == 302
    assert client.get("/account/").context["patron"].source_id == "101"


def test_three_cards_going_round_and_a_card_freed_later_in_the_file(tmp_path, branch):
    family(tmp_path, koha(101, "1"), koha(102, "2"), koha(103, "3"), koha(104, "4"))
    # 104 takes 101's card, given up further down; 101, 102, 103 go round.
    rows = koha(104, "1"), koha(101, "2"), koha(102, "3"), koha(103, "5")

    report = family(tmp_path, *rows, name="b.csv")

    assert (report.cards_replaced, codes(report)) == (4, [])
    assert cards_by_id() == {"104": "1", "101": "2", "102": "3", "103": "5"}
    assert not get_user_model().objects.filter(username__startswith="~").exists()


def test_an_exchange_with_a_refused_row_keeps_both_cards_and_says_so(tmp_path, branch):
    family(tmp_path, koha(101, "0000123"), koha(102, "0000124", "Céline"))
    rows = koha(101, "0000124", email="jean@example.fr"), koha(102, "0000123", "Céline", email="not-an-email")

    report = family(tmp_path, *rows, name="b.csv")

    assert codes(report) == [("card_swap", 2), ("bad_email", 3)]
    assert "ligne 3" in report.problems[0].message
    assert cards_by_id() == {"101": "0000123", "102": "0000124"}
    assert Patron.objects.get(source_id="101").email == "jean@example.fr"


def test_an_id_given_again_after_a_row_waiting_for_its_card_keeps_the_first(tmp_path, branch):
    family(tmp_path, koha(101, "0000123"), koha(102, "0000124", "Céline"))
    rows = koha(101, "0000124"), koha(101, "0000999", "Jeanne"), koha(102, "0000555", "Céline")

    report = family(tmp_path, *rows, name="b.csv")

    assert codes(report) == [("duplicate_source_id", 3)]
    assert cards_by_id() == {"101": "0000124", "102": "0000555"}
    assert Patron.objects.get(source_id="101").first_name == "Jean"


# -- A file whose zeros a spreadsheet dropped (second review) ------------------------------


def test_dropped_zeros_do_not_block_a_genuine_replacement(tmp_path, branch):
    # 100 patrons; 30 of their cards start with zeros.
    first = [koha(n, f"000{n:04d}" if n <= 30 else f"B{n:05d}", f"P{n}") for n in range(1, 101)]
    family(tmp_path, *first)
    # The spreadsheet read the 30 zero-led cards as numbers; patron 50 lost their card.
    second = [koha(n, str(n) if n <= 30 else f"B{n:05d}", f"P{n}") for n in range(1, 101)]
    second[49] = koha(50, "NEW00050", "P50")

    report = family(tmp_path, *second, name="b.csv")

    mangled = [p for p in report.problems if p.code == "card_mangled"]
    assert len(mangled) == 30  # each already caught, one by one
    # ... so nothing is left for the guard to refuse but the one genuine new card:
    assert report.replace_refused == "", report.replace_refused
    assert cards_by_id()["50"] == "NEW00050"


def test_replace_cards_never_applies_dropped_zeros(tmp_path, branch):
    first = [koha(n, f"000{n:04d}", f"P{n}") for n in range(1, 41)]
    family(tmp_path, *first)
    second = [koha(n, str(n), f"P{n}") for n in range(1, 41)]
    report = family(tmp_path, *second, name="b.csv")
    # Each row refused on its own: no advice to force the file through.
    assert report.replace_refused == "" and len(report.problems) == 40
    family(tmp_path, *second, name="c.csv", replace_cards=True)
    # The printed cards are 0000001...: they must still be the patrons'.
    assert Patron.objects.with_card("0000001").exists()
