import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.models import Copy, CopyStatus, Record
from tests.conftest import make_branch, make_department, make_location

HEADER = "barcode;record;isbn;call_number;branch;department;location;doc_type;status\n"


@pytest.fixture(autouse=True)
def english():
    # Messages are asserted in English, their msgids; the French catalogue is checked
    # by test_translations.
    with translation.override("en"):
        yield


@pytest.fixture
def places(db):
    pdi = make_branch(code="PDI")
    crx = make_branch(code="CRX", name="Croix-Rousse")
    jeunesse = make_department(crx, code="jeunesse", name="Jeunesse")
    albums = make_location(jeunesse, code="albums", name="Albums")
    return {"pdi": pdi, "crx": crx, "jeunesse": jeunesse, "albums": albums}


@pytest.fixture
def records(db):
    return {
        "loup": Record.objects.create(source_key="koha:1", title="Le loup", isbn="9782070408504"),
        "film": Record.objects.create(source_key="koha:2", title="Le film", doc_type="dvd"),
    }


def csv_file(tmp_path, text, encoding="utf-8", name="copies.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(path, **kw):
    out = io.StringIO()
    report = import_copies(path, stdout=out, **kw)
    return report, out.getvalue()


def test_good_rows_create_copies_placed_in_the_network(tmp_path, places, records):
    path = csv_file(
        tmp_path,
        HEADER
        + "J001;koha:1;;A LOU;CRX;;albums;;\n"
        + "J002;;978-2-07-040850-4;A LOU;crx;jeunesse;;comic;on_loan\n"
        + "D001;koha:2;;DVD F FIL;PDI;;;;\n",
    )

    report, out = run(path)

    assert (report.created, report.skipped, report.problems) == (3, 0, [])
    first = Copy.objects.get(barcode="J001")
    assert (first.record, first.branch, first.location, first.department) == (
        records["loup"],
        places["crx"],
        places["albums"],
        places["jeunesse"],
    )
    assert (first.doc_type, first.status, first.call_number) == ("book", CopyStatus.ON_SHELF, "A LOU")
    second = Copy.objects.get(barcode="J002")
    assert (second.record, second.doc_type, second.status) == (records["loup"], "comic", CopyStatus.ON_LOAN)
    assert Copy.objects.get(barcode="D001").doc_type == "dvd"  # the record's type


def test_bad_rows_are_reported_by_line_and_the_good_ones_imported(tmp_path, places, records):
    path = csv_file(
        tmp_path,
        HEADER
        + ";koha:1;;A;CRX;;;;\n"  # 2: no barcode
        + "B1;koha:404;;A;CRX;;;;\n"  # 3: unknown record
        + "B2;;9782070408505;A;CRX;;;;\n"  # 4: ISBN with a bad checksum
        + "B3;koha:1;;A;NOWHERE;;;;\n"  # 5: unknown branch, no default
        + "B4;koha:1;;A;CRX;adultes;;;\n"  # 6: unknown department
        + "B5;koha:1;;A;PDI;;albums;;\n"  # 7: location of another branch
        + "B6;koha:1;;A;CRX;;;dvdd;\n"  # 8: unknown type
        + "B7;koha:1;;A;CRX;;;;lost\n"  # 9: unknown status
        + "B8;koha:1;;A;CRX;;;;\n"  # 10: good
        + "B8;koha:2;;A;CRX;;;;\n",  # 11: duplicate barcode
    )

    report, out = run(path)

    assert [(p.code, p.line) for p in report.problems] == [
        ("no_barcode", 2),
        ("no_record", 4),
        ("no_branch", 5),
        ("no_department", 6),
        ("no_location", 7),
        ("bad_doc_type", 8),
        ("bad_status", 9),
        ("duplicate_barcode", 11),
        ("no_record", 3),  # found missing when the batch is written
    ]
    assert (report.rows, report.created, report.skipped) == (10, 1, 9)
    assert list(Copy.objects.values_list("barcode", "record__source_key")) == [("B8", "koha:1")]
    assert "line 3" in out and "koha:404" in out


def test_reimport_updates_by_barcode_but_keeps_a_status_owned_by_requests(tmp_path, places, records):
    run(csv_file(tmp_path, HEADER + "J001;koha:1;;A LOU;CRX;;;;\nJ002;koha:1;;A LOU;CRX;;;;\n"))
    Copy.objects.filter(barcode="J002").update(status=CopyStatus.SET_ASIDE)

    report, _ = run(
        csv_file(
            tmp_path, HEADER + "J001;koha:1;;A LOU 2;PDI;;;;missing\nJ002;koha:1;;A LOU;CRX;;;;missing\n"
        )
    )

    # J002 is unchanged: it keeps its status, and the file's is not noted as its own (the
    # first file after the copy is back applies it).
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert [p.code for p in report.problems] == ["status_kept"]
    moved = Copy.objects.get(barcode="J001")
    assert (moved.call_number, moved.branch, moved.status) == ("A LOU 2", places["pdi"], CopyStatus.MISSING)
    assert Copy.objects.get(barcode="J002").status == CopyStatus.SET_ASIDE
    assert Copy.objects.count() == 2


def test_windows_1252_file_is_read_and_said_so(tmp_path, places, records):
    records["loup"].source_key = "koha:é"
    records["loup"].save()
    path = csv_file(tmp_path, "barcode,record,call_number,branch\nJ001,koha:é,R ÉTÉ,CRX\n", encoding="cp1252")

    report, _ = run(path)

    assert [p.code for p in report.problems] == ["encoding"]
    assert Copy.objects.get(barcode="J001").call_number == "R ÉTÉ"


def test_code_map_and_default_branch_apply_to_csv(tmp_path, places, records):
    path = csv_file(
        tmp_path, "barcode,record,branch,location,doc_type\nJ1,koha:1,BIB01,ALB,BD\nJ2,koha:1,,,\n"
    )

    report, _ = run(
        path,
        code_map={"branches": {"BIB01": "CRX"}, "locations": {"ALB": "albums"}},
        default_branch="PDI",
    )

    assert report.created == 2
    j1 = Copy.objects.get(barcode="J1")
    assert (j1.branch, j1.location, j1.doc_type) == (places["crx"], places["albums"], "comic")
    assert Copy.objects.get(barcode="J2").branch == places["pdi"]


def test_file_without_usable_header_is_refused(tmp_path, places, records):
    report, _ = run(csv_file(tmp_path, "code;cote\nJ1;A\n"))
    assert [p.code for p in report.problems] == ["bad_header"]
    assert not Copy.objects.exists()


def test_import_copies_command(tmp_path, places, records):
    path = csv_file(tmp_path, HEADER + "J001;koha:1;;A;CRX;;;;\nJ002;koha:9;;A;CRX;;;;\n")
    out, err = io.StringIO(), io.StringIO()
    call_command("import_copies", str(path), stdout=out, stderr=err)
    assert "koha:9" in err.getvalue()
    assert Copy.objects.count() == 1
    with pytest.raises(CommandError):
        call_command("import_copies", str(path), "--default-branch", "nowhere", stdout=out, stderr=err)


def test_a_location_code_shared_by_two_departments_follows_the_rows_department(tmp_path, places, records):
    """The code "bd" is a location of Jeunesse and of Adultes at Croix-Rousse (as in the demo)."""
    youth_comics = make_location(places["jeunesse"], code="bd", name="BD jeunesse")
    adultes = make_department(places["crx"], code="adultes", name="Adultes")
    adult_comics = make_location(adultes, code="bd", name="BD adultes")
    path = csv_file(
        tmp_path,
        HEADER
        + "B001;koha:1;;BD LOU;CRX;adultes;bd;;\n"
        + "B002;koha:1;;BD LOU;CRX;jeunesse;bd;;\n"
        + "B003;koha:1;;BD LOU;CRX;;bd;;\n",
    )
    report, _ = run(path)
    assert Copy.objects.get(barcode="B001").location == adult_comics
    assert Copy.objects.get(barcode="B002").location == youth_comics
    (problem,) = report.problems
    assert (problem.code, problem.line) == ("ambiguous_location", 4)
    assert "(adultes, jeunesse)" in problem.message  # the codes a row can give
