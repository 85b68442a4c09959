"""Screens opened all day read what they show, not the history behind them: at 60,000
loans a day the request events grow by some 300,000 rows a day and each branch gets a
pick list every morning. Checked on PostgreSQL's plans, with a history laid down in bulk."""

import json

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import selectors as desk
from emporter.holds.models import Request
from emporter.holds.services import place_request
from emporter.picking import selectors as picking
from emporter.picking import services as picking_services
from tests.conftest import make_record, unchecked_foreign_keys

EVENT_COLUMNS = "request_id, at, from_status, to_status, reason, note, copy_id, branch_id, to_tell"


def _plans(run) -> list[dict]:
    """The executed plan (EXPLAIN ANALYZE, as JSON) of every read ``run`` makes."""
    with CaptureQueriesContext(connection) as queries:
        run()
    plans = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            if not query["sql"].lstrip().upper().startswith("SELECT"):
                continue  # savepoints, settings; a write would be done twice
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query["sql"])
            plan = cursor.fetchone()[0]
            plans.append((plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"])
    return plans


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _rows_read(plans: list[dict], table: str) -> int:
    """Rows of ``table`` the plans read: those they kept and those a filter threw away."""
    return sum(
        (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get("Actual Loops", 1)
        for plan in plans
        for node in _nodes(plan)
        if node.get("Relation Name") == table
    )


def _past_requests(request, count: int) -> tuple[int, int]:
    """``count`` collected requests like ``request``, written in bulk: (first id, last id)."""
    columns = [f.column for f in Request._meta.concrete_fields if f.name != "id"]
    values = [
        {"status": "'collected'", "idempotency_key": "NULL"}.get(column, f'"{column}"') for column in columns
    ]
    with connection.cursor() as cursor, unchecked_foreign_keys(cursor):
        cursor.execute(
            f"INSERT INTO holds_request ({', '.join(columns)})"
            f" SELECT {', '.join(values)} FROM holds_request, generate_series(1, %s) WHERE id = %s"
            " RETURNING id",
            [count, request.pk],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return min(ids), max(ids)


def _event_history(branch, patron) -> None:
    """Months of events of past requests at the branch, and this morning's ordinary
    cancellations of requests whose copy was not pulled yet."""
    request, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    first, last = _past_requests(request, 20_000)
    spread = f"%s + g %% {last - first + 1}"
    with connection.cursor() as cursor, unchecked_foreign_keys(cursor):
        for rows, from_status, to_status, reason in [
            (250_000, "ready", "collected", "handover"),
            (10_000, "ready", "expired", "expired"),
            (5_000, "placed", "cancelled", "patron"),
            (5_000, "placed", "placed", "in_transit"),
        ]:
            cursor.execute(
                f"INSERT INTO holds_requestevent ({EVENT_COLUMNS})"
                f" SELECT {spread}, now() - (g %% 300 + 8) * interval '1 day', %s, %s, %s, '', %s, %s, false"
                " FROM generate_series(1, %s) g",
                [first, from_status, to_status, reason, request.copy_id, branch.pk, rows],
            )
        cursor.execute(
            f"INSERT INTO holds_requestevent ({EVENT_COLUMNS})"
            f" SELECT {spread}, now() - interval '1 hour', 'placed', 'cancelled', 'patron', '', %s, %s, false"
            " FROM generate_series(1, 20) g",
            [first, request.copy_id, branch.pk],
        )
        cursor.execute("ANALYZE holds_requestevent")


def test_the_hold_shelf_page_reads_the_last_days_not_the_event_history(postgres, patron, branch):
    _event_history(branch, patron)
    # A bag that expired a month ago is still on the shelf: the page must still show it.
    forgotten = make_record(copies=[branch]).copies.get()
    Copy.objects.filter(pk=forgotten.pk).update(status=CopyStatus.HOLD_SHELF)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO holds_requestevent ({EVENT_COLUMNS})"
            " SELECT request_id, now() - interval '30 days', 'ready', 'expired', 'expired', '', %s, %s, false"
            " FROM holds_requestevent ORDER BY id DESC LIMIT 1",
            [forgotten.pk, branch.pk],
        )
    shown = desk.back_to_shelves(branch=branch)
    assert forgotten.pk in {event.copy_id for event in shown}
    plans = _plans(lambda: desk.back_to_shelves(branch=branch))
    scans = [n for plan in plans for n in _nodes(plan) if n["Node Type"] == "Seq Scan"]
    assert [n for n in scans if n.get("Relation Name") == "holds_requestevent"] == []
    # Today's 20 cancellations, looked up by request for a transit: not the 270,000 events.
    assert _rows_read(plans, "holds_requestevent") < 1000


def _pick_history(patron, branch) -> None:
    """400 days of lists of 200 lines, all marked."""
    record = make_record(copies=[branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    today = timezone.localdate()
    with connection.cursor() as cursor, unchecked_foreign_keys(cursor):
        cursor.execute(
            "INSERT INTO picking_pickrun (branch_id, run_date, kind, cutoff, created_at)"
            " SELECT %s, %s::date - g, 'morning', now(), now() FROM generate_series(1, 400) g",
            [branch.pk, today],
        )
        cursor.execute(
            "INSERT INTO picking_pickline (run_id, request_id, copy_id, call_number_key, status, reason)"
            " SELECT r.id, %s, %s, '', 'found', '' FROM picking_pickrun r, generate_series(1, 200)",
            [request.pk, request.copy_id],
        )
        cursor.execute("ANALYZE picking_pickline; ANALYZE picking_pickrun")


def test_the_picking_home_counts_the_lines_of_the_runs_it_shows_only(postgres, patron, branch):
    _pick_history(patron, branch)
    today = timezone.localdate()
    todays, older = picking.runs_of(branch, today=today)
    assert len(older) == picking.OLDER_RUNS and all(run.total == 200 for run in older)
    plans = _plans(lambda: picking.runs_of(branch, today=today))
    # The ten runs shown have 2,000 lines; the other 390 runs' 78,000 are not read.
    assert _rows_read(plans, "picking_pickline") <= picking.OLDER_RUNS * 200


def test_the_withdrawn_lines_sweep_reads_the_lines_still_to_pull_only(postgres, patron, branch):
    """It runs every minute: through the pending lines' partial index, not the history."""
    _pick_history(patron, branch)
    plans = _plans(picking_services.settle_withdrawn_lines)
    assert _rows_read(plans, "picking_pickline") == 0
