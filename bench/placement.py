"""Placement: requests per second over the HTTP API, 32 clients, against pgbench.

"Ours" is a real server (gunicorn, 4 workers × 8 threads, DEBUG off, persistent database
connections) on 127.0.0.1 and a dedicated PostgreSQL database that this section creates,
migrates and fills. 32 client threads, each with its own keep-alive connection, POST
one-document baskets to /api/v1/requests with a fresh Idempotency-Key for a fixed time,
for patrons drawn from a shared window of 16 (so several clients act for one patron at
once, up to the limit of 8, when the patron is replaced): mostly distinct titles, a fifth
of them "hot" titles with a single copy that every client fights over, and now and then a
replay of an earlier call (which must return the same request). Every call is
bearer-authenticated.

"Reference" is pgbench with 32 clients on the same server running the bare transaction a
placement needs: lock the patron's row, update a copy's row, insert a request row.

Afterwards the database is checked: no copy held by two active requests, no copy set
aside without exactly one request, no patron over their limit, no replay that created a
second request.
"""

import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import print_table, section, summary, write_results

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DATABASE = os.environ.get("BENCH_PLACE_DATABASE", "emporter_bench_place")
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
CLIENTS = 32
SECONDS = float(os.environ.get("BENCH_PLACE_SECONDS", "20"))
WARMUP_SECONDS = 3
RECORDS, COPIES_PER_RECORD, HOT_RECORDS, PATRONS = 4000, 2, 40, 1600
HOT_SHARE, REPLAY_SHARE = 0.2, 0.05
MAX_ACTIVE = 8
SERVER_LOG = Path(tempfile.gettempdir()) / "emporter-bench-placement-server.log"


def database_url() -> str:
    return f"postgres://{PG['user']}@{PG['host']}:{PG['port']}/{DATABASE}"


def server_env() -> dict:
    return os.environ | {
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "emporter.settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-only",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_CONN_MAX_AGE": "600",
        # Refusals (409) are normal here; logging each would measure the terminal.
        "LOG_LEVEL": "ERROR",
    }


# -- The database: created, migrated and filled in a child process -------------------------


def prepare_database() -> dict:
    import psycopg

    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    env = server_env()
    subprocess.run([PYTHON, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [PYTHON, "-m", "bench.placement", "--fill"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.splitlines()[-1])


def fill() -> dict:
    """Runs in the child, with Django set up on the bench database; prints what clients need."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from emporter.api.models import Scope
    from emporter.api.tokens import issue_token
    from emporter.catalogue.models import Copy, Record
    from emporter.holds.models import RequestPolicy
    from emporter.network.models import Branch, ServiceMode
    from emporter.patrons.models import Patron

    rng = random.Random(42)
    RequestPolicy.objects.create(max_active=MAX_ACTIVE, allow_waiting_list=False, allow_other_branches=True)
    branches = [
        Branch.objects.create(code=f"B{n}", name=f"Bibliothèque {n}", service_mode=ServiceMode.CLICK_COLLECT)
        for n in range(4)
    ]
    records = Record.objects.bulk_create(
        Record(source_key=f"bench:{n}", title=f"Titre {n}", doc_type="book")
        for n in range(RECORDS + HOT_RECORDS)
    )
    copies = []
    for n, record in enumerate(records):
        for c in range(1 if n >= RECORDS else COPIES_PER_RECORD):
            copies.append(
                Copy(record=record, barcode=f"X{n:06d}{c}", call_number=f"R {n}", branch=rng.choice(branches))
            )
    Copy.objects.bulk_create(copies, batch_size=2000)
    unusable = make_password(None)
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"9{n:07d}", password=unusable) for n in range(PATRONS)
    )
    patrons = Patron.objects.bulk_create(
        Patron(
            user=u,
            card_number=u.username,
            first_name="Bench",
            last_name=u.username,
            home_branch=branches[n % 4],
        )
        for n, u in enumerate(users)
    )
    tokens = [issue_token(user=p.user, scope=Scope.PATRON)[1] for p in patrons]
    ids = [r.pk for r in records]
    return {"tokens": tokens, "records": ids[:RECORDS], "hot": ids[RECORDS:], "copies": len(copies)}


# -- The server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    gunicorn = str(Path(PYTHON).parent / "gunicorn")
    command = [gunicorn, "emporter.wsgi", "-w", "4", "--threads", "8", "-b", f"127.0.0.1:{port}"]
    # Its log goes to a file: Django logs every 409 as a warning, and there are many.
    log = open(SERVER_LOG, "w")  # noqa: SIM115 (the server writes to it until stopped)
    server = subprocess.Popen(
        command + ["--log-level", "warning"],
        cwd=ROOT,
        env=server_env(),
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise RuntimeError("gunicorn did not answer /healthz within 30 s")


def stop_server(server: subprocess.Popen) -> None:
    # The whole process group we started: the arbiter and its workers, nothing else.
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


# -- CPU accounting: what each call costs the application and the database -----------------


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def worker_pids(server: subprocess.Popen) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == server.pid:
                pids.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return pids


def backend_pids(application: str | None = None) -> list[int]:
    import psycopg

    sql = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
    params = [DATABASE]
    if application:
        sql, params = sql + " AND application_name = %s", params + [application]
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as db:
        return [pid for (pid,) in db.execute(sql, params).fetchall()]


def cpu_snapshot(pids: list[int]) -> dict[int, float]:
    return {pid: cpu_seconds(pid) for pid in pids}


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items() if cpu)


# -- The load --------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)
    replays: int = 0
    replay_mismatches: int = 0


class Patrons:
    """The patrons the clients act for, shared: all clients draw from a small window, so
    several place for the same patron at once and the limit is reached under contention.
    A patron refused with limit_reached leaves the window and the next one comes in."""

    WINDOW = 16

    def __init__(self, tokens: list[str]):
        self.tokens = tokens
        self.window = list(range(min(self.WINDOW, len(tokens))))
        self.next = len(self.window)
        self.lock = threading.Lock()

    def pick(self, rng: random.Random) -> int | None:
        with self.lock:
            return rng.choice(self.window) if self.window else None

    def retire(self, who: int) -> None:
        with self.lock:
            if who in self.window:
                self.window.remove(who)
                if self.next < len(self.tokens):
                    self.window.append(self.next)
                    self.next += 1


def client(port: int, patrons: Patrons, data: dict, until: float, tally: Tally, seed: str) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    last_ok: tuple | None = None
    while time.monotonic() < until:
        if last_ok and rng.random() < REPLAY_SHARE:
            who, key, record_id, expected = last_ok
        else:
            who = patrons.pick(rng)
            if who is None:
                break
            pool = data["hot"] if rng.random() < HOT_SHARE else data["records"]
            key, record_id, expected = uuid.uuid4().hex, rng.choice(pool), None
        body = json.dumps({"record_ids": [record_id]})
        headers = {
            "Authorization": f"Bearer {patrons.tokens[who]}",
            "Idempotency-Key": key,
            "Content-Type": "application/json",
        }
        start = time.perf_counter()
        try:
            conn.request("POST", "/api/v1/requests", body, headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            tally.outcomes["connection_error"] += 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            continue
        tally.latencies_ms.append((time.perf_counter() - start) * 1000)
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {}
        if response.status == 201:
            request_id = payload["items"][0]["request"]["id"]
            if expected is not None:
                tally.replays += 1
                tally.replay_mismatches += request_id != expected
            tally.outcomes["placed" if expected is None else "replayed"] += 1
            last_ok = (who, key, record_id, request_id)
        else:
            tally.outcomes[payload.get("code", f"http_{response.status}")] += 1
            if payload.get("code") == "limit_reached":
                patrons.retire(who)
    conn.close()


def run_load(port: int, data: dict, patrons: Patrons, seconds: float, phase: str) -> dict:
    tallies = [Tally() for _ in range(CLIENTS)]
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client, args=(port, patrons, data, until, tallies[i], f"{phase}-{i}"))
        for i in range(CLIENTS)
    ]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    outcomes = sum((t.outcomes for t in tallies), Counter())
    latencies = [ms for t in tallies for ms in t.latencies_ms]
    return {
        "seconds": round(elapsed, 2),
        "calls": len(latencies),
        "calls_per_s": round(len(latencies) / elapsed, 1),
        "placed_per_s": round(outcomes["placed"] / elapsed, 1),
        "latency": summary(latencies) if latencies else {},
        "outcomes": dict(outcomes.most_common()),
        "replays": sum(t.replays for t in tallies),
        "replay_mismatches": sum(t.replay_mismatches for t in tallies),
        "patrons_used": patrons.next,
    }


# -- The reference ---------------------------------------------------------------------------

REFERENCE_SQL = """
\\set pid random(1, {patrons})
\\set cid random(1, {copies})
BEGIN;
SELECT id FROM bench_ref_patron WHERE id = :pid FOR UPDATE;
UPDATE bench_ref_copy SET status = 'set_aside', updated_at = now() WHERE id = :cid;
INSERT INTO bench_ref_request (patron_id, copy_id, created_at) VALUES (:pid, :cid, now());
END;
"""


def run_pgbench(seconds: float, copies: int) -> dict:
    import psycopg

    with psycopg.connect(dbname=DATABASE, autocommit=True, **PG) as db:
        db.execute("DROP TABLE IF EXISTS bench_ref_request, bench_ref_copy, bench_ref_patron")
        db.execute("CREATE TABLE bench_ref_patron (id int PRIMARY KEY, name text)")
        db.execute("CREATE TABLE bench_ref_copy (id int PRIMARY KEY, status text, updated_at timestamptz)")
        db.execute(
            "CREATE TABLE bench_ref_request (id bigserial PRIMARY KEY,"
            " patron_id int REFERENCES bench_ref_patron, copy_id int REFERENCES bench_ref_copy,"
            " created_at timestamptz)"
        )
        db.execute("INSERT INTO bench_ref_patron SELECT g, 'p' || g FROM generate_series(1, %s) g", [PATRONS])
        db.execute(
            "INSERT INTO bench_ref_copy SELECT g, 'on_shelf', now() FROM generate_series(1, %s) g", [copies]
        )
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(REFERENCE_SQL.format(patrons=PATRONS, copies=copies))
        script.flush()
        command = ["pgbench", "-n", "-c", str(CLIENTS), "-j", "4", "-T", str(int(seconds)), "-f", script.name]
        command += ["-h", PG["host"], "-p", str(PG["port"]), "-U", PG["user"], DATABASE]
        pgbench = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # Sample the database's CPU inside the run, clear of connecting and finishing.
        time.sleep(2)
        before = cpu_snapshot(backend_pids("pgbench"))
        window = time.monotonic()
        time.sleep(max(1.0, seconds - 4))
        db_cpu = cpu_used(before, cpu_snapshot(list(before)))
        window = time.monotonic() - window
        out, err = pgbench.communicate()
    if pgbench.returncode:
        raise RuntimeError(f"pgbench failed: {err}")
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    return {
        "seconds": seconds,
        "tps": round(tps, 1),
        "latency_avg_ms": float(latency.group(1)) if latency else None,
        "db_cpu_ms_per_transaction": round(db_cpu * 1000 / (tps * window), 3),
    }


# -- The checks -------------------------------------------------------------------------------

CHECKS = {
    "copies_held_twice": """
        SELECT count(*) FROM (SELECT copy_id FROM holds_request WHERE status IN ('placed', 'ready')
        GROUP BY copy_id HAVING count(*) > 1) AS twice""",
    "set_aside_copies_without_one_request": """
        SELECT count(*) FROM catalogue_copy c WHERE c.status = 'set_aside' AND (SELECT count(*)
        FROM holds_request r WHERE r.copy_id = c.id AND r.status IN ('placed', 'ready')) <> 1""",
    "requests_holding_a_shelved_copy": """
        SELECT count(*) FROM holds_request r JOIN catalogue_copy c ON c.id = r.copy_id
        WHERE r.status IN ('placed', 'ready') AND c.status = 'on_shelf'""",
    "patrons_over_the_limit": f"""
        SELECT count(*) FROM (SELECT patron_id FROM holds_request
        WHERE status IN ('waiting', 'placed', 'ready')
        GROUP BY patron_id HAVING count(*) > {MAX_ACTIVE}) AS over""",
    "same_title_twice_for_a_patron": """
        SELECT count(*) FROM (SELECT patron_id, record_id FROM holds_request
        WHERE status IN ('waiting', 'placed', 'ready')
        GROUP BY patron_id, record_id HAVING count(*) > 1) AS dup""",
}


def integrity() -> dict:
    import psycopg

    with psycopg.connect(dbname=DATABASE, **PG) as db:
        found = {name: db.execute(sql).fetchone()[0] for name, sql in CHECKS.items()}
        found["requests_in_database"] = db.execute("SELECT count(*) FROM holds_request").fetchone()[0]
        # How much the limit was exercised: patrons who got exactly to it.
        found["patrons_at_the_limit"] = db.execute(
            "SELECT count(*) FROM (SELECT patron_id FROM holds_request WHERE status IN ('waiting', 'placed',"
            f" 'ready') GROUP BY patron_id HAVING count(*) = {MAX_ACTIVE}) AS full_"
        ).fetchone()[0]
        found["events_in_database"] = db.execute("SELECT count(*) FROM holds_requestevent").fetchone()[0]
    return found


# -- The section ------------------------------------------------------------------------------


@section("placement")
def run(args=None) -> dict:
    print(
        f"\nPlacement: preparing {DATABASE} ({RECORDS + HOT_RECORDS} records, {PATRONS} patrons)…", flush=True
    )
    data = prepare_database()
    port = free_port()
    server = start_server(port)
    try:
        patrons = Patrons(data["tokens"])
        run_load(port, data, patrons, WARMUP_SECONDS, "warm-up")  # imports, connections, caches
        app_before, db_before = cpu_snapshot(worker_pids(server)), cpu_snapshot(backend_pids())
        api = run_load(port, data, patrons, SECONDS, "measure")
        app_cpu = cpu_used(app_before, cpu_snapshot(worker_pids(server)))
        db_cpu = cpu_used(db_before, cpu_snapshot(backend_pids()))
    finally:
        stop_server(server)
    api["app_cpu_ms_per_call"] = round(app_cpu * 1000 / max(1, api["calls"]), 2)
    api["db_cpu_ms_per_call"] = round(db_cpu * 1000 / max(1, api["calls"]), 2)
    checks = integrity()
    checks["server_errors_logged"] = SERVER_LOG.read_text().count("Traceback")
    reference = run_pgbench(SECONDS, data["copies"])
    violations = {k: v for k, v in checks.items() if v and (k in CHECKS or k == "server_errors_logged")}
    if api["replay_mismatches"]:
        violations["replay_mismatches"] = api["replay_mismatches"]
    placed_ratio = round(api["placed_per_s"] / reference["tps"], 3)
    calls_ratio = round(api["calls_per_s"] / reference["tps"], 3)
    print_table(
        f"Placement, {CLIENTS} concurrent clients, {SECONDS:.0f} s, PostgreSQL on 127.0.0.1",
        ["", "per second", "ratio to pgbench", "p50 ms", "p95 ms"],
        [
            ["API: requests placed (201)", api["placed_per_s"], placed_ratio, api["latency"]["p50_ms"],
             api["latency"]["p95_ms"]],
            ["API: all calls (placed + refused)", api["calls_per_s"], calls_ratio, "", ""],
            ["pgbench: lock + update + insert", reference["tps"], 1, reference["latency_avg_ms"] or "", ""],
        ],
    )  # fmt: skip
    print(
        f"CPU per call: application {api['app_cpu_ms_per_call']} ms, database {api['db_cpu_ms_per_call']} ms;"
        f" pgbench transaction: database {reference['db_cpu_ms_per_transaction']} ms"
    )
    print(f"outcomes: {api['outcomes']}; replays checked: {api['replays']}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (shared with other work)")
    print("double allocations / limits: " + ("none" if not violations else f"VIOLATIONS {violations}"))
    return {
        # Other work on the machine skews both figures; the ratio suffers less.
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "clients": CLIENTS,
        "server": "gunicorn -w 4 --threads 8, DEBUG=0, CONN_MAX_AGE=600",
        "api": api,
        "pgbench": reference,
        "ratio_placed_to_pgbench": placed_ratio,
        "ratio_calls_to_pgbench": calls_ratio,
        "integrity": checks,
        "violations": violations,
        "ok": not violations,
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--fill"]:
        print(json.dumps(fill()))
    else:
        result = run()
        print(f"→ {write_results('placement', result)}")
        sys.exit(0 if result["ok"] else 1)
