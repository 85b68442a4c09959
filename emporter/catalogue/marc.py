"""Reading MARC files and turning each record into the fields of a catalogue Record.

Reading (``read_marc``) streams ISO 2709 or MARCXML, one record at a time, and yields
either a pymarc record or the reason it could not be read, with its position (record
number, byte offset for ISO 2709, line for MARCXML). A record that cannot be read, for
whatever reason, is reported and skipped: it never stops the file. ISO 2709 is cut into
records here rather than by ``pymarc.MARCReader`` because we need each record's raw
bytes to choose its character set, and its offset to report it. A record's length is
trusted only when it ends on the record terminator (0x1D) with no other inside: else the
record is reported and reading resumes where the next record starts (a leader whose
length lands on a terminator, or one right after a terminator), so that a wrong length
or a lost terminator costs that record only; a record whole but for its terminator is
kept, and said. Each directory entry must end on a field terminator (0x1E); when one
does not (a shifted offset, lengths counted in characters), the fields are cut on their
terminators instead, when there are as many as entries, and that is said too. A file
with no record at all (empty, blank, XML without records) is reported by the importer.
XML is recognised after any amount of white space, and in UTF-16. In MARCXML, a record whose
markup pymarc cannot take (a field without tag, a subfield without code, a leader that
is not 24 characters) is skipped and the next one read. Characters XML 1.0 forbids (a
raw control character, ``&#1;``) are taken out before parsing, as ``clean`` would take
them out of the text anyway, and their record imported with a note. XML that is not
well-formed (broken markup, bytes that are not UTF-8 in a UTF-8 file) costs the record
it is in: reading resumes at the next record's start tag, after the elements open
around the records, rebuilt; only a break after the last record (or in UTF-16) ends
the file there. What pymarc writes on stderr or logs while reading an ISO 2709 record
(indicators missing or too many, a MARC-8 character cut short) becomes a note of it.

Character sets (ISO 2709; MARCXML is Unicode by definition). ``encoding`` forces one
for a whole file (``ENCODINGS``); otherwise each record's is chosen:

- plain ASCII, or valid UTF-8 with non-ASCII characters: UTF-8, whatever the record
  says (real exports say MARC-8 or ISO 5426 and are UTF-8, e.g. ``cotesMEL``; legacy
  text is practically never valid UTF-8, its diacritics being bytes 0xC0-0xFE before
  ASCII letters); ASCII with escape sequences goes on below (MARC-8 switches to other
  scripts with them, UNIMARC writes its non-sorting marks as ESC H and ESC I);
- leader/09 = ``a`` (UTF-8) with invalid UTF-8: refused;
- UNIMARC (200 without 245) declares its sets in 100$a/26-29: ``50`` is UTF-8 (so
  refused here), ``01``/``03`` (ISO 646 + ISO 5426) or nothing: ISO 5426, decoded
  below (diacritics precede their letter, as in MARC-8, from another table); any other
  set (Cyrillic, Greek…) is refused rather than guessed;
- MARC21: MARC-8.

A record is refused (``encoding``), never imported as mojibake, when its bytes do not
fit the set chosen: a byte the set does not define, a diacritic with no letter after
it, and what Latin-1 looks like when read as MARC-8 or ISO 5426 (``é`` read as a caron
on the next letter in a French record, as a capital ``Ø`` after a small letter in ISO
5426). A French MARC-8 record with more carons, rings or hooks on small letters
(``Puškin``) than Latin-1 letters (``é``) looks like that too: ``--encoding marc-8``
imports it as it is. Two habits of real MARC-8
exports are tolerated: a lone grave or acute (0xE1, 0xE2) used as an apostrophe
(``jazz_1k``), and anything after an escape sequence that switches to another set
(other scripts, decoded by pymarc) until the field ends or a sequence switches back.
``latin-1`` reads bytes 0x80-0x9F as Windows-1252 (``œ``, ``–``, ``’``), as exports
labelled Latin-1 usually are, except 0x88/0x89 (MARC's non-sorting marks).

Cleaning the text of a record and extracting its fields: ``marcdata``.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import logging
import re
import sys
import threading
import unicodedata
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax import SAXParseException, expatreader
from xml.sax.handler import feature_namespaces
from xml.sax.saxutils import quoteattr

import pymarc
import pymarc.marc8
from django.utils.translation import gettext as _
from pymarc import marc8_mapping
from pymarc.exceptions import RecordLeaderInvalid
from pymarc.marcxml import XmlHandler

from .marcdata import CP1252_UNDEFINED, truncate

RECORD_TERMINATOR = 0x1D
FIELD_TERMINATOR = 0x1E
SUBFIELD_DELIMITER = 0x1F
ESCAPE = 0x1B
BOM = codecs.BOM_UTF8
READ_BLOCK = 1 << 16
# What ``encoding`` may force for a whole ISO 2709 file.
ENCODINGS = ("utf-8", "marc-8", "latin-1", "iso5426")


@dataclass(frozen=True)
class MarcEntry:
    """One record read from a file, or the reason it could not be read."""

    index: int  # 1-based position in the file
    offset: int | None  # byte offset (ISO 2709)
    line: int | None  # line (MARCXML)
    record: pymarc.Record | None
    code: str = ""  # stable reason code when record is None
    reason: str = ""
    # What was repaired to read the record, as (code, message): reported, not skipped.
    notes: tuple[tuple[str, str], ...] = ()


# --- reading ---------------------------------------------------------------------


def read_marc(
    path: str | Path,
    *,
    on_bytes: Callable[[int], object] | None = None,
    encoding: str | None = None,
) -> Iterator[MarcEntry]:
    """Stream the records of a MARC file, ISO 2709 or MARCXML (sniffed from its start).

    ``on_bytes(n)`` is called as bytes are consumed (progress bars); ``encoding`` (one
    of ``ENCODINGS``) forces the character set of an ISO 2709 file.
    """
    if encoding is not None and encoding not in ENCODINGS:
        raise ValueError(unknown_encoding(encoding))
    with open(path, "rb") as fh:
        xml, lines = _sniff_xml(fh)
        if xml:
            yield from _read_marcxml(fh, on_bytes, lines)
        else:
            fh.seek(0)
            yield from _read_iso2709(fh, on_bytes, encoding)


_UTF16_XML = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, "<?".encode("utf-16-le"), "<?".encode("utf-16-be"))


def _sniff_xml(fh) -> tuple[bool, int]:
    """Whether the file is XML, left at the first byte to parse, and how many lines
    were skipped to get there. UTF-16 is XML (expat reads it); otherwise XML starts
    with "<" after a byte order mark and any amount of white space, which is skipped:
    an XML declaration is only allowed at the very start."""
    if fh.read(4).startswith(_UTF16_XML):
        fh.seek(0)
        return True, 0
    fh.seek(0)
    if fh.read(len(BOM)) != BOM:
        fh.seek(0)
    lines = 0
    while block := fh.peek(READ_BLOCK):
        rest = block.lstrip(b" \t\r\n")
        lines += block.count(b"\n", 0, len(block) - len(rest))
        fh.read(len(block) - len(rest))
        if rest:
            return rest.startswith(b"<"), lines
    return False, 0


def unknown_encoding(name: str) -> str:
    return _("Unknown encoding %(name)s: choose one of %(choices)s.") % {
        "name": name,
        "choices": ", ".join(ENCODINGS),
    }


def _read_iso2709(fh: io.BufferedIOBase, on_bytes, encoding: str | None) -> Iterator[MarcEntry]:
    index = 0
    while True:
        offset = _skip_separators(fh)
        first5 = fh.read(5)
        if not first5:
            return
        index += 1
        chunk, code, reason = _read_chunk(fh, first5)
        if on_bytes:
            on_bytes(fh.tell() - offset)
        if code == "no_terminator":  # whole but for its terminator: kept, and said
            entry = _decode_chunk(chunk, index, offset, encoding)
            yield dataclasses.replace(entry, notes=((code, reason), *entry.notes)) if entry.record else entry
            continue
        if code:
            yield MarcEntry(index, offset, None, None, code=code, reason=reason)
            if code == "truncated":
                return
            continue
        yield _decode_chunk(chunk, index, offset, encoding)


# Line ends, padding, end-of-file marks, and a stray record terminator (no record).
_SEPARATORS = b"\r\n\t \x00\x1a\x1d"


def _skip_separators(fh) -> int:
    """Skip line ends and padding some exports put between records, and byte order
    marks (a UTF-8 export saved by a Windows tool, files joined with cat); return the
    offset. Whole buffers at a time: megabytes of padding must not cost a call a byte."""
    while True:
        block = fh.peek(READ_BLOCK)
        rest = block.lstrip(_SEPARATORS)
        if len(rest) < len(block):
            fh.read(len(block) - len(rest))
            if not rest:
                continue
        if rest[:1] != BOM[:1]:
            return fh.tell()
        got = fh.read(len(BOM))
        if got != BOM:
            fh.seek(-len(got), io.SEEK_CUR)  # not a mark: the record's own bytes
            return fh.tell()


def _read_chunk(fh, first5: bytes) -> tuple[bytes, str, str]:
    """Read one record's bytes. A length is trusted only when the record ends on a
    terminator and holds no other one: a length too long would otherwise swallow the
    next record silently. Else the record is reported and reading goes on from the
    next place where a record starts (``_next_record``)."""
    start = fh.tell() - len(first5)
    length = int(first5) if first5.isdigit() and int(first5) >= 25 else None
    if length is not None:
        chunk = first5 + fh.read(length - 5)
        if len(chunk) == length and chunk.find(bytes([RECORD_TERMINATOR])) == length - 1:
            return chunk, "", ""
        reason = _("record length %(length)s does not end on a record terminator") % {"length": length}
    else:
        reason = _("invalid record length %(value)s") % {"value": repr(first5)[1:]}
    following = _next_record(fh, start + 1)
    fh.seek(start)
    if following is None:
        return _rest_of_file(fh, length, reason)
    chunk = fh.read(following - start)
    if length is not None and _whole_but_terminator(chunk, length):
        missing = _("record terminator missing: the record was read up to where the next one starts")
        return chunk + bytes([RECORD_TERMINATOR]), "no_terminator", missing
    return b"", "bad_length", reason


def _whole_but_terminator(chunk: bytes, length: int) -> bool:
    """Whether ``chunk`` is a whole record of ``length`` bytes but its final 0x1D."""
    return len(chunk) == length - 1 and chunk[-1] == FIELD_TERMINATOR and RECORD_TERMINATOR not in chunk


def _rest_of_file(fh, length: int | None, reason: str) -> tuple[bytes, str, str]:
    """The last record of a file (no record starts after it): bad, or cut short."""
    start = fh.tell()
    size = fh.seek(0, io.SEEK_END) - start
    fh.seek(-1, io.SEEK_CUR)
    if fh.read(1) == bytes([RECORD_TERMINATOR]):
        return b"", "bad_length", reason
    if length is not None and size < length:
        message = _("file ends inside the record (%(got)s of %(length)s bytes)")
        return b"", "truncated", message % {"got": size, "length": length}
    return b"", "truncated", _("file ends inside the record (no record terminator)")


# Where a record may start: its length, then the leader's record status, type and
# level (05-07: letters, so that the digits of a directory are no candidates), 08-11
# (printable), the base address of data (12-16, digits) and 17-23 (printable). A
# lookahead, so that overlapping candidates are all tried.
_LEADER = re.compile(rb"(?=[0-9]{5}[a-z ][a-z][a-z ][\x20-\x7e]{4}[0-9]{5}[\x20-\x7e]{7})")
MAX_RECORD = 99999  # five digits of length


def _next_record(fh, position: int) -> int | None:
    """The offset of the first place from ``position`` on that looks like a record:
    a leader whose length lands on a record terminator and whose base address ends
    the directory. Windows of two records' size, so that a candidate's whole length is
    in view."""
    while True:
        fh.seek(position)
        window = fh.read(2 * MAX_RECORD)
        last = len(window) < 2 * MAX_RECORD
        for match in _LEADER.finditer(window, 0, len(window) if last else MAX_RECORD):
            if _starts_record(window, match.start()):
                return position + match.start()
        if last:
            return None
        position += MAX_RECORD


def _starts_record(window: bytes, at: int) -> bool:
    """Whether a leader at ``at`` begins a record: its base address ends the directory,
    and its length lands on a record terminator, unless a terminator comes just before
    it (then the previous record surely ended there, and a wrong length is this
    record's own problem, reported when it is read)."""
    length, base = int(window[at : at + 5]), int(window[at + 12 : at + 17])
    if not 24 < base < len(window) - at or window[at + base - 1] != FIELD_TERMINATOR:
        return False
    after_terminator = at > 0 and window[at - 1] == RECORD_TERMINATOR
    return after_terminator or window[at + length - 1 : at + length] == bytes([RECORD_TERMINATOR])


def _decode_chunk(chunk: bytes, index: int, offset: int, encoding: str | None = None) -> MarcEntry:
    try:
        return _decode(chunk, index, offset, encoding)
    except Exception as exc:  # whatever one record does, the next ones are still read
        return MarcEntry(index, offset, None, None, code="bad_structure", reason=_unexpected(exc))


def _unexpected(exc: Exception) -> str:
    return _("the record could not be read (%(error)s)") % {"error": f"{type(exc).__name__}: {exc}"}


def _decode(chunk: bytes, index: int, offset: int, encoding: str | None) -> MarcEntry:
    problem = _leader_problem(chunk)
    if problem:
        return MarcEntry(index, offset, None, None, code="bad_leader", reason=problem)
    notes = ()
    problem = _directory_problem(chunk)
    if problem:
        chunk = _rebuild_directory(chunk)
        if chunk is None:
            return MarcEntry(index, offset, None, None, code="bad_directory", reason=problem)
        recovered = _("%(problem)s: its fields were recovered by cutting the data on field terminators")
        notes = (("bad_directory", recovered % {"problem": problem}),)
    charset, problem = choose_charset(chunk, encoding)
    if problem:
        return MarcEntry(index, offset, None, None, code="encoding", reason=problem)
    try:
        record, said = _parse(chunk, charset)
    except UnicodeDecodeError as exc:
        reason = _("undecodable bytes: %(error)s") % {"error": exc.reason}
        return MarcEntry(index, offset, None, None, code="encoding", reason=reason)
    except Exception as exc:  # pymarc raises a family of its own errors for bad structure
        reason = _("broken record structure (%(error)s)") % {"error": str(exc) or type(exc).__name__}
        return MarcEntry(index, offset, None, None, code="bad_structure", reason=reason)
    return MarcEntry(index, offset, None, record, notes=notes + _pymarc_notes(said))


def _parse(chunk: bytes, charset: str) -> tuple[pymarc.Record, list[str]]:
    """The record, and what pymarc said while reading it (``_pymarc_said``)."""
    _pymarc_said.messages = said = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymarc warns about odd subfield codes; we keep them
            if charset == "utf-8":
                record = pymarc.Record(data=chunk, to_unicode=True, force_utf8=True, hide_utf8_warnings=True)
            elif charset == "marc-8":
                chunk = chunk[:9] + b" " + chunk[10:]  # leader/09 "a" would make pymarc read UTF-8
                record = pymarc.Record(data=chunk, to_unicode=True, hide_utf8_warnings=True)
            else:
                chunk = chunk[:9] + b" " + chunk[10:]
                record = pymarc.Record(data=chunk, to_unicode=True, file_encoding=_CODECS[charset])
    finally:
        _pymarc_said.messages = None
    return record, said


# What pymarc says while it reads a record, through its "pymarc" logger (indicators
# missing or too many) or straight on stderr (a MARC-8 multibyte character cut short):
# lines with no file or record, so collected, per thread, while ``_parse`` runs, and
# reported as notes of the record they concern (dropped with a record reported anyway).
_pymarc_said = threading.local()


def _collect_pymarc_log(record: logging.LogRecord) -> bool:
    said = getattr(_pymarc_said, "messages", None)
    if said is None:
        return True
    said.append(record.getMessage())
    return False


class _PymarcSys:
    """``sys`` as ``pymarc.marc8`` sees it: its stderr is collected like the logger."""

    def __getattr__(self, name):
        return getattr(sys, name)

    @property
    def stderr(self):
        said = getattr(_pymarc_said, "messages", None)
        return sys.stderr if said is None else _Said(said)


class _Said:
    def __init__(self, said: list[str]):
        self.said = said

    def write(self, text: str) -> int:
        if text.strip():
            self.said.append(text.strip())
        return len(text)

    def flush(self) -> None:
        pass


logging.getLogger("pymarc").addFilter(_collect_pymarc_log)
pymarc.marc8.sys = _PymarcSys()

_INDICATORS = re.compile(r"(missing indicators|only 1 indicator found|more than 2 indicators found): (.*)")


def _pymarc_notes(said: list[str]) -> tuple[tuple[str, str], ...]:
    notes = []
    for message in dict.fromkeys(said):
        indicators = _INDICATORS.match(message)
        if indicators:
            what = {
                "missing indicators": _("a field has no indicators: they were read as blanks"),
                "only 1 indicator found": _("a field has only one indicator: the second was read as a blank"),
                "more than 2 indicators found": _(
                    "a field has more than two indicators: the first two were kept"
                ),
            }[indicators.group(1)]
            notes.append(("bad_indicators", f"{what} ({truncate(indicators.group(2), 60)})"))
        elif message.startswith("Multi-byte position"):
            cut = _("a MARC-8 multibyte character is cut short at the end of a field: it was read as a space")
            notes.append(("bad_character", cut))
        else:
            notes.append(("pymarc", _("pymarc, reading the record: %(message)s") % {"message": message}))
    return tuple(notes)


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


def _directory_problem(chunk: bytes) -> str:
    """What is wrong with the directory (after ``_leader_problem``), or "": each entry
    must be numeric and end, in the record, on a field terminator."""
    base = int(chunk[12:17])
    directory = chunk[24 : base - 1]
    if len(directory) % 12:
        return _("the directory is not made of 12-byte entries")
    for start in range(0, len(directory), 12):
        entry = directory[start : start + 12]
        tag = entry[:3].decode("ascii", "replace")
        if not entry[3:].isdigit():
            return _("directory entry for %(tag)s is not numeric") % {"tag": tag}
        end = base + int(entry[7:12]) + int(entry[3:7])
        if end >= len(chunk):
            return _("directory entry for %(tag)s goes past the end of the record") % {"tag": tag}
        if chunk[end - 1] != FIELD_TERMINATOR:
            message = _(
                "directory entry for %(tag)s does not end on a field terminator (lengths counted in "
                "characters?)"
            )
            return message % {"tag": tag}
    return ""


def _rebuild_directory(chunk: bytes) -> bytes | None:
    """The record with its directory computed again from its data cut on field
    terminators, in the directory's order; None unless there are as many fields as
    entries (then each tag surely goes with its field)."""
    base = int(chunk[12:17])
    directory = chunk[24 : base - 1]
    tags = [directory[at : at + 3] for at in range(0, len(directory), 12)]
    fields = chunk[base:-1].split(bytes([FIELD_TERMINATOR]))
    # The data must end on a terminator (an empty last piece), and no entry may be short.
    if len(directory) % 12 or fields.pop() or len(fields) != len(tags):
        return None
    entries, position = [], 0
    for tag, data in zip(tags, fields, strict=True):
        entries.append(tag + b"%04d%05d" % (len(data) + 1, position))
        position += len(data) + 1
    rebuilt = b"".join(entries)
    if len(rebuilt) != len(directory):  # a field over 9999 bytes: no directory can say it
        return None
    return chunk[:24] + rebuilt + chunk[base - 1 :]


# --- character sets ----------------------------------------------------------------

_DELIMITERS = frozenset((FIELD_TERMINATOR, SUBFIELD_DELIMITER, RECORD_TERMINATOR))


def choose_charset(chunk: bytes, forced: str | None = None) -> tuple[str, str]:
    """(charset, problem) for a raw ISO 2709 record, following the module's rules."""
    if forced:
        return forced, ""
    if chunk.isascii() and ESCAPE not in chunk:
        # Plain ASCII reads the same either way, and UTF-8 skips pymarc's slow MARC-8 path.
        return "utf-8", ""
    bad_byte = _invalid_utf8(chunk)
    if bad_byte is None and not chunk.isascii():
        return "utf-8", ""
    # Here: invalid UTF-8, or ASCII with escape sequences (UTF-8 has none: the
    # record's own set reads them, MARC-8's G0 switches, UNIMARC's non-sorting marks).
    if chunk[9:10] == b"a":
        return _utf8_or_problem(_("the leader says UTF-8 but byte %(position)s is not valid UTF-8"), bad_byte)
    fields = _raw_fields(chunk)
    declared = _unimarc_charset(fields)
    if declared is None:
        return "marc-8", _marc8_problem(chunk, language=fields.get("008", b"")[35:38])
    if declared == "50":
        return _utf8_or_problem(_("100$a says UTF-8 (50) but byte %(position)s is not valid UTF-8"), bad_byte)
    if declared not in ("", "01", "03"):
        message = _("character set %(code)s (100$a/26-27) is not supported: only UTF-8 and ISO 5426 are")
        return "", message % {"code": declared}
    return "iso5426", _iso5426_problem(chunk)


def _invalid_utf8(chunk: bytes) -> int | None:
    """Where the bytes stop being UTF-8, or None when they are."""
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def _utf8_or_problem(message: str, bad_byte: int | None) -> tuple[str, str]:
    return "utf-8", "" if bad_byte is None else message % {"position": bad_byte}


def _raw_fields(chunk: bytes) -> dict[str, bytes]:
    """The bytes of each tag's first field, found through the directory."""
    base = int(chunk[12:17])
    directory = chunk[24 : base - 1]
    fields: dict[str, bytes] = {}
    for start in range(0, len(directory) - 11, 12):
        entry = directory[start : start + 12]
        if entry[3:12].isdigit():
            length, offset = int(entry[3:7]), int(entry[7:12])
            tag = entry[:3].decode("ascii", "replace")
            fields.setdefault(tag, chunk[base + offset : base + offset + length])
    return fields


def _unimarc_charset(fields: dict[str, bytes]) -> str | None:
    """UNIMARC's G0 set (100$a/26-27, "" when blank or absent); None for MARC21."""
    if "200" not in fields or "245" in fields:
        return None
    f100 = fields.get("100", b"")
    start = f100.find(b"\x1fa")
    if start < 0:
        return ""
    general = re.split(rb"[\x1e\x1f]", f100[start + 2 :])[0]
    return general[26:28].decode("ascii", "replace").strip()


def _data(chunk: bytes) -> tuple[int, bytes]:
    """The record's fields (after leader and directory), and where they start."""
    base = int(chunk[12:17])
    return base, chunk[base:]


def _compose(base: str, marks: list[str]) -> str:
    """A letter and the diacritics that came before it, as one NFC string. The mark
    nearest the letter applies first (ISO 5426 and MARC-8 alike)."""
    return unicodedata.normalize("NFC", base + "".join(reversed(marks)))


def _is_latin1_letter(text: str) -> bool:
    return len(text) == 1 and ("\u00c0" <= text <= "\u00ff" and text not in "\u00d7\u00f7" or text in "œŒ")


def _looks_latin1(charset: str, byte: int, position: int) -> str:
    message = _(
        "the record looks like Latin-1, not %(charset)s (byte %(byte)s at %(position)s): "
        "import the file with --encoding latin-1 if it is"
    )
    return message % {"charset": charset, "byte": f"0x{byte:02X}", "position": position}


# MARC-8: the ANSEL set of pymarc's tables (G1, bytes 0xA0-0xFE).
_ANSEL = marc8_mapping.CODESETS[0x45]
_ANSEL_COMBINING = frozenset(k for k, (_, combining) in _ANSEL.items() if combining)
_ANSEL_DEFINED = frozenset(k for k in _ANSEL if k >= 0x80)
_ANSEL_LETTERS = frozenset(k for k in _ANSEL_DEFINED - _ANSEL_COMBINING if chr(_ANSEL[k][0]).isalpha())
# Halves of marks spanning two letters: they compose with nothing by design.
_ANSEL_HALVES = frozenset((0xEB, 0xEC, 0xFA, 0xFB))
# A lone grave or acute before a space or a letter it cannot take: some exports use
# them for an apostrophe (jazz_1k: "I\xe1ll", "Relaxin\xe1 at").
_ANSEL_APOSTROPHES = (b"\xe1", b"\xe2")
# Languages whose letters all are in Latin-1: there, a caron or a ring on a small
# letter is what Latin-1 é, ê, è… look like when read as MARC-8.
_LATIN1_LANGUAGES = frozenset((b"fre", b"frm", b"fro"))


def _marc8_problem(chunk: bytes, language: bytes = b"") -> str:
    """Why bytes claimed to be MARC-8 are not (Latin sets only: what escape sequences
    switch to is left to pymarc)."""
    base, data = _data(chunk)
    data = _default_sets_only(data)
    kinds: list[tuple[str, int]] = []
    pos = 0
    while pos < len(data):
        byte = data[pos]
        if (byte == 0x80 or byte >= 0xA0) and byte not in _ANSEL_DEFINED:
            message = _("byte %(byte)s at %(position)s is neither MARC-8 nor UTF-8 (wrong encoding?)")
            return message % {"byte": f"0x{byte:02X}", "position": base + pos}
        if byte not in _ANSEL_COMBINING:
            pos += 1
            continue
        start = pos
        while pos < len(data) and data[pos] in _ANSEL_COMBINING:
            pos += 1
        kind = _marc8_diacritics(data[start:pos], data[pos] if pos < len(data) else RECORD_TERMINATOR)
        if kind == "no_letter":
            message = _(
                "MARC-8 diacritic %(byte)s at %(position)s has no letter after it: the record looks "
                "like Latin-1; import the file with --encoding latin-1 if it is"
            )
            return message % {"byte": f"0x{byte:02X}", "position": base + start}
        kinds.append((kind, start))
    odd = [start for kind, start in kinds if kind == "odd"]
    if language in _LATIN1_LANGUAGES and len(odd) > sum(kind == "common" for kind, _ in kinds):
        return _looks_latin1("MARC-8", data[odd[0]], base + odd[0])
    return ""


# An ISO 2022 escape sequence: intermediate bytes, then a final byte (MARC-8 designates
# its sets with them, ESC ( B... and switches scripts with ESC g, ESC s...).
_ESCAPE_SEQUENCE = re.compile(rb"\x1b[\x20-\x2f]*[\x30-\x7e]?")
# Those that bring back MARC-8's defaults: ASCII in G0, ANSEL in G1.
_DEFAULT_SETS = frozenset((b"\x1b(B", b"\x1bs", b"\x1b)E"))


def _default_sets_only(data: bytes) -> bytes:
    """``data`` with escape sequences, and the bytes they switch to another set, turned
    into "X" (same length: positions stay right, and an "X" after a diacritic tells
    nothing either way): one escape in a record must not stop the Latin-1 check of the
    rest. Each field starts in the default sets."""
    out = bytearray(data)
    field_start = 0
    for field_bytes in data.split(bytes([FIELD_TERMINATOR])):
        other_since = None  # where another set began, in the field
        for match in _ESCAPE_SEQUENCE.finditer(field_bytes):
            if other_since is None:
                other_since = match.start()
            if match.group() in _DEFAULT_SETS:
                out[field_start + other_since : field_start + match.end()] = b"X" * (
                    match.end() - other_since
                )
                other_since = None
        if other_since is not None:
            end = field_start + len(field_bytes)
            out[field_start + other_since : end] = b"X" * (end - field_start - other_since)
        field_start += len(field_bytes) + 1
    return bytes(out)


def _marc8_diacritics(run: bytes, letter: int) -> str:
    """What MARC-8 diacritics make with the byte after them: "no_letter" (not MARC-8),
    "common" (a letter of Latin-1: é, ç…), "odd" (a small letter outside Latin-1: ř, ť…,
    what Latin-1 é read as MARC-8 gives) or "" (it says nothing either way)."""
    if not ((letter < 0x80 and chr(letter).isalpha()) or letter in _ANSEL_LETTERS):
        return "" if letter not in _DELIMITERS and run in _ANSEL_APOSTROPHES else "no_letter"
    if letter >= 0x80 or _ANSEL_HALVES.intersection(run):
        return ""
    composed = _compose(chr(letter), [chr(_ANSEL[b][0]) for b in run])
    if _is_latin1_letter(composed):
        return "common"
    return "odd" if chr(letter).islower() and run not in _ANSEL_APOSTROPHES else ""


# ISO 5426 (the G1 set of UNIMARC's "0103"): diacritics 0xC0-0xDF precede their letter.
_ISO5426_DIACRITICS = {
    0xC0: "\u0309", 0xC1: "\u0300", 0xC2: "\u0301", 0xC3: "\u0302", 0xC4: "\u0303", 0xC5: "\u0304",
    0xC6: "\u0306", 0xC7: "\u0307", 0xC8: "\u0308", 0xC9: "\u0308", 0xCA: "\u030a", 0xCB: "\u0315",
    0xCC: "\u0312", 0xCD: "\u030b", 0xCE: "\u031b", 0xCF: "\u030c", 0xD0: "\u0327", 0xD1: "\u031c",
    0xD2: "\u0326", 0xD3: "\u0328", 0xD4: "\u0325", 0xD5: "\u032e", 0xD6: "\u0323", 0xD7: "\u0324",
    0xD8: "\u0332", 0xD9: "\u0333", 0xDA: "\u0329", 0xDB: "\u032d", 0xDD: "\ufe20", 0xDE: "\ufe21",
    0xDF: "\ufe23",
}  # fmt: skip
_ISO5426_HALVES = frozenset((0xDD, 0xDE, 0xDF))
_ISO5426_CHARACTERS = {
    0xA1: "¡", 0xA2: "„", 0xA3: "£", 0xA4: "$", 0xA5: "¥", 0xA6: "†", 0xA7: "§", 0xA8: "′",
    0xA9: "‘", 0xAA: "“", 0xAB: "«", 0xAC: "♭", 0xAD: "©", 0xAE: "℗", 0xAF: "®", 0xB0: "ʻ",
    0xB1: "ʼ", 0xB2: "‚", 0xB6: "‡", 0xB7: "·", 0xB8: "″", 0xB9: "’", 0xBA: "”", 0xBB: "»",
    0xBC: "♯", 0xBD: "ʹ", 0xBE: "ʺ", 0xBF: "¿", 0xE1: "Æ", 0xE2: "Đ", 0xE6: "Ĳ", 0xE8: "Ł",
    0xE9: "Ø", 0xEA: "Œ", 0xEC: "Þ", 0xF1: "æ", 0xF2: "đ", 0xF3: "ð", 0xF5: "ı", 0xF6: "ĳ",
    0xF8: "ł", 0xF9: "ø", 0xFA: "œ", 0xFB: "ß", 0xFC: "þ",
}  # fmt: skip
# Capitals that Latin-1 é, è, ê, â become: after a small letter, they are not ISO 5426.
_ISO5426_CAPITALS = frozenset(k for k, c in _ISO5426_CHARACTERS.items() if c.isupper())


def _iso5426_char(data: bytes, pos: int) -> tuple[str | None, int]:
    """The character at ``pos`` outside diacritics, and its length in bytes. UNIMARC
    writes its non-sorting marks (C1 controls) as ESC H and ESC I: they stay controls."""
    byte = data[pos]
    if byte == ESCAPE:
        follower = data[pos + 1] if pos + 1 < len(data) else 0
        return (chr(follower + 0x40), 2) if 0x40 <= follower <= 0x5F else (None, 1)
    if byte < 0xA0:
        return chr(byte), 1
    return _ISO5426_CHARACTERS.get(byte), 1


def decode_iso5426(data: bytes, errors: str = "strict") -> tuple[str, int]:
    """Decode ISO 5426 (a ``codecs`` decoder: strict, whatever ``errors`` says)."""
    data = bytes(data)
    out: list[str] = []
    marks: list[str] = []
    pos = 0
    while pos < len(data):
        if data[pos] in _ISO5426_DIACRITICS:
            marks.append(_ISO5426_DIACRITICS[data[pos]])
            pos += 1
            continue
        char, size = _iso5426_char(data, pos)
        if char is None:
            reason = _("byte 0x%(byte)02X is not defined in ISO 5426") % {"byte": data[pos]}
            raise UnicodeDecodeError("iso5426", data, pos, pos + size, reason)
        out.append(_compose(char, marks) if marks else char)
        marks = []
        pos += size
    if marks:
        reason = _("an ISO 5426 diacritic ends the subfield")
        raise UnicodeDecodeError("iso5426", data, len(data) - 1, len(data), reason)
    return "".join(out), len(data)


def _iso5426_problem(chunk: bytes) -> str:
    """Why bytes taken for ISO 5426 are not: undefined bytes, a diacritic that makes no
    letter with what follows it, a capital where Latin-1 puts a small accented letter."""
    base, data = _data(chunk)
    pos = 0
    while pos < len(data):
        byte = data[pos]
        if byte in _ISO5426_DIACRITICS:
            start = pos
            while pos < len(data) and data[pos] in _ISO5426_DIACRITICS:
                pos += 1
            letter = _iso5426_char(data, pos)[0] if pos < len(data) else None
            marks = [_ISO5426_DIACRITICS[b] for b in data[start:pos]]
            if _ISO5426_HALVES.intersection(data[start:pos]) and letter and letter.isalpha():
                continue
            if not letter or not letter.isalpha() or len(_compose(letter, marks)) != 1:
                message = _(
                    "ISO 5426 diacritic %(byte)s at %(position)s makes no letter with what follows it "
                    "(wrong encoding? see --encoding)"
                )
                return message % {"byte": f"0x{byte:02X}", "position": base + start}
            continue
        char, size = _iso5426_char(data, pos)
        if char is None:
            message = _("byte %(byte)s at %(position)s is not ISO 5426 (wrong encoding? see --encoding)")
            return message % {"byte": f"0x{byte:02X}", "position": base + pos}
        if byte in _ISO5426_CAPITALS and pos and chr(data[pos - 1]).islower() and data[pos - 1] < 0x80:
            return _looks_latin1("ISO 5426", byte, base + pos)
        pos += size
    return ""


# Latin-1 as exports write it: Windows-1252 in 0x80-0x9F, but MARC's NSB/NSE (0x88,
# 0x89) stay controls, and so do the five bytes Windows-1252 leaves undefined.
_LATIN1_TABLE = {
    b: bytes([b]).decode("cp1252") for b in range(0x80, 0xA0) if b not in (*CP1252_UNDEFINED, 0x88, 0x89)
}


def decode_latin1(data: bytes, errors: str = "strict") -> tuple[str, int]:
    return bytes(data).decode("latin-1").translate(_LATIN1_TABLE), len(data)


def _encode_unsupported(text: str, errors: str = "strict"):
    raise UnicodeError("encoding to this character set is not supported")


# Registered with ``codecs`` because pymarc decodes subfields with ``bytes.decode(name)``.
_CODECS = {"latin-1": "emporter_latin1", "iso5426": "emporter_iso5426"}
_DECODERS = {"emporter_latin1": decode_latin1, "emporter_iso5426": decode_iso5426}


def _find_codec(name: str) -> codecs.CodecInfo | None:
    decoder = _DECODERS.get(name)
    return codecs.CodecInfo(_encode_unsupported, decoder, name=name) if decoder else None


codecs.register(_find_codec)


# --- MARCXML -----------------------------------------------------------------------

MARCXML_NS = "http://www.loc.gov/MARC21/slim"
# Characters XML 1.0 forbids, so that one stops expat: C0 controls but tab, line feed and
# carriage return, raw or as character references, and references to surrogates and to
# U+FFFE/U+FFFF. Only the forbidden values are matched: an export that writes every
# accent as a reference (``&#233;``) must not cost a call each.
_FORBIDDEN_XML = re.compile(
    rb"[\x00-\x08\x0b\x0c\x0e-\x1f]"
    rb"|&#[xX]0*(?:[0-8bBcCeEfF]|1[0-9a-fA-F]|[dD][89a-fA-F][0-9a-fA-F]{2}|[fF]{3}[eEfF]);"
    rb"|&#0*(?:[0-8]|1[124-9]|2[0-9]|3[01]|5529[6-9]|55[3-9][0-9]{2}|56[0-9]{3}|57[0-2][0-9]{2}"
    rb"|573[0-3][0-9]|5734[0-3]|6553[45]);"
)
# A character reference cut by the end of a block is held back until the next one.
_LONGEST_REFERENCE = 16
# Where reading resumes after XML that is not well-formed: a record's start tag, with or
# without a prefix.
_RECORD_TAG = re.compile(rb"<(?:[A-Za-z_][-.\w]*:)?record(?=[\s/>])")
_FIRST_BLOCK = 1 << 12
_XML_DECLARATION = re.compile(rb"<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z][-.\w]*)[\"']")


class _XmlCleaner:
    """Takes out of the bytes fed to expat the characters XML 1.0 forbids (``_FORBIDDEN_XML``),
    and remembers where: the record they were in is imported and the removal said
    (``take``), and a parse error's position maps back to the file's (``original``).
    Only for files in an ASCII-compatible encoding (not UTF-16), where bytes 0x00-0x1F
    are always these controls."""

    def __init__(self, start: int, line: int, prefix: int = 0):
        self.start = start  # file offset of the first byte fed, after ``prefix`` bytes
        self.prefix = prefix  # bytes fed before the file's (the resume wrapper)
        self.line = line  # file line of the next byte to look at
        self.out = prefix  # bytes handed to the parser so far
        self.carry = b""
        self.removed: deque[tuple[int, int, int]] = deque()  # (parser offset, bytes, line)
        self.dropped = 0  # bytes removed and already taken

    def clean(self, data: bytes, final: bool = False) -> bytes:
        data, self.carry = self.carry + data, b""
        if not final:
            amp = data.rfind(b"&", max(0, len(data) - _LONGEST_REFERENCE))
            if amp != -1 and b";" not in data[amp:]:
                data, self.carry = data[:amp], data[amp:]
        kept, last = [], 0
        for match in _FORBIDDEN_XML.finditer(data):
            kept.append(data[last : match.start()])
            self.line += data.count(b"\n", last, match.start())
            self.out += match.start() - last
            self.removed.append((self.out, match.end() - match.start(), self.line))
            last = match.end()
        if not kept:
            self.line += data.count(b"\n")
            self.out += len(data)
            return data
        kept.append(data[last:])
        self.line += data.count(b"\n", last)
        self.out += len(data) - last
        return b"".join(kept)

    def take(self, start: int, end: int) -> tuple[tuple[str, str], ...]:
        """What was removed between parser offsets ``start`` and ``end`` (a record), as a
        note; what was removed before ``start`` (between records) is forgotten."""
        taken = []
        while self.removed and self.removed[0][0] <= end:
            position, size, line = self.removed.popleft()
            self.dropped += size
            if position >= start:
                taken.append(line)
        if not taken:
            return ()
        message = _(
            "control characters that XML does not allow were removed from the record (%(count)s, "
            "first on line %(line)s): check its text"
        ) % {"count": len(taken), "line": taken[0]}
        return (("bad_character", message),)

    def original(self, position: int) -> int:
        """The file offset of the byte at parser offset ``position``."""
        removed = self.dropped + sum(size for at, size, _line in self.removed if at <= position)
        return self.start + position - self.prefix + removed


class _StreamHandler(XmlHandler):
    """pymarc's SAX handler, records collected so the reader can hand them out as they
    come instead of after the whole file, and each record's first error kept instead
    of raised: pymarc's handler trusts the markup, and an exception out of a SAX
    callback would end the parse and the file with it. It also keeps the elements open
    around the records (their names and namespace declarations), to rebuild them when
    reading resumes after a break (``_read_marcxml``), and each record's position, to
    give it what the cleaner removed from it."""

    def __init__(self, lines_skipped: int = 0, parser=None, cleaner: _XmlCleaner | None = None):
        super().__init__(strict=False)
        self.lines_skipped = lines_skipped  # lines before those parsed (blank, or resumed)
        self.parser = parser
        self.cleaner = cleaner
        self.ready: list[tuple[pymarc.Record, int | None, str, tuple]] = []
        self.locator = None
        self.record_line: int | None = None
        self.record_start = 0
        self.error = ""
        self.open: list[tuple[str, dict]] = []  # open elements (names outside records only)
        self.records_open = 0  # record elements open (nested ones too)
        self.declared: dict = {}  # namespace declarations of the next element
        self.around: tuple[tuple[str, dict], ...] | None = None  # open around the last record
        self.record_tag = ""  # the last record's qualified name

    def line(self) -> int | None:
        return self.locator.getLineNumber() + self.lines_skipped if self.locator is not None else None

    def position(self) -> int:
        try:
            return self.parser._parser.CurrentByteIndex
        except AttributeError:
            return 0

    def in_record(self) -> bool:
        return self.records_open > 0

    def setDocumentLocator(self, locator):  # noqa: N802 - SAX API
        self.locator = locator

    def startPrefixMapping(self, prefix, uri):  # noqa: N802 - SAX API
        self.declared[prefix] = uri

    def qualified(self, name: tuple, declared: dict) -> str:
        uri, local = name
        if uri is None:
            return local
        for scope in (declared, *(d for _q, d in reversed(self.open))):
            for prefix, bound in scope.items():
                if bound == uri:
                    return f"{prefix}:{local}" if prefix else local
        return local

    def startElementNS(self, name, qname, attrs):  # noqa: N802 - SAX API
        if name[1] == "record" and self._record is not None and self._record.fields:
            self._unclosed_record()
        declared, self.declared = self.declared, {}
        tag = "" if self.in_record() else self.qualified(name, declared)
        if name[1] == "record":
            if not self.in_record():
                self.record_tag, self.around = tag, tuple(self.open)
            self.records_open += 1
        self.open.append((tag, declared))
        if name[1] == "record":
            self.record_line, self.error, self.record_start = self.line(), "", self.position()
        try:
            super().startElementNS(name, qname, attrs)
        except Exception as exc:
            self.failed(name[1], exc)

    def endElementNS(self, name, qname):  # noqa: N802 - SAX API
        if self.open:
            self.open.pop()
        if name[1] == "record" and self.records_open:
            self.records_open -= 1
        try:
            super().endElementNS(name, qname)
        except Exception as exc:
            self.failed(name[1], exc)

    def _unclosed_record(self) -> None:
        """A record starts inside a MARC record that has fields (not an OAI-PMH record
        around one, empty yet): the open one lost its </record>. It is reported where it
        starts, as if it had ended, and the new one read as the next record (pymarc
        would drop the open one without a word)."""
        message = _("no </record> before the next record (line %(line)s): record skipped")
        self.ready.append((self._record, self.record_line, self.error or message % {"line": self.line()}, ()))
        self._record = None
        self.records_open -= 1
        if self.open:
            self.open.pop()

    def failed(self, element: str, exc: Exception) -> None:
        # Outside a record, pymarc ignores what it reads anyway.
        if self._record is not None and not self.error:
            self.error = _xml_error(element, exc, self.line())

    def process_record(self, record):
        notes = self.cleaner.take(self.record_start, self.position()) if self.cleaner else ()
        self.ready.append((record, self.record_line, self.error, notes))


def _xml_error(element: str, exc: Exception, line: int | None) -> str:
    if isinstance(exc, KeyError) and isinstance(exc.args[0], tuple):
        message = _("<%(element)s> without its %(attribute)s attribute (line %(line)s)")
        return message % {"element": element, "attribute": exc.args[0][-1], "line": line}
    if isinstance(exc, RecordLeaderInvalid):
        return _("the leader is not 24 characters long (line %(line)s)") % {"line": line}
    message = _("<%(element)s> could not be read: %(error)s (line %(line)s)")
    return message % {"element": element, "error": f"{type(exc).__name__}: {exc}", "line": line}


@dataclass
class _XmlBreak:
    """Where and why expat stopped, and what resuming after it needs."""

    reason: str
    line: int | None
    offset: int | None = None  # file offset of the error, when reading can resume
    in_record: bool = False
    detail: str = ""  # expat's message
    around: tuple[tuple[str, dict], ...] = ()
    record_tag: str = ""
    record_line: int | None = None  # where the record open then starts


class _XmlProgress:
    """``on_bytes`` told each byte of the file once, though a resumed read goes back."""

    def __init__(self, on_bytes, start: int):
        self.on_bytes, self.done = on_bytes, start

    def reached(self, offset: int) -> None:
        if self.on_bytes and offset > self.done:
            self.on_bytes(offset - self.done)
            self.done = offset


def _read_marcxml(fh, on_bytes, lines_skipped: int = 0) -> Iterator[MarcEntry]:
    """Parse the file with expat, resuming after XML that is not well-formed: the record
    where expat stopped is reported, and reading goes on at the next record's start tag,
    parsed after the elements that were open around the records (rebuilt with their
    namespace declarations, after the file's XML declaration), its lines counted from
    where it is in the file. Each resumption starts further on, so damage that repeats
    costs one record each time and never loops; the file is read forward, going back at
    most to where expat stopped. Characters XML forbids (a stray control character,
    ``&#1;``) are taken out before parsing, and their record imported with a note.
    UTF-16 is parsed as it is, and cannot resume."""
    start = fh.tell()
    head = fh.peek(256)[:256]
    resumable = not head.startswith(_UTF16_XML)
    declared = _XML_DECLARATION.match(head)
    encoding = declared.group(1).decode("ascii") if declared else ""
    progress = _XmlProgress(on_bytes, start)
    index, prefix, line, guessed = 0, b"", lines_skipped + 1, False
    record_tag = ""
    while True:
        cleaner = _XmlCleaner(start, line, len(prefix)) if resumable else None
        segment = _parse_xml(fh, start, prefix, line - 1, cleaner, progress)
        try:
            while True:
                record, record_line, error, notes = next(segment)
                index += 1
                entry = _check_xml_record(record, index, record_line, error)
                yield dataclasses.replace(entry, notes=notes) if notes and entry.record else entry
        except StopIteration as stop:
            broken: _XmlBreak | None = stop.value
        if broken is None:
            return
        record_tag = broken.record_tag or record_tag
        # Stopped on a record's start tag itself (the one before lost its end tag's ">"):
        # that record is read, not skipped; on the segment's first byte, one further on.
        here = broken.offset is not None and broken.offset > start
        found = (
            _next_record_tag(fh, broken.offset, record_tag, here=here) if broken.offset is not None else None
        )
        if found is None:
            if guessed and not broken.in_record:  # a rebuilt wrapper's end is no loss
                return
            if not broken.in_record and _ends_whole(fh, broken.offset):
                # Past the last record, and the file has its end: nothing is missing.
                reason = _("XML is not well-formed after the last record (%(error)s, line %(line)s)") % {
                    "error": broken.detail,
                    "line": broken.line,
                }
                yield MarcEntry(index + 1, None, broken.line, None, code="bad_structure", reason=reason)
                return
            yield MarcEntry(index + 1, None, broken.line, None, code="xml", reason=broken.reason)
            return
        start, newlines, tag = found
        line = broken.line + newlines
        lost = broken.in_record or _in_start_tag(fh, broken.offset, tag)
        yield _broken_xml_record(fh, index + 1, broken, encoding, lost, line)
        index += lost
        guessed = guessed or not broken.around
        around = broken.around or _guessed_collection(tag)
        prefix = _resume_prefix(encoding, around)


def _parse_xml(fh, start: int, prefix: bytes, lines_before: int, cleaner, progress):
    """Parse from file offset ``start`` (after ``prefix``), yielding (record, line, error,
    notes) as records end, and return where it broke (``_XmlBreak``), or None."""
    parser = expatreader.create_parser()
    parser.setFeature(feature_namespaces, 1)
    handler = _StreamHandler(lines_before, parser, cleaner)
    parser.setContentHandler(handler)
    # The parser tells its position only to parse(), not to feed(): lines come from here.
    handler.setDocumentLocator(expatreader.ExpatLocator(parser))
    fh.seek(start)
    expat = None  # expat's own parser: close() drops it, and with it the error's offset
    try:
        if prefix:
            parser.feed(prefix)
            expat = parser._parser
        # After a break, small blocks first: damage that repeats record after record must
        # not cost a whole block read and cleaned each time.
        size = READ_BLOCK if not prefix else _FIRST_BLOCK
        while block := fh.read(size):
            size = min(2 * size, READ_BLOCK)
            progress.reached(fh.tell())
            parser.feed(cleaner.clean(block) if cleaner else block)
            expat = parser._parser
            yield from handler.ready
            handler.ready.clear()
        if cleaner:
            parser.feed(cleaner.clean(b"", final=True))
        parser.close()
    except SAXParseException as exc:
        yield from handler.ready
        return _xml_break(exc, expat or parser._parser, handler, cleaner, len(prefix), lines_before)
    except Exception as exc:  # the parser cannot resume after its own failure
        yield from handler.ready
        reason = _("reading stopped: %(error)s") % {"error": f"{type(exc).__name__}: {exc}"}
        return _XmlBreak(reason, handler.line())
    yield from handler.ready
    return None


def _xml_break(exc: SAXParseException, expat, handler: _StreamHandler, cleaner, prefix: int, lines_before):
    line = exc.getLineNumber() + lines_before
    reason = _("XML is not well-formed (%(error)s): the rest of the file cannot be read") % {
        "error": exc.getMessage()
    }
    position = getattr(expat, "ErrorByteIndex", -1)
    if cleaner is None or position < prefix:  # UTF-16, or the rebuilt start itself
        return _XmlBreak(reason, line)
    return _XmlBreak(
        reason,
        line,
        offset=cleaner.original(position),
        in_record=handler.in_record(),
        detail=exc.getMessage(),
        around=handler.around if handler.around is not None else tuple(handler.open),
        record_tag=handler.record_tag,
        record_line=handler.record_line if handler.in_record() else None,
    )


def _next_record_tag(fh, offset: int, tag: str, *, here: bool = False) -> tuple[int, int, bytes] | None:
    """The file offset of the first record start tag after ``offset`` (at it, ``here``),
    named ``tag`` when records were read already, so that an OAI-PMH ``record`` around
    them does not count; the lines between, and the tag's name. Read forward in blocks."""
    pattern = re.compile(b"<" + re.escape(tag.encode()) + rb"(?=[\s/>])") if tag else _RECORD_TAG
    newlines, position, first, size = 0, offset, True, _FIRST_BLOCK
    overlap = 256  # a start tag cut by the end of a block
    while True:
        fh.seek(position)
        block = fh.read(size)
        match = pattern.search(block, 1 if first and not here else 0)
        if match:
            newlines += block.count(b"\n", 0, match.start())
            return position + match.start(), newlines, match.group()[1:]
        if len(block) < size:
            return None
        size = min(2 * size, READ_BLOCK)
        newlines += block.count(b"\n", 0, len(block) - overlap)
        position += len(block) - overlap
        first = False


def _ends_whole(fh, offset: int | None) -> bool:
    """The file goes on after ``offset`` and ends with a tag closed (``</collection>``):
    not a file cut short, which ends in the middle of something, or where expat stopped."""
    if offset is None:
        return False
    fh.seek(offset)
    rest = fh.read(READ_BLOCK).rstrip()
    return bool(rest) and rest.endswith(b">") and not fh.read(1)


def _guessed_collection(tag: bytes) -> tuple[tuple[str, dict], ...]:
    """What was around the records when expat broke before any: a MARCXML collection,
    its prefix the records'."""
    prefix = tag.decode("ascii", "replace").rpartition(":")[0]
    return (((f"{prefix}:collection" if prefix else "collection"), {prefix or None: MARCXML_NS}),)


def _resume_prefix(encoding: str, around: tuple[tuple[str, dict], ...]) -> bytes:
    text = f'<?xml version="1.0" encoding="{encoding}"?>' if encoding else ""
    for tag, declared in around:
        attributes = "".join(
            f" xmlns:{prefix}={quoteattr(uri)}" if prefix else f" xmlns={quoteattr(uri)}"
            for prefix, uri in declared.items()
        )
        text += f"<{tag}{attributes}>"
    try:
        return text.encode(encoding or "utf-8")
    except (LookupError, UnicodeError):
        return text.encode("utf-8", "replace")


def _in_start_tag(fh, offset: int, tag: bytes) -> bool:
    """Whether the byte at ``offset`` is inside a record's start tag (named ``tag``)."""
    back = min(offset, 4096)
    fh.seek(offset - back)
    before = fh.read(back)
    opened = before.rfind(b"<")
    name = before[opened + 1 :] if opened != -1 else b""
    if not name or b">" in name:
        return False
    return tag.startswith(name) or (name.startswith(tag) and name[len(tag) : len(tag) + 1].isspace())


def _broken_xml_record(
    fh, index: int, broken: _XmlBreak, encoding: str, lost: bool, resumed: int
) -> MarcEntry:
    """Where expat stopped, reported: in a record (``lost``), which is skipped, or between
    two, where nothing is lost; reading resumes at the next record (line ``resumed``)."""
    if not lost:
        reason = _(
            "XML is not well-formed between records (%(error)s, line %(line)s): reading resumed at "
            "the next record, line %(next)s"
        ) % {"error": broken.detail, "line": broken.line, "next": resumed}
        return MarcEntry(index, None, broken.line, None, code="bad_structure", reason=reason)
    fh.seek(broken.offset)
    bad = fh.read(4)
    if encoding.lower().replace("_", "-") in ("", "utf-8", "utf8") and bad[:1] >= b"\x80":
        try:
            bad.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start == 0:
                reason = _(
                    "bytes that are not UTF-8 (%(bytes)s, line %(line)s) though the file is UTF-8 "
                    "(Latin-1 or Windows-1252 text?): record skipped, the next ones are read"
                ) % {"bytes": bad[: max(exc.end, 1)].hex(" ").upper(), "line": broken.line}
                return MarcEntry(index, None, broken.line, None, code="encoding", reason=reason)
    reason = _(
        "XML is not well-formed (%(error)s, line %(line)s): record skipped, the next ones are read"
    ) % {"error": broken.detail, "line": broken.line}
    # Reported where the record starts (the break may be at the next one's start tag).
    line = broken.record_line or broken.line
    return MarcEntry(index, None, line, None, code="bad_structure", reason=reason)


def _check_xml_record(record: pymarc.Record, index: int, line: int | None, error: str = "") -> MarcEntry:
    if error:
        return MarcEntry(index, None, line, None, code="bad_structure", reason=error)
    if not record.fields:
        return MarcEntry(index, None, line, None, code="bad_structure", reason=_("record has no fields"))
    return MarcEntry(index, None, line, record)


# --- cleaning --------------------------------------------------------------------
