"""Reading MARC files and turning each record into the fields of a catalogue Record.

Reading (``read_marc``) streams ISO 2709 or MARCXML, one record at a time, and yields
either a pymarc record or the reason it could not be read, with its position (record
number, byte offset for ISO 2709, line for MARCXML). ISO 2709 is cut into records here
rather than by ``pymarc.MARCReader`` because we need each record's raw bytes to choose
its character set, and its offset to report it; after a record with a bad length we
resynchronise on the record terminator (0x1D) so one broken record does not take the
rest of the file with it. Decoding itself is pymarc's, record by record:

- leader/09 = ``a``: UTF-8; bytes that are not valid UTF-8 make the record unreadable;
- leader/09 blank but the bytes are valid UTF-8 with non-ASCII characters: UTF-8 (real
  exports say MARC-8 and are UTF-8, e.g. ``cotesMEL``; MARC-8 text is practically never
  valid UTF-8, its diacritics being bytes 0xE0-0xFE followed by ASCII letters);
- otherwise MARC-8, checked first so that a Latin-1 file is refused rather than turned
  into nonsense silently.

Every extracted string is NFC-normalised, cleared of control and non-sorting characters,
and repaired when it holds UTF-8 read as Latin-1 and encoded again (``8Â°`` -> ``8°``).

Extraction (``extract``) knows MARC21 and UNIMARC (told apart by 245 vs 200) and fills
a ``RecordData``: title, responsibility, publisher, year, ISBN (checksum validated,
stored as ISBN-13), EAN, language, subjects, series, summary, document type and
audience with its age band (MARC21 008/22, UNIMARC 100$a/17-19).

Record identity (``record_id``): the control number 001; without one, the first 035$a
(a Sirsi or union-catalogue id), then 002, then the ISBN; a kind prefix (``035:``…) keeps
those apart from 001 values. The importer prefixes it with the source name.
"""

from __future__ import annotations

import io
import re
import unicodedata
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax import SAXParseException, make_parser
from xml.sax.handler import feature_namespaces

import pymarc
from django.utils.translation import gettext as _
from pymarc import marc8_mapping
from pymarc.marcxml import XmlHandler

from emporter.catalogue.models import Audience, DocType

RECORD_TERMINATOR = 0x1D
FIELD_TERMINATOR = 0x1E
SUBFIELD_DELIMITER = 0x1F
READ_BLOCK = 1 << 16


@dataclass(frozen=True)
class MarcEntry:
    """One record read from a file, or the reason it could not be read."""

    index: int  # 1-based position in the file
    offset: int | None  # byte offset (ISO 2709)
    line: int | None  # line (MARCXML)
    record: pymarc.Record | None
    code: str = ""  # stable reason code when record is None
    reason: str = ""


# --- reading ---------------------------------------------------------------------


def read_marc(path: str | Path, *, on_bytes: Callable[[int], object] | None = None) -> Iterator[MarcEntry]:
    """Stream the records of a MARC file, ISO 2709 or MARCXML (sniffed from its start).

    ``on_bytes(n)`` is called as bytes are consumed (progress bars).
    """
    with open(path, "rb") as fh:
        head = fh.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
        fh.seek(0)
        if head.startswith(b"<"):
            yield from _read_marcxml(fh, on_bytes)
        else:
            yield from _read_iso2709(fh, on_bytes)


def _read_iso2709(fh: io.BufferedIOBase, on_bytes) -> Iterator[MarcEntry]:
    index = 0
    while True:
        offset = _skip_separators(fh)
        first5 = fh.read(5)
        if not first5:
            return
        index += 1
        chunk, code, reason = _read_chunk(fh, first5)
        if on_bytes:
            on_bytes(len(chunk))
        if code:
            yield MarcEntry(index, offset, None, None, code=code, reason=reason)
            if code == "truncated":
                return
            continue
        yield _decode_chunk(chunk, index, offset)


def _skip_separators(fh) -> int:
    """Skip line ends and padding some exports put between records; return the offset."""
    while True:
        byte = fh.peek(1)[:1]
        if not byte or byte not in b"\r\n\t \x00\x1a":
            return fh.tell()
        fh.read(1)


def _read_chunk(fh, first5: bytes) -> tuple[bytes, str, str]:
    """Read one record's bytes; on a length that does not land on a terminator, skip
    to the next terminator so reading goes on with the following record."""
    start = fh.tell() - len(first5)
    if first5.isdigit() and int(first5) >= 25:
        length = int(first5)
        chunk = first5 + fh.read(length - 5)
        if len(chunk) == length and chunk[-1] == RECORD_TERMINATOR:
            return chunk, "", ""
        if len(chunk) < length and RECORD_TERMINATOR not in chunk:
            message = _("file ends inside the record (%(got)s of %(length)s bytes)")
            return chunk, "truncated", message % {"got": len(chunk), "length": length}
        reason = _("record length %(length)s does not end on a record terminator") % {"length": length}
    else:
        reason = _("invalid record length %(value)s") % {"value": repr(first5)[1:]}
    fh.seek(start)
    chunk = _read_to_terminator(fh)
    if chunk[-1:] != bytes([RECORD_TERMINATOR]):
        return chunk, "truncated", _("file ends inside the record (no record terminator)")
    return chunk, "bad_length", reason


def _read_to_terminator(fh) -> bytes:
    parts = []
    while True:
        block = fh.read(READ_BLOCK)
        if not block:
            return b"".join(parts)
        end = block.find(bytes([RECORD_TERMINATOR]))
        if end >= 0:
            parts.append(block[: end + 1])
            fh.seek(fh.tell() - len(block) + end + 1)
            return b"".join(parts)
        parts.append(block)


def _decode_chunk(chunk: bytes, index: int, offset: int) -> MarcEntry:
    problem = _leader_problem(chunk)
    if problem:
        return MarcEntry(index, offset, None, None, code="bad_leader", reason=problem)
    utf8, problem = _choose_encoding(chunk)
    if problem:
        return MarcEntry(index, offset, None, None, code="encoding", reason=problem)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymarc warns about odd subfield codes; we keep them
            record = pymarc.Record(data=chunk, to_unicode=True, force_utf8=utf8, hide_utf8_warnings=True)
    except UnicodeDecodeError as exc:
        reason = _("undecodable bytes: %(error)s") % {"error": exc.reason}
        return MarcEntry(index, offset, None, None, code="encoding", reason=reason)
    except Exception as exc:  # pymarc raises a family of its own errors for bad structure
        reason = _("broken record structure (%(error)s)") % {"error": str(exc) or type(exc).__name__}
        return MarcEntry(index, offset, None, None, code="bad_structure", reason=reason)
    return MarcEntry(index, offset, None, record)


def _leader_problem(chunk: bytes) -> str:
    leader = chunk[:24]
    if not leader.isascii():
        return _("the leader holds non-ASCII bytes")
    base = leader[12:17]
    if not base.isdigit():
        return _("the leader's base address of data (%(value)s) is not a number") % {"value": base.decode()}
    if not 24 < int(base) < len(chunk) or chunk[int(base) - 1] != FIELD_TERMINATOR:
        return _("the leader's base address of data (%(value)s) does not end the directory") % {
            "value": base.decode()
        }
    return ""


_ANSEL = marc8_mapping.CODESETS[0x45]
_ANSEL_COMBINING = frozenset(k for k, (_, combining) in _ANSEL.items() if combining)
_ANSEL_DEFINED = frozenset(k for k in _ANSEL if k >= 0x80)
_ANSEL_DELIMITERS = frozenset((FIELD_TERMINATOR, SUBFIELD_DELIMITER, RECORD_TERMINATOR))


def _choose_encoding(chunk: bytes) -> tuple[bool, str]:
    """Return (is_utf8, problem) for the raw record, following the module's rules."""
    if len(chunk) < 24:
        return False, ""
    declared_utf8 = chunk[9:10] == b"a"
    if chunk.isascii() and b"\x1b" not in chunk:
        # Plain ASCII reads the same either way, and UTF-8 skips pymarc's slow MARC-8 path.
        return True, ""
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        if declared_utf8:
            return True, _("the leader says UTF-8 but byte %(position)s is not valid UTF-8") % {
                "position": exc.start
            }
        problem = _marc8_problem(chunk)
        return False, problem
    return True, ""


def _marc8_problem(chunk: bytes) -> str:
    """Check bytes claimed to be MARC-8 (Latin sets only: escapes are left to pymarc)."""
    if b"\x1b" in chunk:
        return ""
    for pos, byte in enumerate(chunk):
        if byte < 0x80 or 0x80 < byte < 0xA0:
            continue
        if byte not in _ANSEL_DEFINED:
            message = _("byte %(byte)s at %(position)s is neither MARC-8 nor UTF-8 (wrong encoding?)")
            return message % {"byte": f"0x{byte:02X}", "position": pos}
        if byte in _ANSEL_COMBINING and (pos + 1 >= len(chunk) or chunk[pos + 1] in _ANSEL_DELIMITERS):
            message = _("MARC-8 diacritic %(byte)s at %(position)s has no letter after it (wrong encoding?)")
            return message % {"byte": f"0x{byte:02X}", "position": pos}
    return ""


class _StreamHandler(XmlHandler):
    """pymarc's SAX handler, records collected so the reader can hand them out as they
    come instead of after the whole file."""

    def __init__(self):
        super().__init__(strict=False)
        self.ready: list[tuple[pymarc.Record, int | None]] = []
        self.locator = None
        self.record_line: int | None = None

    def setDocumentLocator(self, locator):  # noqa: N802 - SAX API
        self.locator = locator

    def startElementNS(self, name, qname, attrs):  # noqa: N802 - SAX API
        if name[1] == "record" and self.locator is not None:
            self.record_line = self.locator.getLineNumber()
        super().startElementNS(name, qname, attrs)

    def process_record(self, record):
        self.ready.append((record, self.record_line))


def _read_marcxml(fh, on_bytes) -> Iterator[MarcEntry]:
    handler = _StreamHandler()
    parser = make_parser()
    parser.setFeature(feature_namespaces, 1)
    parser.setContentHandler(handler)
    index = 0
    try:
        while block := fh.read(READ_BLOCK):
            parser.feed(block)
            if on_bytes:
                on_bytes(len(block))
            for record, line in handler.ready:
                index += 1
                yield _check_xml_record(record, index, line)
            handler.ready.clear()
        parser.close()
    except SAXParseException as exc:
        for record, line in handler.ready:
            index += 1
            yield _check_xml_record(record, index, line)
        reason = _("XML is not well-formed (%(error)s): the rest of the file cannot be read") % {
            "error": exc.getMessage()
        }
        yield MarcEntry(index + 1, None, exc.getLineNumber(), None, code="xml", reason=reason)


def _check_xml_record(record: pymarc.Record, index: int, line: int | None) -> MarcEntry:
    if not record.fields:
        return MarcEntry(index, None, line, None, code="bad_structure", reason=_("record has no fields"))
    return MarcEntry(index, None, line, record)


# --- cleaning --------------------------------------------------------------------

# Two to four characters that are the Latin-1 reading of one UTF-8 sequence.
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]{1,3}")
# Control characters, including the non-sorting markers (NSB/NSE) of both formats.
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")
_SPACES = re.compile(r"\s+")


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 bytes read as Latin-1 and encoded again (``Â°`` -> ``°``, ``Ã©`` -> ``é``).

    Only sequences that decode to exactly one character are replaced, so a genuine
    ``Âge`` (A-circumflex followed by a letter) is left alone.
    """
    if not _MOJIBAKE.search(text):
        return text

    def fix(match: re.Match) -> str:
        try:
            fixed = match.group().encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            return match.group()
        return fixed if len(fixed) == 1 else match.group()

    return _MOJIBAKE.sub(fix, text)


def clean(text: str | None) -> str:
    if not text:
        return ""
    text = unicodedata.normalize("NFC", repair_mojibake(text))
    text = _CONTROL.sub("", text)
    return _SPACES.sub(" ", text).strip()


def clean_code(text: str | None) -> str:
    """A source code (branch, location, type): ``DI$`` and `` di `` both give ``DI``."""
    return clean(text).replace("$", "").strip().upper()


_TRAILING_PUNCT = re.compile(r"[\s/:;,=+]+$")


def strip_isbd(text: str) -> str:
    """Drop the ISBD punctuation MARC21 leaves at the end of subfields (``Title /``)."""
    text = _TRAILING_PUNCT.sub("", text)
    if text.endswith(".") and not text.endswith("..") and not re.search(r"\b\w\.$", text):
        text = text[:-1]
    return text.strip()


# --- identifiers -----------------------------------------------------------------


def isbn13(text: str | None) -> str:
    """The ISBN in ``text`` as 13 digits when its checksum is right, else ""."""
    if not text:
        return ""
    match = re.search(r"[0-9][0-9\-\s]{8,16}[0-9Xx]", text)
    if not match:
        return ""
    digits = re.sub(r"[^0-9Xx]", "", match.group()).upper()
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


def record_id(record: pymarc.Record) -> str:
    """The record's stable identity within its source (see the module docstring)."""
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
    return f"isbn:{isbn}" if isbn else ""


# --- extraction ------------------------------------------------------------------


@dataclass
class RecordData:
    """What a MARC record gives a catalogue Record (field names are the model's)."""

    title: str = ""
    responsibility: str = ""
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


def _year(*candidates: str) -> int | None:
    for text in candidates:
        match = re.search(r"\b(1[0-9]{3}|20[0-9]{2})\b", text or "")
        if match:
            return int(match.group(1))
    return None


def _control(record: pymarc.Record, tag: str) -> str:
    control = record.get(tag)
    return control.data if control is not None and control.data else ""


def _truncate(text: str, length: int) -> str:
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
        title=_truncate(title, 1000),
        responsibility=_truncate(responsibility, 1000),
        publisher=_truncate(publisher, 500),
        year=year,
        isbn=isbn,
        ean=ean,
        language=language.lower(),
        subjects=subjects,
        series=_truncate(series, 500),
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
        title=_truncate(title, 1000),
        responsibility=_truncate(responsibility, 1000),
        publisher=_truncate(_first(record, "210", "c") or _first(record, "214", "c"), 500),
        year=year,
        isbn=next(filter(None, map(isbn13, _subfield_values(record, "010", "a"))), ""),
        ean=next(filter(None, map(ean13, _subfield_values(record, "073", "a"))), ""),
        language=_first(record, "101", "a")[:3].lower(),
        subjects=subjects,
        series=_truncate(_join(_subfield_values(record, "225", "av"), " ; "), 500),
        summary=_join(_subfield_values(record, "330", "a"), "\n"),
        doc_type=doc_type,
        doc_type_is_default=is_default,
        audience=audience,
        age_min=age_min,
        age_max=age_max,
    )
