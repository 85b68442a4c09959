from django.conf import settings
from django.core.checks import Error, register


@register()
def request_history(app_configs, **kwargs):
    """Requests that became no loan are forgotten after REQUEST_HISTORY_DAYS: at least a
    week (staff answer "what happened to my request?"), at most four months (the CNIL's
    advice for a library's history)."""
    days = settings.REQUEST_HISTORY_DAYS
    if not 8 <= days <= 120:
        return [
            Error(
                f"REQUEST_HISTORY_DAYS is {days}: it must be between 8 and 120.",
                hint="How many days a cancelled, expired or not found request keeps its patron.",
                id="privacy.E001",
            )
        ]
    return []
