"""Issuing, checking and revoking API tokens."""

import datetime
import secrets

from django.contrib.auth import authenticate
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from django.utils.crypto import constant_time_compare

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
    # Expired tokens are of no use to anyone: sweep the user's own as they sign in again
    # (forget_expired, scheduled, sweeps everyone's).
    ApiToken.objects.filter(user=user, expires_at__lte=timezone.now()).delete()
    row = ApiToken.objects.create(
        user=user,
        scope=scope,
        key_hash=hash_token(token),
        prefix=token[:8],
        expires_at=timezone.now() + LIFETIME[scope],
        # Staff tokens end with the password, as web sessions do. Patron tokens are
        # deleted by patrons.services.set_pin, and must not end when Django merely
        # re-hashes a PIN with a newer hasher at a web sign-in (30 days on a phone).
        password_mark=user.get_session_auth_hash() if scope == Scope.STAFF else "",
    )
    return row, token


def sign_in_patron(*, request, card_number: str, pin: str) -> tuple[ApiToken, str]:
    # authenticate_patron counts failures and locks the card: the API gets the same lock-out.
    patron = authenticate_patron(request=request, card_number=card_number, pin=pin)
    return issue_token(user=patron.user, scope=Scope.PATRON)


def sign_in_staff(*, request, username: str, password: str) -> tuple[ApiToken, str]:
    address = client_address(request)
    # Every name is checked against the lock first, a card number as much as any other.
    if seconds := throttle.staff_address_locked_for(address):
        raise ApiError("staff_login_address_locked", seconds=seconds, minutes=-(-seconds // 60))
    if seconds := throttle.locked_for(username, address):
        raise ApiError("staff_login_locked", seconds=seconds, minutes=-(-seconds // 60))
    if Patron.objects.filter(user__username=username).exists():
        # A patron's user is named after the card and its password is the PIN: never
        # check it here, or this door would let PINs be guessed around the card's lock.
        # But refuse it as any wrong name is refused, at the same cost: a failure counted
        # toward the lock and a password hashed (what the sign-in backend does for an
        # unknown name). A quick answer would tell which card numbers exist.
        make_password(password)
        throttle.failed(username, address)
        raise ApiError("staff_login_failed")
    user = authenticate(request, username=username, password=password)
    if user is None or not is_staff_member(user):
        raise ApiError("staff_login_failed")
    return issue_token(user=user, scope=Scope.STAFF)


def _password_unchanged(row: ApiToken) -> bool:
    """A staff token was issued under the user's present password (or SECRET_KEY_FALLBACKS)."""
    user = row.user
    marks = [user.get_session_auth_hash(), *user.get_session_auth_fallback_hash()]
    return any(constant_time_compare(row.password_mark, mark) for mark in marks)


def check_token(token: str) -> ApiToken | None:
    row = (
        # The patron too (a LEFT JOIN, empty for staff): one query identifies the caller.
        ApiToken.objects.select_related("user__patron__home_branch")
        .filter(key_hash=hash_token(token), expires_at__gt=timezone.now(), user__is_active=True)
        .first()
    )
    if row is None:
        return None
    if row.scope == Scope.STAFF and not _password_unchanged(row):
        ApiToken.objects.filter(pk=row.pk).delete()  # it can never be valid again
        return None
    now = timezone.now()
    if row.last_used_at is None or now - row.last_used_at > TOUCH_EVERY:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row


def revoke_token(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).delete()


def apps_of(user):
    """The tokens ``user`` holds still (an app on a phone signed in with their card)."""
    return ApiToken.objects.filter(user=user, expires_at__gt=timezone.now()).order_by("-created_at")


def sign_out_apps(*, user, token_id: int | None = None) -> int:
    """End one of ``user``'s tokens, or all of them: a phone lost, an app no longer
    trusted. Only their own; returns how many ended."""
    tokens = ApiToken.objects.filter(user=user)
    if token_id is not None:
        tokens = tokens.filter(pk=token_id)
    return tokens.delete()[0]


def forget_expired(now=None) -> int:
    """Delete every expired token (scheduled): a user who never signs in again would
    otherwise keep theirs for ever. Returns how many were deleted."""
    now = now or timezone.now()
    return ApiToken.objects.filter(expires_at__lte=now).delete()[0]
