"""The service report when a request changes library: a request counts for the library
where it is to be collected now, in every figure (placed, per day and channel, patrons,
delays, how it ended, loans), on the page, in the CSV files and in the PDF. Pick lines
count where the copy was pulled from: they are about shelves.

What happens in continuity mode: a library closes, its patrons choose another one, and
the report of either library must still agree with itself (the phone share of a library
never goes over 100 %, its requests per channel add up to its requests placed)."""

import csv
import datetime
import io
from contextlib import contextmanager
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from emporter.desk import services as desk
from emporter.holds.continuity import set_mode
from emporter.holds.models import Channel, Status
from emporter.holds.services import change_pickup, place_request
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.stats import report, selectors, tables
from emporter.stats.selectors import Period
from tests.conftest import make_branch, make_patron, make_record
from tests.test_stats_report import text_of

TZ = timezone.get_fixed_timezone(60)  # Paris in November (CET)
PERIOD = Period(datetime.date(2020, 11, 16), datetime.date(2020, 11, 22))


def at(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2020, 11, day, hour, minute, tzinfo=TZ)


@contextmanager
def clock(when: datetime.datetime):
    """Every timezone.now() (services and auto_now fields alike) answers ``when``."""
    with mock.patch("django.utils.timezone.now", return_value=when):
        yield


def place(patron, title, pickup, copies, channel=Channel.ONLINE):
    record = make_record(title=title, copies=copies)
    return place_request(patron=patron, record_id=record.pk, pickup_branch=pickup, channel=channel)[0]


def figures(d) -> dict:
    return {key: value for key, _label, value in tables.key_figures(d)}


def consistent(d) -> None:
    """What every report must say of itself, whatever moved."""
    assert sum(d.per_channel.values()) == d.patrons.requests
    assert sum(row.total for row in d.per_day) == d.patrons.requests
    share = figures(d)["phone_share"]
    assert share is None or 0 <= share <= 1
    assert d.closings.counts[Status.COLLECTED] == d.delays.collected == d.loans


def test_the_reviewers_case_two_phone_requests_one_moved(patron, branch, other_branch):
    """2 phone requests at A, one moved to B: A showed 2 per channel against 1 placed,
    a phone share of 200 %. Now each library counts the request it will hand over."""
    place(patron, "Un", branch, [branch, other_branch], Channel.PHONE)
    moved = place(patron, "Deux", branch, [branch, other_branch], Channel.PHONE)
    change_pickup(request=moved, branch=other_branch)

    period = Period.last_days(7)
    a = selectors.dashboard(period=period, branches=[branch])
    b = selectors.dashboard(period=period, branches=[other_branch])
    both = selectors.dashboard(period=period, branches=[branch, other_branch])
    for d in (a, b, both):
        consistent(d)
    assert (a.patrons.requests, a.per_channel[Channel.PHONE], figures(a)["phone_share"]) == (1, 1, 1)
    assert (b.patrons.requests, b.per_channel[Channel.PHONE], figures(b)["phone_share"]) == (1, 1, 1)
    assert (both.patrons.requests, both.per_channel[Channel.PHONE]) == (2, 2)
    # The channels table and its share column say the same as the key figures.
    assert [row[1:] for row in tables.channels(a).rows if row[1]] == [[1, 1.0]]


@pytest.fixture
def continuity(db):
    """Week of 16 Nov 2020. Part-Dieu (A) and Croix-Rousse (B), both click-and-collect.

    16 Nov 10:00  Anne places at A: "Un" by phone (copy at A), "Deux" by phone and
                  "Trois" online (their copies at B, sent to A once found).
    16 Nov 15:00  A closes; Anne chooses to collect "Deux" and "Trois" at B (their copies
                  are there) — "Un" stays at A, whose shelves nobody can reach.
    17 Nov 09:00  B's morning run: "Deux" found, "Trois" not found.
    18 Nov 11:00  Anne collects "Deux" at B (26 h after it was ready).
    """
    a = make_branch(code="PDI", name="Bibliothèque de la Part-Dieu")
    b = make_branch(code="CRX", name="Médiathèque de la Croix-Rousse")
    anne = make_patron(a, card="20000001", first_name="Anne")
    with clock(at(16, 10)):
        place(anne, "Un", a, [a], Channel.PHONE)
        deux = place(anne, "Deux", a, [b], Channel.PHONE)
        trois = place(anne, "Trois", a, [b])
    with clock(at(16, 15)):
        set_mode(branches=Branch.objects.filter(pk=a.pk), mode=ServiceMode.CLOSED, actor=None)
        for request in (deux, trois):
            change_pickup(request=request, branch=b)
    with clock(at(17, 9)):
        run = picking.build_run(branch=b)
        for line in run.lines.select_related("copy__record"):
            if line.copy.record.title == "Deux":
                picking.mark_found(line=line)
            else:
                picking.mark_not_found(line=line, cause="shelf")
    with clock(at(18, 11)):
        desk.hand_over(patron=anne, branch=b)
    a.refresh_from_db()
    return a, b


def test_every_figure_follows_the_request_to_its_new_library(continuity):
    a, b = continuity
    at_a = selectors.dashboard(period=PERIOD, branches=[a], today=datetime.date(2020, 11, 22))
    at_b = selectors.dashboard(period=PERIOD, branches=[b], today=datetime.date(2020, 11, 22))
    for d in (at_a, at_b):
        consistent(d)
    # A keeps "Un", placed by phone, still waiting for A to reopen.
    assert (at_a.patrons.requests, at_a.patrons.patrons) == (1, 1)
    assert at_a.per_channel == {"online": 0, "app": 0, "phone": 1, "desk": 0, "surprise": 0}
    assert figures(at_a)["phone_share"] == 1
    assert at_a.closings.counts == dict.fromkeys(selectors.CLOSINGS, 0)
    # B has the two Anne moved there, on the day she placed them, and what became of them.
    assert (at_b.patrons.requests, at_b.patrons.patrons) == (2, 1)
    assert at_b.per_channel == {"online": 1, "app": 0, "phone": 1, "desk": 0, "surprise": 0}
    assert {row.day: row.total for row in at_b.per_day if row.total} == {datetime.date(2020, 11, 16): 2}
    assert figures(at_b)["phone_share"] == 0.5
    assert at_b.closings.counts == {"collected": 1, "expired": 0, "not_found": 1, "cancelled": 0}
    assert (at_b.delays.ready, at_b.delays.to_pickup[0]) == (1, datetime.timedelta(hours=26))
    assert at_b.patrons.patrons_collecting == 1
    # Pulled from B's shelves: B's pick lines (nothing was pulled at A).
    assert [(o.label, o.found, o.not_found) for o in at_b.by_branch] == [(b.name, 1, 1)]
    assert at_a.by_branch == []
    # The network is the sum of its libraries.
    both = selectors.dashboard(period=PERIOD, branches=[a, b], with_workload=False)
    consistent(both)
    assert both.patrons.requests == 3 and both.per_channel[Channel.PHONE] == 2


def test_a_request_placed_before_the_period_counts_only_how_it_ended(db):
    a = make_branch(code="PDI", name="Part-Dieu")
    b = make_branch(code="CRX", name="Croix-Rousse")
    anne = make_patron(a, card="20000001")
    with clock(at(15, 18)):  # the Sunday before the period
        request = place(anne, "Un", a, [b], Channel.PHONE)
    with clock(at(16, 8)):
        change_pickup(request=request, branch=b)
    with clock(at(16, 9)):
        for line in picking.build_run(branch=b).lines.all():
            picking.mark_found(line=line)
    with clock(at(16, 17)):
        desk.hand_over(patron=anne, branch=b)
    this = selectors.dashboard(period=PERIOD, branches=[b], with_workload=False)
    consistent(this)
    assert (this.patrons.requests, sum(this.per_channel.values())) == (0, 0)
    assert (this.closings.counts[Status.COLLECTED], this.loans, this.delays.ready) == (1, 1, 1)
    # The previous period (the PDF's comparison) has it placed, at B too.
    before = selectors.dashboard(period=PERIOD.previous(), branches=[b], with_workload=False)
    consistent(before)
    assert (before.patrons.requests, before.per_channel[Channel.PHONE]) == (1, 1)
    for d in (this, before):
        nothing_at_a = selectors.dashboard(period=d.period, branches=[a], with_workload=False)
        assert (nothing_at_a.patrons.requests, sum(nothing_at_a.per_channel.values())) == (0, 0)


def test_the_page_the_csv_and_the_pdf_agree(client, continuity):
    a, b = continuity
    user = get_user_model().objects.create_user(username="manon", password="x")
    StaffRole.objects.create(user=user, role=Role.BRANCH_MANAGER, branch=a)
    client.force_login(user)
    params = {"start": "2020-11-16", "end": "2020-11-22", "branch": a.pk}
    page = client.get(reverse("stats:dashboard"), params).context["dashboard"]
    assert page.patrons.requests == sum(page.per_channel.values()) == 1

    def csv_rows(name):
        response = client.get(reverse("stats:csv", args=[name]), params)
        return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))[1:]

    key = {figure: value for figure, value, _unit in csv_rows("key_figures")}
    assert key[str(_("Requests placed"))] == "1"
    assert key[str(_("Share of phone requests"))] == "100,0"
    assert sum(int(row[1]) for row in csv_rows("channels")) == 1
    assert sum(int(row[-1]) for row in csv_rows("requests_per_day")) == 1

    text = text_of(report.service_report(period=PERIOD, branches=[a]))
    assert "100,0 %" in text and "200,0 %" not in text


def test_the_report_reads_no_event_and_a_fixed_number_of_queries(continuity):
    """Bounded: the same queries whatever the history, none over the event log (which
    would need a join to know where each request is collected now)."""
    a, b = continuity

    def queries():
        with CaptureQueriesContext(connection) as captured:
            selectors.dashboard(period=PERIOD, branches=[a, b], today=datetime.date(2020, 11, 22))
        return [q["sql"] for q in captured.captured_queries]

    first = queries()
    anne = make_patron(b, card="20000002")
    with clock(at(19, 10)):
        for n in range(5):
            place(anne, f"Encore {n}", b, [b], Channel.DESK)
    again = queries()
    assert len(again) == len(first)
    assert not any("holds_requestevent" in sql for sql in again)
