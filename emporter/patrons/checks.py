"""Start-up checks of the sign-in settings."""

from django.conf import settings
from django.core.checks import Error


def proxies_are_trusted(app_configs=None, **kwargs) -> list[Error]:
    """Behind a reverse proxy, every request comes from the proxy's address unless its
    X-Forwarded-For is believed: the per-address locks would then be one lock for
    everybody (fifty wrong card sign-ins would stop every patron for 15 minutes, five
    wrong passwords lock a librarian out wherever they are)."""
    if not settings.BEHIND_HTTPS_PROXY or settings.TRUSTED_PROXIES:
        return []
    return [
        Error(
            "BEHIND_HTTPS_PROXY is set but TRUSTED_PROXIES is empty: every sign-in would "
            "count as coming from the proxy.",
            hint="Set TRUSTED_PROXIES to the proxy's address (e.g. 127.0.0.1) and have it send "
            "X-Forwarded-For (docs/deploy.md).",
            id="patrons.E001",
        )
    ]
