"""The network administrator's imports page: a file sent is read in the background with
the command's importer, the problems are listed where they are, the file is deleted."""

import datetime
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone, translation

from emporter.catalogue.models import Copy, Record
from emporter.imports import services
from emporter.imports.models import ImportJob, State
from emporter.patrons.models import Patron, Role, StaffRole
from tests.conftest import make_branch
from tests.test_import_marc import LUL, MEL


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_user(username="nadia", password="x")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    client.force_login(user)
    return client


def url(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def send(client, path: Path, kind="marc", **fields):
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    with django_capture_on_commit():
        return client.post(url("imports:index"), {"kind": kind, "file": upload, **fields}, follow=True)


def django_capture_on_commit():
    """The test runs in a transaction: run what waits for the commit (the task's queuing)."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


def test_a_marc_file_is_imported_in_the_background_and_its_problems_listed(admin_client, data_dir):
    branch = make_branch()
    sent = send(admin_client, MEL, default_branch=branch.code)
    assert "cotesMEL.mrc is queued for import." in sent.text  # then the worker reads it
    job = ImportJob.objects.get()
    assert job.state == State.DONE and job.file_name == "cotesMEL.mrc"
    assert Record.objects.count() == 109 and Copy.objects.count() == 129
    # Keyed as the command keys it: by the file's name, so a second sending updates.
    assert Record.objects.filter(source_key__startswith="cotesMEL:").count() == 109
    assert job.problem_count == 3 and {p["code"] for p in job.problems} == {"no_barcode"}
    assert all(p["where"].startswith("cotesMEL.mrc, record ") for p in job.problems)
    assert "109" in job.summary
    page = admin_client.get(url("imports:detail", job.pk))
    assert "Done" in page.text and page.text.count("<code>no_barcode</code>") == 3
    assert not any(data_dir.rglob("*.mrc"))  # the file is deleted once read

    send(admin_client, MEL, default_branch=branch.code)
    assert Record.objects.count() == 109 and ImportJob.objects.filter(state=State.DONE).count() == 2


def test_the_problems_download_as_csv(admin_client):
    branch = make_branch()
    send(admin_client, MEL, default_branch=branch.code)
    job = ImportJob.objects.get()
    response = admin_client.get(url("imports:problems_csv", job.pk))
    rows = response.content.decode("utf-8-sig").splitlines()
    assert rows[0].split(";")[1] == "Code" and len(rows) == 4


def test_a_patron_file_is_imported_and_not_kept(admin_client, data_dir, tmp_path):
    make_branch(code="PDI")
    path = tmp_path / "lecteurs.csv"
    path.write_text("card_number;first_name;last_name;home_branch;pin\n42;Anne;Martin;PDI;4821\n43;;;PDI;\n")
    send(admin_client, path, kind="patrons")
    job = ImportJob.objects.get()
    assert job.state == State.DONE and Patron.objects.get().card_number == "42"
    assert [(p["code"], p["where"]) for p in job.problems] == [("missing_value", "lecteurs.csv, line 3")]
    assert not (data_dir / "imports" / str(job.pk)).exists()


def test_a_file_that_cannot_be_read_is_not_imported_and_says_why(admin_client, tmp_path):
    make_branch()
    path = tmp_path / "broken.mrc"
    path.write_bytes(b"00042nam  2200037   4500" + b"x" * 5)
    send(admin_client, path)
    job = ImportJob.objects.get()
    assert job.state == State.FAILED and job.problem_count >= 1
    assert not Record.objects.exists()


def test_only_network_administrators_import(client, db):
    branch = make_branch()
    user = get_user_model().objects.create_user(username="manager", password="x")
    StaffRole.objects.create(user=user, role=Role.BRANCH_MANAGER, branch=branch)
    client.force_login(user)
    assert client.get(url("imports:index")).status_code == 403
    upload = SimpleUploadedFile("x.mrc", LUL.read_bytes())
    assert client.post(url("imports:index"), {"kind": "marc", "file": upload}).status_code == 403
    assert not ImportJob.objects.exists()


def test_an_empty_file_is_refused_with_the_form(admin_client):
    upload = SimpleUploadedFile("vide.csv", b"")
    response = admin_client.post(url("imports:index"), {"kind": "copies", "file": upload})
    assert response.status_code == 422 and "The submitted file is empty." in response.text
    assert not ImportJob.objects.exists()


def test_one_import_at_a_time_the_next_waits_its_turn(admin_client, settings):
    make_branch()
    # A real queue: the worker is down.
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    send(admin_client, LUL)
    send(admin_client, MEL)
    first, second = ImportJob.objects.order_by("pk")
    assert (first.state, second.state) == (State.QUEUED, State.QUEUED)
    ImportJob.objects.filter(pk=first.pk).update(state=State.RUNNING)
    assert services.run(second.pk) is None  # not its turn: another is running
    assert ImportJob.objects.get(pk=second.pk).state == State.QUEUED
    with pytest.raises(IntegrityError), transaction.atomic():
        ImportJob.objects.filter(pk=second.pk).update(state=State.RUNNING)


def test_an_import_whose_worker_died_is_said_interrupted(admin_client, settings, data_dir):
    make_branch()
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    send(admin_client, LUL)
    job = ImportJob.objects.get()
    long_ago = timezone.now() - datetime.timedelta(hours=7)
    ImportJob.objects.filter(pk=job.pk).update(state=State.RUNNING, started_at=long_ago)
    assert services.sweep() == 1
    job.refresh_from_db()
    assert job.state == State.INTERRUPTED and not any(data_dir.rglob("*.mrc"))
    page = admin_client.get(url("imports:detail", job.pk))
    assert "Send the file again" in page.text


def test_a_long_import_that_still_beats_is_not_interrupted_a_silent_one_is(admin_client, settings):
    make_branch()
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    send(admin_client, LUL)
    job = ImportJob.objects.get()
    now = timezone.now()
    hours_ago = now - datetime.timedelta(hours=8)
    ImportJob.objects.filter(pk=job.pk).update(state=State.RUNNING, started_at=hours_ago, heartbeat_at=now)
    assert services.sweep(now=now) == 0  # eight hours in, alive a minute ago: left alone
    assert services.sweep(now=now + datetime.timedelta(minutes=11)) == 1  # silent since


def test_a_worker_stopped_mid_import_says_interrupted_at_once_and_frees_the_queue(
    admin_client, settings, monkeypatch, data_dir
):
    make_branch()
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    send(admin_client, LUL)
    send(admin_client, MEL)
    first, second = ImportJob.objects.order_by("pk")

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt  # a second Ctrl-C, a reload

    monkeypatch.setattr("emporter.catalogue.importer.import_marc", stopped)
    with pytest.raises(KeyboardInterrupt):
        services.run(first.pk)
    first.refresh_from_db()
    assert first.state == State.INTERRUPTED and not (data_dir / "imports" / str(first.pk)).exists()
    monkeypatch.undo()
    assert services.start_next() == second.pk


def test_problems_postgresql_cannot_store_still_end_the_job(admin_client, tmp_path):
    make_branch(code="PDI")
    path = tmp_path / "nul.csv"
    path.write_bytes(b"card_number;last_name;home_branch\n45;Nul;P\x00DI\n46;Bien;PDI\n")
    send(admin_client, path, kind="patrons")
    job = ImportJob.objects.get()
    assert job.state == State.DONE and job.problem_count == 1
    assert "\x00" not in job.problems[0]["message"]


def test_the_interrupted_state_is_not_overwritten_by_a_worker_finishing_late(admin_client, settings):
    make_branch()
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    send(admin_client, LUL)
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(state=State.INTERRUPTED)
    services._finish(job.pk, State.DONE, summary="fini", problems=[])
    assert ImportJob.objects.get().state == State.INTERRUPTED


@pytest.mark.parametrize(
    ("sent", "stored"),
    [("export cotesMEL.mrc", "export_cotesMEL.mrc"), ("..", "import.txt"), ("«»", "import.txt")],
)
def test_file_names_are_kept_safe(sent, stored):
    assert services._safe_name(sent) == stored


@pytest.mark.parametrize("sent", ["é" * 300 + ".csv", "😀" * 60 + ".mrc", "a" * 400 + ".iso2709"])
def test_long_file_names_are_cut_keeping_their_extension(sent):
    stored = services._safe_name(sent)
    assert len(stored.encode()) <= 200 and len(stored) <= services.NAME_LENGTH
    assert stored.endswith(Path(sent).suffix[:10]) and stored[0] in (
        sent[0],
        "i",
    )  # "import" when nothing is left


def test_the_source_is_the_files_name_as_sent_as_with_the_command(admin_client, tmp_path):
    branch = make_branch()
    path = tmp_path / "export cotesMEL.mrc"
    path.write_bytes(MEL.read_bytes())
    send(admin_client, path, default_branch=branch.code)
    assert Record.objects.filter(source_key__startswith="export cotesMEL:").count() == 109


def test_an_encoding_that_is_not_text_is_refused_by_the_form(admin_client, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("barcode\n1\n")
    upload = SimpleUploadedFile("x.csv", path.read_bytes())
    response = admin_client.post(
        url("imports:index"), {"kind": "copies", "file": upload, "encoding": "rot13"}
    )
    assert response.status_code == 422 and "Unknown encoding: rot13." in response.text


def test_old_problems_and_files_no_job_waits_for_are_forgotten(admin_client, data_dir):
    import os
    import time

    branch = make_branch()
    send(admin_client, MEL, default_branch=branch.code)
    job = ImportJob.objects.get()
    orphan = data_dir / "imports" / "999" / "lecteurs.csv"
    orphan.parent.mkdir(parents=True)
    orphan.write_text("card_number;pin\n1;4821\n")
    services.sweep()
    assert orphan.exists()  # perhaps a file being written: an hour's grace
    hour_ago = time.time() - 3700
    os.utime(orphan.parent, (hour_ago, hour_ago))
    services.sweep(now=timezone.now() + datetime.timedelta(days=31))
    assert not orphan.parent.exists()
    job.refresh_from_db()
    assert job.problems == [] and job.problem_count == 3 and job.summary


def test_imports_have_a_queue_and_a_worker_of_their_own():
    # A file of 100,000 patrons takes hours: the morning lists must not wait behind it.
    from emporter import settings as production  # the module, not the tests' overrides
    from emporter.imports.tasks import run_import

    assert run_import.queue_name == "imports"
    assert "imports" in production.TASKS["default"]["QUEUES"]
    serve = (Path(production.BASE_DIR) / "bin" / "serve").read_text()
    assert "--queue-name imports" in serve and "--exclude-queues imports" in serve


def test_the_importers_advice_names_the_pages_fields_not_the_commands_options(admin_client, tmp_path):
    branch = make_branch()
    send(admin_client, MEL, default_branch=branch.code)
    renamed = tmp_path / "copie.mrc"
    renamed.write_bytes(MEL.read_bytes())
    send(admin_client, renamed, default_branch=branch.code)
    refused = ImportJob.objects.get(file_name="copie.mrc")
    assert refused.state == State.FAILED
    said = refused.summary + " ".join(p["message"] for p in refused.problems)
    assert "--source" not in said and "--take-over" not in said
    assert (
        "“Source (MARC)”" in said
        and "“This source replaces the one that has the file's barcodes (MARC)”" in said
    )


def test_a_file_whose_job_could_not_be_written_is_not_left_behind(
    admin_client, data_dir, monkeypatch, tmp_path
):
    from django.db import DatabaseError

    make_branch(code="PDI")
    path = tmp_path / "lecteurs.csv"
    path.write_text("card_number;last_name;home_branch;pin\n42;Martin;PDI;4821\n")

    def refused(*args, **kwargs):
        raise DatabaseError("disk full")

    monkeypatch.setattr(ImportJob.objects, "create", refused)
    upload = SimpleUploadedFile(path.name, path.read_bytes())
    with pytest.raises(DatabaseError):
        services.submit(kind="patrons", upload=upload, options={}, actor=None)
    assert not list((data_dir / "imports").iterdir())


def test_a_file_over_the_cap_is_dropped_as_it_arrives_and_said_too_large(admin_client, settings, tmp_path):
    """Django writes an upload to disk before any form sees it: past the cap the bytes
    are thrown away as they come, and the page says the file is too large."""
    settings.MAX_UPLOAD_BYTES = 1024 * 1024  # the handler reads it at each chunk
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    big = SimpleUploadedFile("big.mrc", b"0" * (2 * 1024 * 1024), content_type="application/octet-stream")
    with translation.override("en"):
        answer = admin_client.post(url("imports:index"), {"kind": "marc", "file": big})
    assert answer.status_code == 422
    assert "This file is over 1 MB" in answer.text
    assert "This field is required" not in answer.text
    assert not ImportJob.objects.exists()
    assert not list(tmp_path.iterdir())  # nothing left in the temporary folder
