"""Staff sign-in lock-out, counted per user name (patrons have theirs, per card: services)."""

import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import SignInFailures

MAX_FAILURES = 5  # wrong passwords in a row before the name is locked for LOCK_FOR
LOCK_FOR = datetime.timedelta(minutes=15)


def _key(username: str) -> str:
    # Django's user names are case-sensitive, a person typing one is not: one count for all cases.
    return username.strip().lower()[:150]


def locked_for(username: str) -> int:
    """Seconds left of the lock on this name (0: not locked)."""
    until = (
        SignInFailures.objects.filter(username=_key(username), locked_until__gt=timezone.now())
        .values_list("locked_until", flat=True)
        .first()
    )
    return int((until - timezone.now()).total_seconds()) + 1 if until else 0


def failed(username: str) -> None:
    """One more wrong password; the MAX_FAILURES-th locks the name and restarts the count."""
    key = _key(username)
    with transaction.atomic():
        row, created = SignInFailures.objects.select_for_update().get_or_create(
            username=key, defaults={"failures": 1}
        )
        if not created:
            SignInFailures.objects.filter(pk=row.pk).update(failures=F("failures") + 1)
            row.refresh_from_db(fields=["failures"])
        if row.failures >= MAX_FAILURES:
            SignInFailures.objects.filter(pk=row.pk).update(
                failures=0, locked_until=timezone.now() + LOCK_FOR
            )


def succeeded(username: str) -> None:
    SignInFailures.objects.filter(username=_key(username)).delete()
