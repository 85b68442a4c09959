"""Where a page may send people next, the views that only take a form's POST, the
headers of pages that show someone's own data, the cap on uploaded files, and the page
of a form refused for its stale security token."""

import urllib.parse

from django.conf import settings
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler
from django.shortcuts import render
from django.urls import Resolver404, resolve, translate_url
from django.utils import translation
from django.utils.cache import patch_cache_control
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST


def post_only(view):
    """``require_POST``, and marked so: after signing in, nobody is sent back to such a
    view (a browser follows a redirect with a GET, and would land on a 405 error). The
    mark survives the decorators around it (``functools.wraps`` copies it)."""
    wrapped = require_POST(view)
    wrapped.post_only = True
    return wrapped


def safe_next(request, url: object) -> str:
    """``url`` when it is a page of this site a browser may be sent to, in the active
    language, else "".

    Only a path ("/…"): "basket", a bare word, would be read by ``redirect()`` as a URL
    name and fail; "//host/…" is another site. A view that takes POST only is no page."""
    if not isinstance(url, str) or not url.startswith("/") or url.startswith(("//", "/\\")):
        return ""
    if not url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure()):
        return ""
    path = url.split("?", 1)[0].split("#", 1)[0]
    active = translation.get_language() or settings.LANGUAGE_CODE
    try:
        # In the language of its own prefix: "/en/basket/" does not resolve in French.
        with translation.override(translation.get_language_from_path(path) or settings.LANGUAGE_CODE):
            match = resolve(path)
            if getattr(match.func, "post_only", False):
                return ""
            # ... and given in the language of the page that sends there: someone who
            # chose English on the sign-in page stays in English after signing in.
            return translate_url(url, active)
    except Resolver404:
        return ""


class PrivatePagesMiddleware:
    """Pages served to someone signed in are kept by no cache: library computers are
    shared, and the next user's Back button must not show the account, the door or the
    phone desk of the one before (nor a proxy keep them). Static files are not pages."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
        return response


class CappedUploadHandler(TemporaryFileUploadHandler):
    """Writes an uploaded file to the temporary folder up to ``settings.MAX_UPLOAD_BYTES``,
    then stops: past it the file is dropped (``request.upload_too_large`` names it) and
    the rest of its bytes are read and thrown away, not written. Django would otherwise
    fill the disk with whatever was sent before any form could say it is too large."""

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.MAX_UPLOAD_BYTES:
            self.request.upload_too_large = self.file_name
            self.file.close()  # a temporary file: deleted as it closes
            raise SkipFile
        return super().receive_data_chunk(raw_data, start)


def csrf_failure(request, reason: str = ""):
    """A form refused for its stale security token (settings.CSRF_FAILURE_VIEW): the page
    says what to do, with a link back to the page the form was on (this site's only:
    the Referer is the browser's word). Reloading this one would send the form again."""
    back = ""
    sent_from = urllib.parse.urlsplit(request.META.get("HTTP_REFERER", ""))
    if sent_from.netloc == request.get_host():
        back = safe_next(request, sent_from.path + (f"?{sent_from.query}" if sent_from.query else ""))
    return render(request, "403_csrf.html", {"back": back}, status=403)
