"""Issuing, checking and revoking API tokens."""

import datetime
import secrets

from django.contrib.auth import authenticate
from django.utils import timezone

from emporter.patrons import throttle
from emporter.patrons.backends import client_address
from emporter.patrons.models import Patron
from emporter.patrons.permissions import is_staff_member
from emporter.patrons.services import authenticate_patron

from .errors import ApiError
from .models import ApiToken, Scope, hash_token

LIFETIME = {Scope.PATRON: datetime.timedelta(days=30), Scope.STAFF: datetime.timedelta(hours=12)}
# Writing last_used_at on every call would turn each read into a write.
TOUCH_EVERY = datetime.timedelta(minutes=5)


def issue_token(*, user, scope: str) -> tuple[ApiToken, str]:
    """Create a token; the clear value is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    # Expired tokens are of no use to anyone: sweep the user's own as they sign in again.
    ApiToken.objects.filter(user=user, expires_at__lte=timezone.now()).delete()
    row = ApiToken.objects.create(
        user=user,
        scope=scope,
        key_hash=hash_token(token),
        prefix=token[:8],
        expires_at=timezone.now() + LIFETIME[scope],
    )
    return row, token


def sign_in_patron(*, request, card_number: str, pin: str) -> tuple[ApiToken, str]:
    # authenticate_patron counts failures and locks the card: the API gets the same lock-out.
    patron = authenticate_patron(request=request, card_number=card_number, pin=pin)
    return issue_token(user=patron.user, scope=Scope.PATRON)


def sign_in_staff(*, request, username: str, password: str) -> tuple[ApiToken, str]:
    # A patron's user is named after the card and its password is the PIN: never check
    # it here, or this door would let PINs be guessed around the patron lock-out.
    # (The sign-in backend refuses them anyway; this keeps the answer the same.)
    if Patron.objects.filter(user__username=username).exists():
        raise ApiError("staff_login_failed")
    if throttle.locked_for(username, client_address(request)):
        raise ApiError("staff_login_locked")
    user = authenticate(request, username=username, password=password)
    if user is None or not is_staff_member(user):
        raise ApiError("staff_login_failed")
    return issue_token(user=user, scope=Scope.STAFF)


def check_token(token: str) -> ApiToken | None:
    row = (
        # The patron too (a LEFT JOIN, empty for staff): one query identifies the caller.
        ApiToken.objects.select_related("user__patron__home_branch")
        .filter(key_hash=hash_token(token), expires_at__gt=timezone.now(), user__is_active=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def revoke_token(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).delete()
