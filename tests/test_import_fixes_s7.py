"""The MARC import against a second review: a status kept for our circulation applied
once the copy is back, --withdraw-missing undone when a copy is listed again, a dated
export refused before it duplicates the catalogue, exit statuses, a byte order mark
before ISO 2709, ISBNs followed by a price or a volume."""

import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from emporter.catalogue.importer import import_marc
from emporter.catalogue.item_mappings import load_mapping
from emporter.catalogue.marcdata import isbn13
from emporter.catalogue.models import Copy, CopyStatus, Record
from tests.conftest import make_branch
from tests.test_import_marc import LUL, NOT_OUT, koha_items, raw_records, run, statuses, write
from tests.test_import_marc_fixes import iso2709, koha, marc21, sub

LOST = [("0", "0"), ("1", "2")]
# The mark withdraw_missing leaves in Copy.source_codes (stored data: spelled out here).
ABSENT = "absent"
WITHDRAWN = [("0", "1"), ("1", "0")]


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def koha_file(tmp_path, *items, name="koha.mrc"):
    return write(tmp_path, name, [koha_items(*items).as_marc()])


def hold(barcode: str, how: str) -> None:
    from emporter.desk.models import Loan

    if how == "lent":
        Copy.objects.filter(barcode=barcode).update(status=CopyStatus.ON_LOAN)
        copy = Copy.objects.get(barcode=barcode)
        Loan.objects.create(copy=copy, branch=copy.branch, due_date=datetime.date(2030, 1, 1))
    else:
        Copy.objects.filter(barcode=barcode).update(status=how)


def back_on_the_shelf(barcode: str) -> None:
    from emporter.desk.models import Loan

    Loan.objects.filter(copy__barcode=barcode).update(returned_at=datetime.datetime.now(datetime.UTC))
    Copy.objects.filter(barcode=barcode).update(status=CopyStatus.ON_SHELF)


# --- 1. a status kept while our circulation holds the copy applies once it is back ------


@pytest.mark.parametrize("how", [CopyStatus.SET_ASIDE, CopyStatus.HOLD_SHELF, CopyStatus.IN_TRANSIT, "lent"])
@pytest.mark.parametrize("news", [LOST, WITHDRAWN])
def test_a_status_kept_for_our_circulation_applies_at_the_first_import_after_the_copy_is_back(
    tmp_path, db, how, news
):
    make_branch()
    run([koha_file(tmp_path, ("L1", NOT_OUT))])
    hold("L1", how)
    changed = koha_file(tmp_path, ("L1", news))

    report, _ = run([changed])

    assert [p.code for p in report.problems] == ["status_kept"]
    # The news is not noted as applied: the copy's codes still say what it has.
    assert {"lost", "withdrawn"}.isdisjoint(Copy.objects.get(barcode="L1").source_codes)
    back_on_the_shelf("L1")

    report, _ = run([changed])  # the same nightly file, the copy back

    expected = CopyStatus.MISSING if news is LOST else CopyStatus.WITHDRAWN
    assert (statuses(), report.problems) == ({"L1": expected}, [])
    assert Copy.objects.get(barcode="L1").source_codes.get("lost" if news is LOST else "withdrawn")


def test_a_copy_still_held_is_said_kept_at_each_import_and_keeps_its_other_codes(tmp_path, db):
    make_branch()
    run([koha_file(tmp_path, ("L1", NOT_OUT))])
    hold("L1", CopyStatus.SET_ASIDE)
    record = koha_items(("L1", LOST))
    record["952"].add_subfield("c", "NEWLOC")  # a code that is not the status's still follows the file
    changed = write(tmp_path, "koha.mrc", [record.as_marc()])

    for _night in range(2):
        report, _ = run([changed])
        assert [p.code for p in report.problems] == ["status_kept"]
    codes = Copy.objects.get(barcode="L1").source_codes
    assert (codes["location"], "lost" in codes) == ("NEWLOC", False)
    assert statuses() == {"L1": CopyStatus.SET_ASIDE}


# --- 2. a copy withdrawn for being left out of an export comes back when listed again ----


def full_export(tmp_path, barcodes, extra=None):
    extra = extra or {}
    return koha_file(tmp_path, *[(b, extra.get(b, NOT_OUT)) for b in barcodes])


BARCODES = [f"W{n:02d}" for n in range(11)]


def test_a_copy_withdrawn_for_missing_from_the_export_is_back_when_listed_again(tmp_path, db):
    make_branch()
    run([full_export(tmp_path, BARCODES)])
    run([full_export(tmp_path, BARCODES[1:])], withdraw_missing=True)
    w00 = Copy.objects.get(barcode="W00")
    assert (w00.status, w00.source_codes[ABSENT]) == (CopyStatus.WITHDRAWN, True)

    report, _ = run([full_export(tmp_path, BARCODES)], withdraw_missing=True)

    w00.refresh_from_db()
    assert (w00.status, ABSENT in w00.source_codes) == (CopyStatus.ON_SHELF, False)
    assert report.copies_restored == 1 and report.copies_updated == 1
    assert "1 copies withdrawn because an export had left them out are listed again" in "\n".join(
        report.summary_lines()
    )


def test_a_copy_listed_again_takes_the_status_the_source_gives_it(tmp_path, db):
    make_branch()
    run([full_export(tmp_path, BARCODES)])
    run([full_export(tmp_path, BARCODES[1:])], withdraw_missing=True)

    run([full_export(tmp_path, BARCODES, extra={"W00": LOST})])

    assert statuses()["W00"] == CopyStatus.MISSING


def test_a_source_without_statuses_puts_a_copy_listed_again_on_the_shelf(tmp_path, db):
    make_branch()
    no_status = load_mapping({"preset": "koha-marc21", "withdrawn": "", "lost": "", "on_loan": ""})
    run([full_export(tmp_path, BARCODES)], mapping=no_status)
    run([full_export(tmp_path, BARCODES[1:])], mapping=no_status, withdraw_missing=True)
    assert statuses()["W00"] == CopyStatus.WITHDRAWN

    run([full_export(tmp_path, BARCODES)], mapping=no_status)

    assert statuses()["W00"] == CopyStatus.ON_SHELF


def test_a_copy_a_librarian_withdrew_stays_withdrawn(tmp_path, db):
    make_branch()
    export = full_export(tmp_path, BARCODES)
    run([export])
    Copy.objects.filter(barcode="W03").update(status=CopyStatus.WITHDRAWN)  # by hand, in the admin

    report, _ = run([export], withdraw_missing=True)

    assert statuses()["W03"] == CopyStatus.WITHDRAWN
    assert report.copies_restored == 0


def test_the_source_withdrawing_a_copy_listed_again_keeps_it_withdrawn(tmp_path, db):
    make_branch()
    run([full_export(tmp_path, BARCODES)])
    run([full_export(tmp_path, BARCODES[1:])], withdraw_missing=True)

    report, _ = run([full_export(tmp_path, BARCODES, extra={"W00": WITHDRAWN})])

    # Now the source's own withdrawal: listing it again later, on the shelf, is news.
    w00 = Copy.objects.get(barcode="W00")
    assert (w00.status, ABSENT in w00.source_codes) == (CopyStatus.WITHDRAWN, False)
    assert report.copies_restored == 0


# --- 4. the same catalogue under a dated file name ---------------------------------------


def dated_copy_of(path, tmp_path, name="lul_2024-06-02.mrc"):
    nightly = tmp_path / name
    nightly.write_bytes(path.read_bytes())
    return nightly


def test_a_dated_export_of_a_catalogue_already_imported_is_refused_before_writing(tmp_path, db):
    make_branch()
    run([LUL])
    records = Record.objects.count()
    owners = set(Copy.objects.values_list("record__source_key", flat=True))

    report, out = run([dated_copy_of(LUL, tmp_path)])

    assert Record.objects.count() == records
    assert set(Copy.objects.values_list("record__source_key", flat=True)) == owners
    [problem] = report.problems
    assert problem.code == "other_source"
    assert "--source lul_fre_100" in problem.message and "--take-over" in problem.message
    assert [f.path for f in report.failed] == [str(tmp_path / "lul_2024-06-02.mrc")]
    assert "--source lul_fre_100" in "\n".join(report.summary_lines())
    assert (report.records_created, report.copies_updated) == (0, 0)


def test_take_over_imports_the_file_and_moves_the_copies_to_the_new_source(tmp_path, db):
    make_branch()
    run([LUL])
    copies = Copy.objects.count()

    report, _ = run([dated_copy_of(LUL, tmp_path, "koha.mrc")], take_over=True)

    assert report.problems == [] and not report.failed
    assert Copy.objects.count() == copies
    owners = set(Copy.objects.values_list("record__source_key", flat=True))
    assert {key.split(":", 1)[0] for key in owners} == {"koha"}


def test_the_right_file_after_a_refused_one_in_the_same_run_imports_as_usual(tmp_path, db):
    make_branch()
    run([LUL])

    report, _ = run([dated_copy_of(LUL, tmp_path), LUL])

    assert [p.code for p in report.problems] == ["other_source"]  # no duplicate_barcode
    assert report.files[1].copies_unchanged == Copy.objects.count()


def test_a_new_source_whose_barcodes_are_new_is_imported(tmp_path, db):
    make_branch()
    run([LUL])

    report, _ = run([write(tmp_path, "koha.mrc", [koha("A", "NEW1"), koha("B", "NEW2")])])

    assert (report.records_created, report.copies_created, report.problems) == (2, 2, [])


def command(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_marc", *map(str, args), "--default-branch", "PDI", "--no-progress", stdout=out, stderr=err
    )
    return out.getvalue(), err.getvalue()


def test_import_marc_command_takes_over_with_its_option(tmp_path, db):
    make_branch()
    run([LUL])
    nightly = dated_copy_of(LUL, tmp_path)

    with pytest.raises(CommandError, match="lul_2024-06-02.mrc"):
        command(nightly)
    command(nightly, "--take-over")

    moved = Copy.objects.filter(record__source_key__startswith="lul_2024-06-02:")
    assert moved.count() == Copy.objects.count()


def test_a_dated_export_whose_items_have_no_branch_here_is_refused_too(tmp_path, db):
    """Its copies would be skipped, but its records would still be a second catalogue."""
    make_branch()
    run([LUL])
    records = Record.objects.count()

    report = import_marc([dated_copy_of(LUL, tmp_path)], stdout=io.StringIO())  # no default branch

    assert {p.code for p in report.problems} == {"no_branch", "other_source"}
    assert Record.objects.count() == records


# --- 5. exit status ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        None,  # no such file
        b"",  # empty
        b"this is not MARC at all\n",
        b'<?xml version="1.0"?><collection xmlns="http://www.loc.gov/MARC21/slim"><record>',
    ],
    ids=["missing", "empty", "not_marc", "broken_xml"],
)
def test_import_marc_fails_when_nothing_could_be_read_from_a_file(tmp_path, db, content):
    make_branch()
    path = tmp_path / "export.mrc"
    if content is not None:
        path.write_bytes(content)

    with pytest.raises(CommandError, match="export.mrc"):
        command(path)


def test_import_marc_fails_when_a_file_is_cut_short(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)[:3]
    path = write(tmp_path, "cut.mrc", [*chunks, chunks[0][:100]])

    with pytest.raises(CommandError, match="cut.mrc"):
        command(path)
    assert Record.objects.count() == 3  # what could be read is imported all the same


def test_import_marc_succeeds_when_some_records_were_skipped(tmp_path, db):
    make_branch()
    no_title = iso2709([("001", b"x1")])
    path = write(tmp_path, "some.mrc", [marc21(b"Un titre"), no_title])

    out, err = command(path)

    assert "no title" in err and Record.objects.count() == 1


def test_import_marc_reports_every_failed_file_after_importing_the_others(tmp_path, db):
    make_branch()
    good = write(tmp_path, "good.mrc", [marc21(b"Un titre")])

    with pytest.raises(CommandError) as raised:
        command(tmp_path / "missing.mrc", good)
    assert "missing.mrc" in str(raised.value) and "good.mrc" not in str(raised.value)
    assert Record.objects.count() == 1


# --- 6. a byte order mark before ISO 2709 ------------------------------------------------


def test_a_utf8_byte_order_mark_before_iso2709_loses_no_record(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)[:3]
    path = write(tmp_path, "bom.mrc", [b"\xef\xbb\xbf", chunks[0], b"\xef\xbb\xbf", chunks[1], chunks[2]])

    report, _ = run([path])

    assert (report.records_created, report.problems) == (3, [])


# --- 8. an ISBN followed by a price or a volume ------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2070368238 12 EUR", "9782070368235"),
        ("9782070368228 15 EUR", "9782070368228"),
        ("2-07-036823-8 1 vol.", "9782070368235"),
        ("2070368238 (vol. 1)", "9782070368235"),
        ("ISBN 2 07 036823 8", "9782070368235"),
        ("978 2 07 036822 8 (br.)", "9782070368228"),
        ("207036822X", "9782070368228"),
        ("0-394-50288-4 : $12.50", "9780394502885"),
        ("12 EUR 2070368238", "9782070368235"),
        ("2070368221 12 EUR", ""),  # a wrong check digit stays wrong
        ("2070368238123", ""),  # thirteen digits that are no ISBN-13
    ],
)
def test_isbn_is_the_first_isbn_looking_token(text, expected):
    assert isbn13(text) == expected


def test_a_record_whose_isbn_has_a_price_keeps_its_isbn(tmp_path, db):
    make_branch()
    record = iso2709([("001", b"p1"), ("020", sub(a=b"2070368238 12 EUR")), ("245", b"10\x1faUn titre")])

    run([write(tmp_path, "price.mrc", [record])])

    assert Record.objects.get().isbn == "9782070368235"
