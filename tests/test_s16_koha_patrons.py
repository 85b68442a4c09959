"""A library system's patron export as it comes: Koha's column names (its patron export,
a report on ``borrowers``), its branch and category codes mapped with ``--codes``, its
``lang`` values, dates written day first (or month first, with ``--date-format us``)."""

import datetime
import json

import pytest
from django.core.management.base import CommandError

from emporter.patrons.importer import import_patron_files, import_patrons, parse_date
from emporter.patrons.models import Patron
from tests.conftest import make_branch, make_patron
from tests.test_s16_patron_import import card, command, data_dir, write  # noqa: F401 (a fixture)
from tests.test_s16_patron_import import codes as problems

KOHA = (
    "cardnumber,surname,firstname,email,phone,branchcode,categorycode,dateexpiry,guarantorid,"
    "contactname,borrowernumber,lang\n"
    "23000000001,Lefèvre,Élodie,elodie@example.org,0612345678,BIB01,PT,31/03/2027,,,101,en-GB\n"
    "23000000002,Lefèvre,Noé,,,BIB01,J,31/03/2027,101,,102,default\n"
)
CODES = {"branches": {"BIB01": "PDI"}, "categories": {"PT": "adult", "J": "child"}}
OURS = "card_number;last_name;first_name;home_branch;card_expires\n"


def codes_file(tmp_path, data=CODES):
    path = tmp_path / "codes.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_koha_export_imports_with_its_codes_mapped(tmp_path, branch):
    path = write(tmp_path, "koha.csv", KOHA)
    out, err = command(path, "--codes", codes_file(tmp_path))
    assert "2 created" in out, out + err
    elodie, noe = card("23000000001"), card("23000000002")
    assert (elodie.last_name, elodie.first_name, elodie.email, elodie.phone) == (
        "Lefèvre",
        "Élodie",
        "elodie@example.org",
        "0612345678",
    )
    assert elodie.home_branch == branch and noe.home_branch == branch
    assert (elodie.category, noe.category) == ("adult", "child")
    assert elodie.card_expires == noe.card_expires == datetime.date(2027, 3, 31)
    assert (elodie.language, noe.language) == ("en", "fr")  # "default": the site's
    # guarantorid is the guarantor's borrowernumber: read with the file's borrowernumber.
    assert noe.guardian == elodie and (elodie.source_id, noe.source_id) == ("101", "102")
    assert "guarantorid" not in err, err


def test_koha_codes_not_in_the_map_are_refused_per_row(tmp_path, branch):
    text = KOHA + "23000000003,Martin,Zoé,,,BIB99,PT,31/03/2027,,,103,\n"
    text += "23000000004,Martin,Léa,,,BIB01,XX,31/03/2027,,,104,\n"
    report = import_patrons(write(tmp_path, "koha.csv", text), codes=CODES)
    assert report.created == 2
    assert ("no_branch", 4) in problems(report) and ("bad_category", 5) in problems(report)


def test_code_map_is_checked_before_any_file_is_read(tmp_path, branch):
    path = write(tmp_path, "koha.csv", KOHA)
    with pytest.raises(CommandError, match="XYZ"):
        command(path, "--codes", codes_file(tmp_path, {"branches": {"BIB01": "XYZ"}}))
    with pytest.raises(CommandError, match="teen"):
        command(path, "--codes", codes_file(tmp_path, {"categories": {"PT": "teen"}}))
    assert not Patron.objects.exists()


def test_import_marc_code_file_serves_patrons_too(tmp_path, branch):
    # One code file for the network: the copies' sections are accepted (and unused).
    data = CODES | {"locations": {"ADU": "ADULT"}, "types": {"BK": "book"}}
    report = import_patrons(write(tmp_path, "koha.csv", KOHA), codes=codes_file(tmp_path, data))
    assert report.created == 2, problems(report)


def test_reviewers_koha_header_is_understood(tmp_path, branch):
    path = write(
        tmp_path,
        "koha.csv",
        "cardnumber,surname,firstname,email,phone,branchcode,dateexpiry\n"
        "23000000001,Lefèvre,Élodie,elodie@example.org,0612345678,PDI,2027-03-31\n",
    )
    report = import_patrons(path)
    assert report.created == 1, problems(report)


def test_our_names_and_koha_names_mix(tmp_path, branch):
    path = write(
        tmp_path, "mixed.csv", "Card Number;SURNAME;firstname;home_branch\n0000123;DUPONT;Jean;PDI\n"
    )
    report = import_patrons(path)
    assert report.created == 1, problems(report)
    assert (card("0000123").last_name, card("0000123").first_name) == ("DUPONT", "Jean")


@pytest.mark.parametrize(
    ("header", "first", "second"),
    [
        ("cardnumber;card_number;last_name;home_branch", "cardnumber", "card_number"),
        ("card_number;surname;last_name;home_branch", "surname", "last_name"),
    ],
)
def test_a_column_named_twice_refuses_the_file(tmp_path, branch, header, first, second):
    report = import_patrons(write(tmp_path, "both.csv", header + "\n0000123;0000124;DUPONT;PDI\n"))
    assert report.fatal and report.failed
    assert problems(report) == [("bad_header", 1)]
    message = report.problems[0].message
    assert f"{first} et {second}" in message, message  # French, the site's language
    assert not Patron.objects.exists()


def test_mobile_is_the_phone_of_a_row_without_one(tmp_path, branch):
    path = write(
        tmp_path,
        "koha.csv",
        "cardnumber,surname,branchcode,phone,mobile\n"
        "0000123,DUPONT,PDI,04 78 00 00 00,06 11 22 33 44\n"
        "0000124,DUPONT,PDI,,06 55 66 77 88\n",
    )
    report = import_patrons(path)
    assert report.created == 2, problems(report)
    assert card("0000123").phone == "04 78 00 00 00" and card("0000124").phone == "06 55 66 77 88"


@pytest.mark.parametrize(
    ("value", "language"),
    [
        ("fr-FR", "fr"),
        ("fr_FR", "fr"),
        ("FR", "fr"),
        ("en-GB", "en"),
        ("en", "en"),
        ("default", "fr"),
        ("", "fr"),
    ],
)
def test_language_values_of_the_library_system(tmp_path, branch, value, language):
    path = write(
        tmp_path, "lang.csv", f"card_number;last_name;home_branch;language\n0000123;DUPONT;PDI;{value}\n"
    )
    report = import_patrons(path)
    assert report.created == 1, problems(report)
    assert card("0000123").language == language


def test_default_language_leaves_the_patron_alone(tmp_path, branch):
    patron = make_patron(branch, card="0000123", language="en")
    path = write(
        tmp_path, "lang.csv", "card_number;last_name;home_branch;language\n0000123;DUPONT;PDI;default\n"
    )
    report = import_patrons(path)
    assert not report.failed, problems(report)
    patron.refresh_from_db()
    assert patron.language == "en"


def test_unknown_language_is_still_refused(tmp_path, branch):
    path = write(
        tmp_path, "lang.csv", "card_number;last_name;home_branch;language\n0000123;DUPONT;PDI;de-DE\n"
    )
    assert problems(import_patrons(path)) == [("bad_language", 2)]


@pytest.mark.parametrize("value", ["31/12/2026", "31-12-2026", "31.12.2026", "2026-12-31", " 31/12/2026 "])
def test_day_first_dates(tmp_path, branch, value):
    report = import_patrons(write(tmp_path, "d.csv", OURS + f"0000123;DUPONT;Jean;PDI;{value}\n"))
    assert report.created == 1, problems(report)
    assert card("0000123").card_expires == datetime.date(2026, 12, 31)


def test_day_first_is_not_guessed_month_first(tmp_path, branch):
    text = OURS + "0000123;DUPONT;Jean;PDI;12/31/2026\n0000124;DUPONT;Anne;PDI;05/06/2027\n"
    report = import_patrons(write(tmp_path, "d.csv", text))
    assert problems(report) == [("bad_date", 2)]
    assert "JJ/MM/AAAA" in report.problems[0].message  # French, the site's language
    assert card("0000124").card_expires == datetime.date(2027, 6, 5)


def test_month_first_with_the_option(tmp_path, branch):
    text = OURS + "0000123;DUPONT;Jean;PDI;12/31/2026\n0000124;DUPONT;Anne;PDI;05/06/2027\n"
    text += "0000125;DUPONT;Marc;PDI;31/12/2026\n0000126;DUPONT;Paul;PDI;2026-12-31\n"
    path = write(tmp_path, "us.csv", text)
    out, err = command(path, "--date-format", "us")
    assert "3 created" in out and "line 4" in err, out + err
    assert card("0000123").card_expires == datetime.date(2026, 12, 31)
    assert card("0000124").card_expires == datetime.date(2027, 5, 6)
    assert card("0000126").card_expires == datetime.date(2026, 12, 31)
    assert not Patron.objects.filter(card_number="0000125").exists()


def test_unknown_date_format_is_refused_before_reading(tmp_path, branch):
    path = write(tmp_path, "d.csv", OURS + "0000123;DUPONT;Jean;PDI;31/12/2026\n")
    with pytest.raises(ValueError):
        import_patron_files([path], date_format="ymd")
    assert not Patron.objects.exists()


@pytest.mark.parametrize("value", ["31/12/26", "2026/12/31", "31/12-2026", "0000-00-00", "32/01/2027"])
def test_dates_not_read(value):
    with pytest.raises(ValueError):
        parse_date(value)


def test_other_system_export_with_day_first_dates(tmp_path, branch):
    # The cp1252 export of the review, its dates written as the French write them.
    make_branch(code="BAC", name="Bachut")
    raw = (
        "card_number;last_name;first_name;email;phone;home_branch;category;guardian;card_expires;pin\n"
        "0000123;DUPONT ;JEAN-FRANÇOIS ;famille.dupont@example.fr;06 11 22 33 44;PDI;adult;;30/06/2027;4821\n"
        "0000125;DUPONT;LÉA;;;PDI;child;0000126;30/06/2027;;\n"
        "0000126;MÜLLER;Zoé;zoe@example.fr;;BAC;adult;;30/06/2027;7391\n"
    )
    path = tmp_path / "other.csv"
    path.write_bytes(raw.encode("cp1252"))
    report = import_patrons(path)
    assert report.created == 3, problems(report)
    assert card("0000125").guardian == card("0000126")
    assert set(Patron.objects.values_list("card_expires", flat=True)) == {datetime.date(2027, 6, 30)}


def test_the_networks_one_code_map_serves_the_catalogue_imports_too(branch):
    from emporter.catalogue.item_mappings import load_code_map

    codes = {"branches": {"BIB01": branch.code}, "categories": {"PT": "adult", "J": "child"}}
    assert load_code_map(codes).branches == {"BIB01": branch.code}
