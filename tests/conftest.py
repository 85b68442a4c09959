import contextlib
import datetime
import os

import pytest
from django.db import connection

from emporter.network.models import Branch, Department, Location, OpeningHours, ServiceMode


def pytest_report_header(config):
    return f"database: {os.environ.get('DATABASE_URL') or 'SQLite (embedded)'}"


# The fixtures through which a test reaches the database.
DATABASE_FIXTURES = {"db", "transactional_db", "live_server", "postgres"}
# How many tests --database-tests-only left out, for the report's last words.
LEFT_OUT = pytest.StashKey[int]()


def pytest_addoption(parser):
    parser.addoption(
        "--database-tests-only",
        action="store_true",
        help="leave out the tests that use no database (make test runs them in the SQLite suite)",
    )


def pytest_collection_modifyitems(config, items):
    """With --database-tests-only (the PostgreSQL half of ``make test``), the tests that
    never reach a database are left out: the SQLite half runs them, and a second run
    would test the same code on the same input. A test that reads the database settings
    without a query is marked ``each_engine`` and stays."""
    if not config.getoption("--database-tests-only"):
        return
    kept, left_out = [], []
    for item in items:
        (kept if _reaches_database(item) else left_out).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept
        config.stash[LEFT_OUT] = len(left_out)


def _reaches_database(item) -> bool:
    return bool(
        DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))
        or item.get_closest_marker("django_db")
        or item.get_closest_marker("each_engine")
    )


def pytest_terminal_summary(terminalreporter, config):
    if left_out := config.stash.get(LEFT_OUT, 0):
        terminalreporter.write_line(
            f"{left_out} tests that use no database were left out: they run in the SQLite suite."
        )


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, plus: on PostgreSQL, tables emptied by DELETE (``_flush_by_delete``);
    before the test database is dropped, the sessions a test's thread (live server,
    concurrency tests) may have left open are ended, which would make the drop fail with
    "being accessed by other users"."""
    with django_db_blocker.unblock():
        restore = _flush_by_delete()
    keep = _flush_keeps_permissions()
    yield
    keep()
    restore()
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


# What migrate's post_migrate signal writes (content types, permissions): the same for
# every test, and no test changes them.
POST_MIGRATE_TABLES = {"django_content_type", "auth_permission"}


def _flush_keeps_permissions():
    """After a test that commits, Django empties every table, then sends post_migrate to
    write the content types and permissions again: ~0.35 s a test, for the same rows.
    Those two tables are left as they are and the signal is not sent. Returns the undo."""
    from django.core.management.commands import flush

    sql_flush, emit = connection.ops.__class__.sql_flush, flush.emit_post_migrate_signal

    def kept(self, style, tables, **kwargs):
        return sql_flush(self, style, [t for t in tables if t not in POST_MIGRATE_TABLES], **kwargs)

    connection.ops.__class__.sql_flush = kept
    flush.emit_post_migrate_signal = lambda *args, **kwargs: None

    def undo():
        connection.ops.__class__.sql_flush = sql_flush
        flush.emit_post_migrate_signal = emit

    return undo


def _flush_by_delete():
    """Empty the tables after a test that commits (live server, concurrency) with DELETE
    rather than Django's TRUNCATE: a TRUNCATE of every table makes new files for each
    table and index, 0.4 s a test here and more than a second on a loaded machine; the
    DELETE of a test's few rows takes milliseconds. Triggers and foreign keys are off for
    that transaction (session_replication_role), so no order is needed: that needs a
    superuser, as CI's ``postgres`` is; anyone else keeps TRUNCATE. Returns the undo."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    if connection.vendor != "postgresql":
        return lambda: None
    with connection.cursor() as cursor:
        if not _superuser(cursor):
            return lambda: None
    truncate = DatabaseOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if reset_sequences or not tables:
            return truncate(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
        # execute_sql_flush runs these in one transaction: SET LOCAL ends with it. The
        # lock waits, as TRUNCATE did, for a transaction a test's thread left open: its
        # rows would otherwise escape the DELETE and turn up in the next test.
        names = ", ".join(self.quote_name(table) for table in tables)
        deletes = [f"DELETE FROM {self.quote_name(table)}" for table in tables]
        return [
            "SET LOCAL session_replication_role = replica",
            f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE",
            *deletes,
        ]

    DatabaseOperations.sql_flush = sql_flush
    return lambda: setattr(DatabaseOperations, "sql_flush", truncate)


@pytest.fixture
def one_quarter(monkeypatch):
    """Sign-in failures from one address are counted per quarter of an hour
    (patrons.throttle._quarter): fifty sent across its turn would be two counts, no lock."""
    from django.utils import timezone

    from emporter.patrons import throttle

    quarter = throttle._quarter(timezone.now())
    monkeypatch.setattr(throttle, "_quarter", lambda _now: quarter)


@pytest.fixture
def postgres(db):
    """Use in tests of PostgreSQL-only behaviour; they skip, loudly, on SQLite."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: runs in CI with DATABASE_URL set")


@contextlib.contextmanager
def unchecked_foreign_keys(cursor):
    """A history laid down in bulk on PostgreSQL (a PostgreSQL-only test), written without
    queueing each row's foreign-key checks: they run when the test ends (Django's
    teardown checks deferred constraints), 8 s for 270,000 events. The rows point at rows
    the test made. Only for tables without triggers of their own (the catalogue's keep
    their search and availability data by triggers): session_replication_role skips them
    all. It needs a superuser, as CI's ``postgres`` is; anyone else waits for the checks."""
    superuser = _superuser(cursor)
    if superuser:
        cursor.execute("SET session_replication_role = replica")
    yield  # an error rolls the test back, and the setting with it
    if superuser:
        cursor.execute("SET session_replication_role = DEFAULT")


def _superuser(cursor) -> bool:
    """Whether the tests' PostgreSQL role may set session_replication_role."""
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    return cursor.fetchone()[0]


def backend_pid() -> int:
    """This thread's PostgreSQL backend, for another thread to watch it (wait_until_blocked)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def wait_until_blocked(pid_box: list, seconds: float = 10, *, unless_done=None) -> None:
    """Return once the backend whose pid is (or will be) in pid_box waits for a lock.

    Only that backend is watched: another test run on the same server cannot satisfy it.
    ``unless_done``: a callable saying the other thread has finished, which also ends the
    wait (with the fix, it may never have to wait at all)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if unless_done is not None and unless_done():
            return
        if pid_box:
            with connection.cursor() as cursor:
                cursor.execute("SELECT cardinality(pg_blocking_pids(%s)) > 0", [pid_box[0]])
                if cursor.fetchone()[0]:
                    return
        time.sleep(0.02)
    if unless_done is None:
        raise AssertionError("the other transaction never waited for a lock")


def make_branch(code="PDI", name="Part-Dieu", mode=ServiceMode.CLICK_COLLECT, weekdays=range(0, 6), **kw):
    branch = Branch.objects.create(code=code, name=name, service_mode=mode, **kw)
    OpeningHours.objects.bulk_create(
        OpeningHours(branch=branch, weekday=d, opens=datetime.time(10), closes=datetime.time(19))
        for d in weekdays
    )
    return branch


def make_department(branch, code="adultes", name="Adultes", order=0):
    return Department.objects.create(branch=branch, code=code, name=name, walking_order=order)


def make_location(department, code="romans", name="Romans", order=0, **kw):
    return Location.objects.create(department=department, code=code, name=name, walking_order=order, **kw)


@pytest.fixture
def branch(db):
    return make_branch()


@pytest.fixture
def other_branch(db):
    return make_branch(code="CRX", name="Croix-Rousse")


FAST_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Passwords and PINs are slow to hash by design; tests need not pay for it. MD5 makes
    users' passwords; PBKDF2 checks PINs, hashed as the app does with one round. For the
    whole session, so that the data a module builds once (test_stats.built_history, made
    before any test's own fixtures) is as cheap: Django's default took a second a user."""
    from django.test import override_settings

    with override_settings(PASSWORD_HASHERS=FAST_HASHERS, PIN_HASH_ROUNDS=1):
        yield


@pytest.fixture(autouse=True)
def default_language():
    # A request to an /en/ page activates English in the test's own thread, and Django
    # leaves it active: every test starts in the site's default language instead.
    from django.utils import translation

    translation.activate(settings_language())
    yield
    translation.activate(settings_language())


def settings_language() -> str:
    from django.conf import settings

    return settings.LANGUAGE_CODE


@pytest.fixture(autouse=True)
def no_closing_grace(settings):
    # The tests close a library and run the sweeps at once: the ten minutes a closing
    # waits in production (settings.CLOSING_GRACE) are tested on their own
    # (tests/test_continuity_s8.py).
    settings.CLOSING_GRACE = 0


@pytest.fixture(autouse=True)
def empty_cache():
    # The process's cache (what is read every few minutes) starts empty for each test.
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def live_server_settled(request):
    """A test that drove a browser ends only once the live server has answered it.

    The live server outlives each test, and a request still running when the test ends
    (a page polling, a fetch the browser sent as it closed) shares the test's database
    connection on SQLite: its rollback undid the emptying of the tables, and the next
    test met the last one's rows. Requested only by such tests, and after the database
    fixture, so it is torn down (and waits) before the tables are emptied."""
    if "live_server" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    if "chromium" in request.fixturenames:
        for context in request.getfixturevalue("chromium").contexts:
            context.close()  # pages a test opened beside its fixture's stop polling
    server = request.getfixturevalue("live_server").thread.httpd
    for thread in list(server._threads):  # socketserver keeps its request threads
        thread.join(timeout=30)
        assert not thread.is_alive(), "the live server still answers a request 30 s after the test"


@pytest.fixture(autouse=True)
def immediate_tasks(settings):
    # Tasks run in-process during tests; the database worker is for real deployments.
    settings.TASKS = {
        "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend", "QUEUES": []}
    }


def make_patron(branch, card="10000001", pin="1234", **kw):
    from django.contrib.auth import get_user_model

    from emporter.patrons.models import Patron

    user = get_user_model().objects.create_user(username=card, password=pin)
    defaults = {"first_name": "Camille", "last_name": "Martin", "email": f"{card}@example.org"}
    return Patron.objects.create(user=user, card_number=card, home_branch=branch, **(defaults | kw))


def make_record(title="L'Étrangère", copies=(), doc_type="book", **kw):
    """copies: branches (one on-shelf copy each) or (branch, status) pairs."""
    from emporter.catalogue.models import Copy, Record

    record = Record.objects.create(
        source_key=f"test:{Record.objects.count() + 1}:{title}", title=title, doc_type=doc_type, **kw
    )
    for n, spec in enumerate(copies):
        where, status = spec if isinstance(spec, tuple) else (spec, "on_shelf")
        Copy.objects.create(
            record=record,
            barcode=f"B{record.pk:05d}{n:02d}",
            call_number=f"R {title[:3].upper()}",
            branch=where,
            doc_type=doc_type,
            status=status,
        )
    return record


@pytest.fixture
def patron(branch):
    return make_patron(branch)


def make_ready_requests(patron, branch, titles, doc_type="book"):
    """Requests for new titles, pulled and found: ready in the patron's bag at ``branch``."""
    from emporter.holds.services import place_request
    from emporter.picking import services as picking

    requests = [
        place_request(
            patron=patron,
            record_id=make_record(title=t, doc_type=doc_type, copies=[branch]).pk,
            pickup_branch=branch,
        )[0]
        for t in titles
    ]
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    for request in requests:
        request.refresh_from_db()
    return requests


@pytest.fixture
def smtp(settings):
    """A real SMTP server on a local port (tests/smtp.py), the default mailer sending to it."""
    from tests.smtp import SmtpServer

    server = SmtpServer()
    server.start()
    settings.MAILERS = server.mailers_setting()
    yield server
    server.stop()


def pause_over():
    """Wrong PINs pause a card for 30 s, then lock it: end the pauses, not the locks."""
    from django.utils import timezone

    from emporter.patrons import throttle
    from emporter.patrons.models import SignInFailures

    now = timezone.now()
    SignInFailures.objects.filter(locked_until__lte=now + throttle.PIN_PAUSE).update(locked_until=now)
