import datetime
import io
import json
from collections import Counter
from pathlib import Path

import pymarc
import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from emporter.catalogue import importer
from emporter.catalogue.importer import import_marc
from emporter.catalogue.item_mappings import PRESETS, load_code_map, load_mapping
from emporter.catalogue.marc import read_marc
from emporter.catalogue.marcdata import ean13, isbn13, repair_mojibake
from emporter.catalogue.models import Copy, CopyStatus, Record
from tests.conftest import make_branch, make_department, make_location

MARC_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "marc"
JAZZ = MARC_DIR / "jazz_1k.mrc"
LUL = MARC_DIR / "lul_fre_100.mrc"
MEL = MARC_DIR / "cotesMEL.mrc"


@pytest.fixture(autouse=True)
def english():
    # Messages are asserted in English, their msgids; the French catalogue is checked
    # by test_translations.
    with translation.override("en"):
        yield


@pytest.fixture(scope="module", autouse=True)
def shared_data_present():
    # CI clones the repository with ../shared beside it: a missing directory is a
    # broken set-up, not a reason to skip.
    assert MARC_DIR.is_dir(), f"shared MARC files not found at {MARC_DIR}"


def raw_records(path: Path) -> list[bytes]:
    """The ISO 2709 records of a file, as bytes (each ends with the 0x1D terminator)."""
    return [chunk + b"\x1d" for chunk in path.read_bytes().split(b"\x1d") if chunk.strip()]


def write(tmp_path: Path, name: str, chunks: list[bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(chunks))
    return path


def run(paths, **kw):
    kw.setdefault("default_branch", "PDI")
    out = io.StringIO()
    report = import_marc(paths, stdout=out, **kw)
    return report, out.getvalue()


def codes(report):
    return [(p.code, p.record) for p in report.problems]


# --- the shared files ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "records", "items", "copies"),
    [(JAZZ, 1000, 1238, 1238), (LUL, 100, 114, 114), (MEL, 109, 132, 129)],
)
def test_each_shared_file_imports_its_stated_counts(db, path, records, items, copies):
    make_branch()
    report, _ = run([path])
    assert report.records_created == records == Record.objects.count()
    assert report.copies_created == copies == Copy.objects.count()
    assert report.copies_created + report.copies_without_barcode == items
    assert report.records_skipped == 0


def test_all_three_shared_files_give_1209_records_and_1481_copies(db):
    make_branch()
    report, out = run([JAZZ, LUL, MEL])
    assert (Record.objects.count(), Copy.objects.count()) == (1209, 1481)
    assert report.copies_without_barcode == 3
    assert [p.code for p in report.problems] == ["no_barcode"] * 3
    assert "4°014.248" in out
    assert any("were skipped" in line for line in report.summary_lines())


def test_marc8_accents_are_decoded(db):
    make_branch()
    run([LUL])
    assert (
        Record.objects.get(source_key="lul_fre_100:01-0011586").title
        == "Dix-huitième siècle : études littéraires"
    )
    beaumarchais = Record.objects.get(source_key="lul_fre_100:01-0120509")
    assert beaumarchais.title == "Beaumarchais en Allemagne : révélations tirées des archives d'Autriche"
    assert beaumarchais.language == "fre"
    # A real "Â" followed by a letter is not mistaken for double-encoded UTF-8.
    subjects = [s for r in Record.objects.all() for s in r.subjects]
    assert "Église catholique -- Histoire -- Âge moyen" in subjects


def test_cotesmel_is_read_as_utf8_and_its_degree_signs_repaired(db):
    make_branch()
    run([MEL])
    copy = Copy.objects.select_related("record").get(barcode="00000001390392")
    assert copy.call_number == "MEL8°071(05)"
    assert copy.record.title.startswith("Les Intérêts français en Bohême : à propos du Consulat")
    assert copy.record.responsibility == "Louis Léger"
    assert not Copy.objects.filter(call_number__contains="Â").exists()


def test_literal_dollar_in_unimarc_type_code_is_dropped(db):
    make_branch()
    run([MEL])
    types = Counter(c["type"] for c in Copy.objects.values_list("source_codes", flat=True))
    # 97 DI + 3 "DI$", 22 PL + 2 "PL$"; the MA and TR items without barcode are not copies.
    assert types == {"DI": 100, "PL": 24, "CN": 4, "MA": 1}


def test_records_without_001_import_under_their_035_or_002(db):
    make_branch()
    run([JAZZ, LUL, MEL])
    keys = set(Record.objects.values_list("source_key", flat=True))
    assert {
        "jazz_1k:035:(Sirsi) a272184",
        "lul_fre_100:035:(Sirsi) a102890",
        "cotesMEL:002:0000524962",
    } <= keys


def test_friendly_fire_is_a_cd_with_its_copy_and_call_number(db):
    make_branch()
    run([JAZZ])
    record = Record.objects.get(source_key="jazz_1k:03-0018137")
    assert (record.title, record.responsibility, record.year) == (
        "Friendly fire",
        "Joe Lovano and Greg Osby",
        1999,
    )
    assert record.doc_type == "cd"
    copy = record.copies.get()
    assert (copy.barcode, copy.call_number, copy.doc_type) == ("30007007467409", "5490", "cd")
    assert copy.source_codes == {
        "tag": "949",
        "branches": ["HUNTINGTON"],
        "location": "HUNT-AUDIO",
        "type": "SOUND",
    }


def test_isbn_is_validated_and_stored_as_isbn13(db):
    make_branch()
    run([JAZZ])
    assert Record.objects.get(source_key="jazz_1k:035:(Sirsi) a272184").isbn == "9780820403205"
    assert all(
        isbn13(isbn) == isbn for isbn in Record.objects.exclude(isbn="").values_list("isbn", flat=True)
    )


# --- re-import ----------------------------------------------------------------------


def test_reimport_updates_instead_of_duplicating(tmp_path, db):
    make_branch()
    run([JAZZ, LUL, MEL])
    chunks = raw_records(JAZZ)
    assert b"Friendly fire" in chunks[0]
    chunks[0] = chunks[0].replace(b"Friendly fire", b"Friendly Fire")  # same length
    edited = write(tmp_path, "jazz_1k.mrc", chunks)

    report, _ = run([edited, LUL, MEL])

    assert (Record.objects.count(), Copy.objects.count()) == (1209, 1481)
    assert (report.records_created, report.records_updated, report.copies_created) == (0, 1, 0)
    assert report.records_unchanged == 1208 and report.copies_unchanged == 1481
    assert Record.objects.get(source_key="jazz_1k:03-0018137").title == "Friendly Fire"


def test_reimport_keeps_the_status_set_by_the_service(db):
    make_branch()
    run([LUL])
    Copy.objects.filter(barcode="30007004052170").update(status=CopyStatus.SET_ASIDE)
    run([LUL])
    assert Copy.objects.get(barcode="30007004052170").status == CopyStatus.SET_ASIDE


def test_import_runs_in_batches_with_few_queries(db, django_assert_max_num_queries):
    make_branch()
    # 1,000 records: a handful of queries per batch of 500, none per record.
    with django_assert_max_num_queries(40):
        run([JAZZ], batch_size=500)
    assert Record.objects.count() == 1000


# --- malformed input ----------------------------------------------------------------


def test_truncated_file_reports_the_cut_record_and_keeps_the_others(tmp_path, db):
    make_branch()
    data = JAZZ.read_bytes()
    chunks = raw_records(JAZZ)
    offset = sum(map(len, chunks[:499]))
    path = tmp_path / "cut.mrc"
    path.write_bytes(data[: offset + 300])

    report, out = run([path])

    assert Record.objects.count() == 499
    [problem] = report.problems
    assert (problem.code, problem.record, problem.offset) == ("truncated", 500, offset)
    assert f"record 500, byte {offset}" in out


def test_bad_record_length_is_skipped_and_reading_resumes(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)
    chunks[2] = b"x9z12" + chunks[2][5:]  # not a number
    chunks[5] = b"%05d" % (len(chunks[5]) - 40) + chunks[5][5:]  # a number, but wrong
    path = write(tmp_path, "lengths.mrc", chunks)

    report, _ = run([path])

    assert codes(report) == [("bad_length", 3), ("bad_length", 6)]
    assert report.problems[1].offset == sum(map(len, chunks[:5]))
    assert report.records_created == 98
    assert Copy.objects.count() == 114 - 2


def test_bad_leader_is_reported(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)
    chunks[0] = chunks[0][:12] + b"ab?de" + chunks[0][17:]  # base address of data
    path = write(tmp_path, "leader.mrc", chunks)

    report, _ = run([path])

    assert codes(report) == [("bad_leader", 1)]
    assert "ab?de" in report.problems[0].message
    assert report.records_created == 99


def test_record_claiming_utf8_but_in_marc8_is_refused(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)
    marc8 = next(i for i, c in enumerate(chunks) if not c.isascii())
    chunks[marc8] = chunks[marc8][:9] + b"a" + chunks[marc8][10:]
    path = write(tmp_path, "flag.mrc", chunks)

    report, _ = run([path])

    assert codes(report) == [("encoding", marc8 + 1)]
    assert report.records_created == 99


def test_latin1_record_is_refused_rather_than_garbled(tmp_path, db):
    make_branch()
    record = pymarc.Record(leader="     nam  22     1  4500")  # leader/09 blank: MARC-8 claimed
    record.add_field(pymarc.Field("001", data="latin1-1"))
    title = pymarc.Subfield("a", "Société générale : Édition")
    record.add_field(pymarc.Field("245", pymarc.Indicators("0", "0"), [title]))
    utf8 = record.as_marc()
    latin1 = utf8.replace(
        "Société générale : Édition".encode(), "Société générale : Édition".encode("latin-1")
    )
    latin1 = b"%05d" % len(latin1) + latin1[5:9] + b" " + latin1[10:]
    path = write(tmp_path, "latin1.mrc", [raw_records(LUL)[0], latin1])

    report, _ = run([path])

    assert codes(report) == [("encoding", 2)]
    assert Record.objects.count() == 1


def test_missing_and_duplicate_barcodes_are_reported_and_skipped(tmp_path, db):
    make_branch()
    chunks = raw_records(LUL)
    first = pymarc.Record(data=chunks[0]).get("949")["i"].encode()
    second = pymarc.Record(data=chunks[1]).get("949")["i"].encode()
    chunks[1] = chunks[1].replace(b"\x1fi" + second, b"\x1fi" + first)
    third = pymarc.Record(data=chunks[2]).get("949")["i"].encode()
    chunks[2] = chunks[2].replace(b"\x1fi" + third, b"\x1fx" + third)  # barcode subfield gone
    path = write(tmp_path, "barcodes.mrc", chunks)

    report, out = run([path])

    assert codes(report) == [("duplicate_barcode", 2), ("no_barcode", 3)]
    assert report.records_created == 100
    assert Copy.objects.count() == 112
    assert Copy.objects.get(barcode=first.decode()).record.source_key.endswith(":01-0118795")
    assert "record 2" in out and "record 3" in out


def test_same_barcode_in_two_files_keeps_the_first(tmp_path, db):
    make_branch()
    copy = write(tmp_path, "lul_again.mrc", raw_records(LUL)[:3])
    report, _ = run([LUL, copy])
    assert [p.code for p in report.problems] == ["duplicate_barcode"] * 3
    assert Copy.objects.count() == 114
    assert report.files[1].records_created == 3


def test_marcxml_and_utf8_iso2709_give_the_same_records(tmp_path, db):
    make_branch()
    records = [pymarc.Record(data=c) for c in raw_records(LUL)]
    xml = tmp_path / "lul.xml"
    writer = pymarc.XMLWriter(open(xml, "wb"))  # noqa: SIM115 - XMLWriter closes it
    for record in records:
        writer.write(record)
    writer.close()
    utf8 = write(tmp_path, "lul_utf8.mrc", [r.as_marc() for r in records])
    # UTF-8 whose leader says MARC-8, as some systems export it.
    unflagged = write(tmp_path, "lul_unflagged.mrc", [c[:9] + b" " + c[10:] for c in raw_records(utf8)])

    run([LUL])
    expected = dict(Record.objects.values_list("source_key", "title"))
    assert any(not title.isascii() for title in expected.values())
    for path in (xml, utf8, unflagged):
        Record.objects.all().delete()
        report, _ = run([path], source="lul_fre_100")
        assert report.problems == []
        assert dict(Record.objects.values_list("source_key", "title")) == expected
        assert Copy.objects.count() == 114


def test_broken_marcxml_keeps_the_records_before_the_break(tmp_path, db):
    make_branch()
    records = [pymarc.Record(data=c) for c in raw_records(LUL)[:10]]
    xml = b"<collection xmlns='http://www.loc.gov/MARC21/slim'>"
    xml += b"".join(pymarc.record_to_xml(r, namespace=False) for r in records)
    cut = xml.index(b"<record>", len(xml) // 2)
    path = tmp_path / "broken.xml"
    path.write_bytes(xml[: cut + 200] + b"</collection>")

    report, _ = run([path])

    assert [p.code for p in report.problems] == ["xml"]
    assert report.problems[0].line is not None
    assert 0 < report.records_created < 10


def test_missing_file_is_reported_and_the_others_imported(tmp_path, db):
    make_branch()
    report, _ = run([tmp_path / "nowhere.mrc", tmp_path, LUL])
    assert [(p.code, p.file) for p in report.problems] == [
        ("unreadable", str(tmp_path / "nowhere.mrc")),
        ("unreadable", str(tmp_path)),
    ]
    assert report.records_created == 100


def test_records_without_identifier_or_title_are_reported(tmp_path, db):
    make_branch()
    anonymous = pymarc.Record(leader="00000nam a2200000 a 4500")
    anonymous.add_field(
        pymarc.Field("245", pymarc.Indicators("0", "0"), [pymarc.Subfield("a", "Sans numéro")])
    )
    untitled = pymarc.Record(leader="00000nam a2200000 a 4500")
    untitled.add_field(pymarc.Field("001", data="t1"))
    untitled.add_field(pymarc.Field("500", pymarc.Indicators(" ", " "), [pymarc.Subfield("a", "Une note")]))
    good = raw_records(LUL)[0]
    path = write(tmp_path, "odd.mrc", [anonymous.as_marc(), untitled.as_marc(), good])

    report, _ = run([path])

    assert codes(report) == [("no_identifier", 1), ("no_title", 2)]
    assert list(Record.objects.values_list("source_key", flat=True)) == ["odd:01-0118795"]


# --- mapping of codes ---------------------------------------------------------------


def test_branch_and_location_codes_map_to_the_network(db):
    central = make_branch(code="PDI")
    branch = make_branch(code="desmarais", name="Desmarais")
    location = make_location(make_department(branch, code="adultes"), code="desm-cir")
    rare = make_department(branch, code="patrimoine")

    report, _ = run([LUL], default_branch=None, code_map={"departments": {"DESM-RARE": "patrimoine"}})

    assert report.copies_created == 114
    assert not Copy.objects.filter(branch=central).exists()
    assert Copy.objects.filter(location=location, department=location.department).count() == 108
    rare_copies = Copy.objects.filter(source_codes__location="DESM-RARE")
    assert [(c.location, c.department) for c in rare_copies] == [(None, rare)] * 6


def test_code_map_sends_source_branches_to_ours_and_unknown_ones_are_skipped(db):
    make_branch(code="PDI")
    report, out = run([JAZZ], default_branch=None, code_map={"branches": {"huntington": "PDI"}})
    assert report.copies_created == 1215
    assert [p.code for p in report.problems] == ["no_branch"] * 23
    assert "DESMARAIS" in out


def test_unknown_default_branch_or_mapped_branch_stops_before_writing(db):
    make_branch(code="PDI")
    with pytest.raises(ValueError):
        import_marc([LUL], default_branch="nowhere")
    with pytest.raises(ValueError):
        import_marc([LUL], code_map={"branches": {"DESMARAIS": "nowhere"}})
    assert not Record.objects.exists()


def koha_record(barcode="B1", branch="CRX", location="JEUNE", itype="DVD"):
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field("001", data="k1"))
    record.add_field(pymarc.Field("008", data="200101s2020    fr     b     000 1 fre d"))
    record.add_field(pymarc.Field("245", pymarc.Indicators("1", "0"), [pymarc.Subfield("a", "Le loup")]))
    subfields = [
        ("a", branch),
        ("b", branch),
        ("c", location),
        ("o", "J DVD LOU"),
        ("p", barcode),
        ("y", itype),
    ]
    record.add_field(
        pymarc.Field("952", pymarc.Indicators(" ", " "), [pymarc.Subfield(*s) for s in subfields])
    )
    return record


def test_koha_marc21_items_are_detected_and_their_types_mapped(tmp_path, db):
    crx = make_branch(code="CRX", name="Croix-Rousse")
    jeunesse = make_location(make_department(crx, code="jeunesse"), code="jeune")
    path = write(tmp_path, "koha.mrc", [koha_record().as_marc()])

    report, _ = run([path], default_branch=None)

    assert report.files[0].preset == "koha-marc21"
    copy = Copy.objects.get(barcode="B1")
    assert (copy.branch, copy.location, copy.doc_type, copy.call_number) == (
        crx,
        jeunesse,
        "dvd",
        "J DVD LOU",
    )
    # The record itself says "text" only: its items tell it is a DVD; 008/22 "b" is 6-8.
    record = copy.record
    assert (record.doc_type, record.audience, record.age_min, record.age_max) == ("dvd", "youth", 6, 8)


def test_comics_are_told_by_008_or_by_their_subjects(tmp_path, db):
    make_branch()
    # Item types say nothing here: the records alone must tell.
    by_code = koha_record(barcode="C1", itype="")
    by_code["001"].data = "c1"
    by_code["008"].data = by_code["008"].data[:33] + "c" + by_code["008"].data[34:]
    by_subject = koha_record(barcode="C2", itype="")
    by_subject["001"].data = "c2"
    subject = [pymarc.Subfield("a", "Bandes dessinées"), pymarc.Subfield("x", "Humour")]
    by_subject.add_field(pymarc.Field("650", pymarc.Indicators(" ", "4"), subject))
    opera = koha_record(barcode="C3", itype="")
    opera["001"].data = "c3"
    opera.add_field(pymarc.Field("650", pymarc.Indicators(" ", "0"), [pymarc.Subfield("a", "Comic operas")]))
    path = write(tmp_path, "comics.mrc", [r.as_marc() for r in (by_code, by_subject, opera)])

    run([path])

    assert dict(Record.objects.values_list("source_key", "doc_type")) == {
        "comics:c1": "comic",
        "comics:c2": "comic",
        "comics:c3": "book",
    }


def test_custom_mapping_and_type_code_map(tmp_path, db):
    make_branch(code="CRX")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"preset": "koha-marc21", "call_number": "c"}))
    codes_file = tmp_path / "codes.json"
    codes_file.write_text(json.dumps({"types": {"DVD": "game"}}))
    path = write(tmp_path, "koha.mrc", [koha_record().as_marc()])

    run([path], mapping=load_mapping(mapping), code_map=load_code_map(codes_file), default_branch=None)

    copy = Copy.objects.get(barcode="B1")
    assert (copy.call_number, copy.doc_type) == ("JEUNE", "game")


def test_bad_mapping_and_code_map_files_raise_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_mapping(bad)
    with pytest.raises(ValueError, match="Unknown keys"):
        load_mapping({"preset": "sirsi", "barcod": "i"})
    with pytest.raises(ValueError, match="Unknown document types"):
        load_code_map({"types": {"DI": "livre"}})
    assert load_mapping({"tag": "852", "barcode": "p", "call_number": "h", "branch": "b"}).branch == ("b",)
    assert PRESETS["koha-unimarc"].tag == "995"


# --- item statuses ------------------------------------------------------------------


def koha_items(*items):
    """A Koha MARC21 record with one 952 per (barcode, extra subfields) item.

    952$0 is withdrawn, $1 lost, $q the due date of a checked-out item.
    """
    record = koha_record()
    record.remove_fields("952")
    for barcode, extra in items:
        subfields = [("a", "PDI"), ("o", f"CALL {barcode}"), ("p", barcode), ("y", "BOOK"), *extra]
        record.add_field(
            pymarc.Field("952", pymarc.Indicators(" ", " "), [pymarc.Subfield(*s) for s in subfields])
        )
    return record


def statuses():
    return dict(Copy.objects.values_list("barcode", "status"))


NOT_OUT = [("0", "0"), ("1", "0")]  # what Koha writes on every item that is neither


def test_koha_withdrawn_lost_and_checked_out_items_get_their_status(tmp_path, db):
    make_branch()
    record = koha_items(
        ("W1", [("0", "1"), ("1", "0")]),
        ("L1", [("0", "0"), ("1", "2")]),
        ("Q1", [*NOT_OUT, ("q", "2026-12-01")]),
        ("S1", NOT_OUT),
        ("WL", [("0", "1"), ("1", "1"), ("q", "2026-12-01")]),  # withdrawn wins
    )
    path = write(tmp_path, "koha.mrc", [record.as_marc()])

    report, _ = run([path])

    assert report.problems == []
    assert statuses() == {
        "W1": CopyStatus.WITHDRAWN,
        "L1": CopyStatus.MISSING,
        "Q1": CopyStatus.ON_LOAN,
        "S1": CopyStatus.ON_SHELF,
        "WL": CopyStatus.WITHDRAWN,
    }
    codes = dict(Copy.objects.values_list("barcode", "source_codes"))
    assert (codes["W1"]["withdrawn"], codes["L1"]["lost"], codes["Q1"]["on_loan"]) == ("1", "2", "2026-12-01")
    assert {"withdrawn", "lost", "on_loan"}.isdisjoint(codes["S1"])  # "0" says nothing


def test_unimarc_lost_item_is_missing(tmp_path, db):
    make_branch()
    record = pymarc.Record(leader="00000nam0 22000001  450 ")
    record.add_field(pymarc.Field("001", data="u1"))
    record.add_field(
        pymarc.Field("200", pymarc.Indicators("1", " "), [pymarc.Subfield("a", "Le petit prince")])
    )
    # 995$n is Koha's items.onloan in UNIMARC ("date de restitution prévue"): it was not
    # read, and an item out at the source was imported as on the shelf (twenty-fifth session).
    items = [("U1", [("2", "1")]), ("U2", [("0", "0"), ("2", "0")]), ("U3", [("0", "1")])]
    items.append(("U4", [("0", "0"), ("2", "0"), ("n", "2026-12-24")]))
    for barcode, extra in items:
        subfields = [("b", "PDI"), ("f", barcode), ("k", "R SAI"), *extra]
        record.add_field(
            pymarc.Field("995", pymarc.Indicators(" ", " "), [pymarc.Subfield(*s) for s in subfields])
        )
    path = write(tmp_path, "uni.mrc", [record.as_marc()])

    report, _ = run([path])

    assert report.files[0].preset == "koha-unimarc"
    assert statuses() == {
        "U1": CopyStatus.MISSING,
        "U2": CopyStatus.ON_SHELF,
        "U3": CopyStatus.WITHDRAWN,
        "U4": CopyStatus.ON_LOAN,
    }
    assert Copy.objects.get(barcode="U1").source_codes["lost"] == "1"


def test_reimport_puts_a_found_item_back_on_the_shelf(tmp_path, db):
    make_branch()
    run([write(tmp_path, "koha.mrc", [koha_items(("L1", [("0", "0"), ("1", "2")])).as_marc()])])
    assert statuses() == {"L1": CopyStatus.MISSING}

    report, _ = run([write(tmp_path, "koha.mrc", [koha_items(("L1", NOT_OUT)).as_marc()])])

    assert report.problems == []
    assert (report.copies_updated, statuses()) == (1, {"L1": CopyStatus.ON_SHELF})
    assert "lost" not in Copy.objects.get(barcode="L1").source_codes


@pytest.mark.parametrize("owned", [CopyStatus.SET_ASIDE, CopyStatus.HOLD_SHELF, CopyStatus.IN_TRANSIT])
def test_reimport_keeps_a_status_owned_by_a_request_and_says_so(tmp_path, db, owned):
    make_branch()
    run([write(tmp_path, "koha.mrc", [koha_items(("L1", NOT_OUT), ("W1", NOT_OUT)).as_marc()])])
    Copy.objects.filter(barcode="L1").update(status=owned)
    lost_and_withdrawn = koha_items(("L1", [("0", "0"), ("1", "2")]), ("W1", [("0", "1"), ("1", "0")]))

    report, out = run([write(tmp_path, "koha.mrc", [lost_and_withdrawn.as_marc()])])

    assert statuses() == {"L1": owned, "W1": CopyStatus.WITHDRAWN}
    [problem] = report.problems
    assert (problem.code, problem.record, problem.barcode) == ("status_kept", 1, "L1")
    assert "L1" in problem.message and "Missing" in problem.message
    assert "record 1" in out
    # Its status codes are not noted as the copy's: the first import after it is back sees the news.
    assert "lost" not in Copy.objects.get(barcode="L1").source_codes


def test_reimport_keeps_a_copy_lent_at_our_door_on_loan(tmp_path, db):
    """Lost at the source, found and lent here: the source's "found" must not shelve it."""
    from emporter.desk.models import Loan

    branch = make_branch()
    lost = [("0", "0"), ("1", "1")]
    run([write(tmp_path, "koha.mrc", [koha_items(("S1", lost), ("S2", lost)).as_marc()])])
    Copy.objects.update(status=CopyStatus.ON_LOAN)
    Loan.objects.create(
        copy=Copy.objects.get(barcode="S1"), branch=branch, due_date=datetime.date(2026, 12, 24)
    )

    report, _ = run([write(tmp_path, "koha.mrc", [koha_items(("S1", NOT_OUT), ("S2", NOT_OUT)).as_marc()])])

    # S2 has no loan here: the source's news (found) puts it on the shelf.
    assert statuses() == {"S1": CopyStatus.ON_LOAN, "S2": CopyStatus.ON_SHELF}
    [problem] = report.problems
    assert (problem.code, problem.barcode) == ("status_kept", "S1")


def test_reimport_without_news_from_the_source_keeps_our_missing_copy_missing(tmp_path, db):
    """Our picker did not find it: an import saying what it said yesterday changes nothing."""
    make_branch()
    file = write(tmp_path, "koha.mrc", [koha_items(("S1", NOT_OUT)).as_marc()])
    run([file])
    Copy.objects.update(status=CopyStatus.MISSING)

    report, _ = run([file])

    assert (report.problems, statuses()) == ([], {"S1": CopyStatus.MISSING})
    # News from the source (withdrawn there) still applies.
    run([write(tmp_path, "koha.mrc", [koha_items(("S1", [("0", "1"), ("1", "0")])).as_marc()])])
    assert statuses() == {"S1": CopyStatus.WITHDRAWN}


def set_aside_while_importing(monkeypatch) -> None:
    """A request sets each copy aside after the importer read it, before it writes."""
    real_changes = importer.changes

    def set_aside_meanwhile(obj, values):
        if isinstance(obj, Copy):
            Copy.objects.filter(pk=obj.pk).update(status=CopyStatus.SET_ASIDE)
        return real_changes(obj, values)

    monkeypatch.setattr(importer, "changes", set_aside_meanwhile)


def test_a_copy_set_aside_during_the_import_keeps_its_status(tmp_path, db, monkeypatch):
    make_branch()
    run([write(tmp_path, "koha.mrc", [koha_items(("L1", NOT_OUT)).as_marc()])])
    set_aside_while_importing(monkeypatch)
    report, _ = run([write(tmp_path, "koha.mrc", [koha_items(("L1", [("0", "0"), ("1", "2")])).as_marc()])])

    assert statuses() == {"L1": CopyStatus.SET_ASIDE}
    assert [(p.code, p.record, p.barcode) for p in report.problems] == [("status_kept", 1, "L1")]
    assert "not updated" in report.problems[0].message


def test_sirsi_reads_no_status_so_copies_are_on_the_shelf_and_keep_theirs(db):
    make_branch()
    run([JAZZ])
    assert set(statuses().values()) == {CopyStatus.ON_SHELF}
    assert PRESETS["sirsi"].reads_status is False
    Copy.objects.filter(barcode="30007007467409").update(status=CopyStatus.MISSING)

    report, _ = run([JAZZ])

    assert report.problems == [] and report.copies_unchanged == 1238
    assert Copy.objects.get(barcode="30007007467409").status == CopyStatus.MISSING


def test_custom_mapping_may_read_statuses_from_other_subfields(tmp_path, db):
    make_branch()
    mapping = load_mapping({"preset": "koha-marc21", "lost": "9", "withdrawn": ""})
    assert (mapping.withdrawn, mapping.lost, mapping.on_loan) == ("", "9", "q")
    record = koha_items(("L1", [("0", "1"), ("9", "4")]), ("S1", [("0", "1")]))

    run([write(tmp_path, "koha.mrc", [record.as_marc()])], mapping=mapping)

    assert statuses() == {"L1": CopyStatus.MISSING, "S1": CopyStatus.ON_SHELF}
    with pytest.raises(ValueError, match="must be strings"):
        load_mapping({"preset": "koha-marc21", "lost": 1})


def test_unimarc_target_audience_gives_the_age_band(tmp_path, db):
    make_branch()
    record = pymarc.Record(leader="00000nam0 22000001  450 ")
    record.add_field(pymarc.Field("001", data="u1"))
    record.add_field(
        pymarc.Field(
            "100", pymarc.Indicators(" ", " "), [pymarc.Subfield("a", "20200101d2019    c  y0frey0103    ba")]
        )
    )
    record.add_field(
        pymarc.Field(
            "200",
            pymarc.Indicators("1", " "),
            [pymarc.Subfield("a", "Le petit prince"), pymarc.Subfield("f", "Saint-Exupéry")],
        )
    )
    record.add_field(
        pymarc.Field("010", pymarc.Indicators(" ", " "), [pymarc.Subfield("a", "2-07-040850-7")])
    )
    path = write(tmp_path, "uni.mrc", [record.as_marc()])

    run([path])

    imported = Record.objects.get()
    assert (imported.title, imported.responsibility, imported.year) == (
        "Le petit prince",
        "Saint-Exupéry",
        2019,
    )
    assert (imported.audience, imported.age_min, imported.age_max) == ("youth", 5, 10)
    assert imported.isbn == "9782070408504"


# --- helpers and the command --------------------------------------------------------


def test_mojibake_repair():
    assert repair_mojibake("8Â°007.775") == "8°007.775"
    assert repair_mojibake("Ã©tÃ© Ã\u00a0 Paris") == "été à Paris"
    assert repair_mojibake("Âge moyen") == "Âge moyen"


def test_isbn_and_ean_checksums():
    assert isbn13("0820403202 (pbk.)") == "9780820403205"
    assert isbn13("0820403203") == ""
    assert isbn13("978-2-07-040850-4") == "9782070408504"
    assert ean13("4006381333931") == "4006381333931"
    assert ean13("4006381333932") == ""
    assert ean13("036000291452") == "0036000291452"  # UPC-A


def test_reader_reports_byte_offsets(tmp_path):
    chunks = raw_records(LUL)[:3]
    entries = list(read_marc(write(tmp_path, "three.mrc", chunks)))
    assert [e.offset for e in entries] == [0, len(chunks[0]), len(chunks[0]) + len(chunks[1])]


def test_import_marc_command_prints_problems_and_summary(db):
    make_branch()
    out, err = io.StringIO(), io.StringIO()
    call_command("import_marc", str(MEL), "--default-branch", "PDI", "--no-progress", stdout=out, stderr=err)
    assert "4°014.248" in err.getvalue()
    assert "109" in out.getvalue() and "129" in out.getvalue()
    with pytest.raises(CommandError):
        call_command("import_marc", str(MEL), "--default-branch", "nowhere", stdout=out, stderr=err)
