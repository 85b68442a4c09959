"""Re-imports against what our circulation does meanwhile (review "reimport", sprint 15).

1. A record merged or renumbered in the library system: its copies move to the surviving
   record, and its requests follow them (holds.merges), keeping their place; they are
   neither closed as not found nor left behind when a copy comes back.
2. A picker's "not found" and a MARC batch on one title do not deadlock (PostgreSQL).
3. Two imports at once: the commands take the imports page's turn; two batches
   inserting the same records do not stop an import (PostgreSQL).
4. A transit a copies CSV reported is the source's, and a later file ends it.
5. A copy re-listed after ``--withdraw-missing`` gets back the status it had.
6. A copy relabelled at the source is found by Koha's itemnumber (952$9), not created
   again under its new barcode.
"""

import datetime
import io
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone, translation

from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.importer import import_marc
from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.holds.merges import MERGED, follow_merges
from emporter.holds.models import Request, RequestEvent, Status
from emporter.holds.services import close_waiting_without_copies, place_request, serve_waiting
from emporter.imports import services as imports
from emporter.imports.models import ImportJob, Kind, State
from emporter.picking import services as picking
from tests.conftest import backend_pid, make_branch, make_patron, wait_until_blocked

# --- Koha MARC21 exports (MARCXML, items in 952) --------------------------------------

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<collection xmlns="http://www.loc.gov/MARC21/slim">\n'


def item(barcode, branch="PDI", call="R LOU", due="", lost="", itemnumber=""):
    subs = [("a", branch), ("b", branch), ("o", call), ("p", barcode), ("y", "BK")]
    if itemnumber:  # Koha's own item id, in every Koha MARC export
        subs.append(("9", itemnumber))
    if due:
        subs.append(("q", due))
    if lost:
        subs.append(("1", lost))
    inner = "".join(f'<subfield code="{c}">{v}</subfield>' for c, v in subs)
    return f'<datafield tag="952" ind1=" " ind2=" ">{inner}</datafield>'


SIRSI = (
    '<datafield tag="949" ind1=" " ind2=" "><subfield code="a">R {n}</subfield>'
    '<subfield code="i">{b}</subfield><subfield code="m">PDI</subfield></datafield>'
)


def record(control, title, items=()):
    return (
        f'<record><leader>00000nam a2200000 a 4500</leader><controlfield tag="001">{control}</controlfield>'
        f'<datafield tag="245" ind1="0" ind2="0"><subfield code="a">{title}</subfield></datafield>'
        + "".join(items)
        + "</record>\n"
    )


def export(tmp_path: Path, *records, name="koha.xml") -> Path:
    path = tmp_path / name
    path.write_text(HEAD + "".join(records) + "</collection>\n")
    return path


def run(path, **kw):
    kw.setdefault("source", "koha")
    return import_marc([path], stdout=io.StringIO(), progress=False, **kw)


def command(path, *args, **kw):
    """The nightly cron's way: the command (which moves the requests of merged records).
    What it says is in English here."""
    err = io.StringIO()
    with translation.override("en"):
        call_command(
            "import_marc", str(path), "--source", "koha", *args, stdout=io.StringIO(), stderr=err, **kw
        )
    return err.getvalue()


def write(tmp_path, text, name="inventaire.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def csv(tmp_path, text, name="inventaire.csv"):
    return import_copies(write(tmp_path, text, name), stdout=io.StringIO())


# --- 1. a record merged at the source: its requests follow its copies ------------------


def waiting_for_old_record(tmp_path, patron, branch):
    """Night 1: record 100's only copy is on loan; the patron waits for it."""
    command(
        export(
            tmp_path,
            record("100", "Le loup", [item("B1", due="2030-01-01")]),
            record("200", "Le loup (doublon)", [item("B2", due="2030-01-01")]),
        )
    )
    old = Record.objects.get(source_key="koha:100")
    request, _ = place_request(patron=patron, record_id=old.pk, pickup_branch=branch)
    assert request.status == Status.WAITING
    return old, request


def test_a_waiting_request_follows_its_copies_to_the_record_they_were_merged_into(tmp_path, branch, patron):
    old, request = waiting_for_old_record(tmp_path, patron, branch)
    placed_on = request.created_at

    # The cataloguer merges 100 into 200: night 2 lists B1 and B2 on 200 only.
    out = command(
        export(
            tmp_path, record("200", "Le loup", [item("B1", due="2030-01-01"), item("B2", due="2030-01-01")])
        )
    )
    close_waiting_without_copies()

    new = Record.objects.get(source_key="koha:200")
    request.refresh_from_db()
    assert (request.status, request.record_id, request.created_at) == (Status.WAITING, new.pk, placed_on)
    old.refresh_from_db()
    assert old.merged_into_id == new.pk
    event = RequestEvent.objects.filter(request=request).last()
    assert (event.reason, event.from_status, event.to_status) == (MERGED, Status.WAITING, Status.WAITING)
    assert "koha:100" in event.note and "koha:200" in event.note
    assert "problem" not in out  # a move within the source is not a problem


def test_a_copy_back_on_the_shelf_serves_the_request_that_followed_it(tmp_path, branch, patron):
    command(export(tmp_path, record("100", "Le loup", [item("B1", due="2030-01-01")])))
    old = Record.objects.get(source_key="koha:100")
    request, _ = place_request(patron=patron, record_id=old.pk, pickup_branch=branch)

    # Night 2: 100 merged into 200, and B1 came back to the library.
    command(export(tmp_path, record("200", "Le loup", [item("B1")])))
    assert Copy.objects.get(barcode="B1").status == CopyStatus.ON_SHELF
    serve_waiting()

    request.refresh_from_db()
    assert (request.status, request.copy.barcode) == (Status.PLACED, "B1")


def test_the_older_request_keeps_its_place_in_the_surviving_records_queue(tmp_path, branch, patron):
    old, first = waiting_for_old_record(tmp_path, patron, branch)
    other = make_patron(branch, card="10000002")
    new = Record.objects.get(source_key="koha:200")
    second, _ = place_request(patron=other, record_id=new.pk, pickup_branch=branch)

    command(export(tmp_path, record("200", "Le loup", [item("B1"), item("B2", due="2030-01-01")])))
    serve_waiting()

    first.refresh_from_db()
    second.refresh_from_db()
    # B1 is back: it goes to the patron who asked first, whichever record they asked for.
    assert (first.status, first.copy.barcode, second.status) == (Status.PLACED, "B1", Status.WAITING)


def test_a_patron_who_requested_both_records_keeps_the_older_request_and_its_place(
    tmp_path, branch, patron, mailoutbox
):
    old, on_old = waiting_for_old_record(tmp_path, patron, branch)
    new = Record.objects.get(source_key="koha:200")
    on_new, _ = place_request(patron=patron, record_id=new.pk, pickup_branch=branch)

    command(
        export(
            tmp_path, record("200", "Le loup", [item("B1", due="2030-01-01"), item("B2", due="2030-01-01")])
        )
    )
    close_waiting_without_copies()

    on_old.refresh_from_db()
    on_new.refresh_from_db()
    # Both waiting: the one asked first keeps its place (moved), the later one goes.
    assert (on_old.status, on_old.record_id) == (Status.WAITING, new.pk)
    assert (on_new.status, on_new.record_id) == (Status.CANCELLED, new.pk)
    closing = RequestEvent.objects.filter(request=on_new, to_status=Status.CANCELLED).get()
    assert closing.reason == MERGED  # not "not found", and no notice says so
    from emporter.notices.tasks import run_outbox

    run_outbox()
    assert not [m for m in mailoutbox if "Le loup" in m.body and "annul" in m.body.lower()]


def test_a_file_read_from_the_imports_page_moves_the_requests_too(tmp_path, branch, patron, settings):
    old, request = waiting_for_old_record(tmp_path, patron, branch)
    settings.DATA_DIR = tmp_path
    stored = Path("imports") / "merge" / "koha.xml"
    (tmp_path / stored).parent.mkdir(parents=True)
    (tmp_path / stored).write_text(
        export(tmp_path, record("200", "Le loup", [item("B1", due="2030-01-01")])).read_text()
    )
    job = ImportJob.objects.create(
        kind=Kind.MARC, file_name="koha.xml", stored_as=str(stored), options={"source": "koha"}
    )

    assert imports.run(job.pk) == State.DONE

    request.refresh_from_db()
    assert request.record.source_key == "koha:200"


def test_without_the_requests_side_the_scheduler_job_moves_them(tmp_path, branch, patron):
    old, request = waiting_for_old_record(tmp_path, patron, branch)
    # import_marc called without on_merge (a script of the library's own): the record is
    # marked, and the job moves its requests.
    report = run(export(tmp_path, record("200", "Le loup", [item("B1", due="2030-01-01")])))
    assert report.records_merged == 1
    with translation.override("en"):
        assert "1 record has no copy left" in "\n".join(report.summary_lines())
    new = Record.objects.get(source_key="koha:200")
    assert Record.objects.get(pk=old.pk).merged_into_id == new.pk

    assert follow_merges() == 1
    request.refresh_from_db()
    assert (request.status, request.record_id) == (Status.WAITING, new.pk)
    assert follow_merges() == 0


def test_the_closing_sweep_leaves_a_merged_records_requests_to_the_job(tmp_path, branch, patron):
    old, request = waiting_for_old_record(tmp_path, patron, branch)
    run(export(tmp_path, record("200", "Le loup", [item("B1", due="2030-01-01")])))  # no on_merge

    close_waiting_without_copies()  # the sweep passes before the job

    request.refresh_from_db()
    assert request.status == Status.WAITING


def test_the_merge_job_runs_before_the_sweeps_that_serve_or_close_waiting_requests():
    from emporter.jobs.schedule import jobs

    names = [job.name for job in jobs()]
    merges = names.index("move requests of records merged at the source")
    assert merges < names.index("serve waiting requests")
    assert merges < names.index("close waiting requests no copy can serve")


def test_a_record_that_keeps_a_copy_keeps_its_requests(tmp_path, branch, patron):
    command(
        export(
            tmp_path, record("100", "Le loup", [item("B1", due="2030-01-01"), item("B3", due="2030-01-01")])
        )
    )
    old = Record.objects.get(source_key="koha:100")
    request, _ = place_request(patron=patron, record_id=old.pk, pickup_branch=branch)

    # One copy catalogued under another record (another edition): no merge.
    command(
        export(
            tmp_path,
            record("100", "Le loup", [item("B3", due="2030-01-01")]),
            record("300", "Le loup, poche", [item("B1", due="2030-01-01")]),
        )
    )

    request.refresh_from_db()
    assert request.record_id == old.pk and Record.objects.get(pk=old.pk).merged_into_id is None


def test_a_merged_record_given_copies_again_is_merged_into_nothing(tmp_path, branch):
    command(export(tmp_path, record("100", "Le loup", [item("B1")])))
    command(export(tmp_path, record("200", "Le loup", [item("B1")])))
    old = Record.objects.get(source_key="koha:100")
    assert old.merged_into_id is not None

    command(export(tmp_path, record("100", "Le loup", [item("B9")]), record("200", "Le loup", [item("B1")])))

    old.refresh_from_db()
    assert old.merged_into_id is None


def test_the_requests_follow_a_chain_of_merges(tmp_path, branch, patron):
    run(export(tmp_path, record("100", "Le loup", [item("B1", due="2030-01-01")])))
    request, _ = place_request(
        patron=patron, record_id=Record.objects.get(source_key="koha:100").pk, pickup_branch=branch
    )
    run(export(tmp_path, record("200", "Le loup", [item("B1", due="2030-01-01")])))  # no on_merge
    run(export(tmp_path, record("300", "Le loup", [item("B1", due="2030-01-01")])))

    follow_merges()

    request.refresh_from_db()
    assert request.record.source_key == "koha:300"


def test_a_copies_csv_moving_a_records_last_copy_moves_its_requests(tmp_path, branch, patron):
    command(
        export(tmp_path, record("100", "Le loup", [item("B1", due="2030-01-01")]), record("200", "Le loup"))
    )
    old = Record.objects.get(source_key="koha:100")
    request, _ = place_request(patron=patron, record_id=old.pk, pickup_branch=branch)

    call_command(
        "import_copies",
        str(write(tmp_path, "barcode;record\nB1;koha:200\n")),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )

    request.refresh_from_db()
    assert request.record.source_key == "koha:200"


# --- 2. a picker's "not found" beside a MARC batch of the title (PostgreSQL) -----------


@pytest.mark.django_db(transaction=True)
def test_a_picker_not_found_and_an_import_of_the_title_do_not_deadlock(postgres, tmp_path):
    """The picker's transaction marks the copy missing, which locks its record, then moves
    the request to another copy of the title, waiting for it if someone holds it. The
    batch used to hold that copy while waiting for the record: PostgreSQL broke the circle
    by failing the picker's tap or the import. Now a batch waits for records holding no
    copy, and never waits for a copy while holding records."""
    branch = make_branch()
    patron = make_patron(branch)
    run(export(tmp_path, record("1", "Le loup", [item("B1"), item("B2")])))
    loup = Record.objects.get(source_key="koha:1")
    request, _ = place_request(patron=patron, record_id=loup.pk, pickup_branch=branch)
    line = picking.build_run(branch=branch, kind="late").lines.get()
    assert line.copy.barcode == "B1"
    # Night 2: the title corrected; B2 listed (B1, in the picker's hands, in another batch).
    corrected = export(tmp_path, record("1", "Le loup des steppes", [item("B2")]), name="nuit2.xml")
    errors, picker_pid, import_pid = [], [], []

    def picker():
        try:
            picker_pid.append(backend_pid())
            picking.mark_not_found(line=line)
        except Exception as error:
            errors.append(("picker", error))
        finally:
            connection.close()

    def nightly():
        try:
            import_pid.append(backend_pid())
            report = run(corrected, batch_size=1)
            assert not report.problems, report.problems
        except Exception as error:
            errors.append(("import", error))
        finally:
            connection.close()

    threads = [threading.Thread(target=picker), threading.Thread(target=nightly)]
    with transaction.atomic():  # a third party holds the record: both queue behind it
        list(Record.objects.select_for_update().filter(pk=loup.pk).values_list("pk"))
        threads[0].start()
        wait_until_blocked(picker_pid, 30)
        threads[1].start()
        wait_until_blocked(import_pid, 30)
    for t in threads:
        t.join(60)

    assert not errors, errors
    request.refresh_from_db()
    assert request.copy.barcode == "B2"
    assert Copy.objects.get(barcode="B1").status == CopyStatus.MISSING
    assert Record.objects.get(pk=loup.pk).title == "Le loup des steppes"


@pytest.mark.django_db(transaction=True)
def test_a_copy_someone_holds_delays_a_batch_it_does_not_fail_it(postgres, tmp_path):
    make_branch()
    run(export(tmp_path, record("1", "Le loup", [item("B1")])))
    ready, errors, reports = threading.Event(), [], []

    def nightly():
        try:
            assert ready.wait(10)
            reports.append(run(export(tmp_path, record("1", "Le loup", [item("B1", lost="1")]))))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=nightly)
    with transaction.atomic():  # an edit of the copy, a second long
        list(Copy.objects.select_for_update().filter(barcode="B1").values_list("pk"))
        thread.start()
        ready.set()
        import time

        time.sleep(1)
    thread.join(60)

    assert not errors and not reports[0].problems, (errors, reports and reports[0].problems)
    assert Copy.objects.get(barcode="B1").status == CopyStatus.MISSING


# --- 3. two imports at once ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_new_export_at_once_both_finish(postgres, tmp_path):
    make_branch()
    records = [record(str(n), f"Titre {n}", [item(f"B{n:05d}")]) for n in range(300)]
    first = export(tmp_path, *records, name="a.xml")
    second = export(tmp_path, *records, name="b.xml")
    barrier = threading.Barrier(2)
    errors, reports = [], []

    def worker(path):
        try:
            barrier.wait()
            reports.append(run(path, batch_size=50))
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(p,)) for p in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert not errors, f"an import stopped on {errors!r}"
    assert Record.objects.count() == 300 and Copy.objects.count() == 300
    assert all(not r.problems and r.records_imported == 300 for r in reports)


def running_import(**kw):
    now = timezone.now()
    fields = {"kind": Kind.MARC, "file_name": "catalogue.mrc", "state": State.RUNNING, "started_at": now}
    return ImportJob.objects.create(**(fields | {"heartbeat_at": now} | kw))


def test_an_import_command_gives_up_when_another_import_is_still_being_read(tmp_path, branch):
    running_import()

    with pytest.raises(CommandError, match="Another import is still being read.*catalogue.mrc"):
        command(export(tmp_path, record("1", "Le loup", [item("B1")])), "--wait", "0")

    assert not Record.objects.exists()


def test_an_import_command_waits_for_the_import_being_read(tmp_path, branch, monkeypatch):
    other = running_import()

    def the_other_ends(seconds):  # while the command waits, the page's import ends
        ImportJob.objects.filter(pk=other.pk).update(state=State.DONE, finished_at=timezone.now())

    monkeypatch.setattr(imports.time, "sleep", the_other_ends)
    said = command(export(tmp_path, record("1", "Le loup", [item("B1")])))

    assert "Another import is being read (catalogue.mrc" in said and "waits for its end" in said
    assert Copy.objects.get().barcode == "B1"
    mine = ImportJob.objects.exclude(pk=other.pk).get()
    assert (mine.state, mine.kind, mine.file_name, mine.options["command"]) == (
        State.DONE,
        Kind.MARC,
        "koha.xml",
        True,
    )
    assert "records 1 created" in mine.summary


def test_an_import_whose_worker_died_does_not_hold_the_command(tmp_path, branch):
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    dead = running_import(started_at=long_ago, heartbeat_at=long_ago)

    command(export(tmp_path, record("1", "Le loup", [item("B1")])), "--wait", "0")

    dead.refresh_from_db()
    assert dead.state == State.INTERRUPTED and Copy.objects.exists()


def test_a_file_sent_from_the_page_waits_for_the_command(tmp_path, branch, monkeypatch):
    queued = []
    monkeypatch.setattr(
        imports, "start_next", lambda: queued.append(ImportJob.objects.filter(state=State.RUNNING).count())
    )

    def import_marc_seeing_the_page(*args, **kw):
        # A file sent meanwhile: the worker cannot claim its turn.
        job = ImportJob.objects.create(kind=Kind.MARC, file_name="page.mrc")
        assert imports._claim(job.pk) is False
        return import_marc(*args, **kw)

    monkeypatch.setattr(
        "emporter.catalogue.management.commands.import_marc.import_marc", import_marc_seeing_the_page
    )
    command(export(tmp_path, record("1", "Le loup", [item("B1")])))

    assert ImportJob.objects.get(file_name="page.mrc").state == State.QUEUED
    assert queued == [0]  # queued for the worker once the command's turn ended


def test_the_imports_page_lists_a_commands_run(tmp_path, branch, client):
    from django.contrib.auth import get_user_model

    from emporter.patrons.models import Role, StaffRole

    command(export(tmp_path, record("1", "Le loup", [item("B1")])))
    user = get_user_model().objects.create_user(username="nadia", password="x")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    client.force_login(user)

    with translation.override("en"):
        page = client.get(reverse("imports:index"))

    assert "koha.xml" in page.text and "command line" in page.text


def test_a_wrong_option_leaves_no_job_behind(tmp_path, branch):
    with pytest.raises(CommandError, match="No branch"):
        command(export(tmp_path, record("1", "Le loup", [item("B1")])), "--default-branch", "NOPE")
    assert not ImportJob.objects.exists()


# --- 4. a transit the source reported ------------------------------------------------------

COPIES = "barcode;record;call_number;branch;status\n"


def test_a_transfer_the_source_reported_ends_when_the_source_says_so(tmp_path, branch):
    Record.objects.create(source_key="koha:1", title="Le loup")
    csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;on_shelf\n")
    # Night 2: the library system moves it between two of its branches.
    csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;in_transit\n")
    assert Copy.objects.get().status == CopyStatus.IN_TRANSIT
    csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;in_transit\n")  # still under way: no news

    # Night 4: arrived, back on the shelf at the source.
    report = csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;on_shelf\n")

    assert Copy.objects.get().status == CopyStatus.ON_SHELF, [str(p) for p in report.problems]


def test_a_new_copy_the_source_says_is_in_transit_arrives_when_it_says_so(tmp_path, branch):
    Record.objects.create(source_key="koha:1", title="Le loup")
    csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;in_transit\n")
    csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;on_shelf\n")
    assert Copy.objects.get().status == CopyStatus.ON_SHELF


def test_a_marc_export_ends_a_transfer_a_csv_reported(tmp_path, branch):
    run(export(tmp_path, record("1", "Le loup", [item("J001")])))
    csv(tmp_path, "barcode;status\nJ001;in_transit\n")
    assert Copy.objects.get().status == CopyStatus.IN_TRANSIT
    # A MARC import changing something else meanwhile: still the source's transit.
    run(export(tmp_path, record("1", "Le loup", [item("J001", call="R LOU 2")])))
    assert Copy.objects.get().status == CopyStatus.IN_TRANSIT

    # The copy is listed as checked out at the source, then back: MARC news.
    run(export(tmp_path, record("1", "Le loup", [item("J001", call="R LOU 2", due="2030-01-01")])))
    assert Copy.objects.get().status == CopyStatus.ON_LOAN
    report = run(export(tmp_path, record("1", "Le loup", [item("J001", call="R LOU 2")])))
    assert Copy.objects.get().status == CopyStatus.ON_SHELF, [str(p) for p in report.problems]


def test_a_transit_of_ours_is_kept_whatever_the_source_said_before(tmp_path, branch):
    Record.objects.create(source_key="koha:1", title="Le loup")
    csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;in_transit\n")
    # Our circulation puts it in transit since (as every one of its writes: updated_at).
    Copy.objects.filter(barcode="J001").update(status=CopyStatus.IN_TRANSIT, updated_at=timezone.now())

    report = csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;on_shelf\n")

    assert Copy.objects.get().status == CopyStatus.IN_TRANSIT
    assert [p.code for p in report.problems] == ["status_kept"]


def test_a_copy_the_source_lent_returned_at_another_of_our_libraries_stays_in_our_van(
    tmp_path, branch, other_branch
):
    from emporter.desk.services import check_in

    Record.objects.create(source_key="koha:1", title="Le loup")
    csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;on_loan\n")
    check_in(barcode="J001", branch=other_branch)  # in transit home, in our van
    assert Copy.objects.get().status == CopyStatus.IN_TRANSIT

    csv(tmp_path, COPIES + "J001;koha:1;R LOU;PDI;on_shelf\n")

    assert Copy.objects.get().status == CopyStatus.IN_TRANSIT


# --- 5. a copy listed again after --withdraw-missing -----------------------------------------


def catalogue(with_b0=True, sirsi=False):
    """Twelve records of one copy each; B0 left out when ``with_b0`` is False."""
    records = []
    for n in range(12):
        if n == 0 and not with_b0:
            continue
        copy = SIRSI.format(n=n, b=f"B{n}") if sirsi else item(f"B{n}", call=f"R {n}")
        records.append(record(str(n), f"Titre {n}", [copy]))
    return records


def test_a_copy_our_picker_marked_missing_stays_missing_after_an_export_left_it_out(tmp_path, branch):
    run(export(tmp_path, *catalogue()), withdraw_missing=True)
    Copy.objects.filter(barcode="B0").update(status=CopyStatus.MISSING)  # our picker: not on its shelf
    run(export(tmp_path, *catalogue()), withdraw_missing=True)
    assert Copy.objects.get(barcode="B0").status == CopyStatus.MISSING

    # One night its record is being edited: left out, withdrawn; listed again the next.
    run(export(tmp_path, *catalogue(with_b0=False)), withdraw_missing=True)
    assert Copy.objects.get(barcode="B0").status == CopyStatus.WITHDRAWN
    report = run(export(tmp_path, *catalogue()), withdraw_missing=True)

    b0 = Copy.objects.get(barcode="B0")
    assert (b0.status, "absent" in b0.source_codes, "absent_status" in b0.source_codes) == (
        CopyStatus.MISSING,
        False,
        False,
    )
    assert report.copies_restored == 1


def test_a_copy_listed_again_with_news_takes_the_files_status(tmp_path, branch):
    run(export(tmp_path, *catalogue()), withdraw_missing=True)
    Copy.objects.filter(barcode="B0").update(status=CopyStatus.MISSING)
    run(export(tmp_path, *catalogue(with_b0=False)), withdraw_missing=True)

    # Listed again as checked out: the source has news of it.
    records = catalogue()
    records[0] = record("0", "Titre 0", [item("B0", call="R 0", due="2030-01-01")])
    run(export(tmp_path, *records), withdraw_missing=True)

    assert Copy.objects.get(barcode="B0").status == CopyStatus.ON_LOAN


def test_a_copy_lent_at_the_source_is_not_shelved_by_an_export_that_left_it_out(tmp_path, branch):
    run(export(tmp_path, *catalogue(sirsi=True)), withdraw_missing=True)
    inventory = write(tmp_path, "barcode;status\nB0;on_loan\n", name="statuts.csv")
    import_copies(inventory, stdout=io.StringIO())
    assert Copy.objects.get(barcode="B0").status == CopyStatus.ON_LOAN

    run(export(tmp_path, *catalogue(with_b0=False, sirsi=True)), withdraw_missing=True)
    run(export(tmp_path, *catalogue(sirsi=True)), withdraw_missing=True)
    import_copies(inventory, stdout=io.StringIO())  # the nightly inventory: still on loan

    assert Copy.objects.get(barcode="B0").status == CopyStatus.ON_LOAN


def test_a_copies_csv_listing_it_again_without_news_restores_the_status_it_had(tmp_path, branch):
    run(export(tmp_path, *catalogue(sirsi=True)), withdraw_missing=True)
    inventory = write(tmp_path, "barcode;status\nB0;on_loan\n", name="statuts.csv")
    import_copies(inventory, stdout=io.StringIO())
    run(export(tmp_path, *catalogue(with_b0=False, sirsi=True)), withdraw_missing=True)
    assert Copy.objects.get(barcode="B0").status == CopyStatus.WITHDRAWN

    import_copies(inventory, stdout=io.StringIO())

    b0 = Copy.objects.get(barcode="B0")
    assert (b0.status, "absent" in b0.source_codes) == (CopyStatus.ON_LOAN, False)


def test_a_copy_withdrawn_before_its_status_was_noted_comes_back_as_before(tmp_path, branch):
    run(export(tmp_path, *catalogue()))
    b0 = Copy.objects.get(barcode="B0")
    # Withdrawn by an import of the previous version: the mark alone.
    Copy.objects.filter(pk=b0.pk).update(
        status=CopyStatus.WITHDRAWN, source_codes={**b0.source_codes, "absent": True}
    )

    run(export(tmp_path, *catalogue()))

    assert Copy.objects.get(barcode="B0").status == CopyStatus.ON_SHELF


# --- 6. a copy relabelled at the source ----------------------------------------------------


def others(n=12):
    return [record(str(10 + k), f"Titre {k}", [item(f"X{k}", itemnumber=str(1000 + k))]) for k in range(n)]


def test_a_relabelled_copy_in_a_bag_is_not_offered_again_under_its_new_barcode(tmp_path, branch, patron):
    run(export(tmp_path, record("1", "Le loup", [item("B1", itemnumber="77")]), *others()))
    loup = Record.objects.get(source_key="koha:1")
    request, _ = place_request(patron=patron, record_id=loup.pk, pickup_branch=branch)
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    request.refresh_from_db()
    assert request.status == Status.READY

    # Night 2: item 77 relabelled B1 -> N1 (a torn label replaced).
    report = run(
        export(tmp_path, record("1", "Le loup", [item("N1", itemnumber="77")]), *others()),
        withdraw_missing=True,
    )

    copy = Copy.objects.get(record=loup)  # one copy, not two
    # The label on the document in the bag is the new one: the door scans that.
    assert (copy.pk, copy.barcode, copy.status) == (request.copy_id, "N1", CopyStatus.HOLD_SHELF)
    assert report.copies_created == 0
    second, _ = place_request(
        patron=make_patron(branch, card="10000002"), record_id=loup.pk, pickup_branch=branch
    )
    assert second.status == Status.WAITING


def test_a_relabelled_copy_on_the_shelf_keeps_its_history(tmp_path, branch):
    run(export(tmp_path, record("1", "Le loup", [item("B1", itemnumber="77")])))
    before = Copy.objects.get()

    run(export(tmp_path, record("1", "Le loup", [item("N1", itemnumber="77")])))

    after = Copy.objects.get()
    assert (after.pk, after.barcode, after.source_item) == (before.pk, "N1", "koha:77")


def test_an_itemnumber_two_items_share_finds_neither(tmp_path, branch):
    run(export(tmp_path, record("1", "Le loup", [item("B1", itemnumber="77"), item("B2", itemnumber="77")])))

    run(export(tmp_path, record("1", "Le loup", [item("N1", itemnumber="77")])))

    assert sorted(Copy.objects.values_list("barcode", flat=True)) == ["B1", "B2", "N1"]


def test_labels_swapped_between_two_items_follow_their_barcodes(tmp_path, branch):
    run(export(tmp_path, record("1", "Le loup", [item("B1", itemnumber="77"), item("B2", itemnumber="78")])))
    ids = dict(Copy.objects.values_list("barcode", "pk"))

    run(export(tmp_path, record("1", "Le loup", [item("B1", itemnumber="78"), item("B2", itemnumber="77")])))

    assert dict(Copy.objects.values_list("barcode", "pk")) == ids


def test_an_export_without_itemnumbers_keys_copies_by_barcode_alone(tmp_path, branch):
    run(export(tmp_path, *catalogue(sirsi=True)))
    assert not Copy.objects.filter(source_item__isnull=False).exists()


# --- merged-request bookkeeping ------------------------------------------------------------


def test_requests_of_records_nobody_merged_are_not_read(
    tmp_path, branch, patron, django_assert_max_num_queries
):
    run(export(tmp_path, record("1", "Le loup", [item("B1", due="2030-01-01")])))
    place_request(patron=patron, record_id=Record.objects.get().pk, pickup_branch=branch)
    with django_assert_max_num_queries(1):
        assert follow_merges() == 0
    assert Request.objects.get().status == Status.WAITING


# --- the second read: merges decided with the whole run, the first asker keeps their place ---


def test_a_patron_who_waited_first_on_the_merged_record_keeps_their_place(tmp_path, branch, patron):
    """P asked for 100 first; Q then asked for 200; P asked for 200 too. The cataloguer
    merges 100 into 200. P's older request is cancelled and the newer kept: P, who waited
    longest for this very title, is now behind Q, and the copy back on the shelf goes to Q."""
    command(
        export(
            tmp_path,
            record("100", "Le loup", [item("B1", due="2030-01-01")]),
            record("200", "Le loup (doublon)", [item("B2", due="2030-01-01")]),
        )
    )
    old = Record.objects.get(source_key="koha:100")
    new = Record.objects.get(source_key="koha:200")
    on_old, _ = place_request(patron=patron, record_id=old.pk, pickup_branch=branch)
    q = make_patron(branch, card="10000002")
    q_request, _ = place_request(patron=q, record_id=new.pk, pickup_branch=branch)
    on_new, _ = place_request(patron=patron, record_id=new.pk, pickup_branch=branch)
    assert on_old.created_at < q_request.created_at < on_new.created_at

    # Merged; B1 back on the shelf.
    command(export(tmp_path, record("200", "Le loup", [item("B1"), item("B2", due="2030-01-01")])))
    serve_waiting()

    for r in (on_old, on_new, q_request):
        r.refresh_from_db()
    served = [r for r in (on_old, on_new) if r.status == Status.PLACED]
    # The patron who asked first for this title gets the copy.
    assert served and q_request.status == Status.WAITING, (
        f"P's requests: {on_old.status}/{on_new.status}, Q's: {q_request.status}"
    )


def waiting_for_tome_one(tmp_path, patron, branch):
    """Night 1: tome 1's only item is on loan, and the patron waits for it; tome 2 has none."""
    command(
        export(
            tmp_path,
            record("100", "Le loup, tome 1", [item("B1", due="2030-01-01")]),
            record("300", "Le loup, tome 2"),
        )
    )
    old = Record.objects.get(source_key="koha:100")
    request, _ = place_request(patron=patron, record_id=old.pk, pickup_branch=branch)
    return old, request


def test_a_record_the_export_still_lists_is_not_merged_into_the_record_its_copy_went_to(
    tmp_path, branch, patron
):
    """The cataloguer re-attaches 100's only item to 300 (a wrongly attached item, Koha's
    'Attach item'): record 100 is still in the export, without items. It was neither
    merged nor renumbered, yet its patron's request is moved to another title (300), with
    no notice."""
    old, request = waiting_for_tome_one(tmp_path, patron, branch)

    command(
        export(
            tmp_path,
            record("100", "Le loup, tome 1"),  # still in the library system
            record("300", "Le loup, tome 2", [item("B1", due="2030-01-01")]),
        )
    )

    request.refresh_from_db()
    old.refresh_from_db()
    assert request.record_id == old.pk, "the patron now waits for another title (tome 2)"
    assert old.merged_into_id is None


def test_a_record_listed_after_the_batch_that_took_its_copy_is_not_merged(tmp_path, branch, patron):
    """The same, the record listed further on in the file than the one its item went to
    (batches of one): the merge is decided at the end of the run, not in the batch."""
    old, request = waiting_for_tome_one(tmp_path, patron, branch)

    command(
        export(
            tmp_path,
            record("300", "Le loup, tome 2", [item("B1", due="2030-01-01")]),
            record("100", "Le loup, tome 1"),  # after, in another batch
        ),
        "--batch-size",
        "1",
    )

    request.refresh_from_db()
    old.refresh_from_db()
    assert request.record_id == old.pk and old.merged_into_id is None


def test_a_command_line_import_keeps_the_file_name_not_its_path_on_the_server(tmp_path, branch):
    from emporter.imports.models import ImportJob

    path = export(tmp_path, record("1", "Le loup", [item("B1")]))
    command(path)
    job = ImportJob.objects.get()
    assert str(tmp_path) not in job.summary and path.name in job.summary


def test_a_path_typed_with_a_double_slash_is_not_kept_on_the_imports_page(tmp_path, branch):
    from emporter.imports.models import ImportJob

    path = export(
        tmp_path, record("100", "Le loup", [item("B1", branch="XXX")])
    )  # an unknown branch: a problem
    typed = str(path).replace(str(tmp_path), str(tmp_path) + "/")  # "$DIR/" + "koha.xml"
    assert "//" in typed
    command(typed)

    job = ImportJob.objects.get()
    kept = job.summary + "\n".join(p["where"] + " " + p["message"] for p in job.problems)
    assert job.problems or "koha" in job.summary
    assert str(tmp_path) not in kept, kept


def test_a_record_a_later_row_gives_a_copy_keeps_its_requests(tmp_path, branch, patron):
    """The copies CSV decides its merges at the end of the file too."""
    from emporter.catalogue.csv_import import import_copies
    from emporter.holds.merges import follow

    command(
        export(
            tmp_path,
            record("100", "Le loup", [item("B1", due="2030-01-01")]),
            record("200", "Le loup, poche"),
        )
    )
    old = Record.objects.get(source_key="koha:100")
    request, _ = place_request(patron=patron, record_id=old.pk, pickup_branch=branch)
    assert request.status == Status.WAITING

    # The inventory: B1 re-attached to 200 (a wrongly attached item), and a new copy B9
    # of 100 further down the file (another batch: 500 rows each by default).
    path = write(tmp_path, "barcode;record\nB1;koha:200\nB9;koha:100\n")
    import_copies(path, default_branch="PDI", batch_size=1, on_merge=follow, stdout=io.StringIO())

    old.refresh_from_db()
    assert old.merged_into_id is None  # 100 has a copy: not merged
    request.refresh_from_db()
    assert request.record_id == old.pk, "moved to koha:200 although the file lists a copy of koha:100"
