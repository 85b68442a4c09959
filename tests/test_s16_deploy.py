"""What an install and an upgrade by docs/deploy.md met (sixteenth session's walk): a
release copied with its files' dates kept the last release's catalogue and scripts, and
a PostgreSQL restart failed each web thread's next page."""

import os
import shutil
import subprocess

import pytest
from django.core.management import call_command
from django.templatetags.static import static

from emporter.checks import static_files_are_collected, translations_are_compiled

PO = 'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\nmsgid "Ready"\nmsgstr "Prêt"\n'
NEWER_PO = PO + '\nmsgid "Cancelled"\nmsgstr "Annulé"\n'
needs_gettext = pytest.mark.skipif(not shutil.which("msgfmt"), reason="needs gettext's msgfmt (CI has it)")


@pytest.fixture
def catalogue(settings, tmp_path):
    settings.LOCALE_PATHS = [tmp_path]
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    return folder / "django.po"


def _compile(po):
    subprocess.run(["msgfmt", "-o", str(po.with_suffix(".mo")), str(po)], check=True)


@needs_gettext
def test_a_catalogue_compiled_from_its_source_passes(catalogue):
    catalogue.write_text(PO)
    assert [e.id for e in translations_are_compiled()] == ["emporter.E001"]  # never compiled
    _compile(catalogue)
    assert translations_are_compiled() == []


@needs_gettext
def test_a_new_source_older_than_the_catalogue_is_seen(catalogue):
    catalogue.write_text(PO)
    _compile(catalogue)  # the last install, today
    catalogue.write_text(NEWER_PO)  # the new release, committed yesterday, copied with its date
    mo = catalogue.with_suffix(".mo")
    os.utime(catalogue, (mo.stat().st_mtime - 86400,) * 2)
    (error,) = translations_are_compiled()
    assert error.id == "emporter.E001" and "not compiled from its source" in error.msg


def test_without_gettext_the_dates_are_compared(catalogue, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    catalogue.write_text(PO)
    mo = catalogue.with_suffix(".mo")
    mo.write_bytes(b"")
    os.utime(mo, (1, 1))  # compiled before the source changed
    assert "older than its source" in translations_are_compiled()[0].msg
    os.utime(mo)
    assert translations_are_compiled() == []


@pytest.mark.each_engine  # the settings DATABASE_URL gives, SQLite's or PostgreSQL's
def test_kept_connections_are_checked_before_a_page_reuses_them():
    from emporter import settings as project

    assert project.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True


MANIFEST = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}


def test_production_static_files_carry_a_hash_of_their_content(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = MANIFEST
    (error,) = static_files_are_collected()
    assert error.id == "emporter.E002"
    call_command("collectstatic", "--noinput", verbosity=0)
    assert static_files_are_collected() == []
    url = static("picking/picking.js")
    assert url != "/static/picking/picking.js" and url.startswith("/static/picking/picking.")
    assert (tmp_path / url.removeprefix("/static/")).read_bytes() == (
        tmp_path / "picking/picking.js"
    ).read_bytes()


def test_e002_sees_a_changed_script_that_was_not_collected_again(settings, tmp_path):
    """A release changes a script and collectstatic is not run again: pages would keep
    the old hashed script."""
    source = tmp_path / "src"
    (source / "extra").mkdir(parents=True)
    script = source / "extra" / "scan.js"
    script.write_text("var version = 1;\n")
    settings.STATICFILES_DIRS = [source]
    settings.STATIC_ROOT = tmp_path / "root"
    settings.STORAGES = MANIFEST
    call_command("collectstatic", "--noinput", verbosity=0)
    assert static_files_are_collected() == []
    script.write_text("var version = 2;  // the new release\n")
    assert [e.id for e in static_files_are_collected()] == ["emporter.E002"], (
        "a source changed since collectstatic goes unnoticed"
    )


FUZZY_PO = (
    'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
    'msgid "Ready"\nmsgstr "Prêt"\n\n#, fuzzy\nmsgid "Cancelled"\nmsgstr "Annulé"\n'
)


@pytest.mark.skipif(not shutil.which("msgfmt"), reason="needs msgfmt")
def test_a_catalogue_compiled_with_fuzzy_entries_from_its_source_passes(settings, tmp_path):
    settings.LOCALE_PATHS = [tmp_path]
    folder = tmp_path / "fr" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "django.po").write_text(FUZZY_PO)
    # What `compilemessages --use-fuzzy` runs (django/core/management/commands/
    # compilemessages.py: program_options + ["--use-fuzzy"]), run here directly so that
    # nothing walks the project's own locale folders.
    po, mo = folder / "django.po", folder / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "--use-fuzzy", "-o", str(mo), str(po)], check=True)
    assert (folder / "django.mo").exists()
    assert translations_are_compiled() == []
