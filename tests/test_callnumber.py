import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from hypothesis import example, given
from hypothesis import strategies as st
from pymarc import MARCReader

from emporter.catalogue.callnumber import MAX_KEY_LENGTH, normalise, sort_key
from tests.conftest import make_record

MARC_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "marc"
KEY_ALPHABET = re.compile(r"[0-9a-z]*")


def shelf_order(call_numbers):
    shuffled = list(call_numbers)
    random.Random(4).shuffle(shuffled)
    return sorted(shuffled, key=sort_key)


@pytest.mark.parametrize(
    "expected",
    [
        pytest.param(
            ["072", "072.1", "072.1 DUP", "072.10", "072.2", "100", "398.2 GRI", "398.21"], id="dewey"
        ),
        pytest.param(["Fol. 12", "F° 13", "4°014.248", "8°007.775", "8°007.78", "12°006.933"], id="formats"),
        pytest.param(["in-4 25", "in-8° 3", "8° 12"], id="in-formats"),
        pytest.param(["R DUP", "R DUP 2", "R DUPONT", "R DURAS", "R FOL", "RP SIM"], id="fiction"),
        pytest.param(["BD GOS", "BD SER 2", "BD/SERIES", "BD/SERIES 3"], id="comics"),
        pytest.param(
            [
                "A MAR",
                "BD GOS",
                "CD 1.2 BEA",
                "DVD F HIT",
                "E A/SAR",
                "E ALB",
                "J 398.2",
                "J 400",
                "J DUP",
                "JR DUP",
                "R DUP",
                "RP SIM",
            ],
            id="prefix-families",
        ),
        pytest.param(["T.0252", "T.0252(1)", "T.0252(2)", "T.0252(10)", "T.253"], id="numbered-volumes"),
        pytest.param(["Vol. 2", "Vol. 10", "Vol. 10 bis"], id="vol"),
        pytest.param(["R ROW T1", "R ROW T2", "R ROW T10"], id="volumes-after-author"),
        pytest.param(
            ["CD 1.2 BEA", "CD 1.2 MOZ", "CD 1.25 ABC", "CD 2.1 MIL", "CD 3.32 ZAP", "CD 3.4 ABC"], id="cd"
        ),
        pytest.param(["1.2 BEA", "2.1 MIL", "3.32", "3.4"], id="pcdm4"),
        pytest.param(["DVD F HIT", "DVD F KUB", "DVD FA AVE", "DVD J MIY"], id="dvd"),
        pytest.param(["M 1366 B4", "M 1366 B47", "M 1366 B5", "M 1366 C1"], id="lc-cutters-are-decimals"),
        pytest.param(["128", "1004", "BH39T4", "MEL8°004(03)", "Д 12"], id="numbers-formats-words-scripts"),
    ],
)
def test_call_numbers_sort_in_shelf_order(expected):
    assert shelf_order(expected) == expected


def test_case_spacing_and_double_encoding_give_the_same_key():
    assert sort_key("r  dup") == sort_key(" R DUP ") == sort_key("R\u00a0DUP") == sort_key("R DUP")
    assert sort_key("8Â°007.775") == sort_key("8°007.775") == sort_key("8º007.775")


@pytest.mark.parametrize(
    ("one", "other"), [("BD/SERIES", "BD SERIES"), ("É A/SAR", "E A/SAR"), ("072", "72")]
)
def test_spelling_variants_tie_next_to_each_other(one, other):
    neighbours = ["BD SER", "BD SERIES 1", "E A/RAB", "E A/SAT", "071.9", "072.1"]
    ordered = shelf_order([one, other, *neighbours])
    assert sort_key(one) != sort_key(other)
    assert abs(ordered.index(one) - ordered.index(other)) == 1


def test_blank_call_number_sorts_first():
    assert sort_key("") == sort_key("   ") == ""
    assert shelf_order(["000", "...", "", "A"]) == ["", "...", "000", "A"]


# Real call numbers, from the MARC exports in ../shared/data/marc/.


def read_call_numbers(name, tag, code, **options):
    path = MARC_DIR / name
    if not path.exists():
        pytest.skip(f"real MARC file missing: {path}")
    with path.open("rb") as marc:
        return [
            value
            for record in MARCReader(marc, to_unicode=True, **options)
            if record is not None
            for field in record.get_fields(tag)
            for value in field.get_subfields(code)
        ]


REAL_FILES = {
    "jazz": ("jazz_1k.mrc", "949", "a", {}),
    "lul": ("lul_fre_100.mrc", "949", "a", {}),
    "mel": ("cotesMEL.mrc", "995", "k", {"force_utf8": True}),
}

REAL_SHELF_ORDER = {
    "jazz": [
        "128", "812", "1004", "3428 BK", "3428 LP", "3489", "3489 4TH ED. BK", "3489 6TH ED. BK", "3489 BK",
        "3489 BK 1982", "3489 CD", "3489  CD 1", "3489 CD2", "3489 CD Disk 1", "3489 LP", "3489 V.21 CD",
        "4371 PT.1", "4371 PT.2", "4703 cd 1", "4703 cd. 2", "5490", "BH39T4", "GV 1623 S67", "GV1753A57",
        "GV 1753 C3", "HUNT03-0009832", "M 25.5 E9", "M 25.5 E9 1965", "M25.5 .P6", "M 106 G6", "M 1366 B34",
        "M 1366 B37 C42", "M 1366 B4", "M 1366 B42 G7", "M 1366 B47 B4", "M 1366 B52 C6", "M 1366 C427",
        "M 1366 E3", "M 1366 E44 C37", "M 1630.18 J3", "ML 1 J39 Per.", "ML 156.4 J3 B66 1991", "ML 3506 A92",
        "ML3506B7 1989", "ML 3561 J3 E5 1966 Ref.", "ML 3561 J3 E5 1976 Ref.", "MT 68 R37 1989",
        "MT68 .R37 1995", "PQ 2631 A26 J3 1954", "Z 5782 S34", "Z 5782 S34 Ref.",
    ],
    "lul": [
        "91-12 A1", "91-15 A1", "92-1374 B37", "B 2947 R7 1912", "BR 253 P7", "BX 4705 C363 H8",
        "BX 4705 D84 F4", "E 61 B56", "E 184 F8 M2", "E 184 F85 B4", "FC51C43 1886", "FC 51 F74",
        "FC 133 M66", "FC 2946.8 H68 C38 1878", "FC 2947.4 L42 1890", "P 121 M4 1921", "PQ 149 B4",
        "PQ263F3 1890", "PQ 263 F3 1910", "PQ 2635 O52 A7 1911", "PQ 2635 O7 C4", "PQ 2635 O8 H3 1913",
        "PS 9453 E78 M9 1898",
        "PS 9453 L8 M3 1913", "QD 181 R1 M6", "Z 8660 B4",
    ],
    # cotesMEL stores the degree sign double-encoded ("8Â°"): written here as printed.
    "mel": [
        "4°014.248", "4°027.475", "12°006.933", "COL4°2463(1955>1959)", "D.0899", "MEL4°006(20)",
        "MEL4°006(24)", "MEL4°107(10)", "MEL8°004(03)", "MEL8°004(10)", "MEL8°453(03)", "MEL12°071(12)",
        "MEL12°101(02)", "MEL.GR8°003(08)", "MEL.GR8°026(01)", "MEL.GR8°026(10)", "MEL.GR8°108(16-1)",
        "MEL.GR8°108(16-2)", "MEL.GR8°111(07)",
    ],
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(REAL_FILES))
def real_file(request):
    name, tag, code, options = REAL_FILES[request.param]
    return request.param, read_call_numbers(name, tag, code, **options)


def test_real_call_numbers_sort_in_shelf_order(real_file):
    name, call_numbers = real_file
    as_printed = {normalise(c): c for c in call_numbers}
    expected = REAL_SHELF_ORDER[name]
    assert set(map(normalise, expected)) <= as_printed.keys(), "the sample must come from the file"
    stored = [as_printed[normalise(c)] for c in expected]
    assert [normalise(c) for c in shelf_order(stored)] == [normalise(c) for c in expected]


def test_real_call_numbers_get_short_ascii_keys(real_file):
    _, call_numbers = real_file
    keys = [sort_key(c) for c in call_numbers]
    assert all(0 < len(k) <= MAX_KEY_LENGTH and KEY_ALPHABET.fullmatch(k) for k in keys)
    assert len(set(keys)) == len(set(map(normalise, call_numbers)))


def test_keys_are_the_same_in_another_process():
    # Catches any dependence on hash randomisation or process state.
    sample = [c for order in REAL_SHELF_ORDER.values() for c in order] + ["8Â°007.775", "Д 12", "é\x00★"]
    script = "import sys, json; from emporter.catalogue.callnumber import sort_key; "
    script += "print(json.dumps([sort_key(c) for c in json.load(sys.stdin)]))"
    for seed in ("1", "2024"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", script], input=json.dumps(sample), env=env,
            capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1],
        )  # fmt: skip
        assert json.loads(done.stdout) == [sort_key(c) for c in sample]


# Properties, over arbitrary text and over text built from call-number pieces.

PIECES = [
    "R", "DUP", "bd", "/", "E", "A", "J", "JR", "T", "Vol", "CD", "DVD", "M", "ML", "B", "fol", "F", "in",
    "0", "072", "1", "10", "0252", "398", ".", ". ", "(", ")", "-", " ", "  ", "°", "º", "Â°", "8", "12",
    "É", "é", "œ", "ß", "Д", "١", "\u0301", "\u200b", "\x00", "\t", "ﬁ", "²", "★",
]  # fmt: skip
any_text = st.text(st.characters(exclude_categories=[]), max_size=60)
call_number_like = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
call_numbers = any_text | call_number_like


@given(st.text(st.characters(exclude_categories=[]), max_size=2000) | call_numbers)
@example("9" * 5000)
@example("é" * 1000)
@example("1." * 1000)
@example("\ud800 R DUP")
def test_any_text_gets_an_ascii_key_that_fits(text):
    key = sort_key(text)
    assert len(key) <= MAX_KEY_LENGTH
    assert KEY_ALPHABET.fullmatch(key)


@given(call_numbers)
@example("À¡¡")
def test_key_depends_only_on_the_normalised_call_number(text):
    assert normalise(normalise(text)) == normalise(text)
    assert sort_key(normalise(text)) == sort_key(text)


@given(call_numbers, call_numbers)
@example("R DUP", "r  dup")
@example("x" * 500 + "a", "x" * 500 + "b")
def test_keys_are_equal_only_for_equal_normalised_call_numbers(one, other):
    assert (sort_key(one) == sort_key(other)) == (normalise(one) == normalise(other))


@given(st.lists(call_numbers, max_size=20), st.randoms())
def test_shelf_order_does_not_depend_on_input_order(texts, rnd):
    shuffled = list(texts)
    rnd.shuffle(shuffled)
    assert [normalise(t) for t in sorted(texts, key=sort_key)] == [
        normalise(t) for t in sorted(shuffled, key=sort_key)
    ]


@given(st.text(st.characters(exclude_categories=[]), max_size=40) | call_number_like)
def test_nothing_sorts_before_something(text):
    assert sort_key(text) < sort_key(text + " 1")


@given(st.integers(0, 10**40), st.integers(0, 10**40), st.sampled_from(["T.{}", "Vol. {}", "R DUP {}", "{}"]))
def test_whole_numbers_compare_numerically(one, other, shape):
    if one != other:
        assert (sort_key(shape.format(one)) < sort_key(shape.format(other))) == (one < other)


digits = st.text("0123456789", min_size=1, max_size=8)


@given(digits, digits, digits, digits)
def test_class_numbers_compare_whole_part_then_decimals_digit_by_digit(
    whole, decimals, other_whole, other_decimals
):
    one, other = (int(whole), decimals), (int(other_whole), other_decimals)
    if one != other:
        earlier = sort_key(f"{whole}.{decimals}") < sort_key(f"{other_whole}.{other_decimals}")
        assert earlier == (one < other)


@given(digits, digits)
def test_lc_cutters_compare_as_decimals(one, other):
    if one != other:
        assert (sort_key(f"ML 3561 J{one}") < sort_key(f"ML 3561 J{other}")) == (one < other)


# The database sorts the stored keys: they must sort there as in Python.


def test_database_orders_copies_by_key_in_shelf_order(branch):
    from emporter.catalogue.models import Copy

    expected = ["4°014.248", "12°006.933", "A MAR", "COL4°2463(1955>1959)", "E A/SAR", "J 398.2", "M 1366 B4"]
    expected += ["M 1366 B47", "MEL4°006(20)", "MEL.GR8°003(08)", "R DUP"]
    record = make_record(copies=[])
    Copy.objects.bulk_create(
        Copy(record=record, branch=branch, barcode=f"C{n}", call_number=c, call_number_key=sort_key(c))
        for n, c in enumerate(reversed(expected))
    )
    ordered = Copy.objects.order_by("call_number_key").values_list("call_number", flat=True)
    assert list(ordered) == expected


@pytest.mark.postgres
def test_keys_sort_the_same_under_every_postgresql_collation(postgres):
    sample = [c for order in REAL_SHELF_ORDER.values() for c in order]
    sample += ["", "...", "Д 12", "É A/SAR", "E A/SAR", "r dup", "R DUP 2", "BD/SERIES", "BD SERIES", "★"]
    keys = [sort_key(c) for c in sample]
    with connection.cursor() as cursor:
        cursor.execute("SELECT collname FROM pg_collation WHERE collname = ANY(%s)", [list(COLLATIONS)])
        available = sorted(row[0] for row in cursor.fetchall())
        assert "C" in available and len(available) > 1, available
        for collation in available:
            cursor.execute(
                f'SELECT k FROM unnest(%s::text[]) AS t(k) ORDER BY k COLLATE "{collation}"', [keys]
            )
            assert [row[0] for row in cursor.fetchall()] == sorted(keys), collation


COLLATIONS = ("C", "POSIX", "en_US.utf8", "fr_FR.utf8", "en-x-icu", "fr-FR-x-icu", "fr-x-icu", "und-x-icu")


def test_a_copy_saved_outside_the_importers_gets_its_shelf_key(branch):
    """Added or corrected in the admin: the key follows the call number, so the copy
    takes its place on the pick list instead of coming first (an empty key)."""
    from emporter.catalogue.models import Copy

    copy = Copy.objects.create(record=make_record(), branch=branch, call_number="J 590 ABC")
    assert copy.call_number_key == sort_key("J 590 ABC") != ""
    copy.call_number = "843 ZOL"
    copy.save(update_fields=["call_number"])
    copy.refresh_from_db()
    assert copy.call_number_key == sort_key("843 ZOL")
