"""The text of a MARC record, cleaned, and the fields Emporter keeps, extracted.

Every extracted string is NFC-normalised, cleared of control and non-sorting characters
and of invisible format characters (zero-width space, direction marks, BOM: ``_FORMAT``),
and repaired when it holds UTF-8 read as Latin-1 or Windows-1252 (``8Â°`` -> ``8°``).

Extraction (``extract``) knows MARC21 and UNIMARC (told apart by 245 vs 200) and fills
a ``RecordData``: title, responsibility, publisher, year, ISBN (checksum validated,
stored as ISBN-13), EAN, language, subjects, series, summary, document type and
audience with its age band (MARC21 008/22, UNIMARC 100$a/17-19).

Record identity (``record_id``): the control number 001; without one, the first 035$a
(a Sirsi or union-catalogue id), then 002, then the ISBN, then the source's own record
number where its item mapping names one (Koha MARC21's biblionumber, 999$c: Koha writes
no 001 unless told to); a kind prefix (``035:``…) keeps those apart from 001 values. The
importer prefixes it with the source name.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

import pymarc

from emporter.catalogue.models import Audience, DocType

# Bytes Windows-1252 leaves undefined (read as Latin-1 controls).
CP1252_UNDEFINED = (0x81, 0x8D, 0x8F, 0x90, 0x9D)


# UTF-8 of U+0080-U+00FF is C2 or C3 then a byte 0x80-0xBF; read as Latin-1 or
# Windows-1252 that is "Â" or "Ã" then one of these. Nothing else is touched: an "é"
# before a no-break space is French typography, not three bytes of UTF-8.
_CONTINUATIONS = {chr(b): b for b in range(0x80, 0xC0)} | {
    bytes([b]).decode("cp1252"): b for b in range(0x80, 0xA0) if b not in CP1252_UNDEFINED
}
_MOJIBAKE = re.compile("[\u00c2\u00c3][" + re.escape("".join(_CONTINUATIONS)) + "]")
# Control characters, including the non-sorting markers (NSB/NSE) of both formats,
# also in their 7-bit form (ESC H, ESC I: UNIMARC) that would otherwise leave an "H".
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")
_ESCAPED_CONTROL = re.compile("\u001b[\u0040-\u005f]")
# Invisible format characters (Unicode category Cf) that exports leave behind: soft
# hyphen, zero-width space, direction marks and embeddings, word joiners, byte order
# mark, annotation and tag characters ("Finlande\u200e" in cotesMEL). Kept, because
# they are part of the text in their scripts: ZWNJ and ZWJ (Persian and Indic
# spelling, emoji), the signs that span numbers in Arabic, Syriac and Kaithi, the
# Mongolian vowel separator, and the joiners of hieroglyphs, shorthand and music.
_FORMAT = re.compile(
    "[\u00ad\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
    "\ufff9-\ufffb\U000e0001\U000e0020-\U000e007f]"
)
_SPACES = re.compile(r"\s+")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as Latin-1 or Windows-1252 (``Â°`` -> ``°``, ``Ã©`` -> ``é``).

    Only "Â" or "Ã" followed by what a UTF-8 continuation byte reads as is replaced, so
    a genuine ``Âge`` (A-circumflex followed by a letter) is left alone.
    """
    if not _MOJIBAKE.search(text):
        return text

    def fix(match: re.Match) -> str:
        lead, continuation = match.group()
        return bytes([ord(lead), _CONTINUATIONS[continuation]]).decode("utf-8")

    return _MOJIBAKE.sub(fix, text)


def clean(text: str | None) -> str:
    if not text:
        return ""
    text = unicodedata.normalize("NFC", repair_mojibake(text))
    text = _FORMAT.sub("", _CONTROL.sub("", _ESCAPED_CONTROL.sub("", text)))
    return _SPACES.sub(" ", text).strip()


def clean_barcode(text: str | None) -> str:
    """A barcode as scanners read it: no space, and no format character at all (not
    even those ``clean`` keeps for scripts): one would make a label nobody can scan."""
    return "".join(c for c in clean(text) if not c.isspace() and unicodedata.category(c) != "Cf")


def clean_code(text: str | None) -> str:
    """A source code (branch, location, type): ``DI$`` and `` di `` both give ``DI``."""
    return clean(text).replace("$", "").strip().upper()


_TRAILING_PUNCT = "/:;,=+"


def strip_isbd(text: str) -> str:
    """Drop the ISBD punctuation MARC21 leaves at the end of subfields (``Title /``)."""
    text = _rstrip_punctuation(text)
    if text.endswith(".") and not text.endswith("..") and not re.search(r"\b\w\.$", text):
        text = text[:-1]
    return text.strip()


def _rstrip_punctuation(text: str) -> str:
    """``text`` without its trailing spaces and ISBD marks. Not a regular expression
    anchored at the end: tried from every position of a long run of them, it took
    quadratic time (a title of 60,000 spaces: 17 seconds)."""
    end = len(text)
    while end and (text[end - 1].isspace() or text[end - 1] in _TRAILING_PUNCT):
        end -= 1
    return text[:end]


# --- identifiers -----------------------------------------------------------------


def isbn13(text: str | None) -> str:
    """The ISBN in ``text`` as 13 digits when its checksum is right, else ""."""
    if not text:
        return ""
    for run in _DIGIT_RUN.finditer(text):
        tokens = [re.sub(r"[^0-9Xx]", "", token).upper() for token in run.group().split()]
        for start in range(len(tokens)):
            isbn = _isbn_from(tokens[start:])
            if isbn:
                return isbn
    return ""


# Groups of digits (an ISBN's hyphens inside, an X at the end) separated by spaces:
# "2-07-036822-1", "2 07 036822 1", or an ISBN and its price "2070368238 12".
_DIGIT_RUN = re.compile(r"[0-9][0-9Xx\-]*(?:[ \t]+[0-9][0-9Xx\-]*)*")


def _isbn_from(tokens: list[str]) -> str:
    """The ISBN-13 the first tokens make, or "": one token of 10 or 13 characters, or
    groups that add up to that ("2 07 036822 1"); what follows is a qualifier (a price, a
    volume number), not more digits of the ISBN."""
    digits = ""
    found = ""
    for token in tokens:
        digits += token
        if len(digits) > 13:
            break
        if len(digits) in (10, 13) and (isbn := _checked_isbn(digits)):
            found = isbn  # a longer one is better: 13 digits whose first 10 pass too
    return found


def _checked_isbn(digits: str) -> str:
    if len(digits) == 10 and _isbn10_ok(digits):
        body = "978" + digits[:9]
        return body + _ean_check_digit(body)
    if len(digits) == 13 and digits[:3] in ("978", "979") and ean13(digits):
        return digits
    return ""


def _isbn10_ok(digits: str) -> bool:
    if not digits[:9].isdigit() or not (digits[9].isdigit() or digits[9] == "X"):
        return False
    total = sum((10 - i) * int(d) for i, d in enumerate(digits[:9]))
    total += 10 if digits[9] == "X" else int(digits[9])
    return total % 11 == 0


def _ean_check_digit(body12: str) -> str:
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return str((10 - total % 10) % 10)


def ean13(text: str | None) -> str:
    """An EAN-13 (or a UPC-A, given its leading zero) with a valid check digit, else ""."""
    digits = re.sub(r"[\s\-]", "", (text or "").split(" ")[0])
    if not digits.isascii():  # "²" passes isdigit() and then breaks int()
        return ""
    if len(digits) == 12 and digits.isdigit():
        digits = "0" + digits
    if len(digits) == 13 and digits.isdigit() and _ean_check_digit(digits[:12]) == digits[12]:
        return digits
    return ""


def record_id(record: pymarc.Record, record_number: str = "") -> str:
    """The record's stable identity within its source (see the module docstring);
    ``record_number``: the tag and subfield of the source's own number ("999c")."""
    control = record.get("001")
    if control is not None and clean(control.data):
        return clean(control.data)
    for value in _subfield_values(record, "035", "a"):
        return f"035:{value}"
    control = record.get("002")
    if control is not None and clean(control.data):
        return f"002:{clean(control.data)}"
    isbn = next(
        filter(
            None, map(isbn13, _subfield_values(record, "020", "a") + _subfield_values(record, "010", "a"))
        ),
        "",
    )
    if isbn:
        return f"isbn:{isbn}"
    # Last, so that no key written before it came changes (a new key is a new record).
    tag, code = record_number[:3], record_number[3:]
    number = next(iter(_subfield_values(record, tag, code)), "") if record_number else ""
    return f"{tag}:{number}" if number else ""


# --- extraction ------------------------------------------------------------------


@dataclass
class RecordData:
    """What a MARC record gives a catalogue Record (field names are the model's)."""

    title: str = ""
    responsibility: str = ""
    # The name headings the record is filed under, main entry first, one per line:
    # "Hugo, Victor, 1802-1885" (MARC21 100/110/111 then 700/710/711: a person's or a
    # meeting's $a $b $c $d $q, a body's $a $b; UNIMARC 700-702 and 710-712 $a, $b), the
    # names its author links search by.
    authors: str = ""
    publisher: str = ""
    year: int | None = None
    isbn: str = ""
    ean: str = ""
    language: str = ""
    subjects: list[str] = field(default_factory=list)
    series: str = ""
    summary: str = ""
    doc_type: str = DocType.BOOK
    audience: str = Audience.ADULT
    age_min: int | None = None
    age_max: int | None = None
    # True when the record said nothing more precise than "text": items may then tell.
    doc_type_is_default: bool = True

    def model_fields(self) -> dict:
        values = dict(self.__dict__)
        del values["doc_type_is_default"]
        return values


def is_unimarc(record: pymarc.Record) -> bool:
    return record.get("245") is None and record.get("200") is not None


def extract(record: pymarc.Record) -> RecordData:
    return _extract_unimarc(record) if is_unimarc(record) else _extract_marc21(record)


def _subfield_values(record: pymarc.Record, tag: str, codes: str) -> list[str]:
    return [v for f in record.get_fields(tag) for v in map(clean, f.get_subfields(*codes)) if v]


def _first(record: pymarc.Record, tag: str, codes: str) -> str:
    values = _subfield_values(record, tag, codes)
    return values[0] if values else ""


def _join(parts, sep=" ") -> str:
    return sep.join(p for p in parts if p)


HEADINGS_KEPT = 12
# Main entries, then added entries: persons and meetings by $a $b $c $d $q, bodies (x10)
# by $a and their subordinate units $b.
MARC21_HEADINGS = (("100", "110", "111"), ("700", "710", "711"))
# Persons (700 main, 701 alternative, 702 secondary: "$a, $b") then bodies (710-712).
UNIMARC_HEADINGS = (("700", "701", "702"), ("710", "711", "712"))


def _heading(field: pymarc.Field, *, body: bool, unimarc: bool = False) -> str:
    """A name heading: a person's "Surname, Forename" (UNIMARC $a, $b; MARC21 $a); a
    body's name and units joined by ". ", with no comma ("France. Chambre des pairs"), so
    that its author link searches it whole and a person's by the surname
    (search.heading_query)."""
    if body:
        units = [strip_isbd(v).rstrip(".") for v in map(clean, field.get_subfields("a", "b")) if v]
        return ". ".join(u for u in units if u)
    if unimarc:
        return _join([strip_isbd(clean(field.get("a"))), strip_isbd(clean(field.get("b")))], ", ")
    # MARC21: with the numeration, titles, dates and fuller form as the record punctuates
    # them ("Louis XIV, roi de France, 1638-1715"; "Dumas, Alexandre, 1802-1870"), which
    # tell namesakes apart, as Koha shows them. The author link still searches the
    # surname: heading_query stops at the first comma and drops "(…)".
    return strip_isbd(_join(clean(v) for v in field.get_subfields("a", "b", "c", "d", "q")))


def _headings(names: list[str]) -> str:
    """Each name once, in order, one per line (a line break is the one character a
    heading cannot hold); a record with dozens of performers keeps the first few."""
    kept = dict.fromkeys(" ".join(strip_isbd(n).split())[:200] for n in names if n)
    kept.pop("", None)
    return "\n".join(list(kept)[:HEADINGS_KEPT])


def _year(*candidates: str) -> int | None:
    for text in candidates:
        match = re.search(r"\b(1[0-9]{3}|20[0-9]{2})\b", text or "")
        if match:
            return int(match.group(1))
    return None


def _control(record: pymarc.Record, tag: str) -> str:
    control = record.get(tag)
    return control.data if control is not None and control.data else ""


def truncate(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def _subjects(record: pymarc.Record, tags: tuple[str, ...], codes: str) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        for f in record.get_fields(tag):
            parts = [strip_isbd(clean(v)) for v in f.get_subfields(*codes)]
            subject = _join(parts, " -- ")
            if subject:
                seen.setdefault(subject, None)
    return list(seen)


_COMICS = re.compile(r"bandes? dessinées|comic (books|strips)|graphic novels|mangas?\b", re.IGNORECASE)


def _looks_like_comics(subjects: list[str]) -> bool:
    return any(_COMICS.search(s) for s in subjects)


# Leader/06 (type of record) is the same in MARC21 and UNIMARC for what we need.
_LEADER_TYPES = {
    "c": DocType.SCORE,
    "d": DocType.SCORE,
    "g": DocType.DVD,
    "i": DocType.AUDIOBOOK,
    "j": DocType.CD,
    "e": DocType.OTHER,
    "f": DocType.OTHER,
    "k": DocType.OTHER,
    "l": DocType.OTHER,
    "m": DocType.OTHER,
    "o": DocType.OTHER,
    "p": DocType.OTHER,
    "r": DocType.OTHER,
}


def _doc_type(leader: str, subjects: list[str], comic_code: bool) -> tuple[str, bool]:
    kind, level = leader[6:7], leader[7:8]
    if kind in _LEADER_TYPES:
        return _LEADER_TYPES[kind], False
    if level == "s":
        return DocType.PERIODICAL, False
    if comic_code or _looks_like_comics(subjects):
        return DocType.COMIC, False
    # "Text" says little: a periodical or a comic may hide behind it, items may tell.
    return DocType.BOOK, True


# MARC21 008/22 target audience, for the material types where 22 means that.
_MARC21_AUDIENCE = {
    "a": (Audience.YOUTH, 0, 5),
    "b": (Audience.YOUTH, 6, 8),
    "c": (Audience.YOUTH, 9, 13),
    "d": (Audience.YOUTH, 14, 17),
    "j": (Audience.YOUTH, None, None),
}
# UNIMARC 100$a/17-19 target audience codes.
_UNIMARC_AUDIENCE = {
    "a": (Audience.YOUTH, None, None),
    "b": (Audience.YOUTH, 0, 5),
    "c": (Audience.YOUTH, 5, 10),
    "d": (Audience.YOUTH, 9, 14),
    "e": (Audience.YOUTH, 14, 20),
}


_ISBD_SEPARATORS = {":": " : ", ";": " ; ", "=": " = ", ".": ". ", ",": ", "}


def _marc21_title(record: pymarc.Record) -> str:
    """245 $a $b $n $p, keeping the ISBD separator between parts (``Title : subtitle``)."""
    f245 = record.get("245")
    if f245 is None:
        return ""
    title = ""
    for value in map(clean, f245.get_subfields("a", "b", "n", "p")):
        if not value:
            continue
        if title:
            mark = title.rstrip(" /")[-1:]
            title = strip_isbd(title) + _ISBD_SEPARATORS.get(mark, " ")
        title += value
    return strip_isbd(title)


def _extract_marc21(record: pymarc.Record) -> RecordData:
    leader = str(record.leader)
    f008 = _control(record, "008")
    title = _marc21_title(record)
    names = [strip_isbd(v) for tag in ("100", "110", "111") for v in _subfield_values(record, tag, "a")]
    responsibility = strip_isbd(_first(record, "245", "c")) or _join(names, "; ")
    publisher = strip_isbd(_first(record, "264", "b") or _first(record, "260", "b"))
    date_text = f008[7:11] if f008[6:7] not in ("n", "|", "") else ""
    year = _year(date_text, _first(record, "264", "c"), _first(record, "260", "c"))
    isbn = next(filter(None, map(isbn13, _subfield_values(record, "020", "a"))), "")
    ean = next(filter(None, map(ean13, _subfield_values(record, "024", "a"))), "")
    language = f008[35:38] if re.fullmatch(r"[a-z]{3}", f008[35:38]) else _first(record, "041", "a")[:3]
    subjects = _subjects(record, ("600", "610", "611", "630", "650", "651", "655"), "avxyz")
    series = _join([strip_isbd(v) for v in _subfield_values(record, "490", "av")]) or _join(
        [strip_isbd(v) for v in _subfield_values(record, "440", "anpv")]
    )
    books = leader[6:7] in ("a", "t") and leader[7:8] not in ("s", "i")
    doc_type, is_default = _doc_type(leader, subjects, comic_code=books and f008[33:34] == "c")
    audience, age_min, age_max = Audience.ADULT, None, None
    if leader[6:7] in "acdgijkmort" and leader[7:8] not in ("s", "i"):
        audience, age_min, age_max = _MARC21_AUDIENCE.get(f008[22:23], (Audience.ADULT, None, None))
    return RecordData(
        title=truncate(title, 1000),
        responsibility=truncate(responsibility, 1000),
        authors=_headings(
            [
                _heading(f, body=f.tag.endswith("10"))
                for tags in MARC21_HEADINGS
                for f in record.get_fields(*tags)
            ]
        ),
        publisher=truncate(publisher, 500),
        year=year,
        isbn=isbn,
        ean=ean,
        language=language.lower(),
        subjects=subjects,
        series=truncate(series, 500),
        summary=_join(_subfield_values(record, "520", "a"), "\n"),
        doc_type=doc_type,
        doc_type_is_default=is_default,
        audience=audience,
        age_min=age_min,
        age_max=age_max,
    )


def _extract_unimarc(record: pymarc.Record) -> RecordData:
    leader = str(record.leader)
    f200 = record.get("200")
    title = _join(
        [_join(map(clean, f200.get_subfields("a")), " ; "), *map(clean, f200.get_subfields("h", "i"))]
    )
    subtitle = _join(map(clean, f200.get_subfields("e")), " : ")
    if subtitle:
        title = f"{title} : {subtitle}"
    names = [
        _join([clean(f.get("a")), clean(f.get("b"))], ", ")
        for tag in ("700", "701", "710", "711")
        for f in record.get_fields(tag)
    ]
    responsibility = _join(_subfield_values(record, "200", "fg"), " ; ") or _join(filter(None, names), "; ")
    f100 = record.get("100")
    general = (f100.get("a") or "") if f100 is not None else ""  # fixed positions: not cleaned
    year = _year(
        general[9:13] if general[9:13].isdigit() else "",
        _first(record, "210", "d"),
        _first(record, "214", "d"),
    )
    subjects = _subjects(record, ("600", "601", "602", "604", "605", "606", "607", "608"), "axyzj")
    doc_type, is_default = _doc_type(leader, subjects, comic_code=False)
    audience, age_min, age_max = Audience.ADULT, None, None
    for code in general[17:20]:
        if code in _UNIMARC_AUDIENCE:
            audience, age_min, age_max = _UNIMARC_AUDIENCE[code]
            break
    return RecordData(
        title=truncate(title, 1000),
        responsibility=truncate(responsibility, 1000),
        authors=_headings(
            [
                _heading(f, body=f.tag.startswith("71"), unimarc=True)
                for tags in UNIMARC_HEADINGS
                for f in record.get_fields(*tags)
            ]
        ),
        publisher=truncate(_first(record, "210", "c") or _first(record, "214", "c"), 500),
        year=year,
        isbn=next(filter(None, map(isbn13, _subfield_values(record, "010", "a"))), ""),
        ean=next(filter(None, map(ean13, _subfield_values(record, "073", "a"))), ""),
        language=_first(record, "101", "a")[:3].lower(),
        subjects=subjects,
        series=truncate(_join(_subfield_values(record, "225", "av"), " ; "), 500),
        summary=_join(_subfield_values(record, "330", "a"), "\n"),
        doc_type=doc_type,
        doc_type_is_default=is_default,
        audience=audience,
        age_min=age_min,
        age_max=age_max,
    )
