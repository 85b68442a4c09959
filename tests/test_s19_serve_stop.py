"""Ctrl-C on `make run` (bin/serve) lets both workers end the task under way, as a worker
does on its first SIGINT or SIGTERM (docs/deploy.md): before, bin/serve passed a SIGTERM
on after the terminal's SIGINT, which the import worker took for a second Ctrl-C and cut
its import off, and the other worker ran under the reloader, whose parent killed it
mid-task and left the task "running" in the queue for a day."""

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SLOW = """
import time
from django.tasks import task


@task
def slow(seconds: int = 4) -> str:
    time.sleep(seconds)
    return "ok"
"""

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("DATABASE_URL")),
    reason="about bin/serve on the embedded database: runs in the SQLite suite",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def migrated(tmp_path_factory):
    """A data folder with the embedded database migrated, once for the module (6 s each)."""
    data = tmp_path_factory.mktemp("migrated") / "data"
    env = os.environ | {"EMPORTER_DATA_DIR": str(data), "DJANGO_SETTINGS_MODULE": "emporter.settings"}
    env.pop("DATABASE_URL", None)
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    return data


@pytest.fixture
def served(tmp_path, migrated):
    (tmp_path / "slow_tasks.py").write_text(SLOW)
    shutil.copytree(migrated, tmp_path / "data")
    env = os.environ | {
        "EMPORTER_DATA_DIR": str(tmp_path / "data"),
        "PORT": str(free_port()),
        "PYTHONPATH": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "emporter.settings",
    }
    env.pop("DATABASE_URL", None)
    with open(tmp_path / "serve.log", "w") as log:
        # A process group of its own, as in a terminal: Ctrl-C reaches every process in it.
        serve = subprocess.Popen(
            ["bin/serve"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        yield env, serve, tmp_path
        # Its children run in process groups of their own, in its session.
        subprocess.run(["pkill", "-KILL", "-s", str(serve.pid)], check=False)


def statuses(tmp_path) -> dict:
    with sqlite3.connect(tmp_path / "data" / "emporter.sqlite3", timeout=30) as db:
        rows = db.execute("SELECT queue_name, status FROM django_tasks_database_dbtaskresult").fetchall()
    return dict(rows)


@pytest.mark.parametrize("how", ["ctrl-c", "term"])
def test_stopping_make_run_lets_each_worker_end_its_task(served, how):
    env, serve, tmp_path = served
    enqueue = "import slow_tasks as t; t.slow.enqueue(); t.slow.using(queue_name='imports').enqueue()"
    shell = [PY, "manage.py", "shell", "-c", enqueue]
    subprocess.run(shell, cwd=ROOT, env=env, check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while statuses(tmp_path) != {"default": "RUNNING", "imports": "RUNNING"}:
        assert time.monotonic() < deadline, statuses(tmp_path)
        time.sleep(0.2)
    if how == "ctrl-c":
        os.killpg(serve.pid, signal.SIGINT)  # the terminal's Ctrl-C: to the whole group
    else:
        serve.send_signal(signal.SIGTERM)  # a service manager stopping bin/serve alone
    serve.wait(timeout=60)
    log = (tmp_path / "serve.log").read_text()
    assert statuses(tmp_path) == {"default": "SUCCESSFUL", "imports": "SUCCESSFUL"}, log[-3000:]


def left_in(session: int) -> str:
    ps = ["ps", "-o", "pid,args", "--no-headers", "-s", str(session)]
    return subprocess.run(ps, capture_output=True, text=True).stdout


@pytest.mark.parametrize("how", ["ctrl-c", "sigint-to-bin-serve-alone"])
def test_stopped_before_django_has_loaded_nothing_is_left_running(served, how):
    """A child that has not yet set its own signal handlers ignores SIGINT (a script's
    background processes do): Ctrl-C in the first second left bin/serve waiting for ever,
    and so did a SIGINT to bin/serve alone (an IDE's stop button) at any time."""
    _env, serve, _tmp_path = served
    time.sleep(0.3)
    if how == "ctrl-c":
        os.killpg(serve.pid, signal.SIGINT)
    else:
        serve.send_signal(signal.SIGINT)
    serve.wait(timeout=30)
    time.sleep(0.5)
    assert left_in(serve.pid) == ""
