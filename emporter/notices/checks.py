"""Start-up checks of the notices' settings."""

from django.conf import settings
from django.core.checks import Error, Warning


def retention_is_long_enough(app_configs=None, **kwargs) -> list[Error]:
    """Staff must still find last week's emails when a patron asks about them.
    retention.py enforces the minimum anyway; this says so early."""
    from .retention import MINIMUM_RETENTION, configured_retention

    if configured_retention() >= MINIMUM_RETENTION:
        return []
    return [
        Error(
            f"NOTICE_RETENTION_DAYS must be at least {MINIMUM_RETENTION.days} days "
            "(a week, and a day for clocks that disagree).",
            hint="Notices are kept that long anyway; raise the setting to silence this.",
            id="notices.E001",
        )
    ]


CONSOLE_SMS = "emporter.notices.sms.ConsoleProvider"


def sms_are_really_sent(app_configs=None, **kwargs) -> list[Warning]:
    """The console provider writes text messages to the log: right for the demo and the
    tests, wrong in production, where a patron who chose SMS would never hear of their
    bag while the outbox said "sent"."""
    if settings.DEBUG or settings.SMS_PROVIDER != CONSOLE_SMS:
        return []
    return [
        Warning(
            "SMS_PROVIDER is the console provider: text messages are written to the log, not sent.",
            hint="Set SMS_PROVIDER to your provider's class (docs/deploy.md), or let no patron choose SMS.",
            id="notices.W001",
        )
    ]


LOCAL_NAMES = {"127.0.0.1", "localhost", "::1", ""}


def links_and_sender_are_public(app_configs=None, **kwargs) -> list[Error]:
    """Every email links to SITE_URL and comes from DEFAULT_FROM_EMAIL: left at their
    developer defaults, each link opens nothing on a patron's phone, and receivers that
    check the sender's domain file the mail as spam or refuse it."""
    import urllib.parse

    errors = []
    site = urllib.parse.urlsplit(settings.SITE_URL)
    if (site.hostname or "") in LOCAL_NAMES:
        errors.append(
            Error(
                f"SITE_URL is {settings.SITE_URL!r}: the links in patrons' emails point at this machine.",
                hint="Set SITE_URL to the service's public address, e.g. https://bibliotheques.example.org.",
                id="notices.E002",
            )
        )
    elif not _served(settings.SITE_URL):
        errors.append(
            Error(
                f"SITE_URL is {settings.SITE_URL!r}, a host this site does not serve (ALLOWED_HOSTS, "
                "CSRF_TRUSTED_ORIGINS): every link in patrons' emails would lead nowhere.",
                hint="Set SITE_URL to the public address patrons reach the service at.",
                id="notices.E004",
            )
        )
    if settings.HTTPS and site.scheme != "https" and (site.hostname or "") not in LOCAL_NAMES:
        # (A local one is E002's.) The site's cookies go over HTTPS only: a patron following
        # a link reaches the sign-in over plain HTTP first, and without a redirect in front
        # cannot stay signed in at all.
        errors.append(
            Error(
                f"SITE_URL is {settings.SITE_URL!r} while the site is served over HTTPS (HTTPS is on): "
                "every link in patrons' emails is plain HTTP.",
                hint="Write SITE_URL with https://, e.g. https://bibliotheques.example.org.",
                id="notices.E005",
            )
        )
    sender = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(" >").lower()
    if sender in LOCAL_NAMES or sender.endswith(".localhost"):
        errors.append(
            Error(
                f"DEFAULT_FROM_EMAIL is {settings.DEFAULT_FROM_EMAIL!r}: mail servers refuse or file as "
                "spam mail from a local domain.",
                hint="Set DEFAULT_FROM_EMAIL to an address of the network's own domain.",
                id="notices.E003",
            )
        )
    return errors


def _served(url: str) -> bool:
    """Whether requests to ``url`` reach this site: its host allowed, or (a proxy that
    does not pass the Host on) its origin trusted."""
    import urllib.parse

    from django.http.request import validate_host

    parts = urllib.parse.urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    # As Django checks a request's Host: without its port, in small letters.
    host = parts.hostname or ""
    return validate_host(host, settings.ALLOWED_HOSTS) or origin in settings.CSRF_TRUSTED_ORIGINS
