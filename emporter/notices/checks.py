"""Start-up checks of the notices' settings."""

from django.core.checks import Error


def retention_outlasts_the_composer(app_configs=None, **kwargs) -> list[Error]:
    """A shorter retention would unlink events the composer still reads: it would tell
    those patrons again. retention.py enforces the minimum anyway; this says so early."""
    from .retention import MINIMUM_RETENTION, configured_retention

    if configured_retention() >= MINIMUM_RETENTION:
        return []
    return [
        Error(
            f"NOTICE_RETENTION_DAYS must be at least {MINIMUM_RETENTION.days} days "
            "(the composer's window plus a margin).",
            hint="Notices are kept that long anyway; raise the setting to silence this.",
            id="notices.E001",
        )
    ]
