"""SMS behind the same outbox: a provider is a class with ``send(to, text)``.

``SMS_PROVIDER`` names it; the default console provider logs the message, for
development and tests, until a real gateway is chosen. A real provider must give its
HTTP calls a timeout (a few seconds): the outbox sends from the scheduler, and a
gateway that hangs would hold every other job. What failed before the request left (no
connection, a refusal, a timeout connecting) is an ``OSError`` and is retried later.
Once the request has left, a timeout waiting for the answer, or a connection lost
before it, must raise ``AnswerLost``: the gateway may have sent the text, so the notice
is marked uncertain for staff, never sent twice (as an email lost during SMTP's DATA).
An answer saying the number is wrong should raise ``outbox.PermanentFailure("no_phone")``.
``to`` is the patron's number as the library system holds it ("06 12 34 56 78", "+33 6…",
"0692…" in La Réunion): the provider puts it in the form its gateway wants (most want
E.164, "+33612345678"), knowing the network's country and overseas prefixes.

A text is written in the GSM 03.38 alphabet (``gsm7``): one character outside it (a
no-break space, ’, ê, œ) makes the whole text UCS-2, 70 characters a segment instead of
160, and the gateway bills each segment.
"""

import logging
import re
import unicodedata

from django.conf import settings
from django.utils.module_loading import import_string

log = logging.getLogger("emporter.sms")
outbox: list[tuple[str, str]] = []  # what the console provider "sent", for tests


class AnswerLost(Exception):
    """The gateway took the request, and its answer never came: the text may have left."""


class ConsoleProvider:
    def send(self, *, to: str, text: str) -> None:
        outbox.append((to, text))
        log.info("SMS to %s: %s", to, text)


def send(*, to: str, text: str) -> None:
    provider = import_string(settings.SMS_PROVIDER)()
    provider.send(to=to, text=text)


# GSM 03.38: the basic set, one unit each, and its extension table, two units each (an
# escape, then the character). A segment holds 160 units; a longer text is cut into
# segments of 153, each billed.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€")
SEGMENT = 160

# What stands for a character outside the alphabet, when taking its accents away does
# not give one inside it (ê is e, ç is c, but ’ is no letter).
PLAIN = {
    **dict.fromkeys("’‘‚‛′`´‹›", "'"),
    **dict.fromkeys("“”„‟″«»", '"'),
    **dict.fromkeys("‐‑‒–—―−•", "-"),
    "œ": "oe",
    "Œ": "OE",
    "·": ".",
    "…": "...",
    "×": "x",
}
# French quotes hold their words between no-break spaces: « titre » is "titre".
QUOTED = re.compile(r"«\s*|\s*»")


def gsm7(text: str) -> str:
    """``text`` in the GSM 03.38 alphabet: no-break and other spaces as spaces, typographic
    quotes and dashes as plain ones, a letter the alphabet lacks as its plain letter (ê
    as e, but é, è, à, ü, Ç kept: they are in it), anything else as "?"."""
    text = QUOTED.sub('"', text)
    return "".join(_gsm7_char(c) for c in text)


def _gsm7_char(c: str) -> str:
    if c in GSM7_BASIC or c in GSM7_EXTENSION:
        return c
    if c in PLAIN:
        return PLAIN[c]
    if c.isspace():  # no-break, narrow no-break, thin spaces; a tab
        return " "
    if unicodedata.category(c).startswith("C"):  # a control or invisible character
        return ""
    plain = "".join(d for d in unicodedata.normalize("NFKD", c) if not unicodedata.combining(d))
    return plain if plain and all(d in GSM7_BASIC for d in plain) else "?"


def units(text: str) -> int:
    """How many GSM-7 units ``text`` (already ``gsm7``) takes: extension characters two."""
    return len(text) + sum(c in GSM7_EXTENSION for c in text)


def fits(text: str) -> bool:
    """Whether ``text`` (already ``gsm7``) goes as one segment."""
    return units(text) <= SEGMENT


def shorten(text: str, room: int) -> str:
    """``text`` in at most ``room`` characters: cut at a word when one is near, and
    "..." said where it was cut."""
    if len(text) <= room:
        return text
    cut = text[: max(room - 3, 1)]
    if " " in cut[len(cut) // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-") + "..."
