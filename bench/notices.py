"""Notices: one pass of the composer with a busy week behind it.

At 60,000 loans a day a network writes about 300,000 request events a day. The composer
runs every 15 seconds and must not read that history each time: it reads what is left to
tell through a partial index (``RequestEvent.to_tell``). This section lays down a week
of events already told (``BENCH_NOTICE_EVENTS``, default 2,000,000) in its own database
(``BENCH_NOTICE_DATABASE``, default emporter_bench_notices), adds a fresh morning's worth
of untold ones, and times ``compose_all`` with nothing left to tell and with them. The
reference is the database round trip (``SELECT 1``) measured in the same run.

It then sends those notices to a local SMTP server (aiosmtpd, as in the tests) as one
scheduler pass does (``outbox.send_due`` for ``tasks.SEND_SECONDS``), and says how long a
morning of 25,000 "ready" emails would take at that pace.
"""

import datetime
import logging
import os
import time

from django.db import connection
from django.utils import timezone

from bench import print_table, section, summary, time_ms
from bench.stats import database

# A pass with nothing new to tell (the steady state, every 15 seconds) must not grow
# with the history: well under the 15 seconds between passes, whatever the week held.
TARGET_MS = 1000


@section("notices")
def run(args) -> dict:
    events = int(os.environ.get("BENCH_NOTICE_EVENTS", 2_000_000))
    fresh = int(os.environ.get("BENCH_NOTICE_FRESH", 500))
    with database(os.environ.get("BENCH_NOTICE_DATABASE", "emporter_bench_notices")):
        built = _ensure_week(events)
        from emporter.holds.models import RequestEvent
        from emporter.notices import compose
        from emporter.notices.models import Notice

        now = timezone.now()
        compose.compose_all(now)
        idle = [time_ms(lambda: compose.compose_all(now)) for _ in range(args.repeat)]
        round_trip = [time_ms(_select_one) for _ in range(200)]
        _add_fresh(fresh)
        before = Notice.objects.count()
        start = time.perf_counter()
        compose.compose_all(timezone.now() + datetime.timedelta(minutes=5))  # past the basket delay
        busy = (time.perf_counter() - start) * 1000
        made = Notice.objects.count() - before
        total = RequestEvent.objects.count()
        sending = _send_pass()
    rows = [
        ["a pass with nothing to tell", *_cells(idle)],
        [
            f"a pass telling {fresh} new requests ({made} notices, {busy / max(made, 1):.1f} ms each)",
            round(busy, 1),
            round(busy, 1),
            round(busy, 1),
        ],
        ["(database round trip, SELECT 1)", *_cells(round_trip)],
    ]
    per_second = sending["sent"] / max(sending["seconds"], 1e-9)
    morning_minutes = MORNING / per_second / 60
    print_table(
        f"Notices: the composer over {total:,} request events of the last week"
        f" (target: a pass with nothing to tell < {TARGET_MS} ms)",
        ["pass", "p50 ms", "p95 ms", "max ms"],
        rows,
    )
    print(
        f"\nSending: {sending['sent']} notices in {sending['seconds']:.1f} s on one SMTP connection"
        f" ({per_second:.0f}/s): a morning of {MORNING:,} ready emails takes {morning_minutes:.0f} min"
        f" (one batch of 100 every 15 s, as before: {MORNING / 100 * 15 / 60:.0f} min at least)"
    )
    return {
        "events": total,
        "build_seconds": built,
        "idle_pass": summary(idle),
        "busy_pass_ms": round(busy, 1),
        "notices_made": made,
        "select_1_round_trip": summary(round_trip),
        "sent": sending["sent"],
        "send_seconds": round(sending["seconds"], 2),
        "sent_per_second": round(per_second, 1),
        "morning_minutes": round(morning_minutes, 1),
        "target_ms": TARGET_MS,
    }


MORNING = 25_000  # "ready" emails on the morning after a 60,000-loan day, give or take


def _send_pass() -> dict:
    """One scheduler pass's sending, to a local SMTP server that takes everything."""
    from django.test import override_settings

    from emporter.notices import outbox, tasks
    from tests.smtp import SmtpServer

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd says every command
    server = SmtpServer()
    server.start()
    try:
        with override_settings(MAILERS=server.mailers_setting()):
            start = time.perf_counter()
            sent = outbox.send_due(seconds=tasks.SEND_SECONDS)
            seconds = time.perf_counter() - start
    finally:
        server.stop()
    return {"sent": sent, "seconds": seconds}


def _cells(samples: list[float]) -> list:
    s = summary(samples)
    return [s["p50_ms"], s["p95_ms"], s["max_ms"]]


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


EVENTS_PER_NOTICE = 3  # a confirmation, a "ready" email: a few events each


def _ensure_week(events: int) -> float | None:
    """A week of events, all told already: linked, a few to a notice as in production
    (the outbox's queries are planned on that spread), ``to_tell`` false."""
    from emporter.holds.models import RequestEvent

    if RequestEvent.objects.count() >= events:
        return None
    from emporter.holds.services import place_request
    from emporter.notices.models import Notice
    from tests.conftest import make_branch, make_patron, make_record

    start = time.perf_counter()
    branch = make_branch(code="NTC", name="Notices")
    patron = make_patron(branch, card="NTC0000001")
    request, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    week = range(-(-events // EVENTS_PER_NOTICE))
    for first in range(0, len(week), 10_000):
        Notice.objects.bulk_create(
            Notice(patron=patron, kind="ready", state="sent", dedupe_key=f"bench:week:{n}")
            for n in week[first : first + 10_000]
        )
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO holds_requestevent
                 (request_id, at, from_status, to_status, reason, note, branch_id, to_tell)
               SELECT %s, now() - g * (interval '7 days' / %s), 'placed',
                      (ARRAY['ready', 'placed', 'collected', 'not_found', 'expired'])[1 + g %% 5],
                      '', '', %s, false
               FROM generate_series(1, %s) AS g""",
            [request.pk, events, branch.pk, events],
        )
        cursor.execute(
            """INSERT INTO notices_noticeevent (notice_id, event_id)
               SELECT n.id, e.id
               FROM (SELECT id, (row_number() OVER (ORDER BY id) - 1) / %s AS k
                     FROM holds_requestevent) e
               JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k
                     FROM notices_notice WHERE dedupe_key LIKE 'bench:week:%%') n ON n.k = e.k
               WHERE NOT EXISTS (SELECT 1 FROM notices_noticeevent x WHERE x.event_id = e.id)""",
            [EVENTS_PER_NOTICE],
        )
        cursor.execute("VACUUM ANALYZE holds_requestevent")
        cursor.execute("VACUUM ANALYZE notices_noticeevent")
        cursor.execute("VACUUM ANALYZE notices_notice")
    return round(time.perf_counter() - start, 1)


def _add_fresh(count: int) -> None:
    """This morning's placements by ``count`` patrons (one each), through the service.
    The patrons are written in bulk, without PINs: hashing them would take minutes."""
    from django.contrib.auth import get_user_model

    from emporter.holds.services import place_request
    from emporter.network.models import Branch
    from emporter.patrons.models import Patron
    from tests.conftest import make_record

    branch = Branch.objects.get(code="NTC")
    stamp = f"N{int(time.time()) % 100000:05d}"
    User = get_user_model()
    users = User.objects.bulk_create(User(username=f"{stamp}{n:05d}", password="!") for n in range(count))
    patrons = Patron.objects.bulk_create(
        Patron(
            user=user,
            card_number=user.username,
            first_name="Bench",
            last_name="Patron",
            email=f"{user.username}@example.org",
            home_branch=branch,
        )
        for user in users
    )
    for n, patron in enumerate(patrons):
        record = make_record(title=f"Bench {n}", copies=[branch])
        place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
