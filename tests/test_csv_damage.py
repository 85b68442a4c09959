"""The CSV imports (copies and patrons) against damaged files found by fuzzing: a quote
left open in a large file, mixed encodings, invisible characters in keys, UTF-16 from
Excel, files that say nothing, and guardians that go round in circles. Bad input gets a
clear problem (line, reason) and loses nothing else."""

import io

import pytest
from django.utils import translation

from emporter.catalogue.csv_import import MAX_SPAN, import_copies
from emporter.catalogue.models import Copy, Record
from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron
from tests.conftest import make_branch, make_patron

COPIES = "barcode;record;call_number;branch\n"
PATRONS = "card_number;first_name;last_name;email;home_branch;guardian\n"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def crx(db):
    Record.objects.create(source_key="koha:1", title="Le loup")
    return make_branch(code="CRX", name="Croix-Rousse")


def write(tmp_path, text, name="file.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def copies(path, **kw):
    return import_copies(path, stdout=io.StringIO(), **kw)


def codes(report):
    return [(p.code, p.line) for p in report.problems]


def copy_rows(numbers):
    return "".join(f"J{n:05};koha:1;R {n};CRX\n" for n in numbers)


def patron_rows(numbers):
    return "".join(f"P{n:05};Jean;Dupont;p{n}@example.org;PDI;\n" for n in numbers)


def barcodes():
    return set(Copy.objects.values_list("barcode", flat=True))


# --- 1. a quote left open does not take the rest of the file with it --------------------


def test_a_quote_left_open_in_a_big_copies_file_loses_that_line_only(tmp_path, crx):
    # Before: read up to csv's field limit (131,072 characters, thousands of rows) as one
    # cell, reported as one row, the rows in it lost without a word.
    rows = copy_rows(range(1, 4)) + 'J00004;koha:1;"R 4;CRX\n' + copy_rows(range(5, 4001))
    report = copies(write(tmp_path, COPIES + rows))

    assert codes(report) == [("bad_row", 5)]
    assert "unclosed quote" in report.problems[0].message
    assert (report.created, report.skipped, report.rows) == (3999, 1, 4000)
    assert barcodes() == {f"J{n:05}" for n in range(1, 4001)} - {"J00004"}


def test_a_quote_left_open_in_a_big_patrons_file_loses_that_line_only(tmp_path, branch):
    rows = patron_rows([1]) + 'P00002;"Jean;Dupont;p2@example.org;PDI;\n' + patron_rows(range(3, 301))
    report = import_patrons(write(tmp_path, PATRONS + rows))

    assert codes(report) == [("bad_row", 3)]
    assert (report.created, report.skipped) == (299, 1)


def test_a_quote_opened_and_closed_much_further_down_is_an_unclosed_quote(tmp_path, crx):
    # A stray quote 500 lines down would close it: still no 500-line cell.
    rows = 'J00001;koha:1;"R 1;CRX\n' + copy_rows(range(2, 500)) + 'J00500;koha:1;R 500";CRX\n'
    report = copies(write(tmp_path, COPIES + rows))

    assert codes(report) == [("bad_row", 2)]
    assert {f"J{n:05}" for n in range(2, 500)} <= barcodes()


def test_a_short_run_of_swallowed_lines_is_still_reported_as_one_row(tmp_path, crx):
    # Up to MAX_SPAN lines, the lines taken in are named (the quote closed on the last).
    rows = 'J00001;koha:1;"R 1;CRX\n' + copy_rows(range(2, MAX_SPAN)) + 'J09999;koha:1;R";CRX\n'
    report = copies(write(tmp_path, COPIES + rows + copy_rows([10000])))

    assert codes(report) == [("bad_row", 2)]
    assert f"line 2 to line {MAX_SPAN + 1}" in report.problems[0].message
    assert barcodes() == {"J10000"}


def test_a_long_quoted_note_without_separators_is_still_one_cell(tmp_path, branch):
    note = "\n".join(f"line {n} of a long note" for n in range(MAX_SPAN + 10))
    text = "card_number;last_name;home_branch;note\n" + f'P1;Dupré;PDI;"{note}"\nP2;Martin;PDI;\n'
    report = import_patrons(write(tmp_path, text))

    assert (report.created, report.problems) == (2, [])


# --- 3. invisible characters in keys and names -------------------------------------------


def test_a_bom_left_mid_file_by_cat_is_not_part_of_the_barcode(tmp_path, crx):
    text = COPIES + copy_rows([1]) + "\ufeff" + copy_rows([2])
    report = copies(write(tmp_path, text))

    assert (report.created, report.problems) == (2, [])
    assert barcodes() == {"J00001", "J00002"}


def test_a_second_header_from_two_joined_files_is_reported_once(tmp_path, crx):
    text = COPIES + copy_rows([1]) + "\ufeff" + COPIES + copy_rows([2])
    report = copies(write(tmp_path, text))

    assert codes(report) == [("repeated_header", 3)]
    assert barcodes() == {"J00001", "J00002"}


def test_invisible_characters_are_dropped_from_cards_emails_and_names(tmp_path, branch):
    text = (
        PATRONS
        + "\ufeffP1;Jean;Du\x00pont;p1@example.org\u200b;PDI;\n"
        + "P2\u2060;Léa;Du\x1bpont\u200b;p2@example.org\ufeff;PDI;\n"
        + "P3;Kâmrân;Mehr\u200cdâd;;PDI;\n"  # a Persian name keeps its non-joiner
    )
    report = import_patrons(write(tmp_path, text))

    assert (report.created, report.problems) == (3, [])
    stored = {p.card_number: (p.last_name, p.email) for p in Patron.objects.all()}
    assert stored == {
        "P1": ("Dupont", "p1@example.org"),
        "P2": ("Dupont", "p2@example.org"),
        "P3": ("Mehr\u200cdâd", ""),
    }


def test_the_card_imported_with_a_bom_signs_in(tmp_path, branch):
    from django.contrib.auth import authenticate

    text = "card_number;last_name;home_branch;pin\n" + "P1;A;PDI;4821\n\ufeffP2;B;PDI;4821\n"
    import_patrons(write(tmp_path, text))

    assert authenticate(username="P2", password="4821", patron_sign_in=True) is not None


# --- 2. a patron file mostly in UTF-8 with one row in Latin-1 -----------------------------


def test_a_mostly_utf8_patron_file_is_read_as_utf8_and_the_latin1_row_reported(tmp_path, branch):
    # Before: the one long Latin-1 row had more accents than the UTF-8 rows, the whole
    # file was read as Windows-1252 and "Rémi" stored as "RÃ©mi".
    text = PATRONS.encode() + "P1;Rémi;Dupont;;PDI;\nP2;Zoé;Dupont;;PDI;\n".encode()
    text += "P3;Hélène;Béziére-Lefèvre;;PDI;\n".encode("cp1252")
    report = import_patrons(write(tmp_path, text))

    assert codes(report) == [("bad_encoding", 4)]
    assert sorted(Patron.objects.values_list("first_name", flat=True)) == ["Rémi", "Zoé"]


def test_patron_values_are_cleaned_as_copies_are(tmp_path, branch):
    # UTF-8 read as Windows-1252 somewhere upstream, spaces doubled.
    text = PATRONS + "P1;RÃ©mi;Du  Pont ;;PDI;\n"
    report = import_patrons(write(tmp_path, text))

    assert report.created == 1
    assert Patron.objects.values_list("first_name", "last_name").get() == ("Rémi", "Du Pont")


# --- 6. guardians ------------------------------------------------------------------------


def test_a_patron_cannot_be_their_own_guardian(tmp_path, branch):
    report = import_patrons(write(tmp_path, PATRONS + "P1;Ana;A;;PDI;P1\n"))

    assert codes(report) == [("bad_guardian", 2)]
    assert not Patron.objects.exists()


def test_guardians_cannot_form_a_circle(tmp_path, branch):
    parent = make_patron(branch, card="P1")
    make_patron(branch, card="P2", guardian=parent)
    # P1's guardian would be P2, whose guardian is P1.
    report = import_patrons(write(tmp_path, PATRONS + "P1;Ana;A;;PDI;P2\nP3;Cy;C;;PDI;P2\n"))

    assert codes(report) == [("bad_guardian", 2)]
    assert Patron.objects.get(card_number="P1").guardian is None
    assert Patron.objects.get(card_number="P3").guardian.card_number == "P2"


# --- 4. UTF-16 from Excel ----------------------------------------------------------------


def test_excel_unicode_text_copies_file_is_read(tmp_path, crx):
    text = (COPIES + copy_rows([1, 2])).replace(";", "\t")
    report = copies(write(tmp_path, "\ufeff" + text, encoding="utf-16-le"))

    assert (report.created, report.problems, report.encoding) == (2, [], "utf-16")
    assert Copy.objects.get(barcode="J00001").call_number == "R 1"


def test_utf16_big_endian_patrons_file_is_read(tmp_path, branch):
    text = PATRONS + "P1;Hélène;Dupré;;PDI;\n"
    report = import_patrons(write(tmp_path, text, encoding="utf-16"))  # BOM first
    assert report.created == 1

    path = write(tmp_path, "\ufeff" + text.replace("P1", "P2"), name="be.csv", encoding="utf-16-be")
    report = import_patrons(path)
    assert (report.created, report.problems) == (1, [])
    assert Patron.objects.get(card_number="P2").last_name == "Dupré"


# --- 5. reports that say something --------------------------------------------------------


def test_a_header_only_file_says_it_has_no_rows(tmp_path, crx, branch):
    report = copies(write(tmp_path, COPIES))
    assert report.failed and codes(report) == [("no_rows", None)]

    report = import_patrons(write(tmp_path, PATRONS + "\n", name="p.csv"))
    assert report.failed and codes(report) == [("no_rows", None)]


def test_rows_with_another_separator_than_the_header_are_said_once(tmp_path, crx):
    rows = copy_rows(range(1, 6)).replace(";", ",")
    report = copies(write(tmp_path, COPIES + rows + copy_rows([6])))

    assert codes(report) == [("wrong_separator", 2)]
    assert "lines 2 to 6" in report.problems[0].message
    assert (report.rows, report.skipped, report.created) == (6, 5, 1)
