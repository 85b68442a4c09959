"""Start-up checks of the notices' settings."""

from django.core.checks import Error


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
