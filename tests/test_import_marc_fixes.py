"""The MARC import's answers to a review: broken MARCXML records, character sets,
mojibake repair, copies held by our circulation, location codes shared by departments,
and exports whose file name changes."""

import datetime
import io
import unicodedata
from pathlib import Path

import pymarc
import pytest
from django.core.management import call_command
from django.utils import translation

from emporter.catalogue import importer, marc, marcdata
from emporter.catalogue.importer import Targets, import_marc
from emporter.catalogue.item_mappings import CodeMap, load_mapping
from emporter.catalogue.marcdata import repair_mojibake
from emporter.catalogue.models import Copy, CopyStatus, Record
from tests.conftest import make_branch, make_department, make_location
from tests.test_import_marc import run, set_aside_while_importing

MARC_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "marc"
LUL = MARC_DIR / "lul_fre_100.mrc"


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def codes(report):
    return [(p.code, p.record) for p in report.problems]


def iso2709(fields: list[tuple[str, bytes]], leader: bytes = b"     nam  22     1  4500") -> bytes:
    """An ISO 2709 record from raw field bytes (data fields: indicators and subfields)."""
    directory, data = b"", b""
    for tag, value in fields:
        value += b"\x1e"
        directory += tag.encode() + b"%04d%05d" % (len(value), len(data))
        data += value
    base = 24 + len(directory) + 1
    total = base + len(data) + 1
    return (
        b"%05d" % total + leader[5:12] + b"%05d" % base + leader[17:] + directory + b"\x1e" + data + b"\x1d"
    )


def sub(**subfields: bytes) -> bytes:
    return b"  " + b"".join(b"\x1f" + code.encode() + value for code, value in subfields.items())


def unimarc(title: bytes, charset: bytes = b"0103", ident: bytes = b"u1") -> bytes:
    general = b"20200101d2019    c  y0frey" + charset.ljust(8) + b"ba"
    assert general[26 : 26 + len(charset)] == charset
    return iso2709(
        [("001", ident), ("100", sub(a=general)), ("200", b"1 " + b"\x1fa" + title)],
        leader=b"00000nam0 22000001  450 ",
    )


def marc21(title: bytes, ident: bytes = b"m1", language: bytes = b"fre") -> bytes:
    f008 = b"200101s2020    fr            000 1 " + language + b" d"
    assert f008[35:38] == language
    return iso2709([("001", ident), ("008", f008), ("245", b"10\x1fa" + title)])


def write(tmp_path: Path, name: str, chunks: list[bytes]) -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(chunks))
    return path


def titles():
    return dict(Record.objects.values_list("source_key", "title"))


# --- 1. a malformed MARCXML record is skipped, not fatal ------------------------------


def xml_record(ident: str, title: str) -> str:
    return (
        "<record><leader>00000nam a2200000 a 4500</leader>"
        f'<controlfield tag="001">{ident}</controlfield>\n'
        f'<datafield tag="245" ind1="1" ind2="0"><subfield code="a">{title}</subfield></datafield>\n'
        "</record>\n"
    )


BROKEN_XML = {
    "datafield without tag": xml_record("x2", "Cassé").replace('datafield tag="245"', "datafield"),
    "subfield without code": xml_record("x2", "Cassé").replace('subfield code="a"', "subfield"),
    "short leader": xml_record("x2", "Cassé").replace("00000nam a2200000 a 4500", "00000nam"),
}


@pytest.mark.parametrize("defect", BROKEN_XML)
def test_bad_marcxml_record_is_reported_and_the_records_around_it_imported(tmp_path, db, defect):
    make_branch()
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<collection xmlns="http://www.loc.gov/MARC21/slim">\n'
        + xml_record("x1", "Premier")
        + BROKEN_XML[defect]
        + xml_record("x3", "Troisième")
        + "</collection>\n"
    )
    path = tmp_path / "three.xml"
    path.write_text(xml, encoding="utf-8")

    report, out = run([path])

    assert titles() == {"three:x1": "Premier", "three:x3": "Troisième"}
    [problem] = report.problems
    assert (problem.code, problem.record, problem.line) == ("bad_structure", 2, 6)
    assert "record 2, line 6" in out
    assert report.records_skipped == 1


def test_unexpected_error_in_one_marcxml_record_is_reported_with_its_line(tmp_path, db, monkeypatch):
    make_branch()
    real_field = pymarc.marcxml.Field

    def fragile_field(tag, *args, **kw):
        if tag == "999":
            raise RuntimeError("boom")
        return real_field(tag, *args, **kw)

    monkeypatch.setattr(pymarc.marcxml, "Field", fragile_field)
    odd = xml_record("x2", "Deux").replace("</record>", '<datafield tag="999"/></record>')
    xml = "<collection>\n" + xml_record("x1", "Un") + odd + xml_record("x3", "Trois") + "</collection>"
    path = tmp_path / "odd.xml"
    path.write_text(xml, encoding="utf-8")

    report, _ = run([path])

    assert set(titles().values()) == {"Un", "Trois"}
    assert codes(report) == [("bad_structure", 2)]
    assert "boom" in report.problems[0].message and report.problems[0].line == 5


def test_unexpected_error_in_one_iso2709_record_is_reported_with_its_offset(tmp_path, db, monkeypatch):
    make_branch()
    chunks = [marc21(b"Un", b"m1"), marc21(b"Deux", b"m2"), marc21(b"Trois", b"m3")]
    real = marc._leader_problem

    def fragile(chunk):
        if b"Deux" in chunk:
            raise RuntimeError("boom")
        return real(chunk)

    monkeypatch.setattr(marc, "_leader_problem", fragile)
    report, _ = run([write(tmp_path, "three.mrc", chunks)])

    assert set(titles().values()) == {"Un", "Trois"}
    assert codes(report) == [("bad_structure", 2)]
    assert report.problems[0].offset == len(chunks[0])


# --- 2. character sets ------------------------------------------------------------------


def test_unimarc_in_iso5426_is_decoded(tmp_path, db):
    make_branch()
    title = b"Les mis\xc2erables ; \xc1a la fa\xd0con de c\xfaur, \xc3etre na\xc8if, \xc2Et\xc2e : \xeauvres"
    report, _ = run([write(tmp_path, "uni.mrc", [unimarc(title)])])

    assert report.problems == []
    assert titles() == {"uni:u1": "Les misérables ; à la façon de cœur, être naïf, Été : Œuvres"}


def test_unimarc_undeclared_charset_defaults_to_iso5426(tmp_path, db):
    make_branch()
    run([write(tmp_path, "uni.mrc", [unimarc(b"Les mis\xc2erables", charset=b"  ")])])
    assert titles() == {"uni:u1": "Les misérables"}


def test_unimarc_non_sorting_marks_in_escape_form_are_dropped(tmp_path, db):
    make_branch()
    ascii_only = unimarc(b"\x1bHLe \x1bIchat", ident=b"u1")
    with_accents = unimarc(b"\x1bHLes \x1bImis\xc2erables", ident=b"u2")
    utf8 = unimarc("\x1bHL'\x1bIété".encode(), charset=b"50", ident=b"u3")

    report, _ = run([write(tmp_path, "uni.mrc", [ascii_only, with_accents, utf8])])

    assert report.problems == []
    assert titles() == {"uni:u1": "Le chat", "uni:u2": "Les misérables", "uni:u3": "L'été"}


def test_ascii_marc21_record_with_escapes_is_read_as_marc8(tmp_path, db):
    make_branch()
    report, _ = run([write(tmp_path, "greek.mrc", [marc21(b"Homer \x1bgabc\x1bs", language=b"eng")])])
    assert report.problems == []
    assert titles() == {"greek:m1": "Homer αβγ"}


@pytest.mark.parametrize(
    ("title", "charset"),
    [
        (b"Les mis\xe9rables", b"0103"),  # Latin-1 read as ISO 5426 would give "misØrables"
        (b"Voil\xe0 l'\xe9t\xe9", b"0103"),  # 0xE0 is not ISO 5426
        (b"\xc9cole", b"0103"),  # Latin-1 capital: a diacritic on a letter it cannot take
        (b"Les mis\xc2erables", b"50"),  # 100$a says UTF-8
        (b"Les mis\xc2erables", b"02"),  # Cyrillic: not supported, not guessed
    ],
)
def test_unimarc_record_that_is_not_what_it_says_is_refused(tmp_path, db, title, charset):
    make_branch()
    path = write(tmp_path, "uni.mrc", [unimarc(b"Bon", ident=b"u0"), unimarc(title, charset)])

    report, _ = run([path])

    assert codes(report) == [("encoding", 2)]
    assert titles() == {"uni:u0": "Bon"}


@pytest.mark.parametrize(
    "title",
    [b"Les mis\xe9rables", b"Voil\xe0 l'\xe9t\xe9", b"La f\xeate", b"Le p\xe8re"],
)
def test_marc21_latin1_record_is_refused_even_when_its_accents_sit_inside_words(tmp_path, db, title):
    make_branch()
    path = write(tmp_path, "latin.mrc", [marc21(b"Bon", b"m0"), marc21(title)])

    report, _ = run([path])

    assert codes(report) == [("encoding", 2)]
    assert "--encoding latin-1" in report.problems[0].message
    assert titles() == {"latin:m0": "Bon"}


def test_marc8_french_and_foreign_names_still_import(tmp_path, db):
    make_branch()
    chunks = [
        marc21(b"Les mis\xe2erables", b"m1"),  # MARC-8: the acute precedes the letter
        marc21(b"Dvo\xe9r\xe2ak : symphonies", b"m2"),  # a caron and an acute
        marc21(b"Cha\xe6ikovski\xe6i", b"m3", language=b"eng"),  # LC romanisation
        marc21(b"I\xe1ll remember April", b"m4", language=b"eng"),  # a grave used as apostrophe
    ]
    report, _ = run([write(tmp_path, "m8.mrc", chunks)])

    assert report.problems == []
    assert titles()["m8:m1"] == "Les misérables"
    assert titles()["m8:m2"] == "Dvořák : symphonies"
    assert titles()["m8:m3"] == "Chaĭkovskiĭ"


@pytest.mark.parametrize(
    ("encoding", "chunk", "expected"),
    [
        ("latin-1", marc21(b"Les mis\xe9rables \x96 c\x9cur"), "Les misérables – cœur"),
        ("iso5426", marc21(b"Les mis\xc2erables"), "Les misérables"),
        ("marc-8", marc21(b"Les mis\xe2erables"), "Les misérables"),
        ("utf-8", marc21("Les misérables".encode()), "Les misérables"),
    ],
)
def test_encoding_option_forces_the_character_set_of_a_file(tmp_path, db, encoding, chunk, expected):
    make_branch()
    report, _ = run([write(tmp_path, "forced.mrc", [chunk])], encoding=encoding)
    assert report.problems == []
    assert titles() == {"forced:m1": expected}


def test_unknown_encoding_is_refused_before_writing(db):
    make_branch()
    with pytest.raises(ValueError, match="encoding"):
        import_marc([LUL], encoding="ebcdic", default_branch="PDI")
    assert not Record.objects.exists()


def test_import_marc_command_takes_an_encoding(tmp_path, db):
    make_branch()
    path = write(tmp_path, "latin.mrc", [marc21(b"Les mis\xe9rables")])
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_marc", str(path), "--encoding", "latin-1", "--default-branch", "PDI", "--no-progress",
        stdout=out, stderr=err,
    )  # fmt: skip
    assert titles() == {"latin:m1": "Les misérables"}


def test_shared_files_import_without_broken_characters(db):
    make_branch()
    report, _ = run([MARC_DIR / "jazz_1k.mrc", LUL, MARC_DIR / "cotesMEL.mrc"])
    assert (Record.objects.count(), Copy.objects.count()) == (1209, 1481)
    assert [p.code for p in report.problems] == ["no_barcode"] * 3
    for title in Record.objects.values_list("title", flat=True):
        assert "\ufffd" not in title
        assert not any(unicodedata.category(c) == "Mn" for c in title), title


# --- 3. the mojibake repair leaves correct typography alone ----------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("« Liberté\u00a0»", "« Liberté\u00a0»"),
        ("Voilà\u00a0»", "Voilà\u00a0»"),
        ("L'ÉTÉ\u00a0: roman", "L'ÉTÉ\u00a0: roman"),
        ("Ô\u00a0rage", "Ô\u00a0rage"),
        ("8Â°007.775", "8°007.775"),
        ("Ã©tÃ©", "été"),
        ("Ã‰tÃ©", "Été"),  # UTF-8 read as Windows-1252
        ("Âge moyen", "Âge moyen"),
    ],
)
def test_mojibake_repair_only_undoes_utf8_read_as_latin1(text, expected):
    assert repair_mojibake(text) == expected


def test_clean_keeps_french_spacing_before_punctuation():
    assert marcdata.clean("« Liberté\u00a0»") == "« Liberté »"


# --- 4. copies held by our circulation keep their record and place ---------------------


def koha(ident: str, barcode: str, branch: str = "PDI", location: str = "") -> bytes:
    record = pymarc.Record(leader="00000nam a2200000 a 4500")
    record.add_field(pymarc.Field("001", data=ident))
    record.add_field(
        pymarc.Field("245", pymarc.Indicators("1", "0"), [pymarc.Subfield("a", f"Titre {ident}")])
    )
    subfields = [("a", branch), ("c", location), ("o", "R DUP"), ("p", barcode), ("0", "0"), ("1", "0")]
    item = [pymarc.Subfield(code, value) for code, value in subfields if value]
    record.add_field(pymarc.Field("952", pymarc.Indicators(" ", " "), item))
    return record.as_marc()


HELD = [CopyStatus.SET_ASIDE, CopyStatus.HOLD_SHELF, CopyStatus.IN_TRANSIT, "lent"]


def hold(copy: Copy, how: str, branch) -> None:
    from emporter.desk.models import Loan

    if how == "lent":
        Copy.objects.filter(pk=copy.pk).update(status=CopyStatus.ON_LOAN)
        Loan.objects.create(copy=copy, branch=branch, due_date=datetime.date(2026, 12, 24))
    else:
        Copy.objects.filter(pk=copy.pk).update(status=how)


@pytest.mark.parametrize("how", HELD)
def test_reimport_does_not_move_a_copy_our_circulation_holds(tmp_path, db, how):
    pdi = make_branch()
    make_branch(code="CRX", name="Croix-Rousse")
    run([write(tmp_path, "koha.mrc", [koha("A", "B1"), koha("Z", "B2")])])
    copy = Copy.objects.get(barcode="B1")
    hold(copy, how, pdi)

    # The source relinks B1 to record B and sends it to another branch; B2 moves too.
    report, _ = run(
        [write(tmp_path, "koha.mrc", [koha("B", "B1", branch="CRX"), koha("Z", "B2", branch="CRX")])]
    )

    copy.refresh_from_db()
    assert (copy.record.source_key, copy.branch.code) == ("koha:A", "PDI")
    assert Copy.objects.get(barcode="B2").branch.code == "CRX"
    assert [(p.code, p.barcode) for p in report.problems] == [("placement_kept", "B1")]
    assert "B1" in report.problems[0].message


def test_copy_set_aside_while_the_import_runs_is_not_moved_and_counted_skipped(tmp_path, db, monkeypatch):
    make_branch()
    make_branch(code="CRX", name="Croix-Rousse")
    run([write(tmp_path, "koha.mrc", [koha("A", "B1")])])
    set_aside_while_importing(monkeypatch)
    report, _ = run([write(tmp_path, "koha.mrc", [koha("A", "B1", branch="CRX")])])

    assert Copy.objects.get(barcode="B1").branch.code == "PDI"
    assert [(p.code, p.barcode) for p in report.problems] == [("status_kept", "B1")]
    assert (report.copies_updated, report.copies_skipped) == (0, 1)


# --- 5. location codes repeated across the departments of a branch ----------------------


@pytest.fixture
def two_bd(db):
    pdi = make_branch()
    adultes = make_department(pdi, code="adultes")
    jeunesse = make_department(pdi, code="jeunesse", name="Jeunesse")
    return pdi, make_location(adultes, code="bd", name="BD adultes"), make_location(jeunesse, code="bd")


def test_location_code_shared_by_two_departments_is_reported_not_guessed(tmp_path, two_bd):
    report, _ = run([write(tmp_path, "koha.mrc", [koha("A", "B1", location="BD")])])

    copy = Copy.objects.get(barcode="B1")
    assert (copy.location, copy.department) == (None, None)
    [problem] = report.problems
    assert (problem.code, problem.barcode) == ("ambiguous_location", "B1")
    assert "adultes" in problem.message and "jeunesse" in problem.message


def test_code_map_department_chooses_the_location_within_it(tmp_path, two_bd):
    _, adult_bd, _ = two_bd
    code_map = {"departments": {"BD": "adultes"}}

    report, _ = run([write(tmp_path, "koha.mrc", [koha("A", "B1", location="BD")])], code_map=code_map)

    copy = Copy.objects.get(barcode="B1")
    assert (copy.location, copy.department) == (adult_bd, adult_bd.department)
    assert report.problems == []


def test_item_department_subfield_chooses_the_location_within_it(tmp_path, two_bd):
    _, adult_bd, _ = two_bd
    record = pymarc.Record(data=koha("A", "B1", location="BD"))
    record["952"].add_subfield("x", "adultes")
    mapping = load_mapping({"preset": "koha-marc21", "department": "x"})

    report, _ = run([write(tmp_path, "koha.mrc", [record.as_marc()])], mapping=mapping)

    assert Copy.objects.get(barcode="B1").location == adult_bd
    assert report.problems == []


def test_targets_locate_resolves_the_department_first(two_bd):
    pdi, adult_bd, youth_bd = two_bd
    targets = Targets(CodeMap(), None)

    assert targets.locate(pdi.pk, location="bd", department="jeunesse") == importer.Placement(
        youth_bd.pk, youth_bd.department_id
    )
    ambiguous = targets.locate(pdi.pk, location="bd")
    assert (ambiguous.location_id, ambiguous.problem) == (None, "ambiguous_location")
    assert ambiguous.departments == ("adultes", "jeunesse")
    assert targets.locate(pdi.pk, location="dvd", department="jeunesse").problem == "no_location"
    assert targets.locate(pdi.pk, location="bd", department="musique").problem == "no_department"
    assert targets.locate(pdi.pk, location="dvd").problem == "no_location"
    # The old lookups still answer for callers that have not moved.
    assert targets.location(pdi.pk, "bd") in {
        (adult_bd.pk, adult_bd.department_id),
        (youth_bd.pk, youth_bd.department_id),
    }


# --- 6. an export whose name changes ---------------------------------------------------


def test_dated_export_of_the_same_catalogue_is_warned_about(tmp_path, db):
    make_branch()
    run([LUL])
    nightly = tmp_path / "lul_2024-06-01.mrc"
    nightly.write_bytes(LUL.read_bytes())

    report, _ = run([nightly])

    assert [p.code for p in report.problems] == ["other_source"]
    summary = "\n".join(report.summary_lines())
    assert "--source lul_fre_100" in summary and "114" in summary


def test_reimport_under_the_same_source_is_not_warned_about(tmp_path, db):
    make_branch()
    run([LUL])
    nightly = tmp_path / "lul_2024-06-01.mrc"
    nightly.write_bytes(LUL.read_bytes())

    report, _ = run([nightly], source="lul_fre_100")

    assert report.problems == []
    assert "--source" not in "\n".join(report.summary_lines())


# --- a full export withdraws what it no longer lists (--withdraw-missing) ---------------


def export(tmp_path, barcodes, name="koha.mrc"):
    from tests.test_import_marc import NOT_OUT, koha_items, write

    return write(tmp_path, name, [koha_items(*[(b, NOT_OUT) for b in barcodes]).as_marc()])


def test_a_full_export_withdraws_the_copies_it_no_longer_lists(tmp_path, db):
    from tests.test_import_marc import statuses

    make_branch()
    barcodes = [f"W{n:02d}" for n in range(11)]
    run([export(tmp_path, barcodes)])
    Copy.objects.filter(barcode="W01").update(status=CopyStatus.SET_ASIDE)  # a request holds it
    # W00 weeded in Koha, W01 too but ours for now: only W00 is withdrawn.
    report, out = run([export(tmp_path, barcodes[2:])], withdraw_missing=True)
    assert statuses()["W00"] == CopyStatus.WITHDRAWN
    assert statuses()["W01"] == CopyStatus.SET_ASIDE
    assert {b: s for b, s in statuses().items() if b not in ("W00", "W01")} == dict.fromkeys(
        barcodes[2:], CopyStatus.ON_SHELF
    )
    assert report.withdrawals[0].withdrawn == 1
    assert "1 copies no longer in the export withdrawn" in " ".join(report.summary_lines())
    # Without the option nothing is withdrawn.
    run([export(tmp_path, barcodes[3:])])
    assert statuses()["W02"] == CopyStatus.ON_SHELF


def test_withdrawing_stops_at_a_tenth_of_the_source(tmp_path, db):
    from tests.test_import_marc import statuses

    make_branch()
    barcodes = [f"W{n:02d}" for n in range(11)]
    run([export(tmp_path, barcodes)])
    report, _ = run([export(tmp_path, barcodes[:5])], withdraw_missing=True)  # half: truncated?
    assert CopyStatus.WITHDRAWN not in statuses().values()
    assert "nothing is withdrawn" in report.withdrawals[0].refused
    assert [p.code for p in report.problems] == ["withdraw_refused"]


def test_withdrawing_waits_for_a_file_read_whole(tmp_path, db):
    from tests.test_import_marc import statuses

    make_branch()
    barcodes = [f"W{n:02d}" for n in range(11)]
    run([export(tmp_path, barcodes)])
    good = export(tmp_path, barcodes[1:]).read_bytes()
    broken = tmp_path / "koha.mrc"
    broken.write_bytes(good + b"00999nam  22")  # a second record cut short
    report, _ = run([broken], withdraw_missing=True)
    assert statuses()["W00"] == CopyStatus.ON_SHELF
    assert report.withdrawals[0].refused
