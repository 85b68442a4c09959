"""Every password check goes through here, with its lock-out.

A patron's user is named after the card and its password is the PIN: it is checked
only by the patron sign-in (``services.authenticate_patron``, which counts failures per
card and locks the card), never by the staff sign-in page, the admin or the API's staff
door — each of those would otherwise let PINs be guessed around the card's lock-out.
Everyone else (staff) is counted per user name: after MAX_FAILURES wrong passwords in a
row the name is locked for LOCK_FOR, whatever the door.
"""

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from . import throttle
from .models import Patron


class SignInBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, patron_sign_in=False, **kwargs):
        if username is None or password is None:
            return None
        if Patron.objects.filter(user__username=username).exists() != patron_sign_in:
            # PermissionDenied, not None: no later backend may check this password.
            raise PermissionDenied
        if patron_sign_in:
            return super().authenticate(request, username=username, password=password, **kwargs)
        if throttle.locked_for(username):
            raise PermissionDenied
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            throttle.failed(username)
        else:
            throttle.succeeded(username)
        return user
