"""Patron sign-in with card number + PIN, with lock-out after repeated failures."""

import datetime
import secrets

from django.contrib.auth import authenticate
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from emporter.errors import ServiceError

from .models import Patron

MAX_FAILURES = 5
LOCK_FOR = datetime.timedelta(minutes=15)


class LoginRefused(ServiceError):
    pass


def authenticate_patron(*, request, card_number: str, pin: str) -> Patron:
    """Return the patron if card and PIN match; count failures and lock the card for a
    while after MAX_FAILURES in a row, so a PIN cannot be guessed by trying them all."""
    card_number = card_number.strip()
    patron = Patron.objects.filter(card_number=card_number).select_related("user").first()
    if patron and patron.locked_until and patron.locked_until > timezone.now():
        raise LoginRefused("login_locked")
    user = authenticate(request, username=card_number, password=pin)
    if user is None or patron is None or user.pk != patron.user_id:
        if patron:
            _count_failure(patron)
        raise LoginRefused("login_failed")
    Patron.objects.filter(pk=patron.pk).update(failed_logins=0, locked_until=None)
    return patron


def _count_failure(patron: Patron) -> None:
    with transaction.atomic():
        Patron.objects.filter(pk=patron.pk).update(failed_logins=F("failed_logins") + 1)
        patron.refresh_from_db(fields=["failed_logins"])
        if patron.failed_logins >= MAX_FAILURES:
            Patron.objects.filter(pk=patron.pk).update(
                locked_until=timezone.now() + LOCK_FOR, failed_logins=0
            )


def change_pin(*, patron: Patron, old_pin: str, new_pin: str) -> None:
    user = patron.user
    if not user.check_password(old_pin):
        raise ServiceError("pin_wrong")
    if not (new_pin.isdigit() and 4 <= len(new_pin) <= 8):
        raise ServiceError("pin_invalid")
    user.set_password(new_pin)
    user.save(update_fields=["password"])


def reset_pin(*, patron: Patron) -> str:
    """A new random PIN for a patron who lost theirs (told by phone or at the door);
    the lock-out is lifted with it."""
    pin = f"{secrets.randbelow(10_000):04d}"
    patron.user.set_password(pin)
    patron.user.save(update_fields=["password"])
    Patron.objects.filter(pk=patron.pk).update(failed_logins=0, locked_until=None)
    return pin
