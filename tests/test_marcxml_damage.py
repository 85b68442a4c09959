"""Damaged MARCXML (a fuzzing review): one bad character or one broken tag costs at most
the record it is in, never the records after it. A character XML forbids (a raw control
character, ``&#1;``) is taken out and its record imported, with a note; bytes that are
not UTF-8 in a UTF-8 file, or markup that is not well-formed, cost their record, and
reading resumes at the next ``<record>``, with the right lines. What pymarc used to write
on stderr about an ISO 2709 record (indicators, a cut MARC-8 character) is said on it."""

import re

import pytest
from django.utils import translation

from emporter.catalogue.marc import read_marc
from emporter.catalogue.models import Record
from tests.conftest import make_branch
from tests.test_import_marc import run
from tests.test_import_marc_fixes import iso2709, marc21

NS = b"http://www.loc.gov/MARC21/slim"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def record(n: int, title: bytes = b"Titre", prefix: bytes = b"", pretty: bool = False) -> bytes:
    """One MARCXML record, control number Xn, title "<title> n", an item 949 for PDI."""
    p, nl = prefix, b"\n" if pretty else b""
    return (
        b"<" + p + b"record>" + nl
        + b"<" + p + b"leader>00000nam a2200000 a 4500</" + p + b"leader>" + nl
        + b"<" + p + b'controlfield tag="001">X%d</' % n + p + b"controlfield>" + nl
        + b"<" + p + b'datafield tag="245" ind1="1" ind2="0">' + nl
        + b"<" + p + b'subfield code="a">' + title + b" %d</" % n + p + b"subfield>" + nl
        + b"</" + p + b"datafield>" + nl
        + b"<" + p + b'datafield tag="949" ind1=" " ind2=" ">'
        + b"<" + p + b'subfield code="i">BC%05d</' % n + p + b"subfield>"
        + b"<" + p + b'subfield code="m">PDI</' + p + b"subfield>"
        + b"</" + p + b"datafield>" + nl
        + b"</" + p + b"record>\n"
    )  # fmt: skip


def collection(records: list[bytes], prefix: bytes = b"", start: bytes | None = None) -> bytes:
    declare = b" xmlns:" + prefix[:-1] + b'="' + NS + b'"' if prefix else b' xmlns="' + NS + b'"'
    start = start or b"<" + prefix + b"collection" + declare + b">\n"
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        + start
        + b"".join(records)
        + b"</"
        + prefix
        + b"collection>\n"
    )


def write(tmp_path, data: bytes, name: str = "export.xml"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def lines_of_records(data: bytes) -> list[int]:
    return [data.count(b"\n", 0, m.start()) + 1 for m in re.finditer(rb"<(?:marc:)?record>", data)]


def problems(report):
    return [(p.code, p.record, p.line) for p in report.problems]


# --- 1. a character XML forbids: removed, its record imported and the removal said ------


@pytest.mark.parametrize(
    "bad", [b"\x01", b"&#1;", b"&#x1F;", b"\x1b"], ids=["raw", "decimal", "hex", "escape"]
)
def test_a_control_character_is_removed_and_its_record_and_the_next_ones_imported(tmp_path, db, bad):
    make_branch()
    path = write(tmp_path, collection([record(0), record(1, b"A" + bad + b"B"), record(2), record(3)]))

    report, out = run([path])

    assert problems(report) == [("bad_character", 2, 4)]
    assert "control characters" in report.problems[0].message
    assert sorted(Record.objects.values_list("title", flat=True)) == ["AB 1", "Titre 0", "Titre 2", "Titre 3"]
    assert not report.failed


def test_allowed_character_references_are_left_alone(tmp_path):
    refs = b"&#9;&#10;&#233;&#x20;&#xE9;&#0233;"
    path = write(tmp_path, collection([record(0, b"A" + refs + b"B")]))
    [entry] = list(read_marc(path))
    assert entry.notes == () and entry.record["245"]["a"] == "A\t\n\u00e9 \u00e9\u00e9B 0"


def test_a_reference_cut_by_a_block_boundary_is_still_removed(tmp_path):
    head = collection([record(0)]).removesuffix(b"</collection>\n")
    for shift in range(8):  # "&#1;" lands across the 64 KiB boundary
        pad = 65536 - len(head) - 160 - shift
        data = head + record(1, b"y" * pad + b"A&#1;B") + record(2) + b"</collection>\n"
        entries = list(read_marc(write(tmp_path, data)))
        assert [e.record is not None for e in entries] == [True, True, True], shift
        assert [code for code, _ in entries[1].notes] == ["bad_character"], shift


# --- 2. bytes that are not UTF-8, broken markup: that record only -----------------------


def test_latin1_bytes_in_a_utf8_file_cost_their_record_only(tmp_path, db):
    make_branch()
    path = write(tmp_path, collection([record(0), record(1, b"Caf\xe9"), record(2), record(3)]))

    report, _ = run([path])

    assert problems(report) == [("encoding", 2, 4)]
    assert "E9" in report.problems[0].message and "UTF-8" in report.problems[0].message
    assert sorted(Record.objects.values_list("title", flat=True)) == ["Titre 0", "Titre 2", "Titre 3"]
    assert report.records_skipped == 1
    assert not report.failed  # read to its end: the other records are all in


def test_broken_markup_with_a_namespace_prefix_costs_its_record_only(tmp_path, db):
    make_branch()
    broken = record(1, prefix=b"marc:").replace(b"</marc:datafield>", b"</marc:datafeld>", 1)
    records = [record(0, prefix=b"marc:"), broken, record(2, prefix=b"marc:"), record(3, prefix=b"marc:")]
    path = write(tmp_path, collection(records, prefix=b"marc:"))

    report, _ = run([path])

    assert problems(report) == [("bad_structure", 2, 4)]
    assert "mismatched tag" in report.problems[0].message
    assert Record.objects.count() == 3 and not report.failed


def test_lines_stay_right_after_resuming(tmp_path):
    records = [record(n, pretty=True) for n in range(6)]
    records[1] = record(1, b"Caf\xe9", pretty=True)
    records[3] = record(3, pretty=True).replace(b'code="a"', b"", 1)  # pymarc's own error
    records[4] = record(4, b"A\x01B", pretty=True)
    data = collection(records)
    path = write(tmp_path, data)

    entries = list(read_marc(path))

    starts = lines_of_records(data)
    assert [e.index for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e.code for e in entries] == ["", "encoding", "", "bad_structure", "", ""]
    assert entries[1].line == starts[1] + 4  # where the bad byte is
    assert [e.line for e in entries if e.index != 2] == [starts[i] for i in (0, 2, 3, 4, 5)]
    assert f"line {starts[3] + 4}" in entries[3].reason
    assert f"first on line {starts[4] + 4}" in entries[4].notes[0][1]


def test_a_broken_collection_tag_loses_no_record(tmp_path, db):
    make_branch()
    start = b'<collection xmlns="' + NS + b'" note="\xe9t\xe9">\n'
    path = write(tmp_path, collection([record(0), record(1), record(2)], start=start))

    report, _ = run([path])

    assert Record.objects.count() == 3
    assert problems(report) == [("bad_structure", 1, 2)]
    assert "between records" in report.problems[0].message


def test_damage_in_the_last_record_still_cuts_the_file_short(tmp_path, db):
    make_branch()
    path = write(tmp_path, collection([record(0), record(1, b"Caf\xe9")]))
    report, _ = run([path])
    assert [p.code for p in report.problems] == ["xml"] and Record.objects.count() == 1
    assert report.failed


def test_damage_in_every_record_is_read_once_and_ends(tmp_path):
    count = 400
    data = collection([record(n, b"Caf\xe9") for n in range(count)] + [record(count)])
    path = write(tmp_path, data)
    told = []

    entries = list(read_marc(path, on_bytes=told.append))

    assert [e.index for e in entries] == list(range(1, count + 2))
    assert [e.code for e in entries] == ["encoding"] * count + [""]
    assert entries[-1].line == lines_of_records(data)[-1]
    assert sum(told) == len(data)  # each byte told once to the progress bar


def test_records_in_an_oai_pmh_wrapper_after_a_break_are_read(tmp_path):
    oai = b'<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords>\n'
    body = b"".join(
        b"<record><header/><metadata>"
        + record(n, b"Caf\xe9" if n == 1 else b"T", prefix=b"marc:").replace(
            b"<marc:record>", b'<marc:record xmlns:marc="' + NS + b'">'
        )
        + b"</metadata></record>\n"
        for n in range(3)
    )
    path = write(tmp_path, oai + body + b"</ListRecords></OAI-PMH>\n")

    entries = list(read_marc(path))

    assert [e.code for e in entries] == ["", "encoding", ""]
    assert entries[2].record["001"].data == "X2"


# --- 3. what pymarc said on stderr is said on the record --------------------------------


def test_extra_indicators_are_a_note_on_their_record_not_a_line_on_stderr(tmp_path, capfd):
    data = iso2709([("001", b"i1"), ("245", b"104\x1faUn titre"), ("500", b"  \x1faNote")])
    path = tmp_path / "ind.mrc"
    path.write_bytes(marc21(b"Avant", ident=b"m0") + data)

    entries = list(read_marc(path))

    assert [e.record["245"]["a"] for e in entries] == ["Avant", "Un titre"]
    assert entries[0].notes == ()
    [(code, message)] = entries[1].notes
    assert code == "bad_indicators" and "more than two indicators" in message
    assert "indicators" not in capfd.readouterr().err


def test_a_cut_marc8_multibyte_character_is_a_note_on_its_record(tmp_path, capfd):
    cjk = b"\x1b$1" + b"\x21\x30\x21" + b"\x21"  # one whole character, then one cut short
    path = tmp_path / "cjk.mrc"
    path.write_bytes(marc21(cjk, ident=b"c1") + marc21(b"Ok", ident=b"c2"))

    entries = list(read_marc(path, encoding="marc-8"))

    assert [code for code, _ in entries[0].notes] == ["bad_character"]
    assert entries[1].notes == ()
    assert "Multi-byte" not in capfd.readouterr().err
