"""Handover at the door: server time of "scan card → bag shown" and "hand over 8 documents"
with 100,000 ready requests in the database (FOLIO's check-out is 0.9–1 s end to end).

Both go through Django's test client in-process: URL routing, session and auth
middleware, the staff role check, the view, the desk service and the template. "Scan" is
a GET of the door screen for a patron with a bag of 8; "hand over" is the POST of its
form (8 ticked documents, a fresh nonce), i.e. 8 loans, 8 request events, the bag closed
and the receipt redirect.

The data live in their own database (``BENCH_DOOR_DATABASE``, default
``emporter_bench_door``) so the other sections' numbers are not disturbed; they are
built once with INSERT … SELECT (a few seconds) and reset to "all ready" before each
run, so every run measures the same 100,000 ready requests.
"""

import datetime
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from bench import print_table, section, summary, time_ms
from emporter.holds.models import Request, Status
from emporter.network.models import Branch, OpeningHours, ServiceMode
from emporter.patrons.models import Role, StaffRole

TARGET_P95_MS = 50
DOCS_PER_BAG = 8
BRANCHES = 16
RECORDS = 10_000
PREFIX = "BD"  # card numbers BD000000…, copy barcodes BDC0000000…


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    # CPU time of this (the Django) process: what the request costs the app server
    # whatever else the machine is doing; the database's own time is in ``wall`` only.
    cpu: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)

    def time(self, call, *, count_queries: bool = False) -> None:
        with CaptureQueriesContext(connection) if count_queries else nullcontext() as captured:
            cpu = time.process_time()
            self.wall.append(time_ms(call))
            self.cpu.append((time.process_time() - cpu) * 1000)
        if count_queries:
            self.queries.append(len(captured))


def _select_one() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


@section("handover")
def run(args) -> dict:
    ready = int(os.environ.get("BENCH_DOOR_READY", 100_000))
    iterations = int(os.environ.get("BENCH_DOOR_ITERATIONS", 200))
    with door_database(os.environ.get("BENCH_DOOR_DATABASE", "emporter_bench_door")):
        built = ensure_data(ready)
        reset()
        total_ready = Request.objects.filter(status=Status.READY).count()
        client = Client(HTTP_HOST="localhost")
        client.force_login(door_user())
        cards = random.Random(6).sample(range(ready // DOCS_PER_BAG), 2 * iterations + 2)
        # One untimed round of each first: warms the caches and counts the queries.
        queries = {
            "scan": measure_scans(client, cards[-1:], count_queries=True).queries[0],
            "hand_over": measure_handovers(client, cards[-2:-1], count_queries=True).queries[0],
        }
        round_trip = [time_ms(_select_one) for _ in range(200)]
        load = os.getloadavg()[0]
        scan = measure_scans(client, cards[:iterations])
        handover = measure_handovers(client, cards[iterations : 2 * iterations])
        reset()
    rows = [
        ["scan card → bag shown", queries["scan"], *_cells(scan)],
        [f"hand over {DOCS_PER_BAG} documents", queries["hand_over"], *_cells(handover)],
        ["(database round trip, SELECT 1)", 1, *_cells(Samples(wall=round_trip)), "", "", ""],
    ]
    print_table(
        f"Handover at the door ({total_ready:,} ready requests, {iterations} iterations each,"
        f" target p95 < {TARGET_P95_MS} ms; load average {load:.1f} on {os.cpu_count()} CPUs)",
        ["step", "queries", "p50 ms", "p95 ms", "max ms", "app CPU p50", "app CPU p95", "ok"],
        rows,
    )
    return {
        "ready_requests": total_ready,
        "build_seconds": built,
        "target_p95_ms": TARGET_P95_MS,
        "load_average_1min": round(load, 2),
        "cpus": os.cpu_count(),
        "scan_card_to_bag": _result(scan, queries["scan"]),
        "hand_over_8": _result(handover, queries["hand_over"]),
        "select_1_round_trip": summary(round_trip),
    }


def _result(samples: Samples, queries: int) -> dict:
    return summary(samples.wall) | {"queries": queries, "app_cpu": summary(samples.cpu)}


def _cells(samples: Samples) -> list:
    wall = summary(samples.wall)
    cells = [wall["p50_ms"], wall["p95_ms"], wall["max_ms"]]
    if not samples.cpu:
        return cells
    cpu = summary(samples.cpu)
    return [*cells, cpu["p50_ms"], cpu["p95_ms"], "yes" if wall["p95_ms"] < TARGET_P95_MS else "NO"]


class door_database:
    """Point the default connection at the handover database for the section's duration."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        self.previous = connection.settings_dict["NAME"]
        if self.name == self.previous:
            # ensure_data() empties the tables it fills: never in a shared database.
            raise SystemExit(f"the handover bench needs its own database, not {self.name!r}")
        connection.close()
        with connection.cursor() as cursor:  # still the bench database: create ours from it
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.name])
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{self.name}"')
                print(f"created database {self.name}")
        connection.close()
        connection.settings_dict["NAME"] = self.name
        call_command("migrate", verbosity=0)
        return self

    def __exit__(self, *exc):
        connection.close()
        connection.settings_dict["NAME"] = self.previous


def door_user():
    user, _ = get_user_model().objects.get_or_create(username="bench-door")
    StaffRole.objects.get_or_create(user=user, role=Role.DOOR_DESK, branch=None)
    return user


def door_url(branch_id: int, name: str = "desk:door") -> str:
    with translation.override("fr"):
        return reverse(name, args=[branch_id])


def card(n: int) -> str:
    return f"{PREFIX}{n:06d}"


def measure_scans(client: Client, numbers: list[int], *, count_queries: bool = False) -> Samples:
    samples = Samples()
    branches = _branch_ids()
    for n in numbers:
        url = f"{door_url(branches[n % BRANCHES])}?card={card(n)}"
        response = None

        def scan(url=url):
            nonlocal response
            response = client.get(url)

        samples.time(scan, count_queries=count_queries)
        page = response.content.decode()
        assert response.status_code == 200 and f"N{n:06d}" in page, card(n)
        assert page.count('name="requests"') == DOCS_PER_BAG, card(n)
    return samples


def measure_handovers(client: Client, numbers: list[int], *, count_queries: bool = False) -> Samples:
    samples = Samples()
    branches = _branch_ids()
    for n in numbers:
        branch_id = branches[n % BRANCHES]
        ids = list(
            Request.objects.filter(patron__card_number=card(n), status=Status.READY).values_list(
                "pk", flat=True
            )
        )
        data = {"card": card(n), "nonce": f"bench-{n}-{random.random()}", "requests": ids}
        url = door_url(branch_id, "desk:hand_over")
        response = None

        def hand_over(url=url, data=data):
            nonlocal response
            response = client.post(url, data)

        samples.time(hand_over, count_queries=count_queries)
        assert response.status_code == 302 and "/receipt/" in response["Location"], card(n)
        assert not Request.objects.filter(pk__in=ids, status=Status.READY).exists()
    return samples


def _branch_ids() -> list[int]:
    return list(Branch.objects.filter(code__startswith="bd").order_by("code").values_list("pk", flat=True))


def reset() -> None:
    """Undo the handovers of a previous run: every bench request ready again."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM desk_loan")
        cursor.execute("DELETE FROM holds_requestevent")
        cursor.execute("UPDATE holds_request SET status = 'ready', closed_at = NULL WHERE status <> 'ready'")
        cursor.execute("UPDATE holds_bag SET state = 'open', closed_at = NULL WHERE state <> 'open'")
        cursor.execute("UPDATE catalogue_copy SET status = 'hold_shelf' WHERE status <> 'hold_shelf'")
        cursor.execute("DELETE FROM django_session")
    connection.close()  # the bench measures with a fresh, persistent connection


def ensure_data(ready: int) -> float | None:
    """Build the network, patrons, copies and ready requests if they are not there yet."""
    patrons = ready // DOCS_PER_BAG
    if Request.objects.count() == patrons * DOCS_PER_BAG:
        return None
    start = timezone.now()
    print(f"building {patrons * DOCS_PER_BAG:,} ready requests for {patrons:,} patrons…")
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE desk_loan, holds_requestevent, holds_request, holds_bag, catalogue_copy,"
            " catalogue_record, patrons_patron, patrons_staffrole, network_openinghours,"
            " network_branch, auth_user, django_session CASCADE"
        )
    _branches()
    hold_until = timezone.localdate() + datetime.timedelta(days=5)
    with connection.cursor() as cursor:
        for sql in BUILD:
            cursor.execute(sql, {"patrons": patrons, "records": RECORDS, "hold_until": hold_until})
        cursor.execute("ANALYZE")
    seconds = round((timezone.now() - start).total_seconds(), 1)
    print(f"built in {seconds} s")
    return seconds


def _branches() -> None:
    for n in range(BRANCHES):
        branch = Branch.objects.create(
            code=f"bd{n:02d}", name=f"Bibliothèque {n}", service_mode=ServiceMode.CLICK_COLLECT
        )
        OpeningHours.objects.bulk_create(
            OpeningHours(branch=branch, weekday=d, opens=datetime.time(10), closes=datetime.time(19))
            for d in range(6)
        )


# Patron n (card BD + n) lives at branch n % 16 and has a bag of 8 ready requests there:
# copies 8n … 8n+7 of records (8n + k) % 10,000 — distinct records, so no constraint trips.
BUILD = [
    """INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email,
                              is_staff, is_active, date_joined)
       SELECT '!', false, 'BD' || lpad(n::text, 6, '0'), '', '', '', false, true, now()
       FROM generate_series(0, %(patrons)s - 1) n""",
    """INSERT INTO patrons_patron (user_id, card_number, first_name, last_name, email, phone,
                                   phone_digits, home_branch_id, language, category, notice_channel,
                                   blocked_reason)
       SELECT u.id, u.username, 'Prénom' || n, 'Nom' || n, lower(u.username) || '@example.org', '', '',
              b.id, 'fr', 'adult', 'email', ''
       FROM generate_series(0, %(patrons)s - 1) n
       JOIN auth_user u ON u.username = 'BD' || lpad(n::text, 6, '0')
       JOIN network_branch b ON b.code = 'bd' || lpad((n %% 16)::text, 2, '0')""",
    """INSERT INTO catalogue_record (source_key, title, responsibility, publisher, isbn, ean, language,
                                     subjects, series, summary, doc_type, audience, created_at, updated_at)
       SELECT 'benchdoor:' || n, 'Titre du document ' || n, 'Auteur ' || (n %% 997), '', '', '', 'fre',
              '[]', '', '', 'book', 'adult', now(), now()
       FROM generate_series(0, %(records)s - 1) n""",
    """INSERT INTO catalogue_copy (record_id, barcode, call_number, call_number_key, branch_id, doc_type,
                                  status, source_codes, created_at, updated_at)
       SELECT r.id, 'BDC' || lpad(n::text, 7, '0'), 'R NOM ' || n, 'r nom ' || lpad(n::text, 7, '0'),
              b.id, 'book', 'hold_shelf', '{}', now(), now()
       FROM generate_series(0, %(patrons)s * 8 - 1) n
       JOIN catalogue_record r ON r.source_key = 'benchdoor:' || (n %% %(records)s)
       JOIN network_branch b ON b.code = 'bd' || lpad(((n / 8) %% 16)::text, 2, '0')""",
    """INSERT INTO holds_bag (branch_id, patron_id, label, state, hold_until, created_at)
       SELECT p.home_branch_id, p.id, 'N' || substr(p.card_number, 3), 'open', %(hold_until)s, now()
       FROM patrons_patron p WHERE p.card_number LIKE 'BD%%'""",
    """INSERT INTO holds_request (patron_id, record_id, copy_id, pickup_branch_id, status, channel, doc_type,
                                 created_at, placed_at, ready_at, hold_until, bag_id)
       SELECT p.id, c.record_id, c.id, c.branch_id, 'ready', 'online', 'book', now(), now(), now(),
              %(hold_until)s, bag.id
       FROM catalogue_copy c
       JOIN patrons_patron p ON p.card_number = 'BD' || lpad((substr(c.barcode, 4)::int / 8)::text, 6, '0')
       JOIN holds_bag bag ON bag.patron_id = p.id AND bag.state = 'open'
       WHERE c.barcode LIKE 'BDC%%'""",
]
