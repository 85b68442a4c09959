from functools import wraps

from django.http import HttpResponseNotAllowed, JsonResponse
from django.urls import URLPattern, path, re_path
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from .errors import ApiError
from .main import api


def in_client_language(view):
    """Answer in the language the client asks for (Accept-Language, or the site's language
    cookie), French by default. LocaleMiddleware cannot: outside i18n_patterns it treats
    every unprefixed URL as the default language."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        language = translation.get_language_from_request(request)
        # HEAD is a GET without its body (RFC 9110), as Django's own views answer it:
        # a monitoring probe or a proxy's check sends it.
        head = request.method == "HEAD"
        if head:
            request.method = "GET"
        with translation.override(language):
            response = view(request, *args, **kwargs)
            if isinstance(response, HttpResponseNotAllowed):
                # The framework's plain-text 405, in the API's error shape (Allow kept).
                allowed = _with_head(response["Allow"])
                error = ApiError("method_not_allowed")
                response = JsonResponse({"code": error.code, "message": error.message}, status=405)
                response["Allow"] = allowed
        response.headers["Content-Language"] = language
        patch_vary_headers(response, ["Accept-Language"])
        if head:
            response["Content-Length"] = str(len(response.content))
            response.content = b""
        return response

    return wrapped


def _with_head(allowed: str) -> str:
    methods = [m.strip() for m in allowed.split(",")]
    return ", ".join(methods + ["HEAD"]) if "GET" in methods and "HEAD" not in methods else allowed


# A client of the API holds no CSRF cookie: a POST to a mistyped path was answered by the
# "page open too long" page, as if its token were at fault. It changes nothing.
@csrf_exempt
@in_client_language
def not_found(request, rest=""):
    return JsonResponse({"code": "endpoint_not_found", "message": _("No such endpoint.")}, status=404)


# Not named app_name: include() would read it and nest the namespace as api:api.
_patterns, _app, _namespace = api.urls
urlpatterns = [
    path(
        "",
        (
            [
                URLPattern(p.pattern, in_client_language(p.callback), p.default_args, p.name)
                for p in _patterns
            ],
            _app,
            _namespace,
        ),
    ),
    # Anything else under /api/ answers JSON too, not the HTML 404 page.
    re_path(r"^(?P<rest>.*)$", not_found),
]
