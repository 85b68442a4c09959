"""The JSON API: one NinjaAPI, versioned by path (/api/v1/…), errors as {code, message}.

Later parts of Emporter add their endpoints with ``api.add_router("/v1/<part>", router)``
here. The docs page uses the Swagger UI files shipped with django-ninja (the "ninja"
app serves them as static files): nothing is fetched from a CDN.
"""

import logging

from django.core.exceptions import BadRequest, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError, ValidationError

from emporter.errors import ServiceError

from . import auth, bags, catalogue, loans, requests, staff, stats
from .errors import RETRY_AFTER, ApiError

logger = logging.getLogger(__name__)

ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
# The answers every operation of a kind may give, whatever its own list says: the auth
# classes, the validation and the parsing of a body answer them before the operation runs.
SHARED_ANSWERS = (
    (401, "Not signed in: no token, or an unknown or expired one (`unauthenticated`).", "secured"),
    (403, "A token of the other kind, or staff without the role here (`forbidden`).", "scoped"),
    (422, "A parameter or a field not valid (`invalid_input`; `errors` names it).", "validated"),
    (400, "A body that is not JSON (`invalid_input`).", "body"),
    (413, "A body larger than the server takes (`body_too_large`).", "body"),
)
SCOPED = {"PatronAuth", "StaffAuth"}


class EmporterAPI(NinjaAPI):
    def get_openapi_schema(self, *args, **kwargs):
        """ninja documents only each operation's own ``response=`` codes: the shared ones
        are added here, so that a client generated from the document expects them."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for operations in schema["paths"].values():
            for operation in operations.values():
                _add_shared_answers(operation)
        return schema


def _add_shared_answers(operation: dict) -> None:
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    kinds = {
        "secured": bool(schemes),
        "scoped": bool(schemes & SCOPED),
        "validated": bool(operation.get("parameters") or operation.get("requestBody")),
        "body": "requestBody" in operation,
    }
    answers = operation.setdefault("responses", {})
    for status, description, kind in SHARED_ANSWERS:
        if kinds[kind] and status not in answers and str(status) not in answers:
            answers[status] = {"description": description, "content": ERROR}


api = EmporterAPI(
    title="Emporter",
    version="1",
    description=(
        "Click and collect for public libraries.\n\n"
        "1. `POST /api/v1/auth/token` with `card_number` + `pin` (a patron) or `username` + "
        "`password` (staff); send the token back as `Authorization: Bearer <token>`.\n"
        "2. `GET /api/v1/records?q=…` to search, `GET /api/v1/records/{id}` for copies per branch.\n"
        "3. `POST /api/v1/requests` with `record_ids` and an `Idempotency-Key` header: 201 when "
        "every document is set aside, 207 when some are refused, and each item says why.\n"
        "4. `GET /api/v1/requests?since=<ISO 8601>` to poll: the requests placed or changed since "
        "then; each answer's `next_since` is the `since` of the next poll (take the first page's)."
        "\n\n"
        "Errors answer `{code, message}`: the code is stable, the message follows "
        "Accept-Language (French by default, English). A field the API does not know is "
        "refused (422 `invalid_input`, `errors` names it), as are a page out of range and an id "
        "sent as a string; a body that is not JSON is 400 `invalid_input`; a 429 says in `Retry-After` when "
        "to try again; cancelling a request already cancelled answers it as it is."
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    # validatorUrl: Swagger UI would otherwise send the document to validator.swagger.io.
    docs=Swagger(settings={"validatorUrl": None}),
)
api.add_router("/v1/auth", auth.router)
api.add_router("/v1", catalogue.router)
api.add_router("/v1", requests.router)
api.add_router("/v1", bags.router)
api.add_router("/v1", loans.router)
api.add_router("/v1/staff", staff.router)
api.add_router("/v1/stats", stats.router)


def error_response(request: HttpRequest, error: ServiceError, **extra):
    body = {"code": error.code, "message": error.message, **extra}
    response = api.create_response(request, body, status=error.http_status)
    if error.http_status == 401:
        # RFC 6750: a token was sent but is unknown, expired or revoked, so the client
        # signs in again rather than retrying; no token at all: the challenge alone.
        sent = request.headers.get("Authorization", "").lower().startswith("bearer ")
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"' if sent else "Bearer"
    if error.code in RETRY_AFTER:
        response["Retry-After"] = str(error.params.get("seconds") or RETRY_AFTER[error.code])
    return response


@api.exception_handler(ServiceError)
def service_error(request, exc: ServiceError):
    errors = getattr(exc, "errors", None)
    return error_response(request, exc, **({"errors": errors} if errors else {}))


@api.exception_handler(AuthenticationError)
def authentication_error(request, exc):
    return error_response(request, ApiError("unauthenticated"))


@api.exception_handler(ValidationError)
def validation_error(request, exc: ValidationError):
    # The details name each field at fault, for the developer; the message is for people.
    errors = [{"loc": _where(e.get("loc")), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors]
    return error_response(request, ApiError("invalid_input"), errors=errors)


def _where(loc) -> list:
    # ninja names a body's fields after the view's argument ("payload"): a client knows
    # the fields of the JSON it sent, as the schema documents them (["body", "record_ids", 0]).
    loc = list(loc or [])
    return loc[:1] + loc[2:] if loc[:2] == ["body", "payload"] else loc


@api.exception_handler(HttpError)
def http_error(request, exc: HttpError):
    # ninja's own refusals, e.g. a body that is not JSON (400).
    body = {"code": "invalid_input", "message": str(ApiError("invalid_input").message), "detail": str(exc)}
    return api.create_response(request, body, status=exc.status_code)


@api.exception_handler(PermissionDenied)
def permission_denied(request, exc):
    return error_response(request, ServiceError("forbidden"))


@api.exception_handler(BadRequest)
@api.exception_handler(SuspiciousOperation)
@api.exception_handler(MultiPartParserError)
def bad_request(request, exc):
    # What Django answers 400 to; a body over DATA_UPLOAD_MAX_MEMORY_SIZE is 413, so a
    # client sends less rather than correcting a field.
    if isinstance(exc, RequestDataTooBig):
        return error_response(request, ApiError("body_too_large"))
    body = {"code": "invalid_input", "message": str(ApiError("invalid_input").message)}
    return api.create_response(request, body, status=400)


@api.exception_handler(Exception)
def unexpected_error(request, exc: Exception):
    # Anything else is a bug: the traceback goes to the log, never to the client (not
    # even with DEBUG on, where ninja would let Django show its HTML debug page).
    logger.error("API error on %s %s", request.method, request.path, exc_info=exc)
    return error_response(request, ApiError("internal_error"))
