"""Imports sent from the web page: stored, queued, read by the task worker one at a
time with the same importers as the commands, then the file is deleted.

The commands (``import_marc``, ``import_copies``, ``import_patrons``) stay the way for
very large files and for code maps; this page is for the files of every day.
"""

import datetime
import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _

from .models import ImportJob, Kind, State

log = logging.getLogger("emporter.imports")

# Problems kept on the job to show; the count says how many there were.
MAX_PROBLEMS = 2000
# A running import says it is alive every HEARTBEAT; one silent for STALLED_AFTER lost its
# worker (killed, out of memory, the machine restarted). Not a limit on the import's length:
# 100,000 patrons with PINs take hours.
HEARTBEAT = datetime.timedelta(seconds=60)
STALLED_AFTER = datetime.timedelta(minutes=10)
# Problems name cards and values of the files: kept this long, then only the summary.
KEEP_PROBLEMS = datetime.timedelta(days=30)
# A name longer than this is cut (keeping its extension): the database column and the
# file system have limits.
NAME_LENGTH = 120
# How long an import command waits, by default, for the import being read to end (a
# nightly cron beside a file sent from the page, or yesterday's run still going), and
# how often it looks.
COMMAND_WAIT = datetime.timedelta(hours=4)
COMMAND_POLL = datetime.timedelta(seconds=10)
MINUTE = datetime.timedelta(minutes=1)


def folder() -> Path:
    return Path(settings.DATA_DIR) / "imports"


def submit(*, kind: str, upload, options: dict, actor) -> ImportJob:
    """Store ``upload`` and queue its import. The file keeps its name (in a folder of its
    own): a MARC file's name is its source's by default, as with the command."""
    sent = Path(upload.name).name
    name = _safe_name(sent)
    # The source keys the records as the command would, from the name as sent.
    options = {"source": options.get("source") or Path(sent).stem[:NAME_LENGTH]} | {
        k: v for k, v in options.items() if k != "source"
    }
    # Written first, outside any transaction (on SQLite one would hold the database's
    # write lock while 200 MB are copied), then given to its job in a short one.
    incoming = folder() / f"incoming-{uuid.uuid4().hex}"
    moved_to = None
    try:
        incoming.mkdir(parents=True)
        with (incoming / name).open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        with transaction.atomic():
            job = ImportJob.objects.create(
                kind=kind,
                file_name=name,
                options=options | {"language": translation.get_language()},
                created_by=actor,
            )
            relative = Path("imports") / str(job.pk) / name
            moved_to = Path(settings.DATA_DIR) / relative.parent
            incoming.rename(moved_to)
            ImportJob.objects.filter(pk=job.pk).update(stored_as=str(relative))
            transaction.on_commit(start_next)
    except BaseException:
        # A disk full half-way, the database refusing: no job, and no half of a patron
        # file left behind (nor a whole one).
        for leftover in (incoming, moved_to):
            if leftover is not None:
                shutil.rmtree(leftover, ignore_errors=True)
        raise
    job.refresh_from_db()
    return job


def _safe_name(sent: str) -> str:
    """The name as stored and shown: safe in a path, not too long, its extension kept."""
    stem, suffix = Path(sent).stem, Path(sent).suffix[:10]
    stem = stem[: NAME_LENGTH - len(suffix)]
    while len((stem + suffix).encode()) > 200:  # file systems count bytes (255 at most)
        stem = stem[:-1]
    stem, suffix = _cleaned(stem).strip("._") or "import", _cleaned(suffix) or ".txt"
    return stem + suffix


def _cleaned(part: str) -> str:
    try:
        return get_valid_filename(part) if part else ""
    except Exception:  # noqa: BLE001 - ".." and the like: Django refuses to clean them
        return ""


def running() -> bool:
    """An import is being read now (the page's, or a command's turn)."""
    return ImportJob.objects.filter(state=State.RUNNING).exists()


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
        # A second task for a job already read (files sent at once): the next waits.
        transaction.on_commit(start_next)
        return None
    job = ImportJob.objects.get(pk=job_id)
    path = Path(settings.DATA_DIR) / job.stored_as
    heart = _Heartbeat(job.pk)
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
        except BaseException:
            # Stopped (a second Ctrl-C, a reload, the worker's exit): said at once, not
            # after the sweep's wait, and the next import may start.
            _finish(job.pk, State.INTERRUPTED, summary="", problems=[])
            raise
        finally:
            heart.stop()
            _forget_file(job)
    state = State.FAILED if failed else State.DONE
    _finish(job.pk, state, summary=summary, problems=problems)
    transaction.on_commit(start_next)
    return state


def _finish(job_id: int, state: str, *, summary: str, problems: list[dict]) -> None:
    """Record how the import ended, unless the sweep said it interrupted meanwhile. Text
    PostgreSQL cannot store (a NUL, half of a surrogate pair, from a broken file) is
    replaced: the job must end, whatever its problems say."""
    fields = {
        "state": state,
        "finished_at": timezone.now(),
        "summary": _storable(summary),
        "problems": [{k: _storable(v) for k, v in p.items()} for p in problems[:MAX_PROBLEMS]],
        "problem_count": len(problems),
        "stored_as": "",
    }
    running = ImportJob.objects.filter(pk=job_id, state=State.RUNNING)
    try:
        running.update(**fields)
    except DatabaseError:
        log.exception("import %s: its report could not be stored", job_id)
        running.update(state=state, finished_at=fields["finished_at"], problems=[], stored_as="")


def _storable(text: str) -> str:
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


class _Heartbeat:
    """While an import runs, a thread of the worker says so every HEARTBEAT (in its own
    database connection): an import whose worker died falls silent, and the sweep says
    it interrupted ten minutes later, however long a live one takes."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"import-{job_id}-heartbeat", daemon=True)
        self.thread.start()

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(HEARTBEAT.total_seconds()):
                try:
                    ImportJob.objects.filter(pk=self.job_id, state=State.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:  # SQLite busy with the import itself: the next beat
                    continue
        finally:
            connections.close_all()

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)


def _claim(job_id: int) -> bool:
    try:
        with transaction.atomic():
            return bool(
                ImportJob.objects.filter(pk=job_id, state=State.QUEUED).update(
                    state=State.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now()
                )
            )
    except IntegrityError:  # one_import_running: another import is being read
        return False


def _read(job: ImportJob, path: Path) -> tuple[bool, str, list[dict]]:
    """(failed, summary, problems) of the importer of ``job.kind``."""
    from emporter.catalogue.csv_import import import_copies
    from emporter.catalogue.importer import import_marc
    from emporter.holds.merges import follow
    from emporter.patrons.importer import import_patron_files

    options = job.options
    if job.kind == Kind.MARC:
        report = import_marc(
            [path],
            source=options["source"],  # submit() sets it: the name as sent, by default
            preset=options.get("preset") or None,
            default_branch=options.get("default_branch") or None,
            withdraw_missing=bool(options.get("withdraw_missing")),
            take_over=bool(options.get("take_over")),
            # As a refused record's problem advises ("--encoding latin-1", the page's field).
            encoding=options.get("encoding") or None,
            progress=False,
            on_merge=follow,  # requests follow a record merged at the source
        )
        failed, lines = bool(report.failed), report.summary_lines()
    elif job.kind == Kind.COPIES:
        report = import_copies(
            path,
            default_branch=options.get("default_branch") or None,
            encoding=options.get("encoding") or None,
            on_merge=follow,
        )
        failed, lines = bool(report.failed), report.summary_lines()
    else:
        report = import_patron_files(
            [path],
            encoding=options.get("encoding") or None,
            set_pins=bool(options.get("set_pins")),
            # Options of a job queued before they were on the page: the command's defaults.
            date_format=options.get("date_format") or "metric",
            expire_missing=bool(options.get("expire_missing")),
            replace_cards=bool(options.get("replace_cards")),
        )
        failed, lines = bool(report.failed), report.summary_lines()
    # The problems name the file as stored: name it as sent.
    summary, problems = _described(lines, report.problems, {str(path): job.file_name})
    return failed, _for_the_page(summary), [p | {"message": _for_the_page(p["message"])} for p in problems]


def _described(lines: list[str], problems, names: dict[str, str]) -> tuple[str, list[dict]]:
    """The summary and problems of an importer's report as the job keeps them, each path
    in ``names`` replaced by its name there."""

    def named(text: str) -> str:
        for path, name in names.items():
            text = text.replace(path, name)
        return text

    kept = [
        {"where": named(p.where), "code": p.code, "message": p.message}
        # In the file's order (record, then line), not the order the batches found them.
        for p in sorted(problems, key=lambda p: (p.record or 0, p.line or 0, p.offset or 0))
    ]
    return "\n".join(named(line) for line in lines), kept


# A week: longer than any import, and well inside a timedelta's range.
MAX_WAIT_MINUTES = 7 * 24 * 60


def batch_size_option(parser) -> None:
    """The import commands' ``--batch-size``: a whole number, 1 or more (0 was refused
    only once the whole file had been read, by a message naming no option)."""

    def positive(text: str) -> int:
        value = int(text)
        if value < 1:
            raise ValueError(text)
        return value

    positive.__name__ = "batch size"  # argparse's message: "invalid batch size value"
    parser.add_argument("--batch-size", type=positive, default=500)


def wait_option(parser) -> None:
    """The import commands' ``--wait MINUTES`` (command_turn)."""

    def minutes(text: str) -> datetime.timedelta:
        value = float(text)
        # (inf, or days past a timedelta's range, raised OverflowError: a traceback,
        # not argparse's "invalid MINUTES value".)
        if not 0 <= value <= MAX_WAIT_MINUTES:
            raise ValueError(text)
        return datetime.timedelta(minutes=value)

    parser.add_argument(
        "--wait",
        type=minutes,
        default=COMMAND_WAIT,
        metavar="MINUTES",
        help="while another import is being read (from the imports page, or another command), wait "
        f"this long for its end, then give up with exit status 1 (default: {COMMAND_WAIT // MINUTE}; 0: "
        "give up at once)",
    )


class ImportBusy(Exception):
    """Another import was still being read when a command's wait for its turn ended."""


class CommandTurn:
    """What ``command_turn`` yields: the command's job, and how to say how it ended."""

    def __init__(self, job: ImportJob):
        self.job = job
        self.ended = False

    def done(self, *, failed: bool, lines: list[str], problems, paths=()) -> None:
        """Keep the import's summary and problems on its job, as the page's imports are
        kept: each file by its name, not its path on the server."""
        # As typed, and as the importer writes it ("/srv/./a.mrc" read as "/srv/a.mrc").
        names = {spelling: Path(p).name for p in paths for spelling in (str(p), str(Path(p)))}
        summary, kept = _described(lines, problems, names)
        _finish(self.job.pk, State.FAILED if failed else State.DONE, summary=summary, problems=kept)
        self.ended = True

    def forget(self) -> None:
        """Nothing was read (a wrong option): no job to show."""
        ImportJob.objects.filter(pk=self.job.pk).delete()
        self.ended = True


@contextmanager
def command_turn(
    *,
    kind: str,
    file_name: str,
    wait: datetime.timedelta = COMMAND_WAIT,
    say: Callable[[str], object] = log.info,
) -> Iterator[CommandTurn]:
    """The imports' one-at-a-time turn, for a command (``import_marc``, ``import_copies``):
    a job in the running state, as the worker's (the partial unique index
    ``one_import_running``), so that neither a file sent from the page nor another
    command is read beside it (two imports at once race for the same records and
    barcodes). While another import is read, waits for its end up to ``wait``, saying so
    once through ``say``, then raises ``ImportBusy``; an import whose worker or command
    died (silent for ``STALLED_AFTER``) is said interrupted first, as the scheduler's
    sweep does. The job is on the imports page while the command runs (its heartbeat
    keeps it there), then with its summary (``CommandTurn.done``); the next file sent
    from the page is read after it."""
    deadline = time.monotonic() + wait.total_seconds()
    told = False
    while True:
        now = timezone.now()
        _interrupt_stalled(now)
        try:
            with transaction.atomic():
                job = ImportJob.objects.create(
                    kind=kind,
                    file_name=file_name[:200],
                    state=State.RUNNING,
                    started_at=now,
                    heartbeat_at=now,
                    options={"command": True, "language": translation.get_language()},
                )
            break
        except IntegrityError:  # one_import_running: another import is being read
            pass
        running = ImportJob.objects.filter(state=State.RUNNING).first()
        about = {
            "file": running.file_name if running else "?",
            "since": timezone.localtime(running.started_at).strftime("%H:%M")
            if running and running.started_at
            else "?",
        }
        left = deadline - time.monotonic()
        if left <= 0:
            raise ImportBusy(
                _(
                    "Another import is still being read (%(file)s, since %(since)s): this one was not "
                    "started. Run it again once that one has ended, or let it wait longer (--wait)."
                )
                % about
            )
        if not told:
            message = _(
                "Another import is being read (%(file)s, since %(since)s): this one waits for its end "
                "(%(minutes)s minutes at most)."
            )
            say(message % {**about, "minutes": round(left / 60)})
            told = True
        time.sleep(min(COMMAND_POLL.total_seconds(), left))
    heart = _Heartbeat(job.pk)
    turn = CommandTurn(job)
    try:
        yield turn
    except BaseException as error:
        heart.stop()
        if isinstance(error, Exception):
            summary = _("The import stopped on an error: %(error)s") % {"error": error}
            _finish(job.pk, State.FAILED, summary=summary, problems=[])
        else:  # Ctrl-C, the command killed: the next import may start
            _finish(job.pk, State.INTERRUPTED, summary="", problems=[])
        raise
    else:
        heart.stop()
        if not turn.ended:
            _finish(job.pk, State.DONE, summary="", problems=[])
    finally:
        start_next()  # a file sent from the page meanwhile: its turn


def read_in_turn(*, kind: str, paths: list, wait: datetime.timedelta, say: Callable[[str], object], read):
    """``read()`` (an importer's call, returning its report) in the imports' turn
    (``command_turn``), its summary and problems kept on the job. A ``ValueError`` (a
    wrong option: nothing was read) leaves no job behind."""
    name = ", ".join(Path(p).name for p in paths)
    with command_turn(kind=kind, file_name=name, wait=wait, say=say) as turn:
        try:
            report = read()
        except ValueError:
            turn.forget()
            raise
        turn.done(
            failed=bool(report.failed), lines=report.summary_lines(), problems=report.problems, paths=paths
        )
    return report


def run_command(command, *, kind: str, paths: list, wait: datetime.timedelta, read, failed) -> None:
    """An import command's whole run: ``read`` in the imports' turn (``read_in_turn``),
    then its summary on stdout. A wrong option, no turn in time, or files not imported
    (``failed(report)``: their paths) end it with an error (exit status 1)."""
    from django.core.management import CommandError

    from emporter.catalogue.importer import not_imported

    try:
        report = read_in_turn(kind=kind, paths=paths, wait=wait, say=command.stderr.write, read=read)
    except (ValueError, ImportBusy) as exc:  # a wrong option, or no turn in time
        raise CommandError(str(exc)) from exc
    for line in report.summary_lines():
        command.stdout.write(line)
    if report.problems:
        command.stdout.write(_("%(count)s problems reported.") % {"count": len(report.problems)})
    if not_read := failed(report):
        raise CommandError(not_imported(not_read))


def _for_the_page(text: str) -> str:
    """The importers speak of the commands' options: on this page they are the form's
    fields (in the language the import is read in)."""
    from .forms import ImportForm

    fields = ImportForm.base_fields
    options = {
        "--take-over": fields["take_over"].label,
        "--set-pins": fields["set_pins"].label,
        "--expire-missing": fields["expire_missing"].label,
        "--replace-cards": fields["replace_cards"].label,
        "--date-format": fields["date_format"].label,
        "--source": fields["source"].label,
        "--encoding": fields["encoding"].label,
    }
    for option, label in options.items():
        quoted = f"«\u00a0{label}\u00a0»" if translation.get_language() == "fr" else f"“{label}”"
        text = text.replace(option, quoted)
    return text


def _forget_file(job: ImportJob) -> None:
    """The file is read (or will never be): deleted, with its folder. A patron file holds
    names, addresses and PINs."""
    if job.stored_as:
        shutil.rmtree((Path(settings.DATA_DIR) / job.stored_as).parent, ignore_errors=True)


def sweep(now=None) -> int:
    """Run by the scheduler: an import silent for STALLED_AFTER lost its worker and is
    marked interrupted (its file deleted: send it again); files no job waits for are
    deleted (a write that failed); problems older than KEEP_PROBLEMS are forgotten; then
    the next waiting import is queued. Returns how many were interrupted."""
    now = now or timezone.now()
    stalled = _interrupt_stalled(now)
    _forget_orphan_files()
    ImportJob.objects.filter(finished_at__lt=now - KEEP_PROBLEMS).exclude(problems=[]).update(problems=[])
    start_next()
    return stalled


def _interrupt_stalled(now) -> int:
    """Mark interrupted the running imports silent for STALLED_AFTER (their files deleted);
    returns how many."""
    silent = Q(heartbeat_at__lt=now - STALLED_AFTER) | Q(
        heartbeat_at__isnull=True, started_at__lt=now - STALLED_AFTER
    )
    stalled = list(ImportJob.objects.filter(silent, state=State.RUNNING))
    for job in stalled:
        _forget_file(job)
        ImportJob.objects.filter(pk=job.pk, state=State.RUNNING).update(
            state=State.INTERRUPTED, finished_at=now, stored_as=""
        )
    return len(stalled)


def _forget_orphan_files() -> None:
    waiting = {
        str(pk)
        for pk in ImportJob.objects.filter(state__in=[State.QUEUED, State.RUNNING]).values_list(
            "pk", flat=True
        )
    }
    # An hour old at least: a file being written belongs to a job not committed yet.
    written_before = time.time() - 3600
    if folder().is_dir():
        for child in folder().iterdir():
            if child.is_dir() and child.name not in waiting and child.stat().st_mtime < written_before:
                shutil.rmtree(child, ignore_errors=True)
