"""Pick runs: build every branch's morning run and render every list (HTML and PDF).

A dedicated database (``BENCH_PICK_DATABASE``, default emporter_bench_pick) holds the
demo network and 60,000 synthetic records. For each size (2,000 / 20,000 / 100,000
requests spread over the 16 branches) the requests are written directly (bulk insert:
this measures the pull, not placement), then timed:

- build: ``picking.services.build_run`` for every branch (the morning run);
- HTML: the pick-list page of every run through Django's test client (a staff user);
- PDF: ``picking.pdf.pick_list`` for every run.

Linear growth shows as a steady time per request across sizes.
"""

import datetime
import os
import random
import time

from bench import print_table, section, summary, time_ms

SIZES = [int(s) for s in os.environ.get("BENCH_PICK_SIZES", "2000,20000,100000").split(",")]
RECORDS = int(os.environ.get("BENCH_PICK_RECORDS", "60000"))
PATRONS = 20_000


def _use_database() -> None:
    from django.conf import settings
    from django.db import connections

    name = os.environ.get("BENCH_PICK_DATABASE", "emporter_bench_pick")
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    connections["default"].close()
    settings.DATABASES["default"]["NAME"] = name
    connections["default"].settings_dict["NAME"] = name


def _prepare() -> None:
    from django.core.management import call_command

    from emporter.demo.network import build_network
    from emporter.demo.synthetic import add_synthetic_records
    from emporter.network.models import Branch

    call_command("migrate", verbosity=0)
    if not Branch.objects.exists():
        build_network(today=datetime.date.today())
    add_synthetic_records(count=RECORDS)
    _ensure_patrons()


def _ensure_patrons() -> None:
    from django.contrib.auth import get_user_model

    from emporter.network.models import Branch
    from emporter.patrons.models import Patron

    have = Patron.objects.filter(card_number__startswith="B").count()
    if have >= PATRONS:
        return
    branches = list(Branch.objects.values_list("pk", flat=True))
    User = get_user_model()
    cards = [f"B{n:08d}" for n in range(have, PATRONS)]
    User.objects.bulk_create([User(username=c, password="!") for c in cards], batch_size=5000)
    users = dict(User.objects.filter(username__in=cards).values_list("username", "pk"))
    rng = random.Random(1)
    Patron.objects.bulk_create(
        [
            Patron(
                user_id=users[c],
                card_number=c,
                first_name="Bench",
                last_name=rng.choice("ABCDEFGHLMPRST") + "x",
                home_branch_id=rng.choice(branches),
            )
            for c in cards
        ],
        batch_size=5000,
    )


def _reset() -> None:
    from emporter.catalogue.models import Copy, CopyStatus
    from emporter.holds.models import Bag, Request
    from emporter.picking.models import PickRun

    PickRun.objects.all().delete()
    Request.objects.all().delete()
    Bag.objects.all().delete()
    Copy.objects.exclude(status=CopyStatus.ON_SHELF).filter(
        status__in=[CopyStatus.SET_ASIDE, CopyStatus.HOLD_SHELF, CopyStatus.IN_TRANSIT]
    ).update(status=CopyStatus.ON_SHELF)


def _place(count: int, placed_at) -> None:
    """``count`` placed requests on distinct on-shelf copies, 8 at most per patron."""
    from django.db import connection

    from emporter.catalogue.models import Copy, CopyStatus
    from emporter.holds.models import Request, Status
    from emporter.patrons.models import Patron

    copies = list(
        Copy.objects.filter(status=CopyStatus.ON_SHELF, barcode__isnull=False)
        .order_by("?")
        .values_list("pk", "record_id", "branch_id", "doc_type")[:count]
    )
    patrons = list(Patron.objects.filter(card_number__startswith="B").values_list("pk", "home_branch_id"))
    requests, taken = [], set()
    for n, (copy_id, record_id, branch_id, doc_type) in enumerate(copies):
        patron_id, home = patrons[n // 8 % len(patrons)]
        if (patron_id, record_id) in taken:
            continue
        taken.add((patron_id, record_id))
        # Most collect where the copy is; one in ten comes from another branch.
        pickup = branch_id if n % 10 else home
        requests.append(
            Request(
                patron_id=patron_id,
                record_id=record_id,
                copy_id=copy_id,
                pickup_branch_id=pickup,
                status=Status.PLACED,
                channel="online",
                doc_type=doc_type,
                placed_at=placed_at,
            )
        )
    Request.objects.bulk_create(requests, batch_size=5000)
    Copy.objects.filter(pk__in=[r.copy_id for r in requests]).update(status=CopyStatus.SET_ASIDE)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE holds_request")
        cursor.execute("ANALYZE catalogue_copy")


def _measure(size: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from emporter.network.models import Branch
    from emporter.picking import pdf, selectors, services
    from emporter.picking.models import PickRun

    _reset()
    now = timezone.now()
    # Placed yesterday evening: before every branch's morning cut-off.
    midnight = timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), datetime.time(0)))
    _place(size, placed_at=midnight - datetime.timedelta(hours=2))
    branches = list(Branch.objects.all())
    start = time.perf_counter()
    runs = [services.build_run(branch=b, now=now) for b in branches]
    build_s = time.perf_counter() - start
    lines = sum(run.lines.count() for run in runs)

    admin, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_superuser": True})
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    start = time.perf_counter()
    for run in runs:
        response = client.get(f"/staff/picking/runs/{run.pk}/")
        assert response.status_code == 200, response.status_code
    html_s = time.perf_counter() - start
    # One tap on the picker's phone reloads the pick page: on the longest list.
    longest = max(runs, key=lambda run: run.lines.count())
    taps = [time_ms(lambda: client.get(f"/staff/picking/runs/{longest.pk}/pick/")) for _ in range(TAPS)]
    start = time.perf_counter()
    pages = 0
    for run in PickRun.objects.filter(pk__in=[r.pk for r in runs]).select_related("branch"):
        document = pdf.pick_list(run=run, sections=selectors.sections(selectors.run_lines(run)))
        pages += document.count(b"/Type /Page\n") or document.count(b"/Type /Page")
    pdf_s = time.perf_counter() - start
    return {
        "requests": size,
        "lines": lines,
        "runs": len(runs),
        "build_s": round(build_s, 2),
        "html_s": round(html_s, 2),
        "pdf_s": round(pdf_s, 2),
        "build_us_per_line": round(build_s / max(lines, 1) * 1e6, 1),
        "html_us_per_line": round(html_s / max(lines, 1) * 1e6, 1),
        "pdf_us_per_line": round(pdf_s / max(lines, 1) * 1e6, 1),
        "longest_run_lines": longest.lines.count(),
        "pick_page": summary(taps),
    }


TAPS = 20


@section("picking")
def run(args) -> dict:
    _use_database()
    _prepare()
    results = [_measure(size) for size in SIZES]
    print_table(
        "Pick runs: build every branch's morning run, render every list (PostgreSQL)",
        [
            "requests",
            "lines",
            "build s",
            "HTML s",
            "PDF s",
            "build µs/line",
            "HTML µs/line",
            "PDF µs/line",
            "longest list",
            "pick tap p50 ms",
            "p95 ms",
        ],
        [
            [
                r["requests"],
                r["lines"],
                r["build_s"],
                r["html_s"],
                r["pdf_s"],
                r["build_us_per_line"],
                r["html_us_per_line"],
                r["pdf_us_per_line"],
                r["longest_run_lines"],
                r["pick_page"]["p50_ms"],
                r["pick_page"]["p95_ms"],
            ]
            for r in results
        ],
    )
    target = next((r for r in results if r["requests"] == 20000), None)
    return {"sizes": results, "target_build_under_10s_at_20000": bool(target and target["build_s"] < 10)}
