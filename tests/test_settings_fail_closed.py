"""The settings refuse the mistakes that would serve a network unsafely."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start(code: str = "", **env) -> subprocess.CompletedProcess:
    """Load the settings in a fresh interpreter with only these variables of ours (then
    run ``code``)."""
    ours = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "HTTPS", "BEHIND_HTTPS_PROXY", "TRUSTED_PROXIES")
    clean = {k: v for k, v in os.environ.items() if k not in ours}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=ROOT,
        env=clean | {"DJANGO_SETTINGS_MODULE": "emporter.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, says",
    [
        (
            {"ALLOWED_HOSTS": "bibliotheques.example.org"},
            "DEBUG is on while serving bibliotheques.example.org",
        ),
        ({"DEBUG": "0", "ALLOWED_HOSTS": "bibliotheques.example.org"}, "SECRET_KEY is not set"),
        # Behind nginx's default Host: 127.0.0.1, the hosts alone look like a developer's.
        ({"BEHIND_HTTPS_PROXY": "1", "TRUSTED_PROXIES": "127.0.0.1"}, "DEBUG is on with BEHIND_HTTPS_PROXY"),
        ({"HTTPS": "1"}, "DEBUG is on with HTTPS set"),
        ({"DEBUG": "0", "SECRET_KEY": "x" * 50, "TRUSTED_PROXIES": "127.0.0.1/33"}, "TRUSTED_PROXIES"),
    ],
)
def test_production_mistakes_stop_the_start(env, says):
    result = start(**env)
    assert result.returncode != 0 and says in result.stderr


def test_the_developer_default_and_a_production_set_up_start():
    assert start().returncode == 0  # make run: DEBUG on, this machine only
    assert start(HTTPS="0", BEHIND_HTTPS_PROXY="0").returncode == 0  # said off is not set
    production = {"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "bibliotheques.example.org"}
    assert start(**production).returncode == 0


def test_in_production_cookies_go_over_https_only_unless_told_otherwise():
    production = {"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "bibliotheques.example.org"}
    said = (
        "from django.conf import settings; print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE)"
    )
    assert start(said, **production).stdout.split() == ["True", "True"]
    assert start(said, HTTPS="0", **production).stdout.split() == ["False", "False"]
    assert start(said).stdout.split() == ["False", "False"]  # make run, on this machine


def test_a_data_folder_that_does_not_exist_yet_is_made(tmp_path):
    """SQLite cannot create its file in a missing folder, and says only "unable to open
    database file": the folder is made when the settings load."""
    folder = tmp_path / "new" / "data"
    assert start(EMPORTER_DATA_DIR=str(folder)).returncode == 0
    assert folder.is_dir()


@pytest.mark.parametrize(
    ("rounds", "says"), [("50k", "whole number"), ("0", "at least 1000"), ("-1", "at least")]
)
def test_pin_hash_rounds_are_a_number_worth_hashing_with(rounds, says):
    # 0 started the site, then failed every sign-in with a 500 (PBKDF2 refuses 0 rounds).
    done = start(PIN_HASH_ROUNDS=rounds)
    assert done.returncode != 0 and "ImproperlyConfigured" in done.stderr
    assert "PIN_HASH_ROUNDS" in done.stderr and says in done.stderr


def test_the_audit_goes_to_a_file_of_its_own_when_named(tmp_path):
    log = tmp_path / "audit.log"
    code = "import logging; logging.getLogger('emporter.audit').info('door: 7 opened patron 42 at PDI')"
    done = start(code, AUDIT_LOG_FILE=str(log), EMPORTER_DATA_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert log.read_text().rstrip().endswith("door: 7 opened patron 42 at PDI")
    assert "opened patron 42" not in done.stderr  # not mixed into the process's output
    # Dated with the offset: the hour repeated when clocks go back is not ambiguous.
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} door:", log.read_text())


def test_the_processes_log_lines_say_when_how_grave_and_from_where(tmp_path):
    code = "import logging; logging.getLogger('emporter.notices').warning('notice 3: pending retrying')"
    done = start(code, EMPORTER_DATA_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"^\d{4}-\d\d-\d\dT[\d:]{8}[+-]\d{4} WARNING emporter.notices: notice 3", done.stderr, re.M
    )
