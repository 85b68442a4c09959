"""Figures of the service report checked by hand (fourteenth session's review): what is
late once the morning lists are built, and numbers rounded as people round them."""

import datetime

from django.utils import timezone, translation

from emporter.holds.models import Request
from emporter.holds.services import place_request
from emporter.picking import services as picking
from emporter.picking.models import PickLine, PickRun
from emporter.stats import report, selectors, tables
from tests.conftest import make_branch, make_patron, make_record


def test_a_copy_nobody_pulled_since_an_earlier_list_is_late_after_the_morning_list(db):
    branch = make_branch(weekdays=range(7))
    place_request(patron=make_patron(branch), record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    placed_yesterday()  # on this morning's list whatever the hour
    picking.build_run(branch=branch)  # today's list: nothing late yet
    (row,) = selectors.workload(branches=[branch])
    assert (row.to_pull, row.late_lines) == (1, 0)
    # Nobody marked it: that list was two days ago, and this morning's carries it over.
    PickRun.objects.update(run_date=timezone.localdate() - datetime.timedelta(days=2))
    picking.build_run(branch=branch)
    assert PickLine.objects.filter(status="carried").count() == 1
    (row,) = selectors.workload(branches=[branch])
    assert (row.to_pull, row.late_lines) == (1, 1)


def test_numbers_are_rounded_half_up_on_the_page_as_in_the_csv():
    with translation.override("fr"):
        assert tables.display(9 / 4, tables.NUMBER) == "2,3"
        assert tables.display(0.12345, tables.RATE) == "12,3\u00a0%"
    with translation.override("en"):
        assert tables.display(9 / 4, tables.NUMBER) == "2.3"
        assert tables.plain(0.00125, tables.RATE) == 0.1


def test_a_delay_past_a_day_is_rounded_to_the_nearest_hour():
    with translation.override("en"):
        assert tables.duration_text(datetime.timedelta(hours=28, minutes=30)) == "1 day 5 h"
        assert tables.duration_text(datetime.timedelta(hours=28, minutes=29)) == "1 day 4 h"
        assert tables.duration_text(datetime.timedelta(hours=23, minutes=59, seconds=50)) == "1 day 0 h"
        assert tables.duration_text(datetime.timedelta(hours=2, minutes=5)) == "2 h 05"


def test_a_change_in_percent_is_written_as_each_language_writes_it():
    with translation.override("en"):
        assert report.change(150, 10, tables.INT) == "+1400%"
    with translation.override("fr"):
        assert report.change(150, 10, tables.INT) == "+1400\u00a0%"


def test_a_past_months_figures_by_type_stay_when_a_reimport_corrects_a_type(db):
    from emporter.catalogue.models import Copy

    branch = make_branch(weekdays=range(7))
    record = make_record(title="Film", doc_type="dvd", copies=[branch])
    place_request(patron=make_patron(branch), record_id=record.pk, pickup_branch=branch)
    placed_yesterday()  # on this morning's list whatever the hour
    (line,) = picking.build_run(branch=branch).lines.all()
    picking.mark_not_found(line=line, cause="shelf")
    today = timezone.localdate()
    period = selectors.Period(today, today)

    def by_type():
        return {
            row["type"]: (row["found"], row["not_found"])
            for row in selectors.pick_counts(period=period, branch_ids=[branch.pk])
        }

    assert by_type() == {"dvd": (0, 1)}
    Copy.objects.update(doc_type="book")  # the next import maps that code to books
    assert by_type() == {"dvd": (0, 1)}


def test_the_workload_csv_is_named_after_today_not_the_period(client, branch):
    from django.urls import reverse

    from emporter.patrons.models import Role
    from tests.test_door_pages import staff

    client.force_login(staff(Role.NETWORK_ADMIN, username="nadia"))
    params = {"start": "2020-11-16", "end": "2020-12-02"}
    workload = client.get(reverse("stats:csv", args=["workload"]), params)
    assert f"-{timezone.localdate()}.csv" in workload["Content-Disposition"]
    channels = client.get(reverse("stats:csv", args=["channels"]), params)
    assert "-2020-11-16-2020-12-02.csv" in channels["Content-Disposition"]


def placed_yesterday():
    # A request placed now is on no morning list once the library's pick time has passed.
    Request.objects.update(placed_at=timezone.now() - datetime.timedelta(days=1))
