"""The CSV imports against a second review: a status kept for our circulation applied
once the copy is back, files with only some columns, exit statuses, a card number given
twice, a header written "Card number", and a quote left open."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron
from tests.conftest import make_branch, make_department, make_location

FULL = "barcode;record;call_number;branch;department;location;doc_type;status\n"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def places(db):
    Record.objects.create(source_key="koha:1", title="Le loup", doc_type="book")
    crx = make_branch(code="CRX", name="Croix-Rousse")
    pdi = make_branch(code="PDI", name="Part-Dieu")
    jeunesse = make_department(crx, code="jeunesse", name="Jeunesse")
    albums = make_location(jeunesse, code="albums", name="Albums")
    pdi_adultes = make_department(pdi, code="adultes", name="Adultes")
    romans = make_location(pdi_adultes, code="romans", name="Romans")
    return {"crx": crx, "pdi": pdi, "jeunesse": jeunesse, "albums": albums, "romans": romans}


def write(tmp_path, text, name="copies.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def copies(path, **kw):
    return import_copies(path, stdout=io.StringIO(), **kw)


def statuses():
    return dict(Copy.objects.values_list("barcode", "status"))


def codes(report):
    return [(p.code, p.line) for p in report.problems]


# --- 1. a status kept while our circulation holds the copy applies once it is back ------


@pytest.mark.parametrize("ours", [CopyStatus.SET_ASIDE, CopyStatus.HOLD_SHELF, CopyStatus.IN_TRANSIT])
def test_a_csv_status_kept_for_our_circulation_applies_once_the_copy_is_back(tmp_path, places, ours):
    copies(write(tmp_path, FULL + "J001;koha:1;A LOU;CRX;jeunesse;albums;;on_shelf\n"))
    Copy.objects.update(status=ours)
    withdrawn = write(tmp_path, FULL + "J001;koha:1;A LOU;CRX;jeunesse;albums;;withdrawn\n")

    report = copies(withdrawn)

    assert [p.code for p in report.problems] == ["status_kept"]
    assert Copy.objects.get().source_codes["status"] == "on_shelf"  # what the copy has from the file
    Copy.objects.update(status=CopyStatus.ON_SHELF)  # back

    report = copies(withdrawn)

    assert (statuses(), report.problems) == ({"J001": CopyStatus.WITHDRAWN}, [])


# --- 3. only the file's columns are written ----------------------------------------------


def full_import(tmp_path):
    copies(
        write(
            tmp_path,
            FULL
            + "J001;koha:1;A LOU;CRX;jeunesse;albums;comic;\n"
            + "J002;koha:1;A LOU 2;CRX;jeunesse;albums;comic;\n",
        )
    )


def place_of(barcode):
    copy = Copy.objects.get(barcode=barcode)
    return (copy.call_number, copy.branch.code, copy.department_id, copy.location_id, copy.doc_type)


def test_a_status_only_file_keeps_call_numbers_places_and_types(tmp_path, places):
    full_import(tmp_path)
    before = {b: place_of(b) for b in ("J001", "J002")}
    Copy.objects.filter(barcode="J002").update(status=CopyStatus.SET_ASIDE)  # held: not even its codes move

    report = copies(write(tmp_path, "barcode;record;status\nJ001;koha:1;missing\nJ002;koha:1;missing\n"))

    assert {b: place_of(b) for b in ("J001", "J002")} == before
    assert before["J001"] == ("A LOU", "CRX", places["jeunesse"].pk, places["albums"].pk, "comic")
    assert statuses() == {"J001": CopyStatus.MISSING, "J002": CopyStatus.SET_ASIDE}
    assert [p.code for p in report.problems] == ["status_kept"]
    # The earlier file's codes stay, the new one's join them.
    assert Copy.objects.get(barcode="J001").source_codes | {"status": "?"} == {
        "csv": True,
        "branch": "CRX",
        "department": "jeunesse",
        "location": "albums",
        "doc_type": "comic",
        "status": "?",
    }


def test_a_file_with_a_branch_but_no_place_keeps_the_place_unless_the_branch_changes(tmp_path, places):
    full_import(tmp_path)

    copies(write(tmp_path, "barcode;record;branch\nJ001;koha:1;CRX\nJ002;koha:1;PDI\n"))

    assert place_of("J001") == ("A LOU", "CRX", places["jeunesse"].pk, places["albums"].pk, "comic")
    # Its department and location were Croix-Rousse's: not kept at Part-Dieu.
    assert place_of("J002") == ("A LOU 2", "PDI", None, None, "comic")


def test_a_file_without_a_branch_column_places_copies_in_their_own_branch(tmp_path, places):
    full_import(tmp_path)
    Copy.objects.filter(barcode="J002").update(location=None)

    report = copies(
        write(
            tmp_path, "barcode;record;location\nJ002;koha:1;albums\nJ001;koha:1;romans\nJ003;koha:1;romans\n"
        ),
        default_branch="PDI",
    )

    assert place_of("J002") == ("A LOU 2", "CRX", places["jeunesse"].pk, places["albums"].pk, "comic")
    # romans is a location of Part-Dieu, not of J001's Croix-Rousse; a new copy goes to the default branch.
    assert codes(report) == [("no_location", 3)]
    assert place_of("J003") == ("", "PDI", places["romans"].department_id, places["romans"].pk, "book")
    assert (report.created, report.updated, report.skipped) == (1, 1, 1)


def test_a_new_copy_without_branch_column_nor_default_branch_is_skipped(tmp_path, places):
    full_import(tmp_path)

    report = copies(write(tmp_path, "barcode;record;status\nJ001;koha:1;missing\nJ009;koha:1;\n"))

    assert codes(report) == [("no_branch", 3)]
    assert (report.updated, report.skipped) == (1, 1)
    assert not Copy.objects.filter(barcode="J009").exists()


def test_an_empty_cell_of_a_column_the_file_has_does_clear_it(tmp_path, places):
    full_import(tmp_path)

    copies(write(tmp_path, "barcode;record;call_number;doc_type\nJ001;koha:1;;\n"))

    assert place_of("J001") == ("", "CRX", places["jeunesse"].pk, places["albums"].pk, "book")


# --- 5. exit status of the CSV commands ---------------------------------------------------


def run_command(name, *args):
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (None, "utf-8"),  # no such file
        (FULL + "J001;koha:1;R Garçon;CRX;;;;\n", "mac_roman"),  # refused for its encoding
        ("code;cote\nJ1;A\n", "utf-8"),  # no usable header
        (FULL, "utf-8"),  # no row
        (FULL + "J001;koha:404;A;CRX;;;;\n", "utf-8"),  # no copy could be imported
    ],
    ids=["missing", "encoding", "header", "empty", "nothing_imported"],
)
def test_import_copies_fails_when_nothing_was_imported(tmp_path, places, content, encoding):
    path = tmp_path / "copies.csv"
    if content is not None:
        write(tmp_path, content, encoding=encoding)

    with pytest.raises(CommandError, match="copies.csv"):
        run_command("import_copies", path)


def test_import_copies_succeeds_when_some_rows_were_skipped(tmp_path, places):
    path = write(tmp_path, FULL + "J001;koha:1;A;CRX;;;;\nJ002;koha:404;A;CRX;;;;\n")

    out, err = run_command("import_copies", path)

    assert "koha:404" in err and Copy.objects.count() == 1


PATRONS = "card_number;first_name;last_name;home_branch;email;pin\n"


@pytest.mark.parametrize(
    "content",
    [None, "card;name\n1;x\n", PATRONS, PATRONS + "P1;Ann;Dupont;NOWHERE;;\n"],
    ids=["missing", "header", "empty", "nothing_imported"],
)
def test_import_patrons_fails_when_nothing_was_imported(tmp_path, places, content):
    good = write(tmp_path, PATRONS + "P9;Zoé;Martin;PDI;;\n", name="good.csv")
    path = tmp_path / "patrons.csv"
    if content is not None:
        write(tmp_path, content, name="patrons.csv")

    with pytest.raises(CommandError) as raised:
        run_command("import_patrons", path, good)

    assert "patrons.csv" in str(raised.value) and "good.csv" not in str(raised.value)
    assert Patron.objects.filter(card_number="P9").exists()  # the other file is imported


def test_import_patrons_succeeds_when_some_rows_were_skipped(tmp_path, places):
    path = write(tmp_path, PATRONS + "P1;Ann;Dupont;PDI;;\nP2;Bad;Mail;PDI;not-an-email;\n", name="p.csv")

    out, err = run_command("import_patrons", path)

    assert "not-an-email" in err and Patron.objects.count() == 1


# --- 7. the same card twice in a file; a header written by hand -----------------------


def test_the_same_card_twice_in_a_file_keeps_the_first_person_and_reports_the_second(tmp_path, places):
    path = write(
        tmp_path,
        PATRONS
        + "P1;Ann;Dupont;PDI;ann@example.org;4821\n"
        + "P2;Kid;Dupont;PDI;;\n"
        + "P1;Anne;Durand;CRX;anne@example.org;\n",
        name="p.csv",
    )

    report = import_patrons(path)

    assert codes(report) == [("duplicate_card", 4)]
    assert "line 2" in report.problems[0].message
    ann = Patron.objects.get(card_number="P1")
    assert (ann.first_name, ann.last_name, ann.email, ann.home_branch.code) == (
        "Ann",
        "Dupont",
        "ann@example.org",
        "PDI",
    )
    assert (report.created, report.updated, report.skipped) == (2, 0, 1)


def test_a_card_whose_first_row_was_refused_is_taken_from_the_next(tmp_path, places):
    path = write(tmp_path, PATRONS + "P1;Ann;Dupont;PDI;not-an-email;\nP1;Ann;Dupont;PDI;ann@example.org;\n")

    report = import_patrons(path)

    assert codes(report) == [("bad_email", 2)]
    assert Patron.objects.get(card_number="P1").email == "ann@example.org"


def test_patron_headers_are_matched_whatever_their_case_and_spaces(tmp_path, places):
    path = write(tmp_path, "Card number; First name ;LAST_NAME;Home Branch\nX1;Anne;Martin;PDI\n")

    report = import_patrons(path)

    assert (report.created, report.problems) == (1, [])
    assert Patron.objects.get(card_number="X1").first_name == "Anne"


# --- 9. a quote left open --------------------------------------------------------------


def test_a_quote_left_open_in_a_copies_file_is_reported_with_the_lines_it_swallowed(tmp_path, places):
    path = write(
        tmp_path,
        "barcode;record;call_number;branch\n"
        + "J001;koha:1;A LOU;CRX\n"
        + 'J002;koha:1;"A LOU;CRX\n'
        + "J003;koha:1;A;CRX\n"
        + "J004;koha:1;A;CRX\n",
    )

    report = copies(path)

    [problem] = report.problems
    assert (problem.code, problem.line) == ("bad_row", 3)
    assert "line 3 to line 5" in problem.message
    assert list(Copy.objects.values_list("barcode", flat=True)) == ["J001"]
    assert (report.created, report.skipped) == (1, 1)


def test_a_quote_closed_further_down_resumes_the_reading_after_it(tmp_path, places):
    path = write(
        tmp_path,
        "barcode;record;call_number;branch\n"
        + 'J002;koha:1;"A LOU;CRX\n'
        + 'J003;koha:1;A";CRX\n'
        + "J004;koha:1;A;CRX\n",
    )

    report = copies(path)

    assert codes(report) == [("bad_row", 2)]
    assert "line 2 to line 3" in report.problems[0].message
    assert list(Copy.objects.values_list("barcode", flat=True)) == ["J004"]


def test_a_quote_left_open_in_a_patrons_file_is_reported(tmp_path, places):
    path = write(tmp_path, PATRONS + 'P5;Open;"Quote;PDI;x@example.org;\nP6;Lost;Row;PDI;;\n', name="p.csv")

    report = import_patrons(path)

    assert codes(report) == [("bad_row", 2)]
    assert "line 2 to line 3" in report.problems[0].message
    assert not Patron.objects.exists()


def test_quoted_values_on_one_line_are_still_read(tmp_path, places):
    path = write(tmp_path, 'barcode;record;call_number;branch\nJ001;koha:1;"A; LOU";CRX\n')

    report = copies(path)

    assert (report.created, report.problems) == (1, [])
    assert Copy.objects.get().call_number == "A; LOU"


def test_a_quoted_cell_on_two_lines_in_a_column_we_do_not_read_is_no_problem(tmp_path, branch):
    from emporter.patrons.importer import import_patrons

    path = tmp_path / "patrons.csv"
    path.write_text(
        'card_number;last_name;home_branch;address\n10000100;Dupré;PDI;"12 rue X\n69003 Lyon"\n'
        '10000101;Martin;PDI;"3 place Y"\n',
        encoding="utf-8",
    )
    report = import_patrons(path)
    assert (report.created, report.problems) == (2, [])
