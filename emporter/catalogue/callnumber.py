"""Shelf-order sort key for call numbers (cotes).

``sort_key(call_number)`` returns a string that sorts, with plain string comparison,
in the order a librarian walks the shelves. It is stored in ``Copy.call_number_key``
and sorted by the database, so it only uses ``0-9`` and ``a-z``: those characters
compare the same under the "C" collation and under ICU or glibc collations such as
en-US or fr-FR (no punctuation, which locales ignore or reorder, and no capitals).

Rules
-----
The call number is normalised (double-encoded UTF-8 such as ``8Â°`` repaired, NFKC,
case folded, invisible characters dropped, runs of spaces collapsed), accents are
folded (``é`` → ``e``, ``œ`` → ``oe``), then it is cut into tokens; punctuation and
spaces only separate tokens. Tokens compare left to right, "nothing before
something" (``R DUP`` before ``R DUP 2``), and at the same position
number < format mark < LC cutter < word < word in another script:

- **Numbers**: the integer part numerically (``T.0252(2)`` before ``T.0252(10)``,
  ``Vol. 2`` before ``Vol. 10``, ``072`` same as ``72``), the part after a dot between
  digits digit by digit like a Dewey or PCDM4 decimal: ``072`` < ``072.1 DUP`` <
  ``072.10`` < ``072.2`` < ``100``; ``3.32`` < ``3.4``.
- **Format marks** (``4°``, ``8°``, ``12°``, ``in-8``, ``Fol.``/``F°`` = folio = 2°)
  prefix the number in heritage stacks (``8°007.775``) and sort by size numeral:
  Fol. < 4° < 8° < 12°. ``Fol`` is only a format at the start or as ``in-fol``/``F°``,
  so an author code ``R FOL`` stays a word.
- **Words** alphabetically, so prefix families group as on the shelves:
  ``A MAR`` (albums), ``BD GOS``, ``BD/SERIES``, ``CD 1.2 BEA``, ``DVD F HIT``,
  ``E A/SAR``, ``J 398.2``, ``JR DUP``, ``R DUP``, ``RP SIM``: a prefix sorts before
  a longer one (``J`` < ``JR``, ``R`` < ``RP``), and what follows the prefix sorts by
  the same rules (``J 398.2`` < ``J 400`` < ``J DUP``).
- **LC cutters**: when the call number has the Library of Congress shape (1 to 3
  class letters then a class number, ``ML 3561 J3 E5 1966``), the letter+digits
  tokens right after the class number are cutters, whose digits are decimals:
  ``M 1366 B4`` < ``M 1366 B47`` < ``M 1366 B5``. Elsewhere ``T1``/``T10`` are volumes.
- **Anything else** (other scripts, symbols) never fails: letters of other scripts
  are words that sort after ``z``; symbols only count in the tie-break.

Ties (``r dup`` and ``R DUP``, ``BD/SERIES`` and ``BD SERIES``) are broken by an
injective spelling of the normalised call number, so two keys are equal exactly
when the normalised call numbers are. A key longer than ``MAX_KEY_LENGTH`` is cut
and ends with a digest of the normalised call number, keeping it unique.
"""

import hashlib
import re
import string
import unicodedata
from typing import NamedTuple

MAX_KEY_LENGTH = 400  # Copy.call_number_key.max_length

_SCANNED = 600  # characters tokenised: more cannot fit in the key anyway
_DIGEST_LENGTH = 25  # base36 digits of a 128-bit digest
_BASE36 = string.digits + string.ascii_lowercase

# Token kinds; the tag starts the token's encoding, so it decides between kinds.
_END = "0"
NUMBER, FORMAT, CUTTER, WORD, OTHER = "2", "4", "6", "7", "8"
_FOLIO = "2"  # in-folio: a sheet folded once, the largest format

_TOKEN = re.compile(
    r"""
      (?:\bin-?\s*)?(?P<size>[0-9]+)\s*°                       # 8°, in-8°
    | \bin-(?P<in_size>[0-9]+)                                # in-8
    | (?P<folio>\bf(?:ol)?\.?\s*°|(?:^|\bin-?\s*)fol\b\.?)   # F°, Fol. at the start, in-fol
    | (?P<integer>[0-9]+)(?:\.(?P<fraction>[0-9]+))?          # 072.10, 0252
    | (?P<word>[a-z]+)
    | (?P<other>[^\W\d_a-z]+)                                 # letters outside a-z
    """,
    re.VERBOSE,
)

# Letters that NFKD does not decompose into an ASCII letter plus an accent.
_LETTERS = str.maketrans({"æ": "ae", "œ": "oe", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "þ": "th", "ı": "i"})
# Look-alikes of the degree sign; NFKC would turn º into an "o".
_DEGREES = str.maketrans({"º": "°", "˚": "°", "⁰": "°"})


class Token(NamedTuple):
    kind: str
    text: str  # digits (integer, format, cutter) or letters
    fraction: str = ""  # digits after the decimal point (numbers, cutters)
    start: int = 0
    end: int = 0


def sort_key(call_number: str) -> str:
    text = normalise(call_number)
    if not text:
        return ""
    tokens = _mark_cutters(_tokenise(_fold(text)[:_SCANNED]))
    key = "".join(_encode(token) for token in tokens) + _END + _spell(text)
    if len(key) > MAX_KEY_LENGTH:
        key = key[: MAX_KEY_LENGTH - _DIGEST_LENGTH] + _digest(text)
    return key


def normalise(call_number: str) -> str:
    """The call number as a librarian reads it: same spelling, same key."""
    text = call_number or ""
    # Repeat until nothing changes: case folding can reveal double encoding ("À¡¡" -> "à¡¡"
    # -> "ࡡ"), and normalise(normalise(x)) must be normalise(x) for keys to be stable.
    for _ in range(8):
        text, previous = _normalise_once(text), text
        if text == previous:
            break
    return text


def _normalise_once(text: str) -> str:
    text = _repair_double_encoding(text).translate(_DEGREES)
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    if not text.isprintable():  # the common case skips the character-by-character pass
        text = "".join(" " if c.isspace() else c for c in text if c.isspace() or not _is_invisible(c))
    return " ".join(text.split())


def _is_invisible(char: str) -> bool:
    # Controls, zero-width spaces, soft hyphens: not printed on a spine.
    return unicodedata.category(char) in {"Cc", "Cf", "Cs"}


# UTF-8 read as Latin-1/cp1252 (cotesMEL's 995$k has "8Â°007.775"): a lead byte
# C2-F4 shown as Â..ô followed by the right number of continuation bytes 80-BF.
_CONTINUATION = "\u0080-\u00bf" + "".join(bytes([b]).decode("cp1252", "ignore") for b in range(0x80, 0xA0))
_DOUBLE_ENCODED = re.compile(
    f"[\u00c2-\u00df][{_CONTINUATION}]|[\u00e0-\u00ef][{_CONTINUATION}]{{2}}"
    f"|[\u00f0-\u00f4][{_CONTINUATION}]{{3}}"
)


def _repair_double_encoding(text: str) -> str:
    return _DOUBLE_ENCODED.sub(_redecode, text)


def _redecode(match: re.Match) -> str:
    try:
        raw = b"".join(c.encode("latin-1" if ord(c) < 256 else "cp1252") for c in match[0])
        return raw.decode("utf-8")
    except UnicodeError:  # a real "Â" followed by a symbol: leave it alone
        return match[0]


def _fold(text: str) -> str:
    """Accents off, ligatures spelled out, every script's digits as 0-9."""
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    return "".join(_ascii_digit(c) for c in decomposed if not unicodedata.combining(c))


def _ascii_digit(char: str) -> str:
    value = unicodedata.decimal(char, None)
    return char if value is None else str(value)


def _tokenise(text: str) -> list[Token]:
    return [_token(match) for match in _TOKEN.finditer(text)]


def _token(match: re.Match) -> Token:
    span = {"start": match.start(), "end": match.end()}
    if match["size"] or match["in_size"]:
        return Token(FORMAT, match["size"] or match["in_size"], **span)
    if match["folio"]:
        return Token(FORMAT, _FOLIO, **span)
    if match["integer"]:
        return Token(NUMBER, match["integer"], match["fraction"] or "", **span)
    if match["word"]:
        return Token(WORD, match["word"], **span)
    return Token(OTHER, match["other"], **span)


def _mark_cutters(tokens: list[Token]) -> list[Token]:
    """In an LC call number, turn the letter+digits right after the class number into cutters."""
    if not _has_lc_shape(tokens):
        return tokens
    position = 2
    while position + 1 < len(tokens) and _is_cutter(tokens[position], tokens[position + 1]):
        letter, digits = tokens[position], tokens[position + 1]
        tokens[position : position + 2] = [Token(CUTTER, letter.text, digits.text, letter.start, digits.end)]
        position += 1
    return tokens


def _has_lc_shape(tokens: list[Token]) -> bool:
    return (
        len(tokens) > 2 and tokens[0].kind == WORD and len(tokens[0].text) <= 3 and tokens[1].kind == NUMBER
    )


def _is_cutter(letter: Token, digits: Token) -> bool:
    # ".B47", "B47": one letter touching its digits ("V.21" or "B 4" are not cutters).
    return (
        letter.kind == WORD
        and len(letter.text) == 1
        and digits.kind == NUMBER
        and not digits.fraction
        and digits.start == letter.end
    )


def _encode(token: Token) -> str:
    """Each encoding is prefix-free, so comparing keys compares tokens one by one."""
    if token.kind == NUMBER:
        return NUMBER + _integer(token.text) + _decimals(token.fraction)
    if token.kind == FORMAT:
        return FORMAT + _integer(token.text)
    if token.kind == CUTTER:
        return CUTTER + token.text + _decimals(token.fraction)
    if token.kind == WORD:
        return WORD + token.text + _END
    return OTHER + "".join(_base36(ord(c) + 36**3, width=4) for c in token.text) + _END


def _integer(digits: str) -> str:
    # The digit count first, so that 9 < 10 < 0252 (= 252).
    digits = digits.lstrip("0")
    count = min(len(digits), 36**2 - 1)
    length = _BASE36[count] if count < 35 else "z" + _base36(count, width=2)
    return length + digits


_DECIMAL_DIGITS = str.maketrans("0123456789", "123456789a")


def _decimals(digits: str) -> str:
    # Digit by digit, shifted up one so that "0" can end them: .1 < .10 < .2
    return digits.translate(_DECIMAL_DIGITS) + _END


def _base36(number: int, *, width: int) -> str:
    digits = ""
    for _ in range(width):
        number, digit = divmod(number, 36)
        digits = _BASE36[digit] + digits
    return digits


_PLAIN = frozenset(string.digits + string.ascii_lowercase) - {"z"}


def _spell(text: str) -> str:
    """An injective spelling in 0-9a-z: z escapes any other character by its code point."""
    return "".join(c if c in _PLAIN else _escape(c) for c in text)


def _escape(char: str) -> str:
    code = ord(char)
    width = next(w for w in range(1, 5) if code < 36**w)
    return "z" + str(width) + _base36(code, width=width)


def _digest(text: str) -> str:
    raw = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    return _base36(int.from_bytes(raw), width=_DIGEST_LENGTH)
