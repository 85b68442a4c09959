"""Imports as the twenty-eighth session's review found them: a Koha MARC21 record with no
item left is keyed by its biblionumber when the preset is detected (it was refused, and
with it the whole source's weeding), a SirsiDynix 999 item field is not taken for
Koha's, and a copies CSV barcode a spreadsheet wrote as a number makes no copy."""

import io

import pymarc
from django.utils import translation

from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.importer import import_marc
from emporter.catalogue.models import Copy, CopyStatus, Record
from tests.conftest import make_branch, make_record


def field(tag, subfields, ind=(" ", " ")):
    return pymarc.Field(tag, pymarc.Indicators(*ind), [pymarc.Subfield(c, v) for c, v in subfields])


def koha(biblionumber, title, items=()):
    """A Koha MARC21 record as Koha exports it by default: no 001, the biblionumber in 999$c."""
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(field("245", [("a", title)], ("1", "0")))
    for barcode in items:
        record.add_field(
            field("952", [("a", "PDI"), ("b", "PDI"), ("o", "R X"), ("p", barcode), ("y", "BK")])
        )
    record.add_field(field("999", [("c", str(biblionumber)), ("d", str(biblionumber))]))
    return record


def imported(tmp_path, records, **kw):
    path = tmp_path / "koha.mrc"
    path.write_bytes(b"".join(r.as_marc() for r in records))
    return import_marc([path], stdout=io.StringIO(), progress=False, default_branch="PDI", **kw)


def test_a_koha_record_without_items_is_keyed_by_its_biblionumber_with_the_preset_detected(tmp_path, db):
    make_branch()
    report = imported(tmp_path, [koha(1, "Avec exemplaire", ["K1"]), koha(2, "Sans exemplaire")])
    assert [p.code for p in report.problems] == []
    assert sorted(Record.objects.values_list("source_key", flat=True)) == ["koha:999:1", "koha:999:2"]


def test_a_koha_record_whose_last_item_was_deleted_does_not_stop_the_weeding(tmp_path, db):
    """Once its record was refused, no copy of the whole source was withdrawn again."""
    make_branch()
    many = [koha(n, f"Titre {n}", [f"K{n}"]) for n in range(1, 31)]
    imported(tmp_path, many)
    report = imported(tmp_path, [koha(1, "Titre 1"), *many[1:]], withdraw_missing=True)
    assert [w.refused for w in report.withdrawals] == [""]
    assert Copy.objects.get(barcode="K1").status == CopyStatus.WITHDRAWN
    assert Record.objects.count() == 30


def test_a_record_with_a_sirsi_999_item_field_is_not_keyed_by_its_copy_number(tmp_path, db):
    """A SirsiDynix 999 is an item (call number $a, copy number $c, barcode $i): its $c
    would key every record "999:1"."""
    make_branch()
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(field("245", [("a", "Sirsi")], ("1", "0")))
    record.add_field(field("999", [("a", "R SIR"), ("c", "1"), ("i", "S0001"), ("m", "PDI")]))
    report = imported(tmp_path, [record])
    assert [p.code for p in report.problems] == ["no_identifier"]
    assert not Record.objects.exists()


def test_a_copies_csv_barcode_written_as_a_number_makes_no_copy(tmp_path, db):
    branch = make_branch()
    record = make_record(title="Le loup", copies=[branch])
    Copy.objects.filter(record=record).update(barcode="3700012345678")
    path = tmp_path / "copies.csv"
    path.write_text(
        f"barcode;record;status\n3.70001E+12;{record.source_key};on_shelf\n123.0;{record.source_key};\n"
    )

    report = import_copies(path, default_branch=branch.code)

    assert list(Copy.objects.values_list("barcode", flat=True)) == ["3700012345678"]
    assert report.skipped == 2
    assert [p.code for p in report.problems] == ["barcode_as_number", "barcode_as_number"]


def deleted(record):
    record.leader = pymarc.Leader("00000dam a2200000 a 4500")
    return record


def test_a_record_the_source_marks_deleted_is_not_imported_and_its_copies_are_withdrawn(tmp_path, db):
    """Leader/05 "d": Koha's export of deleted records, an incremental export."""
    make_branch()
    imported(tmp_path, [koha(7, "Supprimée", ["D1"]), koha(8, "Gardée", ["G1"])])

    report = imported(
        tmp_path, [deleted(koha(7, "Supprimée")), koha(8, "Gardée", ["G1"])], withdraw_missing=True
    )

    assert [p.code for p in report.problems] == ["deleted_at_source"]
    assert (report.records_deleted, report.records_skipped, report.copies_withdrawn_deleted) == (1, 0, 1)
    assert Copy.objects.get(barcode="D1").status == CopyStatus.WITHDRAWN
    assert Copy.objects.get(barcode="G1").status == CopyStatus.ON_SHELF
    assert [w.refused for w in report.withdrawals] == [""]  # read whole: the weeding goes on
    with translation.override("en"):
        assert any("marked deleted at the source" in line for line in report.summary_lines())
    assert not report.failed


def test_a_deleted_records_item_moved_to_a_live_record_of_the_file_stays(tmp_path, db):
    make_branch()
    imported(tmp_path, [koha(7, "Ancienne notice", ["D1"])])

    imported(tmp_path, [deleted(koha(7, "Ancienne notice")), koha(9, "Nouvelle notice", ["D1"])])

    copy = Copy.objects.select_related("record").get(barcode="D1")
    assert (copy.status, copy.record.source_key) == (CopyStatus.ON_SHELF, "koha:999:9")


def test_a_copy_withdrawn_for_its_deleted_record_comes_back_when_listed_again(tmp_path, db):
    make_branch()
    imported(tmp_path, [koha(7, "Revenue", ["D1"])])
    imported(tmp_path, [deleted(koha(7, "Revenue"))])
    assert Copy.objects.get(barcode="D1").status == CopyStatus.WITHDRAWN

    imported(tmp_path, [koha(7, "Revenue", ["D1"])])

    assert Copy.objects.get(barcode="D1").status == CopyStatus.ON_SHELF
