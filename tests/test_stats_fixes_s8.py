"""The service report, checked against hand counts: continuity mode, a bag lent after it
expired, the two meanings of "not found", odd dates, the printed report's tables."""

import datetime
import zoneinfo
from contextlib import contextmanager
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.utils import translation

from emporter.desk import services as desk
from emporter.holds.services import expire_overdue, place_request
from emporter.network.models import Branch, Department, ServiceMode
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.stats import report, selectors, tables
from emporter.stats.selectors import Period
from tests.conftest import make_branch, make_department, make_patron, make_record
from tests.test_stats_report import text_of

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
D = datetime.date
pytestmark = pytest.mark.django_db


def paris(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=PARIS)


@contextmanager
def clock(when: datetime.datetime):
    with mock.patch("django.utils.timezone.now", return_value=when):
        yield


def place(patron, pickup, title, *, copies=None, department=None):
    record = make_record(title=title, copies=copies if copies is not None else [pickup])
    if department is not None:
        record.copies.update(department=department)
    return place_request(patron=patron, record_id=record.pk, pickup_branch=pickup)[0]


def pull(branch, *, missing=()):
    """Build a list at ``branch`` and mark every line, the titles in ``missing`` not found
    (once each), the lines a not-found adds too."""
    missing = list(missing)
    run = picking.build_run(branch=branch, kind="late")
    while line := run.lines.filter(status="pending").select_related("copy__record").order_by("pk").first():
        if line.copy.record.title in missing:
            missing.remove(line.copy.record.title)
            picking.mark_not_found(line=line, reason="absent")
        else:
            picking.mark_found(line=line)
    return run


def test_work_for_a_closed_library_is_not_counted_as_copies_to_pull():
    pdi = make_branch(code="PDI", name="Part-Dieu")
    crx = make_branch(code="CRX", name="Croix-Rousse")
    patron = make_patron(crx)
    with clock(paris(2020, 11, 16, 9)):
        place(patron, crx, "Ailleurs", copies=[pdi])
        place(patron, pdi, "Ici", copies=[pdi])
    Branch.objects.filter(pk=crx.pk).update(service_mode=ServiceMode.CLOSED)
    with clock(paris(2020, 11, 17, 8)):
        on_the_list = picking.build_run(branch=pdi).lines.count()
        (row,) = selectors.workload(branches=[pdi], today=D(2020, 11, 17))
    assert on_the_list == row.to_pull == 1


def test_a_bag_lent_after_it_expired_counts_as_collected():
    branch = make_branch(weekdays=range(7))
    patron = make_patron(branch)
    with clock(paris(2020, 11, 16, 9)):
        request = place(patron, branch, "Tard")
        pull(branch)
    with clock(paris(2020, 11, 23, 8)):
        assert expire_overdue() == 1
    with clock(paris(2020, 11, 23, 10)):
        assert len(desk.lend_expired(patron=patron, branch=branch, request_ids=[request.pk])) == 1
    d = selectors.dashboard(period=Period(D(2020, 11, 16), D(2020, 11, 30)), branches=[branch])
    assert d.loans == 1
    assert (d.closings.counts["collected"], d.closings.counts["expired"]) == (1, 0)
    assert d.closings.collection_rate == 1.0
    assert d.patrons.patrons_collecting == 1
    # Its wait is not a time to pickup: it ran past the deadline to the expiry.
    assert d.delays.collected == 0 and d.delays.to_pickup[0] is None


def test_copies_not_found_and_requests_nothing_could_serve_are_two_figures():
    branch = make_branch()
    patron = make_patron(branch)
    with clock(paris(2020, 11, 16, 9)):
        place(patron, branch, "Deux exemplaires", copies=[branch, branch])  # the second is found
        place(patron, branch, "Un seul")  # nothing else: not served
        place(patron, branch, "Trouvé")
        pull(branch, missing=["Deux exemplaires", "Un seul"])
    d = selectors.dashboard(period=Period(D(2020, 11, 16), D(2020, 11, 16)), branches=[branch])
    with translation.override("en"):
        figures = {key: (str(label), value) for key, label, value in tables.key_figures(d)}
    assert figures["not_found_rate"] == ("Share of copies not found on the shelf", 0.5)  # 2 of 4 lines
    assert figures["not_served_rate"] == (
        "Of the requests ended, share no copy could serve",
        1.0,
    )  # 1 of 1 ended
    assert d.closings.counts["not_found"] == 1


@pytest.mark.parametrize("params", [{"start": "9999-12-31", "end": "9999-12-31"}, {"end": "0001-01-05"}])
@pytest.mark.parametrize(
    "url", ["/en/staff/stats/", "/en/staff/stats/report.pdf", "/en/staff/stats/channels.csv"]
)
def test_days_out_of_reach_are_refused_not_a_server_error(client, params, url):
    make_branch()
    user = get_user_model().objects.create_user(username="nadia", password="x")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    client.force_login(user)
    response = client.get(url, params)
    assert response.status_code == 200
    if url == "/en/staff/stats/":
        assert "Choose a day between 1 January 2000 and" in response.text


def test_the_api_refuses_days_out_of_reach(client):
    make_branch()
    user = get_user_model().objects.create_user(username="nadia", password="secret-pass")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    token = client.post(
        "/api/v1/auth/token",
        {"username": "nadia", "password": "secret-pass"},
        content_type="application/json",
    ).json()["token"]
    response = client.get(
        "/api/v1/stats",
        {"start": "9999-12-31", "end": "9999-12-31"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"


def test_the_printed_report_has_every_department_and_the_branches_table():
    branch = make_branch()
    names = [f"Département {n:02d}" for n in range(14)]
    for n, name in enumerate(names):
        department = make_department(branch, code=f"d{n}", name=name, order=n)
        patron = make_patron(branch, card=f"7000{n:02d}")
        with clock(paris(2020, 11, 16, 9)):
            place(patron, branch, f"Titre {n}", department=department)
    assert Department.objects.count() == 14
    with clock(paris(2020, 11, 16, 10)):
        pull(branch, missing=["Titre 0"])
    pdf = report.service_report(period=Period(D(2020, 11, 16), D(2020, 11, 16)), branches=[branch])
    text = text_of(pdf)
    assert [name for name in names if name in text] == names
    assert "Trouvés et introuvables, par bibliothèque" in text


def test_the_librarys_part_of_the_wait_is_told_apart_from_the_waiting_list():
    from emporter.holds.models import Request

    branch = make_branch()
    patron = make_patron(branch)
    with clock(paris(2020, 11, 16, 9)):
        request = place(patron, branch, "Attendu")
        pull(branch)
    # Ten days on the waiting list, then set aside and pulled within the hour.
    Request.objects.filter(pk=request.pk).update(
        created_at=paris(2020, 11, 6, 9), placed_at=paris(2020, 11, 16, 8), ready_at=paris(2020, 11, 16, 9)
    )
    d = selectors.dashboard(period=Period(D(2020, 11, 16), D(2020, 11, 16)), branches=[branch])
    assert d.delays.to_ready[0] == datetime.timedelta(days=10)
    assert d.delays.pulled[0] == datetime.timedelta(hours=1)
    with translation.override("en"):
        rows = {str(row[0]): row[1:] for row in tables.delays(d).rows}
    assert rows["Copy set aside to ready"] == [datetime.timedelta(hours=1), datetime.timedelta(hours=1), 1]


def test_departments_rank_by_a_not_found_rate_their_lines_vouch_for():
    from emporter.stats.selectors import Outcome, fold_outcomes

    counts = [(1, "Une ligne", 0, 1), (2, "Arts", 700, 300), (3, "Jeunesse", 990, 10)]
    rows = [
        {"run__branch_id": 1, "run__branch__name": "PDI", "run__branch__code": "PDI", "department_id": d,
         "department__name": name, "department__code": name.lower(), "type": "book", "found": found,
         "not_found": not_found}
        for d, name, found, not_found in counts
    ]  # fmt: skip
    ranked = fold_outcomes(rows, "department")
    assert [o.label for o in ranked] == ["Arts", "Une ligne", "Jeunesse"]  # 30 % of 1,000 before 1 of 1
    assert Outcome("x", 0, 0).surely_not_found == 0.0
    assert 0.27 < Outcome("x", 700, 300).surely_not_found < 0.30


def test_a_copy_found_for_a_request_cancelled_meanwhile_counts_as_found():
    from emporter.holds.services import cancel_request

    branch = make_branch()
    patron = make_patron(branch)
    with clock(paris(2020, 11, 16, 9)):
        request = place(patron, branch, "Annulé en route")
        run = picking.build_run(branch=branch, kind="late")
        cancel_request(request=request)
        picking.mark_found(line=run.lines.get())
    outcomes = selectors.pick_outcomes(
        period=Period(D(2020, 11, 16), D(2020, 11, 16)), branch_ids=[branch.pk], by="branch"
    )
    assert [(o.found, o.not_found) for o in outcomes] == [(1, 0)]


def test_the_pseudonym_migration_keys_as_the_code_does(settings):
    import importlib
    import pathlib

    import emporter.holds
    from emporter.holds.models import patron_pseudonym

    name = next((pathlib.Path(emporter.holds.__file__).parent / "migrations").glob("0004_*.py")).stem
    migration = importlib.import_module(f"emporter.holds.migrations.{name}")
    settings.PSEUDONYM_KEY = "a key set apart from SECRET_KEY"
    assert migration.pseudonym(42) == patron_pseudonym(42)


def test_one_librarys_files_are_named_after_it(client):
    branch = make_branch(code="PDI")
    make_branch(code="CRX", name="Croix-Rousse")
    user = get_user_model().objects.create_user(username="manon", password="x")
    StaffRole.objects.create(user=user, role=Role.BRANCH_MANAGER, branch=branch)
    client.force_login(user)
    period = {"start": "2020-11-16", "end": "2020-11-22"}
    csv = client.get("/staff/stats/channels.csv", period)
    assert (
        csv["Content-Disposition"] == 'attachment; filename="emporter-channels-PDI-2020-11-16-2020-11-22.csv"'
    )
    pdf = client.get("/staff/stats/report.pdf", period)
    assert pdf["Content-Disposition"] == 'inline; filename="emporter-rapport-PDI-2020-11-16-2020-11-22.pdf"'


def test_the_workload_says_what_is_late():
    from emporter.holds.services import expire_overdue
    from emporter.picking.models import PickRun

    branch = make_branch(weekdays=range(7))
    patron = make_patron(branch)
    with clock(paris(2020, 11, 16, 9)):
        expired = place(patron, branch, "Oublié")
        pull(branch)
        place(patron, branch, "Pas encore tiré")
        picking.build_run(branch=branch, kind="late")  # its line left pending that day
    expired.refresh_from_db()
    expire_overdue(today=expired.hold_until + datetime.timedelta(days=1))  # still in its bag
    assert PickRun.objects.filter(lines__status="pending").count() == 1
    (row,) = selectors.workload(branches=[branch], today=D(2020, 11, 30))
    assert (row.late_lines, row.to_take_out) == (1, 1)


def test_a_bag_cancelled_once_ready_counts_against_the_collection_rate():
    # Pulled and bagged for nothing, as an expired bag: 1 collected of 4 ready is 25 %.
    from emporter.holds.models import Request, Status
    from emporter.holds.services import cancel_request

    branch = make_branch(weekdays=range(7))
    patron = make_patron(branch)
    with clock(paris(2020, 11, 16, 9)):
        requests = [place(patron, branch, title) for title in ("Un", "Deux", "Trois", "Quatre")]
        pull(branch)
    with clock(paris(2020, 11, 17, 10)):
        desk.hand_over(patron=patron, branch=branch, request_ids=[requests[0].pk])
        for request in requests[1:]:
            cancel_request(request=Request.objects.get(pk=request.pk))
    d = selectors.dashboard(period=Period(D(2020, 11, 16), D(2020, 11, 30)), branches=[branch])
    assert Request.objects.filter(status=Status.CANCELLED, ready_at__isnull=False).count() == 3
    assert (d.closings.counts["collected"], d.closings.counts["cancelled"]) == (1, 3)
    assert d.closings.cancelled_ready == 3
    assert d.closings.collection_rate == 0.25
    figures = {key: value for key, _label, value in tables.key_figures(d)}
    assert figures["cancelled_ready"] == 3


def test_surprise_bags_asked_composed_and_how_long_they_waited():
    # Their requests are created when composed: the report says how long the patron
    # waited before that, which the other delays cannot.
    from emporter.discovery import services as surprise

    branch = make_branch(weekdays=range(7))
    patron = make_patron(branch)
    librarian = get_user_model().objects.create_user("biblio")
    StaffRole.objects.create(user=librarian, role=Role.BRANCH_MANAGER, branch=branch)
    ask = dict(asked_by=patron, patron=patron, pickup_branch=branch, how_many=1)
    with clock(paris(2020, 11, 16, 9)):  # Monday
        slow = surprise.create_surprise_request(**ask)
    with clock(paris(2020, 11, 17, 9)):
        quick = surprise.create_surprise_request(**ask)
        never = surprise.create_surprise_request(**ask)
        surprise.cancel_surprise_request(surprise=never)
    with clock(paris(2020, 11, 17, 13)):  # 4 hours
        surprise.compose_surprise_request(
            surprise=quick, record_ids=[make_record("A", [branch]).pk], actor=librarian
        )
    with clock(paris(2020, 11, 18, 9)):  # Wednesday: 2 days
        surprise.compose_surprise_request(
            surprise=slow, record_ids=[make_record("B", [branch]).pk], actor=librarian
        )
    d = selectors.dashboard(period=Period(D(2020, 11, 16), D(2020, 11, 30)), branches=[branch])
    assert (d.surprises.asked, d.surprises.composed, d.surprises.cancelled) == (3, 2, 1)
    assert d.surprises.to_compose == datetime.timedelta(days=1, hours=2)  # the median of 4 h and 48 h
    figures = {key: value for key, _label, value in tables.key_figures(d)}
    assert figures["surprises_asked"] == 3 and figures["median_to_compose"] == d.surprises.to_compose
