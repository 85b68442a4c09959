"""The settings refuse the two mistakes that would serve a network unsafely."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def start(**env) -> subprocess.CompletedProcess:
    """Load the settings in a fresh interpreter with only these variables of ours."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
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
    ],
)
def test_production_mistakes_stop_the_start(env, says):
    result = start(**env)
    assert result.returncode != 0 and says in result.stderr


def test_the_developer_default_and_a_production_set_up_start():
    assert start().returncode == 0  # make run: DEBUG on, this machine only
    production = {"DEBUG": "0", "SECRET_KEY": "x" * 50, "ALLOWED_HOSTS": "bibliotheques.example.org"}
    assert start(**production).returncode == 0
