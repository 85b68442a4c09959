"""Bearer tokens: how each call says who it is, and the endpoints that issue and revoke them."""

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from ninja import Router, Status
from ninja.security import HttpBearer

from emporter.errors import ServiceError
from emporter.patrons.models import Patron
from emporter.patrons.permissions import branches_for

from . import tokens
from .errors import ApiError, field_error
from .models import ApiToken, Scope
from .schemas import ErrorOut, TokenIn, TokenOut

router = Router(tags=["Sign in"])


class TokenAuth(HttpBearer):
    """Any valid token of ``scope``; a token of the other scope is refused (403)."""

    scope = ""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        row = tokens.check_token(token)
        if row is None:
            return None
        if self.scope and row.scope != self.scope:
            raise ServiceError("forbidden")
        # Services record request.user as the actor of what they write.
        request.user = row.user
        return self.check(request, row)

    def check(self, request: HttpRequest, row: ApiToken) -> ApiToken | None:
        return row


class PatronAuth(TokenAuth):
    scope = Scope.PATRON

    def check(self, request, row):
        try:
            row.patron = row.user.patron
        except Patron.DoesNotExist:
            return None
        return row


class StaffAuth(TokenAuth):
    """A staff token whose user holds ``role`` at one branch at least; which branches
    exactly is checked by each endpoint against the branch it acts on."""

    scope = Scope.STAFF

    def __init__(self, role: str):
        super().__init__()
        self.role = role

    def check(self, request, row):
        if not branches_for(row.user, self.role).exists():
            raise ServiceError("forbidden")
        return row


@router.post(
    "/token",
    auth=None,
    response={201: TokenOut, frozenset({401, 422, 429}): ErrorOut},
    summary="Sign in: get a token",
)
def create_token(request, payload: TokenIn, response: HttpResponse):
    """A patron signs in with `card_number` + `pin` (the third wrong PIN in a row from
    one address starts a 30 s pause, and so does the fourth: 429 `login_slowed`, with
    `Retry-After`; a try during the pause is refused, not counted; the fifth locks the
    card from that address for 15 minutes, twenty from any addresses lock it everywhere
    (for longer each time: 15 minutes, then 1, 4 and 16 hours):
    429 `login_locked`; the same answers whether the card exists or not; fifty wrong
    sign-ins from one address (an IPv6 /56) within a quarter of an hour, on any cards,
    stop card sign-ins from there for 15 minutes: 429 `login_address_locked`; a new PIN
    of repeated or consecutive digits is refused); staff with `username` + `password`
    (five wrong passwords in a row lock the name for 15 minutes, at every door: 429
    `staff_login_locked`; fifty wrong staff sign-ins from one address within a quarter
    of an hour, on any names, stop staff sign-ins from there for 15 minutes: 429
    `staff_login_address_locked`)."""
    if payload.card_number and payload.pin and not (payload.username or payload.password):
        row, token = tokens.sign_in_patron(request=request, card_number=payload.card_number, pin=payload.pin)
    elif payload.username and payload.password and not (payload.card_number or payload.pin):
        row, token = tokens.sign_in_staff(
            request=request, username=payload.username, password=payload.password
        )
    else:
        raise ApiError(
            "invalid_input",
            errors=[
                field_error(["body"], "Send card_number and pin, or username and password.", "credentials")
            ],
        )
    # A bearer token is a password for weeks: no cache keeps it (RFC 6749 §5.1). Nobody is
    # signed in yet, so PrivatePagesMiddleware would not say it.
    patch_cache_control(response, no_store=True)
    return Status(201, {"token": token, "scope": row.scope, "expires_at": row.expires_at})


@router.delete("/token", auth=TokenAuth(), response={204: None, 401: ErrorOut}, summary="Sign out")
def delete_token(request):
    """Revoke the token this call is made with."""
    tokens.revoke_token(token=request.auth)
    return Status(204, None)
