"""Imports, from the twenty-fifth session's review."""

import pymarc
import pytest

from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.models import Copy, Record
from tests.conftest import make_branch, make_record
from tests.test_import_marc import run, write


def _item(tag, subfields):
    return pymarc.Field(tag, pymarc.Indicators(" ", " "), [pymarc.Subfield(*s) for s in subfields])


@pytest.mark.parametrize(
    ("leader", "title_tag", "items"),
    [
        # Koha MARC21: 952 $a home branch, $b holding branch.
        (
            "00000nam a2200000 a 4500",
            "245",
            [("952", [("a", "PDI"), ("b", "BAC"), ("o", "R LOU"), ("p", "K1")])],
        ),
        # Koha UNIMARC: 995 $b home branch, $c holding branch.
        (
            "00000nam0 22000001  450 ",
            "200",
            [("995", [("b", "PDI"), ("c", "BAC"), ("k", "R LOU"), ("f", "K1")])],
        ),
    ],
)
def test_a_koha_item_is_at_its_holding_branch(tmp_path, db, leader, title_tag, items):
    """Returned at another library (or floating), the item is there: it was put at its
    home library, on a list where it was not, and marked not found."""
    make_branch()
    make_branch(code="BAC", name="Bachut")
    record = pymarc.Record(leader=leader)
    record.add_field(pymarc.Field("001", data="k1"))
    record.add_field(pymarc.Field(title_tag, pymarc.Indicators("1", "0"), [pymarc.Subfield("a", "Le loup")]))
    for tag, subfields in items:
        record.add_field(_item(tag, subfields))
    report, _ = run([write(tmp_path, "koha.mrc", [record.as_marc()])])
    assert report.problems == []
    assert Copy.objects.get(barcode="K1").branch.code == "BAC"


def test_a_koha_item_whose_holding_branch_is_not_ours_is_at_its_home_branch(tmp_path, db):
    make_branch()
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field("001", data="k1"))
    record.add_field(pymarc.Field("245", pymarc.Indicators("1", "0"), [pymarc.Subfield("a", "Le loup")]))
    record.add_field(_item("952", [("a", "PDI"), ("b", "BUS"), ("o", "R LOU"), ("p", "K1")]))
    run([write(tmp_path, "koha.mrc", [record.as_marc()])], default_branch=None)
    assert Copy.objects.get(barcode="K1").branch.code == "PDI"


def test_a_barcode_a_spreadsheet_stripped_of_its_zeros_makes_no_second_copy(tmp_path, db):
    """0012345 through Excel is 12345: a second copy was created, on the shelf and
    requestable, that no picker would ever find; the patron import already refused
    such a card number (card_mangled)."""
    branch = make_branch()
    record = make_record(title="Le loup", copies=[branch])
    Copy.objects.filter(record=record).update(barcode="0012345")
    path = tmp_path / "copies.csv"
    path.write_text(
        f"barcode;record;status\n12345;{record.source_key};on_shelf\n98765;{record.source_key};\n"
    )
    report = import_copies(path, default_branch=branch.code)
    assert sorted(Copy.objects.values_list("barcode", flat=True)) == ["0012345", "98765"]
    (problem,) = report.problems
    assert (problem.code, problem.line) == ("barcode_mangled", 2)
    assert "0012345" in problem.message and report.skipped == 1


def _koha_without_001(title="Le voyage de Chihiro"):
    record = pymarc.Record(leader="00000ngm a2200000 a 4500")
    record.add_field(pymarc.Field("245", pymarc.Indicators("1", "0"), [pymarc.Subfield("a", title)]))
    record.add_field(_item("952", [("a", "PDI"), ("b", "PDI"), ("o", "DVD MIY"), ("p", "DVD1")]))
    record.add_field(_item("999", [("c", "4242"), ("d", "4242")]))
    return record


def test_a_koha_record_without_001_is_keyed_by_its_biblionumber(tmp_path, db):
    """Koha writes no 001 unless told to: a DVD with no 035 and no ISBN was refused
    (no_identifier), its copies with it, on every import."""
    make_branch()
    path = write(tmp_path, "koha.mrc", [_koha_without_001().as_marc()])
    report, _ = run([path])
    assert report.problems == []
    record = Record.objects.get()
    assert record.source_key == "koha:999:4242" and record.copies.get().barcode == "DVD1"
    write(tmp_path, "koha.mrc", [_koha_without_001("Le Voyage de Chihiro").as_marc()])
    run([path])  # the next night's export: the same record, updated
    assert Record.objects.get().title == "Le Voyage de Chihiro"


def test_a_999c_means_nothing_outside_koha(tmp_path, db):
    """A Sirsi export's 999 holds its items ($c a copy number): no record key there."""
    make_branch()
    report, _ = run([write(tmp_path, "sirsi.mrc", [_koha_without_001().as_marc()])], preset="sirsi")
    assert [p.code for p in report.problems] == ["no_identifier"] and not Record.objects.exists()
