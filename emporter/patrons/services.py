"""Patron sign-in with card number + PIN, with lock-out after repeated failures."""

import datetime
import secrets

from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import F
from django.utils import timezone, translation

from emporter.errors import ServiceError

from . import throttle
from .backends import client_address
from .models import Patron

SLOW_AFTER = 3  # failures in a row before each further try must wait PAUSE
PAUSE = datetime.timedelta(seconds=30)
MAX_FAILURES = 5  # failures in a row before the card is locked for LOCK_FOR
LOCK_FOR = datetime.timedelta(minutes=15)


class LoginRefused(ServiceError):
    pass


def authenticate_patron(*, request, card_number: str, pin: str) -> Patron:
    """Return the patron if card and PIN match. After SLOW_AFTER failures in a row each
    try must wait PAUSE (tries during the pause count as failures, unchecked); after
    MAX_FAILURES the card is locked for LOCK_FOR: a PIN cannot be found by trying them all."""
    card_number = card_number.strip()
    address = client_address(request)
    if throttle.card_address_locked_for(address):
        raise LoginRefused("login_address_locked")
    patron = Patron.objects.filter(card_number=card_number).select_related("user").first()
    now = timezone.now()
    if patron and patron.locked_until and patron.locked_until > now:
        if patron.failed_logins == 0:  # the long lock (it restarts the count)
            raise LoginRefused("login_locked")
        _refuse_after_failure(patron, pausing=True)
    user = authenticate(request, username=card_number, password=pin, patron_sign_in=True)
    if user is None or patron is None or user.pk != patron.user_id:
        throttle.card_failed(address)
        if patron:
            _refuse_after_failure(patron, pausing=False)
        raise LoginRefused("login_failed")
    Patron.objects.filter(pk=patron.pk).update(failed_logins=0, locked_until=None)
    return patron


def _refuse_after_failure(patron: Patron, *, pausing: bool) -> None:
    """Count one more failure, pause or lock the card as it says, and refuse."""
    with transaction.atomic():
        Patron.objects.filter(pk=patron.pk).update(failed_logins=F("failed_logins") + 1)
        patron.refresh_from_db(fields=["failed_logins"])
        now = timezone.now()
        locked = patron.failed_logins >= MAX_FAILURES
        if locked:
            Patron.objects.filter(pk=patron.pk).update(locked_until=now + LOCK_FOR, failed_logins=0)
        elif patron.failed_logins >= SLOW_AFTER:
            Patron.objects.filter(pk=patron.pk).update(locked_until=now + PAUSE)
    # Raised once the count is committed (inside the block it would be rolled back).
    if locked:
        raise LoginRefused("login_locked")
    if pausing:
        raise LoginRefused("login_slowed", seconds=int(PAUSE.total_seconds()))


def change_pin(*, patron: Patron, old_pin: str, new_pin: str) -> None:
    """The current PIN is checked with the sign-in's lock-out: a session left open on a
    library computer must not let someone try every PIN."""
    user = patron.user
    patron.refresh_from_db(fields=["failed_logins", "locked_until"])
    if patron.locked_until and patron.locked_until > timezone.now():
        raise LoginRefused("login_locked")
    if not user.check_password(old_pin):
        _refuse_after_failure(patron, pausing=False)
        raise ServiceError("pin_wrong")
    Patron.objects.filter(pk=patron.pk).update(failed_logins=0, locked_until=None)
    if not (new_pin.isascii() and new_pin.isdigit() and 4 <= len(new_pin) <= 8):
        raise ServiceError("pin_invalid")
    if too_easy(new_pin):
        raise ServiceError("pin_too_easy")
    set_pin(user, new_pin)


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
    Patron.objects.filter(pk=patron.pk).update(failed_logins=0, locked_until=None)
    return pin


def set_pin(user, pin: str) -> None:
    """A new PIN ends every session the old one opened: web sessions through Django's
    session hash, API tokens (30 days long, perhaps on a lost phone) by deleting them.
    The tokens are the api app's: reached through the user's reverse relation, so this
    lower layer imports nothing from above."""
    with transaction.atomic():
        user.set_password(pin)
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
