"""Patron sign-in with card number + PIN, with lock-out after repeated failures."""

import datetime
import secrets
from typing import NoReturn

from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone, translation

from emporter.dates import long_date
from emporter.errors import ServiceError

from . import throttle
from .backends import client_address
from .models import Patron
from .pins import hash_pin, pin_matches


class LoginRefused(ServiceError):
    pass


def authenticate_patron(*, request, card_number: str, pin: str, known_browsers: bool = False) -> Patron:
    """Return the patron if card and PIN match. Wrong PINs slow, then lock, the card from
    this address, and at last from everywhere (throttle.pin_try): a PIN cannot be found
    by trying them all. A try during a pause or a lock is refused, not counted.
    ``known_browsers`` (the web form): the lock from anywhere does not hold against a
    browser the card signed in from before (``throttle.known_card``). The API's apps keep
    no such cookie: every lock holds for them.

    The card's counts stay locked until the PIN is checked and the outcome written: tries
    of one card at once (a double tap, an app retrying, the web and the app) then take
    turns. Counted but not yet checked, they would look like wrong PINs to each other, and
    the right PIN would be told to wait 30 seconds."""
    # Typed as printed on the card, in groups ("1000 0001"), in the web form or an app:
    # the spaces are not part of it (PatronLoginForm reads it so too).
    card_number = "".join(card_number.split())
    address = client_address(request)
    if seconds := throttle.card_address_locked_for(address):
        raise LoginRefused("login_address_locked", seconds=seconds)  # the API's Retry-After
    browser = _known_browser(request, card_number) if known_browsers else None
    with transaction.atomic():
        attempt = throttle.pin_try(card_number, address, browser)
        patron = None if attempt.refused else _check_pin(request, card_number, pin)
        if patron is not None:
            throttle.pin_succeeded(card_number, lock_stays=browser is not None)
        elif not attempt.refused:
            throttle.browser_failed(browser)
    # Raised once the transaction is over: the count it refuses for is kept. The
    # address's count after it, alone: taken inside, after the card's, it could deadlock
    # with the clean-up deleting old counts in the other order (throttle.forget_old).
    if attempt.refused:
        _refuse(attempt.refused, attempt.seconds)
    if patron is None:
        throttle.card_failed(address)
        _refuse_wrong(attempt, "login_failed")
    return patron


def _known_browser(request, card_number: str) -> str | None:
    def password():
        return Patron.objects.with_card(card_number).values_list("user__password", flat=True).first()

    return throttle.known_card(request, card_number, password)


def _check_pin(request, card_number: str, pin: str) -> Patron | None:
    patron = Patron.objects.with_card(card_number).select_related("user").first()
    # The user is named after the card as first issued: a replaced card, or one typed in
    # other capitals, is found through the patron. No patron: a wrong card, checked as long.
    username = patron.user.get_username() if patron else card_number
    user = authenticate(request, username=username, password=pin, patron_sign_in=True)
    if user is None or patron is None or user.pk != patron.user_id:
        return None
    patron.user = user  # its PIN may have been hashed anew (pins.pin_matches): the session keeps that
    return patron


def _refuse(code: str, seconds: int = 0) -> NoReturn:
    if code == "login_slowed":
        raise LoginRefused(code, seconds=seconds)
    if code == "login_locked":
        raise LoginRefused(code, until=_until(seconds), seconds=seconds)
    raise LoginRefused(code)


def _until(seconds: int) -> str:
    """When a lock ends, as a patron reads it: the time today, else the day and time."""
    until = timezone.localtime(timezone.now() + datetime.timedelta(seconds=seconds))
    return long_date(until, "H:i" if until.date() == timezone.localdate() else "l j F H:i")


def _refuse_wrong(attempt: throttle.PinTry, code: str) -> NoReturn:
    """A wrong PIN: said as the lock or the pause it brought, if it did."""
    if attempt.locks:
        _refuse("login_locked", attempt.seconds)
    if attempt.pause:
        _refuse("login_slowed", attempt.seconds)
    raise ServiceError(code) if code == "pin_wrong" else LoginRefused(code)


def change_pin(
    *, patron: Patron, old_pin: str, new_pin: str, address: str = "", browser: str | None = None
) -> None:
    """The current PIN is checked with the sign-in's lock-out: a session left open on a
    library computer must not let someone try every PIN. A ``browser`` known to the card
    (``throttle.known_card``) is not held by its lock from anywhere, as at the sign-in."""
    attempt = throttle.pin_try(patron.card_number, address, browser)
    if attempt.refused:
        _refuse(attempt.refused, attempt.seconds)
    if not pin_matches(patron.user, old_pin):
        throttle.browser_failed(browser)
        _refuse_wrong(attempt, "pin_wrong")
    throttle.pin_succeeded(patron.card_number, lock_stays=browser is not None)
    if not (new_pin.isascii() and new_pin.isdigit() and 4 <= len(new_pin) <= 8):
        raise ServiceError("pin_invalid")
    if too_easy(new_pin):
        raise ServiceError("pin_too_easy")
    set_pin(patron.user, new_pin)


# Among the PINs people choose most, beyond repeated and consecutive digits: a guesser
# trying one PIN on many cards starts with these.
COMMON_PINS = frozenset({"1212", "1004", "2000", "6969", "1122", "1313", "2580", "1010", "2001", "7777"})


def too_easy(pin: str) -> bool:
    """Repeated digits (0000), a run up or down (1234, 9876, 0123), or a very common PIN."""
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    return (len(steps) == 1 and steps <= {-1, 0, 1}) or pin in COMMON_PINS


def reset_pin(*, patron: Patron) -> str:
    """A new random PIN for a patron who lost theirs (told by phone or at the door);
    the lock-out is lifted with it."""
    pin = f"{secrets.randbelow(10_000):04d}"
    while too_easy(pin):
        pin = f"{secrets.randbelow(10_000):04d}"
    set_pin(patron.user, pin)
    throttle.pin_succeeded(patron.card_number)
    return pin


def set_pin(user, pin: str, *, hashed: str | None = None) -> None:
    """A new PIN ends every session the old one opened: web sessions through Django's
    session hash, API tokens (30 days long, perhaps on a lost phone) by deleting them.
    The tokens are the api app's: reached through the user's reverse relation, so this
    lower layer imports nothing from above."""
    with transaction.atomic():
        if hashed:  # hashed beforehand, outside the transaction (patrons.importer)
            user.password = hashed
        else:
            user.password = hash_pin(pin)
        user.save(update_fields=["password"])
        user.api_tokens.all().delete()


def set_language(*, patron: Patron, language: str) -> bool:
    """The language the patron is written to in, from the site's language switch ("fr",
    or a variant such as "fr-fr"). Returns whether it changed."""
    try:
        language = translation.get_supported_language_variant(language)
    except LookupError:
        return False
    return bool(Patron.objects.filter(pk=patron.pk).exclude(language=language).update(language=language))
