"""The door and returns desk as the twenty-sixth session's review found them wanting: a
second scan of another library's return says where it goes, a document cancelled after
it was bagged is taken out before the bag leaves, "someone is waiting" counts only those
the copy could go to, an expired bag's document now in someone else's bag is not lent
from the first bag, and a closed bag with a document still in it keeps its label."""

import datetime

import pytest

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.holds.models import Bag, Status
from emporter.holds.services import cancel_request, place_request
from emporter.network.models import ServiceMode
from emporter.patrons.models import Patron, Role
from tests.conftest import make_patron, make_ready_requests
from tests.test_door_pages import expired_bag, scan, staff, url
from tests.test_s15_double_submits import en, staff_client
from tests.test_s18_returns import lent, shown


@pytest.fixture
def door(client, branch):
    client.force_login(staff(Role.DOOR_DESK, branch))
    return client


def test_a_return_of_another_library_scanned_twice_still_says_send_it_back(client, branch, other_branch):
    copy = lent(branch)
    staff_client(client, Role.DOOR_DESK, other_branch, "accueil")
    returns = en("desk:returns", other_branch.pk)
    client.post(returns, {"barcode": copy.barcode})

    again = client.post(returns, {"barcode": copy.barcode})

    assert f"send it back to {branch.name}." in again.text, shown(again)
    assert "goes back on its shelf" not in again.text


def test_a_return_of_this_library_scanned_twice_still_goes_back_on_its_shelf(client, branch):
    copy = lent(branch)
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    returns = en("desk:returns", branch.pk)
    client.post(returns, {"barcode": copy.barcode})

    again = client.post(returns, {"barcode": copy.barcode})

    assert "it goes back on its shelf." in again.text, shown(again)


def test_a_document_cancelled_after_it_was_bagged_is_to_be_taken_out_at_the_door(door, branch, patron):
    kept, cancelled = make_ready_requests(patron, branch, ["Gardé", "Annulé"])
    cancel_request(request=cancelled, by_staff=True)
    assert Bag.objects.get(pk=kept.bag_id).state == Bag.State.OPEN

    page = scan(door, branch, patron.card_number)

    assert [r.pk for r in page.context["door"].take_out] == [cancelled.pk]
    assert f"Take out of bag {kept.bag.label} first (request cancelled):" in page.text
    assert cancelled.copy.barcode in page.text and "scan it at Returns" in page.text


def test_a_bag_with_nothing_cancelled_in_it_asks_nothing_to_be_taken_out(door, branch, patron):
    make_ready_requests(patron, branch, ["Un", "Deux"])
    page = scan(door, branch, patron.card_number)
    assert page.context["door"].take_out == [] and "Take out of bag" not in page.text


def test_a_cancelled_document_scanned_out_of_its_bag_is_no_longer_to_take_out(door, branch, patron):
    _, cancelled = make_ready_requests(patron, branch, ["Gardé", "Annulé"])
    cancel_request(request=cancelled, by_staff=True)
    desk.receive_home(barcode=cancelled.copy.barcode, branch=branch)
    assert scan(door, branch, patron.card_number).context["door"].take_out == []


def _waiter(branch, card, record_id):
    other = make_patron(branch, card=card, last_name="Attend")
    waiting, _ = place_request(patron=other, record_id=record_id, pickup_branch=branch)
    assert waiting.status == Status.WAITING
    return other, waiting


def test_a_waiter_with_a_blocked_card_does_not_keep_an_expired_document_from_its_patron(door, branch, patron):
    (late,) = expired_bag(patron, branch, ["Convoité"])
    other, _ = _waiter(branch, "40000009", late.record_id)
    Patron.objects.filter(pk=other.pk).update(blocked_reason="Amende")

    (offered,) = scan(door, branch, patron.card_number).context["door"].expired_here
    assert not offered.waited_for
    door.post(url("desk:lend_expired", branch.pk), {"card": patron.card_number, "requests": [late.pk]})

    assert Loan.objects.get().copy_id == late.copy_id


def test_a_waiter_at_a_closed_library_does_not_keep_an_expired_document_from_its_patron(
    door, branch, other_branch, patron
):
    (late,) = expired_bag(patron, branch, ["Convoité"])
    _waiter(other_branch, "40000009", late.record_id)
    type(other_branch).objects.filter(pk=other_branch.pk).update(service_mode=ServiceMode.CLOSED)

    (offered,) = scan(door, branch, patron.card_number).context["door"].expired_here

    assert not offered.waited_for


def test_a_waiter_the_copy_could_go_to_still_keeps_it(door, branch, patron):
    (late,) = expired_bag(patron, branch, ["Convoité"])
    _waiter(branch, "40000009", late.record_id)
    (offered,) = scan(door, branch, patron.card_number).context["door"].expired_here
    assert offered.waited_for


def test_an_expired_document_now_in_someone_elses_bag_is_not_lent_from_the_first(door, branch, patron):
    (late,) = expired_bag(patron, branch, ["Convoité"])
    _, theirs = _waiter(branch, "40000009", late.record_id)
    # Scanned at returns: the copy goes to the waiting patron's bag, who then cancels.
    desk.receive_home(barcode=late.copy.barcode, branch=branch)
    theirs.refresh_from_db()
    assert (theirs.status, theirs.copy_id) == (Status.READY, late.copy_id)
    cancel_request(request=theirs)
    assert Copy.objects.get(pk=late.copy_id).status == CopyStatus.HOLD_SHELF

    assert scan(door, branch, patron.card_number).context["door"].expired_here == []
    door.post(url("desk:lend_expired", branch.pk), {"card": patron.card_number, "requests": [late.pk]})
    assert not Loan.objects.exists()


def test_a_closed_bag_with_another_librarys_copy_still_in_it_keeps_its_label(branch, other_branch, patron):
    """One of its documents handed over (a copy of this library), the other cancelled (a
    copy of another library, waiting for the van home in the bag): the label is taken."""
    handed, cancelled = make_ready_requests(patron, branch, ["Emporté", "Annulé"])
    Copy.objects.filter(pk=cancelled.copy_id).update(branch=other_branch)
    desk.hand_over(patron=patron, branch=branch, request_ids=[handed.pk])
    cancel_request(request=cancelled)
    assert Copy.objects.get(pk=cancelled.copy_id).status == CopyStatus.IN_TRANSIT
    assert Bag.objects.get(pk=handed.bag_id).state == Bag.State.CLOSED

    (newcomer,) = make_ready_requests(make_patron(branch, card="40000002"), branch, ["Nouveau"])

    assert newcomer.bag.label[0] == handed.bag.label[0] and newcomer.bag.label != handed.bag.label


def test_a_document_cancelled_between_the_scan_and_the_hand_over_is_said_to_take_out(door, branch, patron):
    kept, cancelled = make_ready_requests(patron, branch, ["Gardé", "Annulé"])
    page = scan(door, branch, patron.card_number)
    cancel_request(request=cancelled)  # from the patron's app, meanwhile
    data = {"card": patron.card_number, "nonce": page.context["nonce"], "requests": [kept.pk, cancelled.pk]}

    done = door.post(url("desk:hand_over", branch.pk), data, follow=True)

    assert Loan.objects.get().request_id == kept.pk
    said = [str(m) for m in done.context["messages"]]
    label = kept.bag.label
    assert (
        f"Not lent, its request cancelled meanwhile: take “Annulé” ({cancelled.copy.barcode}) out of bag "
        f"{label} and scan it at Returns." in said
    )


def test_the_only_document_cancelled_between_the_scan_and_the_hand_over_is_said_to_take_out(
    door, branch, other_branch, patron
):
    (only,) = make_ready_requests(patron, branch, ["Annulé"])
    Copy.objects.filter(pk=only.copy_id).update(branch=other_branch)  # come from another library
    page = scan(door, branch, patron.card_number)
    cancel_request(request=only)
    data = {"card": patron.card_number, "nonce": page.context["nonce"], "requests": [only.pk]}

    done = door.post(url("desk:hand_over", branch.pk), data, follow=True)

    assert not Loan.objects.exists()
    said = " ".join(str(m) for m in done.context["messages"])
    assert (
        f"({only.copy.barcode}) out of bag {only.bag.label} and send it back to {other_branch.name}." in said
    )
    assert "Nothing is ready for this card here any more." in said


def test_a_hand_over_with_nothing_cancelled_says_nothing_to_take_out(door, branch, patron):
    make_ready_requests(patron, branch, ["Un", "Deux"])
    page = scan(door, branch, patron.card_number)
    data = {
        "card": patron.card_number,
        "nonce": page.context["nonce"],
        "requests": [r.pk for r in page.context["door"].ready],
    }
    done = door.post(url("desk:hand_over", branch.pk), data, follow=True)
    assert Loan.objects.count() == 2
    assert not any("Not lent" in str(m) for m in done.context["messages"])


def test_the_expired_form_sent_with_nothing_ticked_asks_to_tick_one(door, branch, patron):
    expired_bag(patron, branch, ["Le Horla"])
    response = door.post(url("desk:lend_expired", branch.pk), {"card": patron.card_number}, follow=True)
    assert [str(m) for m in response.context["messages"]] == ["Tick at least one document to lend."]


def test_a_late_patron_with_a_namesake_is_found_by_name_at_the_door(door, branch):
    """Come after their bag expired (its document still lent at the door), giving their
    name: a namesake elsewhere in the network made the door answer "nobody ready"."""
    late = make_patron(branch, card="30000001", first_name="Camille", last_name="Martin")
    make_patron(branch, card="30000002", first_name="Camille", last_name="Martin")  # nothing here
    expired_bag(late, branch, ["Le Horla"])

    page = door.get(url("desk:door", branch.pk, query="card=Camille+Martin"), follow=True)

    assert page.status_code == 200
    assert [r.record.title for r in page.context["door"].expired_here] == ["Le Horla"]


def test_a_late_patron_listed_with_others_of_that_name_says_their_bag_expired(door, branch, patron):
    late = make_patron(branch, card="30000001", first_name="Camille", last_name="Martin")
    expired_bag(late, branch, ["Le Horla"])
    make_ready_requests(patron, branch, ["Prêt"])  # the fixture's patron: another Camille Martin

    page = door.get(url("desk:door", branch.pk, query="card=Martin"))

    assert {m.patron.card_number: m.count for m in page.context["matches"]} == {
        "30000001": 0,
        patron.card_number: 1,
    }
    assert "bag expired, still on the hold shelf" in page.text


def test_two_expired_bags_of_one_title_lend_one_copy(door, branch, patron):
    """Asked again after a first bag expired, and let expire again: both copies are on
    the hold shelf, and one title is lent once (as at placement: already_on_loan)."""
    from emporter.holds.services import expire_overdue
    from emporter.picking import services as picking
    from tests.conftest import make_record

    record = make_record(title="Deux fois", copies=[branch, branch])
    requests = []
    for _ in range(2):
        request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
        picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get(request=request))
        request.refresh_from_db()
        expire_overdue(today=request.hold_until + datetime.timedelta(days=1))
        requests.append(request)
    offered = scan(door, branch, patron.card_number).context["door"].expired_here
    assert sorted(r.pk for r in offered) == sorted(r.pk for r in requests)

    door.post(
        url("desk:lend_expired", branch.pk), {"card": patron.card_number, "requests": [r.pk for r in offered]}
    )

    assert Loan.objects.filter(patron=patron).count() == 1
    assert Copy.objects.filter(record=record, status=CopyStatus.HOLD_SHELF).count() == 1
