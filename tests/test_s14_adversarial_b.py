"""A second adversarial read of the fourteenth session's own commits: erasure keeps the
admin's lines about others, an adult's former address is theirs in the export, a title
that is a number is found, walked lines keep their type, late lines are this library's,
a child's card refusing is the child's when placing through the API, and a bag kept
while the expiry sweep runs is not expired."""

import datetime

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from emporter.catalogue.models import Record
from emporter.holds.models import Request
from emporter.holds.services import place_request
from emporter.notices.models import Notice
from emporter.picking import services as picking
from emporter.picking.models import LineStatus, PickLine, PickRun
from emporter.privacy.selectors import data_of
from emporter.privacy.services import erase_patron
from emporter.stats import selectors as stats
from tests.conftest import make_branch, make_patron, make_record

# 2e3fac6 (the lines "by card", from 4f5dc69, widened to icontains and the username) --------


def test_erasing_a_short_card_keeps_admin_lines_about_other_things(db, branch):
    """A library whose cards are short numbers (small networks number them 1, 2, ...):
    erasing card "12" must not delete the admin's history of every record, copy or
    patron whose description holds "12" (the audit trail of other people's data)."""
    patron = make_patron(branch, card="12")
    staff = get_user_model().objects.create_user(username="bib", password="x", is_staff=True)
    record = make_record(title="Les 12 travaux d'Astérix", copies=[branch])
    other = make_patron(branch, card="41200", first_name="Paul", last_name="Durand")
    kept = [
        LogEntry.objects.create(
            user=staff,
            content_type=ContentType.objects.get_for_model(Record),
            object_id=str(record.pk),
            object_repr=str(record.title),
            action_flag=CHANGE,
        ),
        LogEntry.objects.create(
            user=staff,
            content_type=ContentType.objects.get_for_model(type(other)),
            object_id=str(other.pk),
            object_repr="Paul Durand (41200)",
            action_flag=CHANGE,
        ),
    ]
    erase_patron(patron_id=patron.pk)
    assert LogEntry.objects.filter(pk__in=[e.pk for e in kept]).count() == 2


# 2e3fac6: the my-data export ---------------------------------------------------------------


def test_an_adult_who_changed_email_gets_their_old_address_not_a_guardians(db, branch):
    """An adult with no guardian, who changed their email since: the export says their
    notices went to "your guardian's address" and withholds their own former address."""
    patron = make_patron(branch, card="30000001", email="ancien@example.org")
    Notice.objects.create(
        patron=patron,
        kind="ready",
        channel="email",
        dedupe_key="k1",
        state="sent",
        sent_to="ancien@example.org",
    )
    patron.email = "nouveau@example.org"
    patron.save()
    (notice,) = data_of(patron)["notices"]
    assert notice["sent_to"] == "ancien@example.org"


# 75410f3: admin search ---------------------------------------------------------------------


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser(username="root", password="x", email="r@example.org")
    client.force_login(user)
    return client


def test_the_records_admin_finds_a_title_that_is_a_number(admin_client, branch):
    """ "1984", "2001", "1917", "2666": a title of one number is looked up as a code
    (is_code) and never as words; before, it was found."""
    make_record(title="1984", responsibility="George Orwell", copies=[branch])
    make_record(title="La ferme des animaux", responsibility="George Orwell", copies=[branch])
    page = admin_client.get(reverse("admin:catalogue_record_changelist"), {"q": "1984"})
    assert page.status_code == 200
    assert list(page.context["cl"].result_list.values_list("title", flat=True)) == ["1984"]


# 921167d: PickLine.doc_type -----------------------------------------------------------------


def test_a_line_added_to_the_list_being_walked_keeps_its_copys_type(db):
    """A copy not found, the request moved to another copy on the same shelves: the new
    line is added to the list being walked (_pull_now_if_here) without the copy's type,
    so a re-import correcting that type moves the month's figures by type again."""
    branch = make_branch(weekdays=range(7))
    record = make_record(title="Film", doc_type="dvd", copies=[branch, branch])
    place_request(patron=make_patron(branch), record_id=record.pk, pickup_branch=branch)
    placed_yesterday()  # on this morning's list whatever the hour
    (line,) = picking.build_run(branch=branch).lines.all()
    picking.mark_not_found(line=line, cause="shelf")
    added = PickLine.objects.exclude(pk=line.pk).get()
    assert added.doc_type == "dvd"


# eb5fb97: "lines of earlier days still to pull" --------------------------------------------


def test_a_line_new_at_another_library_is_not_late_because_of_a_carried_line_elsewhere(db):
    """A request carried over at library A (nobody pulled it for a day), then not found
    there and moved to library B's copy: B's list has it for the first time today, yet
    B's workload counts it among the lines of earlier days (the carried line is A's)."""
    a = make_branch(code="A", name="A", weekdays=range(7))
    b = make_branch(code="B", name="B", weekdays=range(7))
    record = make_record(title="Roman", copies=[a, b])
    request, _ = place_request(patron=make_patron(a), record_id=record.pk, pickup_branch=a)
    placed_yesterday()  # on this morning's list whatever the hour
    assert request.copy.branch == a
    picking.build_run(branch=a)
    PickRun.objects.update(run_date=timezone.localdate() - datetime.timedelta(days=1))
    run = picking.build_run(branch=a)  # carries yesterday's line over
    assert PickLine.objects.filter(status=LineStatus.CARRIED).count() == 1
    picking.mark_not_found(line=run.lines.get(status=LineStatus.PENDING), cause="shelf")
    request.refresh_from_db()
    assert request.copy.branch == b
    picking.build_run(branch=b)  # B's first list with it
    rows = {row.branch_id: row for row in stats.workload(branches=[a, b])}
    assert rows[b.pk].late_lines == 0


# 379e694: the API's codes for a child's card -----------------------------------------------


def test_the_api_says_a_childs_blocked_card_as_the_childs_when_placing(client, branch):
    """POST /api/v1/requests with for_patron_id of a blocked child: the API answers
    patron_blocked, "Your account is blocked", to the parent whose own account is fine,
    while renewing the same child's loan answers child_blocked (379e694)."""
    from tests.test_s14_household_loans import V1, _token

    parent = make_patron(branch, card="20000001", first_name="Camille", language="en")
    child = make_patron(branch, card="20000002", first_name="Léo", category="child", guardian=parent)
    type(child).objects.filter(pk=child.pk).update(blocked_reason="Documents perdus")
    record = make_record(title="Album", copies=[branch])
    body = {"record_ids": [record.pk], "for_patron_id": child.pk}
    answer = client.post(
        f"{V1}/requests", body, content_type="application/json", headers=_token(client, parent.card_number)
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "child_blocked"


# a6555b3: keeping a bag while the expiry sweep runs ----------------------------------------


def test_a_bag_kept_longer_while_the_expiry_sweep_runs_is_not_expired(db, monkeypatch):
    """The phone desk keeps an overdue bag (its last day was yesterday) at the moment the
    expiry sweep has read its list of overdue requests: the sweep locks each request and
    checks only its status, not its deadline, and expires what was just kept."""
    from django.db import transaction as real

    from emporter.holds import services as holds
    from emporter.holds.models import Bag, Request, Status
    from tests.conftest import make_ready_requests

    branch = make_branch(weekdays=range(7))
    patron = make_patron(branch)
    (request,) = make_ready_requests(patron, branch, ["Roman"])
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    Bag.objects.filter(pk=request.bag_id).update(hold_until=yesterday)
    Request.objects.filter(pk=request.pk).update(hold_until=yesterday)
    until = today + datetime.timedelta(days=3)

    class Interleaved:
        """The sweep's first transaction starts just after the librarian's commit."""

        kept = False

        def atomic(self, *args, **kwargs):
            if not self.kept:
                self.kept = True
                holds.keep_bag_until(bag_id=request.bag_id, until=until)
            return real.atomic(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr("emporter.holds.bags.transaction", Interleaved())
    holds.expire_overdue()
    request.refresh_from_db()
    assert request.hold_until == until
    assert request.status == Status.READY


def placed_yesterday():
    # A request placed now is on no morning list once the library's pick time has passed.
    Request.objects.update(placed_at=timezone.now() - datetime.timedelta(days=1))
