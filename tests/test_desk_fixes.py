"""The door after the review: what staff are told about copies freed from a hold shelf,
forgetting the borrower for real, and ids from requests that are not what the pages send."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from emporter.desk import selectors
from emporter.desk import services as desk
from emporter.desk.models import Loan, LoanPolicy
from emporter.holds.models import Request, RequestEvent, Status
from emporter.holds.selectors import requests_of
from emporter.holds.services import cancel_request, expire_overdue, place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.picking.models import PickRun
from emporter.stats import selectors as stats
from tests.conftest import make_patron, make_ready_requests, make_record
from tests.test_holds_fixes import ready_from, sent_from
from tests.test_patron_pages import sign_in as sign_in_patron

NOT_ASCII = ["²", "٣", "１"]
TOO_LONG = "9" * 30


@pytest.fixture
def door(client, branch, other_branch):
    user = get_user_model().objects.create_user("portier", password="x")
    for where in (branch, other_branch):
        StaffRole.objects.create(user=user, role=Role.DOOR_DESK, branch=where)
    client.force_login(user)
    return client


def returns(client, branch, barcode):
    return client.post(f"/staff/door/{branch.pk}/returns/", {"barcode": barcode})


def shelf(client, branch):
    return client.get(f"/staff/door/{branch.pk}/shelf/").context


# A. What staff are told about a copy freed from a hold shelf -------------------------------


def test_the_pickup_library_is_told_to_send_a_cancelled_copy_home(door, patron, branch, other_branch):
    request = sent_from(other_branch, patron, branch)
    cancel_request(request=request)
    page = returns(door, branch, request.copy.barcode)
    assert page.status_code == 200
    assert page.context["send_home"]["branch"] == other_branch.name
    assert other_branch.name in page.content.decode()
    # Listed with what goes back, at Part-Dieu; expected at home, coming from Part-Dieu.
    (back,) = shelf(door, branch)["back"]
    assert back.copy == request.copy
    (coming,) = shelf(door, other_branch)["coming_home"]
    assert (coming, coming.coming_from) == (request.copy, branch.name)


def test_an_expired_bag_from_another_library_is_listed_to_send_back(door, patron, branch, other_branch):
    request = ready_from(other_branch, patron, branch)
    expire_overdue(today=request.hold_until + datetime.timedelta(days=1))
    (back,) = shelf(door, branch)["back"]
    assert (back.copy, back.copy.status, back.copy.branch) == (request.copy, "in_transit", other_branch)
    page = returns(door, branch, request.copy.barcode)
    assert page.context["send_home"]["branch"] == other_branch.name


def test_a_cancelled_ready_document_is_listed_to_take_out_of_its_bag(door, patron, branch):
    kept, cancelled = make_ready_requests(patron, branch, ["Gardé", "Annulé"])
    cancel_request(request=cancelled)
    (back,) = shelf(door, branch)["back"]
    assert back.copy == cancelled.copy and back.request.bag.label == cancelled.bag.label
    assert cancelled.bag.label in door.get(f"/staff/door/{branch.pk}/shelf/").content.decode()
    page = returns(door, branch, cancelled.copy.barcode)
    assert page.context["home"] == cancelled.copy
    # Done: on the shelf now, and the list says so.
    (back,) = shelf(door, branch)["back"]
    assert back.copy.status == "on_shelf"


def test_a_copy_still_in_its_bag_stays_listed_after_the_week(door, patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Oublié"])
    cancel_request(request=request)
    later = timezone.now() + datetime.timedelta(days=selectors.BACK_TO_SHELVES_DAYS + 3)
    assert [e.copy for e in selectors.back_to_shelves(branch=branch, now=later)] == [request.copy]


# D. Forgetting the borrower -------------------------------------------------------------------


def ready_online(patron, branch, titles, key=None):
    """Requests the patron placed online themselves (as the basket does), found and ready."""
    requests = [
        place_request(
            patron=patron,
            record_id=make_record(title=t, copies=[branch]).pk,
            pickup_branch=branch,
            actor=patron.user,
            idempotency_key=f"{key}:{t}" if key else None,
        )[0]
        for t in titles
    ]
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    return requests


@pytest.fixture
def history(branch, patron):
    """Two documents borrowed online by the patron, one by someone else; all returned."""
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=30)
    staff = get_user_model().objects.create_user("guichet", password="x")
    mine = ready_online(patron, branch, ["Un", "Deux"], key="panier")
    other = make_patron(branch, card="30000003")
    theirs = ready_online(other, branch, ["Trois"])
    for who in (patron, other):
        desk.hand_over(patron=who, branch=branch, actor=staff)
    for request in mine + theirs:
        desk.check_in(barcode=request.copy.barcode, branch=branch, actor=staff)
    return mine, theirs


def test_the_history_is_kept_until_the_delay(history, patron):
    mine, _ = history
    assert desk.anonymise_returned(timezone.now() + datetime.timedelta(days=29)) == 0
    assert {r.pk for r in requests_of(patron)} == {r.pk for r in mine}


def test_past_the_delay_nothing_links_the_patron_to_what_they_borrowed(history, patron, branch, client):
    mine, theirs = history
    assert desk.anonymise_returned(timezone.now() + datetime.timedelta(days=31)) == 3
    assert requests_of(patron) == []
    for request in Request.objects.filter(pk__in=[r.pk for r in mine]):
        assert (request.patron_id, request.bag_id, request.placed_by_id, request.idempotency_key) == (
            None,
            None,
            None,
            None,
        )
    assert not RequestEvent.objects.filter(actor=patron.user).exists()
    assert not Loan.objects.filter(patron=patron).exists()
    sign_in_patron(client)
    account = client.get("/account/")
    assert account.context["requests"] == [] and "Deux" not in account.content.decode()


def test_statistics_still_count_what_was_forgotten(history, branch):
    period = stats.Period.last_days(1)
    before = (
        stats.closings(period=period, branch_ids=[branch.pk]).counts,
        stats.loans_per_day(period=period, branch_ids=[branch.pk]),
        stats.patrons(period=period, branch_ids=[branch.pk]),
    )
    desk.anonymise_returned(timezone.now() + datetime.timedelta(days=31))
    after = (
        stats.closings(period=period, branch_ids=[branch.pk]).counts,
        stats.loans_per_day(period=period, branch_ids=[branch.pk]),
        stats.patrons(period=period, branch_ids=[branch.pk]),
    )
    assert after == before
    # Two people placed and collected, though no request says who any more.
    assert (before[2].patrons, before[2].patrons_collecting) == (2, 2)


def test_an_old_pick_list_still_opens_once_its_borrowers_are_forgotten(history, branch, client):
    desk.anonymise_returned(timezone.now() + datetime.timedelta(days=31))
    picker = get_user_model().objects.create_user("cueilleur", password="x")
    StaffRole.objects.create(user=picker, role=Role.PICKER, branch=branch)
    client.force_login(picker)
    for run in PickRun.objects.all():
        for url in (f"/staff/picking/runs/{run.pk}/", f"/staff/picking/runs/{run.pk}/list.pdf"):
            assert client.get(url).status_code == 200, url


def test_loans_anonymised_before_requests_were_forgotten_are_caught_up(history, patron):
    """A database from before: its loans say anonymised, their requests still say who."""
    mine, _ = history
    import importlib

    from django.apps import apps

    Loan.objects.filter(request__in=mine).update(patron=None, anonymised=True)
    assert {r.pk for r in requests_of(patron)} == {r.pk for r in mine}
    catch_up = importlib.import_module("emporter.desk.migrations.0004_forget_requests_of_anonymised_loans")
    catch_up.forget(apps, None)
    assert requests_of(patron) == []
    assert Request.objects.filter(pk__in=[r.pk for r in mine], patron_pseudonym="").count() == 0


def test_returned_and_forgotten_at_once_by_default(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Privé"])
    desk.hand_over(patron=patron, branch=branch)
    desk.check_in(barcode=request.copy.barcode, branch=branch)
    request.refresh_from_db()
    assert request.patron_id is None and request.status == Status.COLLECTED
    assert Loan.objects.get().request == request  # the loan still counts as a click-and-collect one


# F. Ids from requests that are not what the pages send -----------------------------------------


@pytest.mark.parametrize("value", NOT_ASCII + [TOO_LONG])
def test_a_strange_document_id_in_the_hand_over_form_is_refused_clearly(door, branch, patron, value):
    make_ready_requests(patron, branch, ["Un"])
    data = {"card": patron.card_number, "nonce": "n1", "requests": [value]}
    response = door.post(f"/staff/door/{branch.pk}/hand-over/", data, follow=True)
    assert response.status_code == 200
    assert not Loan.objects.exists()
    # The form's own message, naming what was sent (not "nothing is ready" nor a 500).
    assert any(value in str(m) for m in response.context["messages"])


@pytest.mark.parametrize("value", ["²", TOO_LONG])  # int() refuses the first; SQLite, the second
def test_a_strange_receipt_id_is_ignored(door, branch, patron, value):
    response = door.get(f"/staff/door/{branch.pk}/receipt/{patron.pk}/", {"loans": f"{value},1"})
    assert response.status_code == 302  # nothing on it: back to the door, no server error


def test_the_hold_shelf_says_a_bags_last_day_and_overdue_in_words_not_only_colour(door, patron, branch):
    (ready,) = make_ready_requests(patron, branch, ["Un"])
    from emporter.holds.models import Bag

    Bag.objects.filter(pk=ready.bag_id).update(hold_until=timezone.localdate())
    assert "dernier jour" in door.get(f"/staff/door/{branch.pk}/shelf/").text
    Bag.objects.filter(pk=ready.bag_id).update(hold_until=timezone.localdate() - datetime.timedelta(days=1))
    assert "délai dépassé" in door.get(f"/staff/door/{branch.pk}/shelf/").text


def test_a_return_is_read_out_title_and_instruction_not_barcode_first(door, patron, branch):
    (ready,) = make_ready_requests(patron, branch, ["Le Horla"])
    desk.hand_over(patron=patron, branch=branch)
    page = returns(door, branch, ready.copy.barcode).content.decode()
    assert "<strong data-announce>Le Horla</strong>" in page
    assert '<p class="big-message" data-announce>' in page
    assert 'role="status" data-announce' not in page  # not the whole block, barcode and call number first
