"""Start-up checks of the site as a whole (``check --deploy``)."""

import shutil
import subprocess

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
            if po.exists() and (state := _catalogue_state(po)):
                errors.append(
                    Error(
                        f"The compiled {code!r} catalogue is {state}: {po.with_suffix('.mo')}.",
                        hint="Run `find emporter/locale -name '*.mo' -delete`, then "
                        "`cd emporter && ../manage.py compilemessages` (gettext; docs/deploy.md).",
                        id="emporter.E001",
                    )
                )
    return errors


def _catalogue_state(po) -> str:
    """What is wrong with ``po``'s compiled catalogue ("" when nothing). Compared by
    content where gettext is installed: a release copied with its files' dates (tar,
    rsync -a) can bring a source older than the catalogue compiled from the last one,
    and compilemessages, which compares dates, then keeps the old catalogue."""
    mo = po.with_suffix(".mo")
    if not mo.exists():
        return "missing"
    if msgfmt := shutil.which("msgfmt"):
        compiled = subprocess.run([msgfmt, "-o", "-", str(po)], capture_output=True, check=False)
        if compiled.returncode == 0:
            return "" if compiled.stdout == mo.read_bytes() else "not compiled from its source"
    return "older than its source" if mo.stat().st_mtime < po.stat().st_mtime else ""


def static_files_are_collected(app_configs=None, **kwargs) -> list[Error]:
    """In production, pages name each static file by the hash ``collectstatic`` wrote in
    its manifest: a file added by a release and not collected fails every page using it."""
    from django.contrib.staticfiles import finders
    from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage

    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return []
    known, _manifest_hash = staticfiles_storage.load_manifest()  # read now, not as at start-up
    missing = sorted(
        path
        for finder in finders.get_finders()
        for path, _storage in finder.list(["CVS", ".*", "*~"])
        if path not in known
    )
    if not missing:
        return []
    return [
        Error(
            f"{len(missing)} static files are not collected: {', '.join(missing[:3])}"
            + ("…" if len(missing) > 3 else "."),
            hint="Run `manage.py collectstatic --noinput` (docs/deploy.md).",
            id="emporter.E002",
        )
    ]
