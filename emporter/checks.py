"""Start-up checks of the site as a whole (``check --deploy``)."""

from django.conf import settings
from django.core.checks import Error


def translations_are_compiled(app_configs=None, **kwargs) -> list[Error]:
    """The compiled catalogues (``.mo``) are not in git: without ``compilemessages``, or
    with the old ones after an upgrade, pages and emails come out in English, or in the
    wording of the release before, under ``lang="fr"``."""
    errors = []
    for code, _name in settings.LANGUAGES:
        if code == "en":  # the source language: no catalogue needed
            continue
        for folder in settings.LOCALE_PATHS:
            po = folder / code / "LC_MESSAGES" / "django.po"
            mo = po.with_suffix(".mo")
            if not po.exists():
                continue
            if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
                state = "older than its source" if mo.exists() else "missing"
                errors.append(
                    Error(
                        f"The compiled {code!r} catalogue is {state}: {mo}.",
                        hint="Run `cd emporter && ../manage.py compilemessages` (gettext; docs/deploy.md).",
                        id="emporter.E001",
                    )
                )
    return errors
