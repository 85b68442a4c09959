import datetime
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.desk.models import Loan, LoanPolicy
from emporter.errors import ServiceError
from emporter.holds.models import Bag, Status
from emporter.holds.services import expire_overdue, place_request
from emporter.network.models import ClosedDay
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record


def test_handing_over_twice_makes_one_loan_per_document(patron, branch):
    requests = make_ready_requests(patron, branch, ["Un", "Deux", "Trois"])
    first = desk.hand_over(patron=patron, branch=branch)
    second = desk.hand_over(patron=patron, branch=branch, request_ids=[r.pk for r in requests])
    assert len(first.loans) == 3
    assert second.loans == [] and len(second.already_collected) == 3
    assert Loan.objects.count() == 3
    assert set(Loan.objects.values_list("copy__status", flat=True)) == {CopyStatus.ON_LOAN}
    assert not Bag.objects.filter(state=Bag.State.OPEN).exists()
    assert all(r.status == Status.COLLECTED for r in type(requests[0]).objects.all())


def test_due_date_follows_the_loan_policy_per_document_type(patron, branch):
    LoanPolicy.objects.create(doc_type="", loan_days=28)
    LoanPolicy.objects.create(doc_type="dvd", loan_days=14)
    make_ready_requests(patron, branch, ["Livre"])
    make_ready_requests(patron, branch, ["Film"], doc_type="dvd")
    desk.hand_over(patron=patron, branch=branch)
    today = timezone.localdate()
    due = dict(Loan.objects.values_list("copy__record__title", "due_date"))
    assert due == {"Livre": open_on_or_after(today, 28), "Film": open_on_or_after(today, 14)}


def open_on_or_after(start, days):
    """The branch fixture opens Monday to Saturday: a Sunday moves to the Monday."""
    day = start + datetime.timedelta(days=days)
    return day + datetime.timedelta(days=1) if day.weekday() == 6 else day


def test_a_loan_is_due_back_on_a_day_the_library_is_open(patron, branch):
    LoanPolicy.objects.create(doc_type="", loan_days=21)
    today = timezone.localdate()
    plain = today + datetime.timedelta(days=21)
    # That day, and the Sunday after it if it comes next, the library is closed.
    ClosedDay.objects.create(branch=branch, date=plain)
    expected = plain + datetime.timedelta(days=1)
    if expected.weekday() == 6:
        expected += datetime.timedelta(days=1)
    make_ready_requests(patron, branch, ["Livre"])

    loan = desk.hand_over(patron=patron, branch=branch).loans[0]

    assert Loan.objects.get(pk=loan.pk).due_date == expected
    # Renewed: from that date, again to an open day.
    ClosedDay.objects.create(date=expected + datetime.timedelta(days=21))  # network-wide
    renewed = desk.renew(loan=loan, patron=patron)
    after = expected + datetime.timedelta(days=22)
    assert renewed.due_date == (after + datetime.timedelta(days=1) if after.weekday() == 6 else after)


def test_handing_over_only_some_documents_keeps_the_bag_open(patron, branch):
    first, second = make_ready_requests(patron, branch, ["Un", "Deux"])
    desk.hand_over(patron=patron, branch=branch, request_ids=[first.pk])
    second.refresh_from_db()
    assert second.status == Status.READY
    assert second.bag.state == Bag.State.OPEN


def test_a_guardian_collects_their_childs_bag(branch):
    parent = make_patron(branch, card="40000001")
    child = make_patron(branch, card="40000002", category="child", guardian=parent, first_name="Léo")
    make_ready_requests(child, branch, ["Album"])
    result = desk.hand_over(patron=parent, branch=branch)
    assert [loan.patron for loan in result.loans] == [child]


def test_a_blocked_patron_is_refused_unless_staff_override(patron, branch):
    make_ready_requests(patron, branch, ["Un"])
    patron.blocked_reason = "amende"
    patron.save()
    with pytest.raises(ServiceError) as error:
        desk.hand_over(patron=patron, branch=branch)
    assert error.value.code == "patron_blocked"
    assert len(desk.hand_over(patron=patron, branch=branch, override_blocks=True).loans) == 1


def test_a_returned_copy_goes_to_the_next_waiting_request(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Convoité"])
    desk.hand_over(patron=patron, branch=branch)
    other = make_patron(branch, card="40000003")
    waiting, _ = place_request(patron=other, record_id=request.record_id, pickup_branch=branch)
    assert waiting.status == Status.WAITING
    assert desk.check_in(barcode=request.copy.barcode, branch=branch).served == waiting
    waiting.refresh_from_db()
    # Trapped at check-in: into the waiting patron's bag, on no pick list.
    assert waiting.status == Status.READY and waiting.copy == request.copy and waiting.bag is not None
    run = picking.build_run(branch=branch, kind="late")
    assert not run.lines.exists()


def test_checking_in_twice_or_an_unknown_barcode_says_so(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    desk.hand_over(patron=patron, branch=branch)
    desk.check_in(barcode=request.copy.barcode, branch=branch)
    with pytest.raises(ServiceError) as error:
        desk.check_in(barcode=request.copy.barcode, branch=branch)
    assert error.value.code == "not_on_loan"
    with pytest.raises(ServiceError) as error:
        desk.check_in(barcode="XXX", branch=branch)
    assert error.value.code == "unknown_barcode"


def test_returned_loans_are_anonymised_at_once_by_default(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Privé"])
    desk.hand_over(patron=patron, branch=branch)
    loan = desk.check_in(barcode=request.copy.barcode, branch=branch).loan
    loan.refresh_from_db()
    assert loan.patron is None and loan.anonymised


def test_history_kept_for_the_configured_delay_then_forgotten(patron, branch):
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=30)
    (request,) = make_ready_requests(patron, branch, ["Gardé"])
    desk.hand_over(patron=patron, branch=branch)
    loan = desk.check_in(barcode=request.copy.barcode, branch=branch).loan
    loan.refresh_from_db()
    assert loan.patron == patron
    assert desk.anonymise_returned(timezone.now() + datetime.timedelta(days=29)) == 0
    assert desk.anonymise_returned(timezone.now() + datetime.timedelta(days=31)) == 1
    loan.refresh_from_db()
    assert loan.patron is None


def test_renewal_is_refused_when_someone_waits(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Prolongé"])
    loan = desk.hand_over(patron=patron, branch=branch).loans[0]
    renewed = desk.renew(loan=loan, patron=patron)
    assert renewed.renewals == 1
    with pytest.raises(ServiceError) as error:
        desk.renew(loan=loan, patron=patron)
    assert error.value.code == "not_renewable"


def test_expiry_on_the_right_day_with_closed_days(db):
    # Closed Sunday and Monday; found on Friday 27 Nov 2026 → held 5 open days.
    branch = make_branch(code="VAI", name="Vaise", weekdays=range(1, 6))
    patron = make_patron(branch, card="50000001")
    ClosedDay.objects.create(date=datetime.date(2026, 12, 2), reason="Fête")
    friday = datetime.date(2026, 11, 27)
    with mock.patch("django.utils.timezone.localdate", return_value=friday):
        (request,) = make_ready_requests(patron, branch, ["Tardif"])
    assert request.hold_until == datetime.date(2026, 12, 5)
    assert expire_overdue(today=datetime.date(2026, 12, 5)) == 0
    assert expire_overdue(today=datetime.date(2026, 12, 6)) == 1
    request.refresh_from_db()
    assert request.status == Status.EXPIRED
    # Still in its bag until staff take it out and scan it (desk "back to the shelves").
    assert request.copy.status == CopyStatus.HOLD_SHELF
    assert request.bag.state == Bag.State.CLOSED
    assert request.events.last().reason == "expired"
    assert expire_overdue(today=datetime.date(2026, 12, 7)) == 0


def test_a_copy_returned_at_another_library_travels_home_before_serving_anyone(patron, branch, other_branch):
    (request,) = make_ready_requests(patron, branch, ["Voyageur"])
    desk.hand_over(patron=patron, branch=branch)
    copy = request.copy
    other = make_patron(branch, card="40000004")
    waiting, _ = place_request(patron=other, record_id=request.record_id, pickup_branch=branch)
    returned = desk.check_in(barcode=copy.barcode, branch=other_branch)
    loan, served = returned.loan, returned.served
    copy.refresh_from_db()
    # Not on its home shelves (no pick list may send anyone for it), not yet for the waiting patron.
    assert (copy.status, served, loan.returned_at is not None) == (CopyStatus.IN_TRANSIT, None, True)
    waiting.refresh_from_db()
    assert waiting.status == Status.WAITING
    # Scanned at another library: to be sent home; at home: the waiting request gets it;
    # scanned twice: said so.
    with pytest.raises(ServiceError) as error:
        desk.receive_home(barcode=copy.barcode, branch=other_branch)
    assert error.value.code == "send_home"
    home, served = desk.receive_home(barcode=copy.barcode, branch=branch)
    waiting.refresh_from_db()
    assert (home, served, waiting.status, waiting.copy) == (copy, waiting, Status.READY, copy)
    with pytest.raises(ServiceError) as error:
        desk.receive_home(barcode=copy.barcode, branch=branch)
    assert error.value.code == "not_in_transit"


def test_the_returns_page_sends_a_copy_home_then_shelves_it_there(patron, branch, other_branch, client):
    (request,) = make_ready_requests(patron, branch, ["Retour"])
    desk.hand_over(patron=patron, branch=branch)
    staff = get_user_model().objects.create_user("portier", password="x")
    for where in (branch, other_branch):
        StaffRole.objects.create(user=staff, role=Role.DOOR_DESK, branch=where)
    client.force_login(staff)
    barcode = request.copy.barcode
    page = client.post(f"/staff/door/{other_branch.pk}/returns/", {"barcode": barcode}).content.decode()
    assert f"Rendu. À renvoyer à {branch.name}." in page
    shelf = client.get(f"/staff/door/{branch.pk}/shelf/")
    assert [c.barcode for c in shelf.context["coming_home"]] == [barcode]
    shelf = shelf.content.decode()
    row = next(line for line in shelf.splitlines() if barcode in line and "<tr>" in line)
    assert other_branch.name in row  # where it was handed in
    assert Loan.objects.get(copy__barcode=barcode).returned_branch == other_branch
    page = client.post(f"/staff/door/{branch.pk}/returns/", {"barcode": barcode}).content.decode()
    assert "De retour\u00a0: à remettre en rayon." in page
    assert Copy.objects.get(barcode=barcode).status == CopyStatus.ON_SHELF


def test_a_forgotten_loan_of_a_surprise_bag_no_longer_says_who_borrowed_it(patron, branch):
    from emporter.discovery.services import compose_surprise_request, create_surprise_request

    record = make_record(title="Surprise", copies=[branch])
    surprise = create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=1)
    librarian = get_user_model().objects.create_user(username="compose", password="x")
    compose_surprise_request(surprise=surprise, record_ids=[record.pk], actor=librarian)
    (request,) = surprise.requests.all()
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get(request=request))
    desk.hand_over(patron=patron, branch=branch)
    desk.check_in(barcode=request.copy.barcode, branch=branch)
    assert not surprise.requests.exists()  # the bag names its patron: no path from it to the loan
