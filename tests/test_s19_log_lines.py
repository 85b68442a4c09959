"""Under `make run` (DEBUG on) every line a worker logged through Django's loggers came
out twice: once bare, from Django's own console handler on "django", once formatted."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = """
import logging, django
django.setup()
logging.getLogger("django.tasks").setLevel(logging.INFO)  # as run_worker does
logging.getLogger("django.tasks").info("Task id=1 state=RUNNING")
logging.getLogger("django.request").error("Internal Server Error: /x/")
"""


def test_a_line_logged_through_django_comes_out_once(tmp_path):
    env = os.environ | {
        "DJANGO_SETTINGS_MODULE": "emporter.settings",
        "DEBUG": "1",
        "SECRET_KEY": "x",
        "EMPORTER_DATA_DIR": str(tmp_path),
    }
    run = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == [
        "INFO django.tasks: Task id=1 state=RUNNING",
        "ERROR django.request: Internal Server Error: /x/",
    ]
