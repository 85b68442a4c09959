"""Imports sent from the web page: stored, queued, read by the task worker one at a
time with the same importers as the commands, then the file is deleted.

The commands (``import_marc``, ``import_copies``, ``import_patrons``) stay the way for
very large files and for code maps; this page is for the files of every day.
"""

import datetime
import logging
import shutil
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from .models import ImportJob, Kind, State

log = logging.getLogger("emporter.imports")

# Problems kept on the job to show; the count says how many there were.
MAX_PROBLEMS = 2000
# A running import older than this lost its worker (a million records read in well under).
STALLED_AFTER = datetime.timedelta(hours=6)


def folder() -> Path:
    return Path(settings.DATA_DIR) / "imports"


def submit(*, kind: str, upload, options: dict, actor) -> ImportJob:
    """Store ``upload`` and queue its import. The file keeps its name (in a folder of its
    own): a MARC file's name is its source's by default, as with the command."""
    name = get_valid_filename(Path(upload.name).name) or "import"
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            file_name=name,
            options=options | {"language": translation.get_language()},
            created_by=actor,
        )
        relative = Path("imports") / str(job.pk) / name
        target = Path(settings.DATA_DIR) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        ImportJob.objects.filter(pk=job.pk).update(stored_as=str(relative))
        transaction.on_commit(start_next)
    job.refresh_from_db()
    return job


def start_next() -> int | None:
    """Queue the oldest waiting import when none is running; safe to call often (the
    scheduler does, so that imports waiting while the worker was down are read)."""
    from .tasks import run_import, waiting_in_queue

    if ImportJob.objects.filter(state=State.RUNNING).exists() or waiting_in_queue():
        return None
    job = ImportJob.objects.filter(state=State.QUEUED).order_by("created_at", "pk").first()
    if job is None:
        return None
    run_import.enqueue(job.pk)
    return job.pk


def run(job_id: int) -> str | None:
    """Read a queued import; returns its state, or None when it was not this one's turn
    (another is running) or it was read already."""
    if not _claim(job_id):
        return None
    job = ImportJob.objects.get(pk=job_id)
    path = Path(settings.DATA_DIR) / job.stored_as
    with translation.override(job.options.get("language") or settings.LANGUAGE_CODE):
        try:
            failed, summary, problems = _read(job, path)
        except Exception as error:  # noqa: BLE001 - said on the page, not lost in a log
            log.exception("import %s failed", job.pk)
            failed, summary, problems = (
                True,
                _("The import stopped on an error: %(error)s") % {"error": error},
                [],
            )
        finally:
            _forget_file(job)
    ImportJob.objects.filter(pk=job.pk).update(
        state=State.FAILED if failed else State.DONE,
        finished_at=timezone.now(),
        summary=summary,
        problems=problems[:MAX_PROBLEMS],
        problem_count=len(problems),
        stored_as="",
    )
    transaction.on_commit(start_next)
    return State.FAILED if failed else State.DONE


def _claim(job_id: int) -> bool:
    try:
        with transaction.atomic():
            return bool(
                ImportJob.objects.filter(pk=job_id, state=State.QUEUED).update(
                    state=State.RUNNING, started_at=timezone.now()
                )
            )
    except IntegrityError:  # one_import_running: another import is being read
        return False


def _read(job: ImportJob, path: Path) -> tuple[bool, str, list[dict]]:
    """(failed, summary, problems) of the importer of ``job.kind``."""
    from emporter.catalogue.csv_import import import_copies
    from emporter.catalogue.importer import import_marc
    from emporter.patrons.importer import import_patrons

    options = job.options
    if job.kind == Kind.MARC:
        report = import_marc(
            [path],
            source=options.get("source") or Path(job.file_name).stem,
            preset=options.get("preset") or None,
            default_branch=options.get("default_branch") or None,
            withdraw_missing=bool(options.get("withdraw_missing")),
            take_over=bool(options.get("take_over")),
            progress=False,
        )
        failed, lines = bool(report.failed), report.summary_lines()
    elif job.kind == Kind.COPIES:
        report = import_copies(
            path,
            default_branch=options.get("default_branch") or None,
            encoding=options.get("encoding") or None,
        )
        failed, lines = bool(report.failed), report.summary_lines()
    else:
        report = import_patrons(
            path, encoding=options.get("encoding") or None, set_pins=bool(options.get("set_pins"))
        )
        failed, lines = report.failed, [report.summary()]
    # The problems name the file as stored: name it as sent.
    stored = str(path)
    problems = [
        {
            "where": str(p).split(": ", 1)[0].replace(stored, job.file_name),
            "code": p.code,
            "message": p.message,
        }
        for p in report.problems
    ]
    summary = "\n".join(line.replace(stored, job.file_name) for line in lines)
    return failed, summary, problems


def _forget_file(job: ImportJob) -> None:
    """The file is read (or will never be): deleted, with its folder. A patron file holds
    names, addresses and PINs."""
    if job.stored_as:
        shutil.rmtree((Path(settings.DATA_DIR) / job.stored_as).parent, ignore_errors=True)


def sweep(now=None) -> int:
    """Run by the scheduler: an import running for longer than STALLED_AFTER lost its
    worker and is marked interrupted (its file deleted: send it again); then the next
    waiting import is queued. Returns how many were interrupted."""
    now = now or timezone.now()
    stalled = list(ImportJob.objects.filter(state=State.RUNNING, started_at__lt=now - STALLED_AFTER))
    for job in stalled:
        _forget_file(job)
        ImportJob.objects.filter(pk=job.pk, state=State.RUNNING).update(
            state=State.INTERRUPTED, finished_at=now, stored_as=""
        )
    start_next()
    return len(stalled)
