from django.conf import settings
from django.core.checks import Error, Warning, register


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


@register(deploy=True)
def controller_is_named(app_configs=None, **kwargs):
    """The privacy notice (/privacy/) must name who answers for the patrons' data and
    where to write to them (GDPR art. 13: the controller, the data protection officer's
    contact). Without them it says only "your library network" and "ask at the desk"."""
    missing = [
        name for name in ("PRIVACY_CONTROLLER", "PRIVACY_CONTACT") if not getattr(settings, name, "").strip()
    ]
    if not missing:
        return []
    return [
        Warning(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set: the privacy "
            "notice (/privacy/) names no one to answer for the patrons' data.",
            hint="Set PRIVACY_CONTROLLER (the network's legal name) and PRIVACY_CONTACT (the data "
            "protection officer's address) in the environment (docs/deploy.md).",
            id="privacy.W001",
        )
    ]
