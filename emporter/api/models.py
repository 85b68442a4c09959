"""API tokens. Only a hash is stored: a stolen database does not hand out sessions."""

import hashlib

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    # How the token was obtained decides what it may do, not who the user also is:
    # a librarian who is also a card holder gets a patron token from card + PIN.
    PATRON = "patron", _("Patron")
    STAFF = "staff", _("Staff")


def hash_token(token: str) -> str:
    # Tokens are 256 random bits, so a plain SHA-256 is enough (nothing to brute-force).
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    scope = models.CharField(_("scope"), max_length=10, choices=Scope)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # The first characters, so a user or an admin can tell their tokens apart.
    prefix = models.CharField(max_length=8, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Staff tokens: the user's session auth hash when issued (an HMAC of the password
    # hash, as Django keeps in a session). Any new password changes it and so ends the
    # token, however the password was changed. Empty for patron tokens (see tokens.py).
    password_mark = models.CharField(max_length=64, blank=True, default="", editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    # Not the user: the admin's history copies this into its lines (a revoked app's),
    # where a patron's card would outlive their erasure.
    def __str__(self) -> str:
        return f"{self.prefix}… ({self.scope})"
