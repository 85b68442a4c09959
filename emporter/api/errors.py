"""Error codes only the API needs, on top of emporter.errors (same shape, same handler)."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from emporter.errors import ServiceError

MESSAGES = {
    "unauthenticated": (_("Sign in first: send the header Authorization: Bearer <token>."), 401),
    "staff_login_failed": (_("User name or password is wrong."), 401),
    "staff_login_locked": (
        ngettext_lazy(
            "Too many wrong passwords: this account is locked for %(minutes)s more minute.",
            "Too many wrong passwords: this account is locked for %(minutes)s more minutes.",
            "minutes",
        ),
        429,
    ),
    "staff_login_address_locked": (
        ngettext_lazy(
            "Too many wrong staff sign-ins from this network: try again in %(minutes)s minute.",
            "Too many wrong staff sign-ins from this network: try again in %(minutes)s minutes.",
            "minutes",
        ),
        429,
    ),
    "invalid_input": (_("Some fields are missing or not valid."), 422),
    "idempotency_key_invalid": (
        _("The Idempotency-Key header must be 1 to 64 visible ASCII characters."),
        422,
    ),
    "record_not_found": (_("No such record."), 404),
    "branch_not_found": (_("No such branch."), 404),
    "patron_not_found": (_("No such patron."), 404),
    "endpoint_not_found": (_("No such endpoint."), 404),
    "pickup_branch_required": (_("Choose a pickup branch where you work."), 422),
    "internal_error": (_("Something went wrong on our side. Please try again later."), 500),
    "method_not_allowed": (_("This method is not allowed here."), 405),
    "body_too_large": (_("The body of this request is too large."), 413),
    "bag_not_found": (_("No such bag."), 404),
    "loan_not_found": (_("No such loan."), 404),
}

# Seconds a client should wait before trying again, for the 429s: said in Retry-After,
# so an app that retries on its own does not lock its user's card.
RETRY_AFTER = {
    "login_slowed": 30,
    "login_locked": 15 * 60,
    "login_address_locked": 15 * 60,
    "staff_login_locked": 15 * 60,
    "staff_login_address_locked": 15 * 60,
}


class ApiError(ServiceError):
    def __init__(self, code: str, *, errors: list[dict] | None = None, **params):
        if code not in MESSAGES:
            raise ValueError(f"unknown API error code {code!r}")
        Exception.__init__(self, code)
        self.code = code
        self.params = params
        # For invalid_input: which fields, in the shape validation errors have.
        self.errors = errors

    @property
    def message(self) -> str:
        # Numbers stay numbers: a message worded by count (ngettext_lazy) picks its form.
        template = MESSAGES[self.code][0]
        return str(template % {k: v if isinstance(v, int) else str(v) for k, v in self.params.items()})

    @property
    def http_status(self) -> int:
        return MESSAGES[self.code][1]


def field_error(loc: list, msg: str, kind: str) -> dict:
    return {"loc": loc, "msg": msg, "type": kind}
