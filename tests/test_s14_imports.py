"""Found by fuzzing the importers (fourteenth session): a UTF-16 CSV (Excel's "Unicode
Text") with one undecodable spot costs that row, not the import (the command printed a
traceback; the imports page ended the job "The import stopped on an error", no count,
no position, its rows written all the same); MARCXML damage that lost a good record
without a word, or blamed the end of the file; a barcode a damaged byte went into, and
a call number cut, said."""

import codecs
import io

import pymarc
from django.utils import translation

from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.importer import import_marc
from emporter.catalogue.models import Copy, Record
from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron

COPIES = "barcode\trecord\tcall_number\n" + "".join(f"B{i}\tREC\tR {i}\n" for i in range(5))
PATRONS = "card_number\tlast_name\thome_branch\n" + "".join(f"C{i}\tLee\tPDI\n" for i in range(5))


def utf16(text: str) -> bytes:
    return codecs.BOM_UTF16_LE + text.encode("utf-16-le")


def test_a_utf16_copies_file_with_a_stray_last_byte_is_imported(tmp_path, branch):
    Record.objects.create(source_key="REC", title="T")
    path = tmp_path / "copies.txt"
    # A newline added by a UTF-8 tool ("echo >> file"), or an upload cut at an odd byte.
    path.write_bytes(utf16(COPIES) + b"\n")
    with translation.override("en"):
        report = import_copies(path, default_branch="PDI", stdout=io.StringIO())
    assert Copy.objects.filter(barcode__startswith="B").count() == 5
    assert not report.failed


def test_a_utf16_patrons_file_with_a_stray_last_byte_is_imported(tmp_path, branch):
    path = tmp_path / "patrons.txt"
    path.write_bytes(utf16(PATRONS) + b"\n")
    with translation.override("en"):
        report = import_patrons(path, stdout=io.StringIO())
    assert Patron.objects.count() == 5
    assert not report.failed


def test_a_lone_surrogate_in_a_utf16_copies_file_costs_its_row_only(tmp_path, branch):
    Record.objects.create(source_key="REC", title="T")
    data = bytearray(utf16(COPIES))
    at = data.find("B2".encode("utf-16-le"))
    data[at : at + 2] = b"\x00\xd8"  # half of a surrogate pair instead of "B"
    path = tmp_path / "copies.txt"
    path.write_bytes(bytes(data))
    with translation.override("en"):
        report = import_copies(path, default_branch="PDI", stdout=io.StringIO())
    assert Copy.objects.filter(barcode__startswith="B").count() == 4
    assert [(p.code, p.line) for p in report.problems if p.code == "bad_encoding"] == [("bad_encoding", 4)]


def test_the_imports_page_imports_the_patrons_of_such_a_file(client, settings, tmp_path, branch):
    from django.contrib.auth import get_user_model

    from emporter.imports.models import ImportJob, State
    from emporter.patrons.models import Role, StaffRole
    from tests.test_imports_page import send

    settings.DATA_DIR = tmp_path
    user = get_user_model().objects.create_user(username="nadia", password="x")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    client.force_login(user)
    path = tmp_path / "lecteurs.txt"
    path.write_bytes(utf16(PATRONS) + b"\n")
    send(client, path, kind="patrons")
    job = ImportJob.objects.get()
    assert Patron.objects.count() == 5
    assert job.state == State.DONE, job.summary
    assert "5 created" in job.summary, job.summary


HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="http://www.loc.gov/MARC21/slim">\n'


def rec(n: int) -> str:
    """A record on three lines (its start tag on line 3n for HEAD + rec(1) + rec(2)...)."""
    return (
        f'<record><leader>00000nam a2200000 a 4500</leader><controlfield tag="001">R{n}</controlfield>\n'
        f'<datafield tag="245" ind1="0" ind2="0"><subfield code="a">Title {n}</subfield></datafield>\n'
        f'<datafield tag="949" ind1=" " ind2=" "><subfield code="i">B{n}</subfield></datafield></record>\n'
    )


def run(tmp_path, text):
    path = tmp_path / "export.xml"
    path.write_text(text)
    return import_marc([path], default_branch="PDI", stdout=io.StringIO(), progress=False)


def test_the_record_after_an_end_tag_missing_its_bracket_is_not_lost(tmp_path, branch):
    # R1 ends with "</record" (its ">" lost): R1 may be skipped, but R2 is whole.
    text = HEAD + rec(1).replace("</record>", "</record") + rec(2) + rec(3) + rec(4) + "</collection>\n"
    report = run(tmp_path, text)
    imported = set(Record.objects.values_list("source_key", flat=True))
    assert imported == {"export:R2", "export:R3", "export:R4"}, [str(p) for p in report.problems]
    # R1 is reported where it starts (line 3), and every record is imported or reported.
    assert [p.line for p in report.problems] == [3]
    assert report.records_imported + report.records_skipped == 4


def test_a_record_without_its_end_tag_is_reported_where_it_is(tmp_path, branch):
    # R1 (lines 3-5) has no </record>: the next <record> starts inside it.
    text = HEAD + rec(1).replace("</record>", "") + rec(2) + rec(3) + "</collection>\n"
    report = run(tmp_path, text)
    assert set(Record.objects.values_list("source_key", flat=True)) == {"export:R2", "export:R3"}
    lines = [p.line for p in report.problems]
    # The problem names R1's place (line 3), not the end of the file (line 12) ...
    assert 3 in lines, [str(p) for p in report.problems]
    # ... and the file, read to its end, is not said "not read to its end".
    assert not report.files[0].cut_short, [str(p) for p in report.problems]


def marc(tmp_path, barcode: str, call_number: str = "M 1366"):
    record = pymarc.Record(force_utf8=True)
    record.leader = pymarc.Leader("00000ncm  2200000 a 4500")
    record.add_field(pymarc.Field(tag="001", data="R1"))
    record.add_field(
        pymarc.Field(tag="245", indicators=["0", "0"], subfields=[pymarc.Subfield("a", "Blue train")])
    )
    record.add_field(
        pymarc.Field(
            tag="949",
            indicators=[" ", " "],
            subfields=[
                pymarc.Subfield("a", call_number),
                pymarc.Subfield("i", barcode),
                pymarc.Subfield("t", "SOUND"),
                pymarc.Subfield("m", "PDI"),
            ],
        )
    )
    path = tmp_path / "export.mrc"
    path.write_bytes(record.as_marc())
    return path


def test_a_barcode_with_a_control_character_in_it_is_refused_and_said(tmp_path, branch):
    # The last digit damaged into DEL (0x7F), as a flipped byte in a real file: the copy
    # was created as 3000700708906, one digit short, a barcode on no label; nothing said.
    report = import_marc([marc(tmp_path, "3000700708906\x7f")], preset="sirsi", stdout=io.StringIO())
    assert not Copy.objects.exists()
    assert [p.code for p in report.problems] == ["bad_barcode"]


def test_a_call_number_longer_than_its_column_is_cut_and_said(tmp_path, branch):
    long = "M 1366 " + "X" * 250
    report = import_marc([marc(tmp_path, "30007007089062", long)], preset="sirsi", stdout=io.StringIO())
    assert Copy.objects.get().call_number == long[:200]
    assert [p.code for p in report.problems] == ["call_number_cut"]
