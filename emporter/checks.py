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
        installed = mo.read_bytes()
        # With or without the fuzzy entries (``compilemessages --use-fuzzy``).
        for fuzzy in ([], ["--use-fuzzy"]):
            compiled = subprocess.run([msgfmt, *fuzzy, "-o", "-", str(po)], capture_output=True, check=False)
            if compiled.returncode != 0:
                break
            if compiled.stdout == installed:
                return ""
        else:
            return "not compiled from its source"
    return "older than its source" if mo.stat().st_mtime < po.stat().st_mtime else ""


def static_files_are_collected(app_configs=None, **kwargs) -> list[Error]:
    """In production, pages name each static file by the hash ``collectstatic`` wrote in
    its manifest: a file added by a release and not collected fails every page using it,
    and one changed keeps its old version. Each source is compared with its collected
    copy (the plain-named one: the hashed ones of a stylesheet have its links rewritten)."""
    from django.contrib.staticfiles import finders
    from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage

    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return []
    known, _manifest_hash = staticfiles_storage.load_manifest()  # read now, not as at start-up
    stale, seen = [], set()
    for finder in finders.get_finders():
        for path, source in finder.list(["CVS", ".*", "*~"]):
            if path in seen:  # collectstatic takes the first finder's
                continue
            seen.add(path)
            if path not in known or not _same_file(source, path, staticfiles_storage):
                stale.append(path)
    if not stale:
        return []
    stale.sort()
    return [
        Error(
            f"{len(stale)} static files are not collected as they are now: {', '.join(stale[:3])}"
            + ("…" if len(stale) > 3 else "."),
            hint="Run `manage.py collectstatic --noinput` (docs/deploy.md).",
            id="emporter.E002",
        )
    ]


def _same_file(source, path: str, collected) -> bool:
    if not collected.exists(path) or source.size(path) != collected.size(path):
        return False
    with source.open(path) as mine, collected.open(path) as theirs:
        return mine.read() == theirs.read()
