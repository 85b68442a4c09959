"""Damaged MARC files (a fuzzing review): a broken record is reported and costs no other
record, a record the importer can repair is imported and the repair said, and odd
inputs (empty files, padding, XML after blank lines or in UTF-16, invisible characters,
a barcode two sources list) are reported rather than passed over in silence."""

import re
import sys
import time
import unicodedata

import pymarc
import pytest
from django.utils import translation

from emporter.catalogue import marcdata
from emporter.catalogue.marc import read_marc
from emporter.catalogue.marcdata import clean, clean_code, strip_isbd
from emporter.catalogue.models import Copy, CopyStatus, Record
from tests.conftest import make_branch
from tests.test_import_marc import LUL, raw_records, run, write
from tests.test_import_marc_fixes import iso2709, sub


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def codes(report):
    return [(p.code, p.record) for p in report.problems]


def barcode_of(chunk: bytes) -> str:
    return pymarc.Record(data=chunk).get("949")["i"]


def title_of(chunk: bytes) -> str:
    return pymarc.Record(data=chunk).get("245")["a"]


def item(barcode: bytes, call_number: bytes = b"R 1") -> tuple[str, bytes]:
    return ("949", sub(a=call_number, i=barcode, m=b"PDI"))


def record(ident: bytes, title: bytes, *items, **kw) -> bytes:
    return iso2709([("001", ident), ("245", b"10\x1fa" + title), *items], **kw)


# --- 1. a wrong length swallows no other record ----------------------------------


def merged(chunks: list[bytes], at: int) -> list[bytes]:
    """``chunks`` where the record at ``at`` claims the length of itself and the next."""
    chunks = list(chunks)
    chunks[at] = b"%05d" % (len(chunks[at]) + len(chunks[at + 1])) + chunks[at][5:]
    return chunks


def test_a_length_running_over_the_next_record_costs_that_record_nothing(tmp_path, db):
    make_branch()
    chunks = merged(raw_records(LUL), 2)
    path = write(tmp_path, "merged.mrc", chunks)

    report, out = run([path])

    assert codes(report) == [("bad_length", 3)]
    assert report.problems[0].offset == sum(map(len, chunks[:2]))
    assert "does not end on a record terminator" in out
    assert report.records_created == 99  # the fourth record is read
    assert Copy.objects.filter(barcode=barcode_of(chunks[3])).exists()


def test_a_swallowed_record_no_longer_gets_its_copies_withdrawn(tmp_path, db):
    make_branch()
    run([LUL], source="lul")
    chunks = merged(raw_records(LUL), 2)
    fourth = barcode_of(chunks[3])

    report, _ = run([write(tmp_path, "lul.mrc", chunks)], source="lul", withdraw_missing=True)

    assert report.withdrawals[0].refused  # a record could not be read: nothing withdrawn
    assert Copy.objects.get(barcode=fourth).status == CopyStatus.ON_SHELF


# --- 2. reading resumes at the next record, not the next terminator ----------------


def test_a_record_whole_but_for_its_terminator_is_kept_and_said(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)
    chunks[2] = chunks[2][:-1]
    path = write(tmp_path, "no_terminator.mrc", chunks)

    report, _ = run([path])

    assert codes(report) == [("no_terminator", 3)]
    assert report.records_created == 100 and report.records_skipped == 0


def doubled(chunk: bytes) -> bytes:
    return chunk + b"\x1d"  # a stray terminator between records: no record, no problem


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c[:-1] + b"X",  # terminator replaced
        lambda c: c[:-1] + b"X" + c[-1:],  # a byte inserted before it
        doubled,
    ],
    ids=["replaced", "inserted", "doubled"],
)
def test_a_bad_terminator_costs_its_record_only(tmp_path, db, damage):
    make_branch()
    chunks = raw_records(LUL)
    chunks[2] = damage(chunks[2])
    path = write(tmp_path, "terminator.mrc", chunks)

    report, _ = run([path])

    assert report.records_created == (100 if damage is doubled else 99)
    assert [p.record for p in report.problems] == ([] if damage is doubled else [3])
    assert Copy.objects.filter(barcode=barcode_of(chunks[3])).exists()


def test_junk_before_the_first_record_costs_no_record(tmp_path, db):
    make_branch()
    path = write(tmp_path, "junk.mrc", [b"garbage header line\n", *raw_records(LUL)])

    report, _ = run([path])

    assert codes(report) == [("bad_length", 1)]
    assert report.records_created == 100


def test_a_cut_file_joined_to_a_whole_one_loses_none_of_the_whole_one(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)
    path = write(tmp_path, "joined.mrc", [chunks[0][:300], *chunks])

    report, _ = run([path])

    assert codes(report) == [("bad_length", 1)]
    assert report.records_created == 100
    assert not report.files[0].cut_short


def test_reading_resumes_with_a_record_whose_own_length_is_wrong_too(tmp_path, db):
    # An exporter that counts characters gets every length wrong: each record is
    # reported on its own, not the whole file as one.
    make_branch()
    chunks = raw_records(LUL)[:4]
    chunks = [b"%05d" % (len(c) - 3) + c[5:] for c in chunks]
    report, _ = run([write(tmp_path, "lengths.mrc", chunks)])
    assert codes(report) == [("bad_length", 1), ("bad_length", 2), ("bad_length", 3), ("bad_length", 4)]


# --- 4. strip_isbd takes linear time ------------------------------------------------

_OLD_TRAILING = re.compile(r"[\s/:;,=+]+$")


@pytest.mark.parametrize(
    "text",
    ["Title /", "Title : ", "T. ", "A.", "etc..", "x \u00a0;", "a = b +", " ; ", "", "Paris ,", "Fin."],
)
def test_strip_isbd_strips_what_it_did(text):
    before = _OLD_TRAILING.sub("", text)
    expected = before[:-1] if before.endswith(".") and not before.endswith("..") else before
    if re.search(r"\b\w\.$", before):
        expected = before
    assert strip_isbd(text) == expected.strip()


def test_strip_isbd_of_a_long_run_of_spaces_is_fast():
    start = time.monotonic()
    assert strip_isbd("Title" + " " * 100_000 + "x" + " ;" * 1000) == "Title" + " " * 100_000 + "x"
    assert time.monotonic() - start < 0.5  # the regex took minutes


# --- 6. invisible format characters ------------------------------------------------


def test_clean_drops_invisible_format_characters():
    assert clean("Finlande\u200e") == "Finlande"
    assert clean("\ufeffLyon\u200b ville\u00ad") == "Lyon ville"
    assert clean("\u202bعربي\u202c") == "عربي"


def test_clean_keeps_the_joiners_scripts_need():
    persian = "می\u200cخواهم"  # ZWNJ is part of Persian spelling
    assert clean(persian) == persian
    assert clean("क्\u200dष") == "क्\u200dष"


def test_every_format_character_is_dropped_or_kept_on_purpose():
    kept = {0x200C, 0x200D, 0x180E, *range(0x0600, 0x0606), 0x06DD, 0x070F, 0x0890, 0x0891, 0x08E2}
    kept |= {0x110BD, 0x110CD, *range(0x13430, 0x13440), *range(0x1BCA0, 0x1BCA4), *range(0x1D173, 0x1D17B)}
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if unicodedata.category(char) == "Cf":
            assert bool(marcdata._FORMAT.fullmatch(char)) != (code in kept), f"U+{code:04X}"


def test_barcodes_and_codes_keep_no_invisible_character(tmp_path, db):
    make_branch()
    chunk = record(b"z1", b"Zero", item("ZW\u200d01\ufeff".encode()), ("650", b" 0\x1faFinlande\xe2\x80\x8e"))
    report, _ = run([write(tmp_path, "zw.mrc", [chunk])], preset="sirsi")
    assert report.copies_created == 1
    assert Copy.objects.get().barcode == "ZW01"
    assert Record.objects.get().subjects == ["Finlande"]
    assert clean_code("d\u200bi") == "DI"


# --- 7. files with no record, and XML where it was not looked for ----------------------


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\n\n  \r\n",
        b"\x00" * 4096,
        b'<?xml version="1.0"?>\n<collection xmlns="http://www.loc.gov/MARC21/slim">\n</collection>\n',
        b'<?xml version="1.0"?><html><body>hello</body></html>',
    ],
    ids=["empty", "blank", "zeros", "empty_collection", "not_marc"],
)
def test_a_file_with_no_record_says_so(tmp_path, db, content):
    make_branch()
    path = tmp_path / "export.mrc"
    path.write_bytes(content)

    report, out = run([path])

    assert [p.code for p in report.problems] == ["empty"]
    assert "no MARC record found in this file" in out
    assert report.failed


XML = (
    '<?xml version="1.0" encoding="{encoding}"?>\n'
    '<collection xmlns="http://www.loc.gov/MARC21/slim">\n'
    "<record><leader>00000nam a2200000 a 4500</leader>"
    '<controlfield tag="001">X0</controlfield>'
    '<datafield tag="245" ind1="1" ind2="0"><subfield code="a">Été</subfield></datafield>'
    "</record>\n</collection>\n"
)


def test_marcxml_after_much_white_space_is_read_as_xml(tmp_path, db):
    make_branch()
    path = tmp_path / "ws.xml"
    path.write_bytes(b" \n" * 400 + XML.format(encoding="UTF-8").encode())
    report, _ = run([path])
    assert report.records_created == 1 and not report.problems
    assert Record.objects.get().title == "Été"


def test_marcxml_in_utf16_is_read_as_xml(tmp_path, db):
    make_branch()
    path = tmp_path / "utf16.xml"
    path.write_bytes(XML.format(encoding="UTF-16").encode("utf-16"))
    report, _ = run([path])
    assert report.records_created == 1 and not report.problems
    assert Record.objects.get().title == "Été"


def test_lines_of_marcxml_after_blank_lines_count_those_lines(tmp_path):
    path = tmp_path / "ws.xml"
    broken = XML.format(encoding="UTF-8").replace("</record>", "</recrd>")
    path.write_bytes(b"\n" * 600 + broken.encode())
    [entry] = list(read_marc(path))
    assert entry.code == "xml" and entry.line == 603


# --- 8. a copy that changes source ---------------------------------------------------


def test_a_copy_moving_to_another_sources_record_is_said(tmp_path, db):
    make_branch()
    run([write(tmp_path, "a.mrc", [record(b"A1", b"Alpha", item(b"SHARED1"), item(b"A2"))])], preset="sirsi")

    other = write(tmp_path, "b.mrc", [record(b"B1", b"Beta", item(b"SHARED1"), item(b"B2"))])

    report, out = run([other], preset="sirsi")  # one barcode of two: imported, not refused

    assert codes(report) == [("copy_moved", 1)]
    assert "SHARED1" in out and "a:A1" in out and "b:B1" in out and "source a " in out
    assert Copy.objects.get(barcode="SHARED1").record.source_key == "b:B1"


def test_a_copy_moving_within_its_source_or_on_take_over_is_not_a_problem(tmp_path, db):
    make_branch()
    run([write(tmp_path, "a.mrc", [record(b"A1", b"Alpha", item(b"S1"))])], preset="sirsi")
    report, _ = run([write(tmp_path, "a.mrc", [record(b"A9", b"Alpha", item(b"S1"))])], preset="sirsi")
    assert not report.problems
    moved = write(tmp_path, "b.mrc", [record(b"B1", b"Beta", item(b"S1"))])
    report, _ = run([moved], preset="sirsi", take_over=True)
    assert not report.problems


# --- 3. the directory is checked, and repaired when it can be ---------------------------


def shift_offset(chunk: bytes, tag: bytes, by: int) -> bytes:
    at = chunk.index(tag, 24)
    while (at - 24) % 12:  # a tag inside another entry's digits
        at = chunk.index(tag, at + 1)
    offset = int(chunk[at + 7 : at + 12]) + by
    return chunk[: at + 7] + b"%05d" % offset + chunk[at + 12 :]


def test_a_shifted_directory_offset_is_repaired_and_said(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)
    title = title_of(chunks[2])
    chunks[2] = shift_offset(chunks[2], b"245", 7)
    path = write(tmp_path, "shift.mrc", chunks)

    report, out = run([path])

    assert codes(report) == [("bad_directory", 3)]
    assert "directory entry for 245 does not end on a field terminator" in out
    assert "recovered" in out
    assert report.records_created == 100
    assert Record.objects.filter(title=strip_isbd(clean(title))).exists()


def characters_directory(chunk: bytes) -> bytes:
    """The record as an exporter counting characters writes its directory."""
    base = int(chunk[12:17])
    entries, position = b"", 0
    for at in range(24, base - 1, 12):
        length = len(chunk[base + int(chunk[at + 7 : at + 12]) :].split(b"\x1e")[0].decode()) + 1
        entries += chunk[at : at + 3] + b"%04d%05d" % (length, position)
        position += length
    return chunk[:24] + entries + chunk[base - 1 :]


def test_directory_lengths_in_characters_lose_nothing(tmp_path, db):
    make_branch()
    chunk = record(b"c1", "Éléments d’été".encode(), item(b"C1", "8°007.775 é".encode()))
    path = write(tmp_path, "chars.mrc", [characters_directory(chunk), record(b"c2", b"Two")])

    report, out = run([path], preset="sirsi")

    assert codes(report) == [("bad_directory", 1)]
    assert "lengths counted in characters?" in out
    assert Record.objects.get(source_key="chars:c1").title == "Éléments d’été"
    assert Copy.objects.get(barcode="C1").call_number == "8°007.775 é"
    assert report.records_created == 2


def test_a_directory_that_cannot_be_repaired_is_reported(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)
    base = int(chunks[2][12:17])
    chunks[2] = chunks[2][:base] + chunks[2][base:].replace(b"\x1e", b"|", 1)  # a field fewer
    chunks[2] = shift_offset(chunks[2], b"245", 3)
    path = write(tmp_path, "broken.mrc", chunks)

    report, _ = run([path])

    assert codes(report) == [("bad_directory", 3)]
    assert report.records_created == 99


def test_a_directory_entry_that_is_not_numeric_is_reported(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)
    chunks[1] = chunks[1][:27] + b"x" + chunks[1][28:]  # the first entry's length
    report, out = run([write(tmp_path, "digits.mrc", chunks)])
    assert codes(report) == [("bad_directory", 2)]
    assert "is not numeric" in out


# --- 5. one escape sequence does not switch off the Latin-1 check ---------------------


def latin1_record(escape: bytes) -> bytes:
    title = b"10\x1fa" + escape + "Société générale des études élémentaires".encode("latin-1")
    return iso2709([("001", b"l1"), ("008", b"900101s1990    fr            000 0 fre d"), ("245", title)])


@pytest.mark.parametrize("escape", [b"", b"\x1b(B", b"\x1bs", b"\x1bb1\x1bs"])
def test_a_latin1_record_with_an_escape_sequence_is_refused(tmp_path, db, escape):
    make_branch()
    report, _ = run([write(tmp_path, "latin1.mrc", [latin1_record(escape)])])
    assert codes(report) == [("encoding", 1)]
    assert "Latin-1" in report.problems[0].message


def test_marc8_with_another_script_still_imports(tmp_path, db):
    make_branch()
    greek = b"\x1bgabg\x1bs \x1b(Sabg\x1b(B"  # Greek symbols, then Greek: back to ASCII each time
    title = b"10\x1faEcole \xe2ecrite " + greek + b" fin \xe2e"
    chunk = iso2709([("001", b"g1"), ("008", b"900101s1990    fr            000 0 fre d"), ("245", title)])
    report, _ = run([write(tmp_path, "greek.mrc", [chunk])])
    assert not report.problems
    assert Record.objects.get().title.startswith("Ecole écrite")


# --- 9. padding between records is skipped fast ------------------------------------------


def test_megabytes_of_padding_are_skipped_fast(tmp_path):
    chunks = raw_records(LUL)[:2]
    path = write(tmp_path, "padded.mrc", [chunks[0], b"\x00" * 5_000_000, b"\r\n" * 1000, chunks[1]])
    start = time.monotonic()
    entries = list(read_marc(path))
    assert time.monotonic() - start < 2  # a byte at a time: some 30 seconds
    assert [e.record is not None for e in entries] == [True, True]
    assert entries[1].offset == len(chunks[0]) + 5_002_000


def test_a_byte_order_mark_between_records_is_still_skipped(tmp_path):
    chunks = raw_records(LUL)[:2]
    path = write(tmp_path, "bom.mrc", [b"\xef\xbb\xbf", chunks[0], b"\n\xef\xbb\xbf", chunks[1]])
    assert [e.code for e in read_marc(path)] == ["", ""]


def test_progress_covers_the_whole_file(tmp_path):
    chunks = raw_records(LUL)[:3]
    chunks[1] = chunks[1][:-1] + b"X"
    path = write(tmp_path, "progress.mrc", [*chunks, b"\n\n"])
    seen = []
    list(read_marc(path, on_bytes=seen.append))
    assert sum(seen) <= path.stat().st_size
    assert sum(seen) >= sum(map(len, chunks))
