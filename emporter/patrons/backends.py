"""Every password check goes through here, with its lock-out.

A patron's user is named after the card and its password is the PIN: it is checked
only by the patron sign-in (``services.authenticate_patron``, which counts failures per
card and locks the card), never by the staff sign-in page, the admin or the API's staff
door — each of those would otherwise let PINs be guessed around the card's lock-out.
Everyone else (staff) is counted per user name and address (``throttle``): the lock
holds at every door.
"""

import ipaddress

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied

from . import throttle
from .models import Patron


class SignInBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, patron_sign_in=False, **kwargs):
        if username is None or password is None:
            return None
        is_patron = Patron.objects.filter(user__username=username).exists()
        if patron_sign_in:
            if not is_patron:
                make_password(password)  # as long as a wrong PIN: the answer tells nothing
                raise PermissionDenied  # not None: no later backend may check this password
            return super().authenticate(request, username=username, password=password, **kwargs)
        ip = client_address(request)
        if throttle.locked_for(username, ip):
            raise PermissionDenied
        if is_patron:
            # A card at a staff door: refused like a wrong password, at the same cost and
            # counted, so that neither the delay nor the lock tells which cards exist.
            make_password(password)
            throttle.failed(username, ip)
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            throttle.failed(username, ip)
        else:
            throttle.succeeded(username, ip)
        return user


def client_address(request) -> str:
    """Where ``request`` came from, as the sign-in locks count it. Behind the proxies of
    ``settings.TRUSTED_PROXIES``, the right-most address of X-Forwarded-For that is not
    one of them: a client may write anything at the left of that header, never at its
    right, which each proxy appends. Without it every patron would share the proxy's
    address, and fifty wrong sign-ins would stop them all."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    if _trusted(address):
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        for hop in reversed([hop for hop in hops if hop]):
            address = hop
            if not _trusted(hop):
                break
    return address[:45]


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # not an address: never a proxy of ours
    return any(ip in network for network in settings.TRUSTED_PROXIES)
