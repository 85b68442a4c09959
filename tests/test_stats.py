"""A small click-and-collect history, built with the real services on a stopped clock, whose
every figure is known in advance (worked out in the comments). Shared by the stats tests.

Period: Monday 16 November – Wednesday 2 December 2020 (17 days, the seed's lockdown).
Part-Dieu (PDI): departments Arts et Loisirs (DVDs) and Jeunesse (books).
Croix-Rousse (CRX): department Adultes (books).

Requests (12 by 5 patrons: 2.4 documents per patron; online 9, phone 2, desk 1):
  16 Nov 10:00  Anne (PDI)    DVD 1, DVD 2, Livre 1          online ×3
  16 Nov 14:00  Bruno (PDI)   DVD 3 phone, Livre 2 phone, Livre 3 online
  17 Nov 09:00  Chloé (PDI)   Livre 4, DVD 4 (two copies)    online ×2
  17 Nov 11:00  Damien (CRX)  Livre 5 online, Livre 6 desk
  18 Nov 10:00  Élise (CRX)   Livre 7, Livre 8               online ×2
Pick lines:
  PDI 17 Nov, marked 10:00: DVD 1 ✗, DVD 2 ✓, DVD 3 ✗, Livre 1/2/3 ✓
  PDI 18 Nov, marked 10:00: Livre 4 ✓, DVD 4 ✗ (retargeted to its 2nd copy);
      late run 14:30: DVD 4 (2nd copy) ✓
  CRX 18 Nov 10:00: Livre 5 ✓, Livre 6 ✗;  CRX 19 Nov 10:00: Livre 7 ✓, Livre 8 ✓
  → Arts et Loisirs 2 found / 3 not found (60 %), Jeunesse 4/0, Adultes 3/1 (25 %)
Handovers: Anne 18 Nov 17:00 (2 docs, 31 h after ready), Damien 18 Nov 12:00 (1, 2 h),
  Chloé 19 Nov 11:00 (Livre 4 25 h, DVD 4 20 h 30), Élise 20 Nov 10:00 (2, 24 h);
  Bruno never comes: his 2 documents expire on 25 Nov.
  → ready to pickup: 2, 20.5, 24, 24, 25, 31, 31 h: median 24 h, p90 31 h
  → request to ready: 20, 20, 23, 24, 24, 24, 24, 25, 29.5 h: median 24 h, p90 25.9 h
Before the period: Anne placed one more request on 10 Nov and cancelled it the same day.
"""

import csv
import datetime
import io
from contextlib import contextmanager
from dataclasses import dataclass
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from emporter.catalogue.models import DocType
from emporter.desk import services as desk
from emporter.holds.models import Bag, Channel, Status
from emporter.holds.services import cancel_request, expire_overdue, place_request
from emporter.network.models import Branch
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.picking.models import PickRun
from emporter.stats import selectors
from emporter.stats.selectors import Period
from tests.conftest import make_branch, make_department, make_patron, make_record

PERIOD = Period(datetime.date(2020, 11, 16), datetime.date(2020, 12, 2))
TZ = timezone.get_fixed_timezone(60)  # Paris in November (CET)


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime.datetime:
    return datetime.datetime(2020, month, day, hour, minute, tzinfo=TZ)


@contextmanager
def clock(when: datetime.datetime):
    """Every timezone.now() (services and auto_now fields alike) answers ``when``."""
    with mock.patch("django.utils.timezone.now", return_value=when):
        yield


@dataclass
class History:
    pdi: object
    crx: object
    patrons: dict


def _request(patron, branch, title, department, *, doc_type="book", channel=Channel.ONLINE, copies=1):
    record = make_record(title=title, doc_type=doc_type, copies=[branch] * copies)
    record.copies.update(department=department)
    request, _replayed = place_request(
        patron=patron, record_id=record.pk, pickup_branch=branch, channel=channel
    )
    return request


def _mark(run, *, missing=()):
    for line in run.lines.filter(status="pending").select_related("copy__record").order_by("pk"):
        if line.copy.record.title in missing:
            picking.mark_not_found(line=line, cause="shelf")
        else:
            picking.mark_found(line=line)


def build_history() -> History:
    pdi = make_branch(code="PDI", name="Bibliothèque de la Part-Dieu", is_central=True)
    crx = make_branch(code="CRX", name="Médiathèque de la Croix-Rousse")
    arts = make_department(pdi, code="arts", name="Arts et Loisirs", order=1)
    youth = make_department(pdi, code="jeunesse", name="Jeunesse", order=2)
    adults = make_department(crx, code="adultes", name="Adultes")
    people = {
        name: make_patron(branch, card=card, first_name=name, last_name=last)
        for name, card, branch, last in [
            ("Anne", "20000001", pdi, "Arnaud"),
            ("Bruno", "20000002", pdi, "Blanc"),
            ("Chloé", "20000003", pdi, "Cœur"),
            ("Damien", "20000004", crx, "Dubois"),
            ("Élise", "20000005", crx, "Étienne"),
        ]
    }
    with clock(at(10, 15)):
        cancel_request(request=_request(people["Anne"], pdi, "Avant", youth))
    with clock(at(16, 10)):
        _request(people["Anne"], pdi, "DVD 1", arts, doc_type="dvd")
        _request(people["Anne"], pdi, "DVD 2", arts, doc_type="dvd")
        _request(people["Anne"], pdi, "Livre 1", youth)
    with clock(at(16, 14)):
        _request(people["Bruno"], pdi, "DVD 3", arts, doc_type="dvd", channel=Channel.PHONE)
        _request(people["Bruno"], pdi, "Livre 2", youth, channel=Channel.PHONE)
        _request(people["Bruno"], pdi, "Livre 3", youth)
    with clock(at(17, 9)):
        _request(people["Chloé"], pdi, "Livre 4", youth)
        _request(people["Chloé"], pdi, "DVD 4", arts, doc_type="dvd", copies=2)
        pdi_17 = picking.build_run(branch=pdi)
    with clock(at(17, 10)):
        _mark(pdi_17, missing={"DVD 1", "DVD 3"})
    with clock(at(17, 11)):
        _request(people["Damien"], crx, "Livre 5", adults)
        _request(people["Damien"], crx, "Livre 6", adults, channel=Channel.DESK)
    with clock(at(18, 9)):
        pdi_18 = picking.build_run(branch=pdi)
        crx_18 = picking.build_run(branch=crx)
    with clock(at(18, 10)):
        _mark(pdi_18, missing={"DVD 4"})
        _mark(crx_18, missing={"Livre 6"})
        _request(people["Élise"], crx, "Livre 7", adults)
        _request(people["Élise"], crx, "Livre 8", adults)
    with clock(at(18, 12)):
        desk.hand_over(patron=people["Damien"], branch=crx)
    with clock(at(18, 14, 30)):
        # DVD 4's other copy went onto the morning list when the first was not found.
        _mark(pdi_18)
    with clock(at(18, 17)):
        desk.hand_over(patron=people["Anne"], branch=pdi)
    with clock(at(19, 9)):
        crx_19 = picking.build_run(branch=crx)
    with clock(at(19, 10)):
        _mark(crx_19)
    with clock(at(19, 11)):
        desk.hand_over(patron=people["Chloé"], branch=pdi)
    with clock(at(20, 10)):
        desk.hand_over(patron=people["Élise"], branch=crx)
    with clock(at(25, 8)):
        expire_overdue()
    return History(pdi=pdi, crx=crx, patrons=people)


HOUR = datetime.timedelta(hours=1)


@pytest.fixture(scope="module")
def built_history(django_db_setup, django_db_blocker):
    """The history, built once for a module's tests (as Django's setUpTestData does): in a
    transaction each test's own nests in, rolled back after the module's last test."""
    with django_db_blocker.unblock():
        kept = transaction.atomic()
        kept.__enter__()
        built = build_history()
    try:
        yield built
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            kept.__exit__(None, None, None)


@pytest.fixture
def history(built_history, db):
    return built_history


def network():
    return list(Branch.objects.all())


def test_documents_per_patron_is_requests_over_patrons_who_placed_them(history):
    patrons = selectors.patrons(period=PERIOD, branch_ids=[b.pk for b in network()])
    assert (patrons.requests, patrons.patrons) == (12, 5)
    assert patrons.documents_per_patron == pytest.approx(2.4)
    assert patrons.patrons_collecting == 4  # Bruno never came


def test_requests_per_channel_and_per_day(history):
    d = selectors.dashboard(period=PERIOD, branches=network())
    assert d.per_channel == {"online": 9, "app": 0, "phone": 2, "desk": 1, "surprise": 0}
    by_day = {row.day.day: row.counts for row in d.per_day if row.total}
    assert by_day == {
        16: {"online": 4, "app": 0, "phone": 2, "desk": 0, "surprise": 0},
        17: {"online": 3, "app": 0, "phone": 0, "desk": 1, "surprise": 0},
        18: {"online": 2, "app": 0, "phone": 0, "desk": 0, "surprise": 0},
    }
    assert len(d.per_day) == 17


def test_not_found_rate_per_department_branch_and_document_type(history):
    outcomes = {
        by: {
            (o.branch, o.label): (o.found, o.not_found, o.not_found_rate)
            for o in selectors.pick_outcomes(period=PERIOD, branch_ids=[b.pk for b in network()], by=by)
        }
        for by in ("department", "branch", "doc_type")
    }
    assert outcomes["department"] == {
        ("Bibliothèque de la Part-Dieu", "Arts et Loisirs"): (2, 3, 0.6),
        ("Bibliothèque de la Part-Dieu", "Jeunesse"): (4, 0, 0.0),
        ("Médiathèque de la Croix-Rousse", "Adultes"): (3, 1, 0.25),
    }
    assert outcomes["branch"] == {
        ("", "Bibliothèque de la Part-Dieu"): (6, 3, pytest.approx(1 / 3)),
        ("", "Médiathèque de la Croix-Rousse"): (3, 1, 0.25),
    }
    assert outcomes["doc_type"] == {
        ("", str(DocType.DVD.label)): (2, 3, 0.6),
        ("", str(DocType.BOOK.label)): (7, 1, 0.125),
    }


def test_median_and_90th_percentile_of_the_delays(history):
    delays = selectors.delays(period=PERIOD, branch_ids=[b.pk for b in network()])
    assert (delays.ready, delays.collected) == (9, 7)
    assert delays.to_pickup == [24 * HOUR, 31 * HOUR]
    # 9 values: the 90th percentile is interpolated between the 8th (25 h) and 9th (29.5 h).
    assert delays.to_ready == [24 * HOUR, 25.9 * HOUR]


def test_collected_vs_expired_and_how_requests_ended(history):
    closings = selectors.closings(period=PERIOD, branch_ids=[b.pk for b in network()])
    assert closings.counts == {"collected": 7, "expired": 2, "not_found": 3, "cancelled": 0}
    assert closings.collection_rate == pytest.approx(7 / 9)


def test_loans_at_the_door_per_day(history):
    loans = dict(selectors.loans_per_day(period=PERIOD, branch_ids=[b.pk for b in network()]))
    assert {day.day: n for day, n in loans.items() if n} == {18: 3, 19: 2, 20: 2}


def test_the_previous_period_of_equal_length_is_counted_apart(history):
    before = PERIOD.previous()
    assert (before.start, before.end) == (datetime.date(2020, 10, 30), datetime.date(2020, 11, 15))
    d = selectors.dashboard(period=before, branches=network())
    assert (d.patrons.requests, d.closings.counts["cancelled"], d.closings.counts["collected"]) == (1, 1, 0)


def test_figures_for_one_branch_only_count_that_branch(history):
    d = selectors.dashboard(period=PERIOD, branches=[history.crx])
    assert (d.patrons.requests, d.patrons.patrons, d.patrons.documents_per_patron) == (4, 2, 2.0)
    assert d.per_channel == {"online": 3, "app": 0, "phone": 0, "desk": 1, "surprise": 0}
    assert [(o.label, o.not_found) for o in d.by_department] == [("Adultes", 1)]
    assert d.closings.counts["collected"] == 3


def test_todays_workload_counts_copies_to_pull_and_bags(history):
    with clock(at(1, 9, month=12)):
        anne = history.patrons["Anne"]
        _request(anne, history.pdi, "Nouveau", None)
        _request(anne, history.pdi, "Prêt", None)
        run = picking.build_run(branch=history.pdi, kind=PickRun.Kind.LATE)
        line = run.lines.get(copy__record__title="Prêt")
        picking.mark_found(line=line)
        _request(anne, history.pdi, "Encore", None)
        tomorrow = datetime.date(2020, 12, 2)
        Bag.objects.filter(state=Bag.State.OPEN).update(hold_until=tomorrow)
        rows = selectors.workload(branches=network(), today=datetime.date(2020, 12, 1))
    # "Nouveau" is on the late run, still to pull; "Encore" is set aside for the next run.
    assert {w.branch: (w.to_pull, w.bags_open, w.bags_expiring) for w in rows} == {
        "Bibliothèque de la Part-Dieu": (2, 1, 1),
        "Médiathèque de la Croix-Rousse": (0, 0, 0),
    }


# The pages -----------------------------------------------------------------------------


def staff(client, username, role, branch=None):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    client.force_login(user)
    return client


PARAMS = {"start": "2020-11-16", "end": "2020-12-02"}


def test_a_manager_sees_only_their_branches(client, history):
    staff(client, "manon", Role.BRANCH_MANAGER, history.crx)
    response = client.get(reverse("stats:dashboard"), PARAMS)
    assert response.status_code == 200
    d = response.context["dashboard"]
    assert d.patrons.requests == 4
    assert [w.branch for w in d.workload] == ["Médiathèque de la Croix-Rousse"]
    assert "Part-Dieu" not in response.content.decode()
    # Asking for a branch outside their scope is refused with a message, not shown.
    response = client.get(reverse("stats:dashboard"), PARAMS | {"branch": history.pdi.pk})
    assert response.context["form"].errors["branch"]
    assert response.context["dashboard"].patrons.requests == 4


def test_the_form_opened_without_a_choice_names_the_period_and_branch_shown(client, history):
    staff(client, "manon", Role.BRANCH_MANAGER, history.crx)
    response = client.get(reverse("stats:dashboard"))
    period = response.context["period"]
    page = response.content.decode()
    assert f'name="start" value="{period.start.isoformat()}"' in page
    assert f'name="end" value="{period.end.isoformat()}"' in page
    assert f'<option value="{history.crx.pk}" selected>' in page


def test_a_network_administrator_sees_every_branch(client, history):
    staff(client, "nadia", Role.NETWORK_ADMIN)
    response = client.get(reverse("stats:dashboard"), PARAMS)
    page = response.content.decode()
    assert response.context["dashboard"].patrons.requests == 12
    assert "Arts et Loisirs" in page
    # Each chart is a titled picture; its numbers are in a table with headers beside it.
    assert page.count('role="img"') == len(response.context["charts"]) == 5
    assert '<th scope="col"' in page and "<caption>" in page


def test_a_patron_is_refused_and_a_visitor_sent_to_sign_in(client, history):
    response = client.get(reverse("stats:dashboard"))
    assert response.status_code == 302 and "login" in response["Location"]
    client.force_login(history.patrons["Anne"].user)
    assert client.get(reverse("stats:dashboard")).status_code == 403
    assert client.get(reverse("stats:csv", args=["channels"])).status_code == 403
    staff(client, "pierre", Role.PICKER, history.pdi)
    assert client.get(reverse("stats:report_pdf")).status_code == 403


def test_a_period_ending_before_it_starts_is_refused_and_the_default_shown(client, history):
    staff(client, "nadia", Role.NETWORK_ADMIN)
    response = client.get(reverse("stats:dashboard"), {"start": "2020-12-02", "end": "2020-11-16"})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert response.context["period"].days == 30
    response = client.get(reverse("stats:dashboard"), {"start": "le 16"})
    assert response.context["form"].errors["start"]


def test_csv_export_of_the_department_table(client, history):
    staff(client, "nadia", Role.NETWORK_ADMIN)
    response = client.get(reverse("stats:csv", args=["pick_by_department"]), PARAMS)
    assert response.status_code == 200
    # French spreadsheet conventions: columns split on ";", a decimal comma.
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1:] == [
        ["Bibliothèque de la Part-Dieu", "Arts et Loisirs", "2", "3", "60,0"],
        ["Médiathèque de la Croix-Rousse", "Adultes", "3", "1", "25,0"],
        ["Bibliothèque de la Part-Dieu", "Jeunesse", "4", "0", "0,0"],
    ]
    assert rows[0][-1] == "Taux d’introuvables (%)"  # a number's unit is in its heading
    response = client.get(reverse("stats:csv", args=["key_figures"]), PARAMS)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Indicateur", "Valeur", "Unité"]
    figures = {figure: (value, unit) for figure, value, unit in rows[1:]}
    assert figures[str(_("Documents per patron"))] == ("2,4", "")
    assert figures[str(_("Median time from ready to pickup"))] == ("24,0", "heures")
    assert figures[str(_("Collection rate"))] == ("77,8", "%")
    with translation.override("en"):
        english = client.get(reverse("stats:csv", args=["key_figures"]), PARAMS)
    rows = list(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))
    assert {figure: value for figure, value, _unit in rows[1:]}["Documents per patron"] == "2.4"
    assert client.get(reverse("stats:csv", args=["nope"]), PARAMS).status_code == 404


# The API -------------------------------------------------------------------------------


def api_token(client, username, role, branch=None):
    user = get_user_model().objects.create_user(username=username, password="secret-pass")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    body = {"username": username, "password": "secret-pass"}
    response = client.post("/api/v1/auth/token", body, content_type="application/json")
    return {"Authorization": f"Bearer {response.json()['token']}"}


def test_the_api_gives_the_same_figures_as_json(client, history):
    headers = api_token(client, "nadia", Role.NETWORK_ADMIN)
    body = client.get("/api/v1/stats", PARAMS, headers=headers).json()
    assert body["period"] == {"start": "2020-11-16", "end": "2020-12-02", "days": 17}
    assert body["key_figures"]["documents_per_patron"] == pytest.approx(2.4)
    assert body["key_figures"]["median_to_pickup"] == 24 * 3600
    assert body["tables"]["channels"][0] == {
        "code": "online",
        "channel": str(Channel.ONLINE.label),
        "requests": 9,
        "share": 0.75,
    }
    one = client.get("/api/v1/stats/closings", PARAMS, headers=headers).json()
    assert {r["outcome"]: r["requests"] for r in one["rows"]}[str(Status.EXPIRED.label)] == 2


def test_the_api_keeps_a_manager_to_their_branches(client, history):
    headers = api_token(client, "manon", Role.BRANCH_MANAGER, history.crx)
    body = client.get("/api/v1/stats", PARAMS, headers=headers).json()
    assert [b["code"] for b in body["branches"]] == ["CRX"]
    assert body["key_figures"]["requests"] == 4
    response = client.get("/api/v1/stats", PARAMS | {"branch": history.pdi.pk}, headers=headers)
    assert response.status_code == 403
    response = client.get("/api/v1/stats", {"start": "2020-12-02", "end": "2020-11-16"}, headers=headers)
    assert response.status_code == 422 and response.json()["code"] == "invalid_input"
    patron = api_token(client, "picker", Role.PICKER, history.crx)
    assert client.get("/api/v1/stats", headers=patron).status_code == 403


def test_rotating_the_secret_key_keeps_people_counted_once_with_a_pseudonym_key(settings):
    from emporter.holds.models import patron_pseudonym

    settings.SECRET_KEY = "old"
    settings.PSEUDONYM_KEY = "old"
    before = patron_pseudonym(42)
    settings.SECRET_KEY = "new"  # rotated; the pseudonym key set to the old value first
    assert patron_pseudonym(42) == before
    settings.PSEUDONYM_KEY = "new"
    assert patron_pseudonym(42) != before


def test_a_name_a_spreadsheet_would_run_as_a_formula_is_written_as_text(client, history):
    history.pdi.departments.filter(name="Arts et Loisirs").update(name='=HYPERLINK("http://x","Arts")')
    staff(client, "nadia", Role.NETWORK_ADMIN)
    response = client.get(reverse("stats:csv", args=["pick_by_department"]), PARAMS)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert ["Bibliothèque de la Part-Dieu", '\'=HYPERLINK("http://x","Arts")', "2", "3", "60,0"] in rows
