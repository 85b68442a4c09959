"""Every password check goes through here, with its lock-out.

A patron's user is named after the card and its password is the PIN: it is checked
only by the patron sign-in (``services.authenticate_patron``, which counts failures per
card and locks the card), never by the staff sign-in page, the admin or the API's staff
door — each of those would otherwise let PINs be guessed around the card's lock-out.
Everyone else (staff) is counted per user name and address (``throttle``): the lock
holds at every door. The name's lock from anywhere alone does not hold against a browser
the staff sign-in form knows for that name (``known_browser``): only that form passes it.
"""

import ipaddress

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied

from . import throttle
from .models import Patron
from .pins import hash_pin, pin_matches


class SignInBackend(ModelBackend):
    def authenticate(
        self, request, username=None, password=None, patron_sign_in=False, known_browser=None, **kwargs
    ):
        if username is None or password is None:
            return None
        is_patron = Patron.objects.filter(user__username=username).exists()
        if patron_sign_in:
            if not is_patron:
                hash_pin(password)  # as long as a wrong PIN: the answer tells nothing
                raise PermissionDenied  # not None: no later backend may check this password
            return self._patron(username, password)
        ip = client_address(request)
        if throttle.locked_for(username, ip, known_browser) or throttle.staff_address_locked_for(ip):
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
            throttle.browser_failed(known_browser)
        else:
            throttle.succeeded(username, ip, lock_stays=known_browser is not None)
        return user

    def _patron(self, username: str, pin: str):
        # Not ModelBackend's check: it would hash the PIN anew with the staff's slow
        # default (emporter/patrons/pins.py).
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None or not self.user_can_authenticate(user):
            hash_pin(pin)
            return None
        return user if pin_matches(user, pin) else None


def client_address(request) -> str:
    """Where ``request`` came from, as the sign-in locks count it. Behind the proxies of
    ``settings.TRUSTED_PROXIES``, the right-most address of X-Forwarded-For that is not
    one of them: a client may write anything at the left of that header, never at its
    right, which each proxy appends. Without it every patron would share the proxy's
    address, and fifty wrong sign-ins would stop them all. A hop that is not an address
    ("unknown", garbage) ends the walk at the last one believed."""
    if request is None:
        return ""
    address = request.META.get("REMOTE_ADDR", "")
    if _trusted(address):
        for text in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
            hop = _address_of(text)
            if hop is None:
                break
            address = hop
            if not _trusted(hop):
                break
    return address[:45]


def _address_of(hop: str) -> str | None:
    """The address a hop of X-Forwarded-For names, without the port some load balancers
    add ("203.0.113.7:51234", "[2001:db8::1]:443"): each connection would otherwise
    count as another client."""
    hop = hop.strip()
    if hop.startswith("["):
        hop = hop[1 : hop.find("]")] if "]" in hop else ""
    elif hop.count(":") == 1:
        hop = hop.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(hop))
    except ValueError:
        return None


def _trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # not an address: never a proxy of ours
    if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1 (a dual-stack socket)
        ip = ip.ipv4_mapped
    return any(ip in network for network in settings.TRUSTED_PROXIES)
