"""Staff forms sent twice (a double tap on weak wifi, a scanner that double-sends, a
reload or a retry after a time-out): nothing is done twice (the services' guards), and
the second answer, the one left on the screen, says what the first did rather than
contradict it."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import constants, get_messages
from django.urls import reverse
from django.utils import translation

from emporter.catalogue.models import CopyStatus
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.errors import ServiceError
from emporter.holds.continuity import set_mode
from emporter.holds.models import Status
from emporter.holds.services import place_request
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.picking.models import LineStatus
from tests.conftest import make_patron, make_ready_requests, make_record
from tests.test_door_pages import expired_bag
from tests.test_picking_pages import morning_run, place


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def english(code, **params):
    with translation.override("en"):
        return str(ServiceError(code, **params).message)


def staff_client(client, role, branch, username):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    client.force_login(user)
    return client


def said(response):
    """The messages the page will show, with their levels."""
    return [(m.level, str(m)) for m in get_messages(response.wsgi_request)]


# Picking: "Found" / "Not found" tapped twice on a card.


def test_found_tapped_twice_by_the_same_picker_names_the_bag_again(client, patron, branch):
    request = place(patron, make_record(title="Double tape", copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    staff_client(client, Role.PICKER, branch, "rayon")
    url = en("picking:mark", line.pk)
    client.post(url, {"action": "found"}, follow=True)  # its answer shown, or lost on the way
    request.refresh_from_db()
    label = request.bag.label

    second = client.post(url, {"action": "found"})  # the same tap, sent again

    messages = said(second)
    assert messages == [(constants.INFO, english("already_found", barcode=line.copy.barcode, label=label))]
    assert "someone else" not in messages[0][1]
    request.refresh_from_db()
    assert request.status == Status.READY and request.bag.label == label


def test_not_found_tapped_twice_still_says_where_the_other_copy_is(client, patron, branch):
    record = make_record(title="Deux exemplaires", copies=[branch, branch])
    request = place(patron, record, branch)
    line = morning_run(branch).lines.get()
    staff_client(client, Role.PICKER, branch, "rayon")
    url = en("picking:mark", line.pk)
    data = {"action": "not_found", "reason": "shelf"}
    client.post(url, data, follow=True)
    request.refresh_from_db()
    other = request.copy
    assert other.pk != line.copy_id

    second = client.post(url, data)  # the same tap, sent again

    [(level, text)] = said(second)
    assert level == constants.INFO and "already marked not found" in text and other.barcode in text, text
    # Nothing done twice: the other copy is still the one on the list, once.
    request.refresh_from_db()
    assert request.copy == other and request.pick_lines.filter(status=LineStatus.PENDING).count() == 1


def test_another_picker_tapping_a_line_already_found_is_still_told_it_was_someone_else(
    client, patron, branch
):
    place(patron, make_record(copies=[branch]), branch)
    line = morning_run(branch).lines.get()
    staff_client(client, Role.PICKER, branch, "premier")
    client.post(en("picking:mark", line.pk), {"action": "found"}, follow=True)
    staff_client(client, Role.PICKER, branch, "second")

    response = client.post(en("picking:mark", line.pk), {"action": "not_found", "reason": "shelf"})

    assert said(response) == [(constants.ERROR, english("line_already_marked"))]


def test_found_tapped_twice_for_a_library_closed_meanwhile_still_says_leave_it(
    client, patron, branch, other_branch
):
    record = make_record(title="Dans la main", copies=[other_branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    line = picking.build_run(branch=other_branch, kind="late").lines.get()
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    staff_client(client, Role.PICKER, other_branch, "rayon")
    url = en("picking:mark", line.pk)
    first = client.post(url, {"action": "found"}, follow=True)
    leave = english("pickup_closed_leave", barcode=line.copy.barcode, branch=branch.name)
    assert [str(m) for m in first.context["messages"]] == [leave]

    second = client.post(url, {"action": "found"})

    assert said(second) == [(constants.ERROR, leave)]


# Shuttle reception and Returns: the scanner sends the barcode twice.


def in_the_van(patron, record, pickup, home):
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=pickup)
    for line in picking.build_run(branch=home, kind="late").lines.all():
        picking.mark_found(line=line)
    request.refresh_from_db()
    assert request.copy.status == CopyStatus.IN_TRANSIT
    return request


def test_a_transfer_scanned_twice_at_reception_still_names_its_bag(client, patron, branch, other_branch):
    request = in_the_van(patron, make_record(title="Navette", copies=[other_branch]), branch, other_branch)
    staff_client(client, Role.PICKER, branch, "rayon")
    url = en("picking:receive", branch.pk)
    first = client.post(url, {"barcode": request.copy.barcode})
    request.refresh_from_db()
    assert request.status == Status.READY and request.bag.label in first.text

    second = client.post(url, {"barcode": request.copy.barcode})  # the scanner's double

    assert second.status_code == 200
    assert "Already in bag" in second.text and request.bag.label in second.text, second.text[-1500:]
    assert "not expected here" not in second.text
    request.refresh_from_db()
    assert request.status == Status.READY


def test_a_transfer_scanned_twice_at_returns_says_which_bag_it_belongs_in(
    client, patron, branch, other_branch
):
    request = in_the_van(patron, make_record(title="Navette", copies=[other_branch]), branch, other_branch)
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    url = en("desk:returns", branch.pk)
    first = client.post(url, {"barcode": request.copy.barcode})
    request.refresh_from_db()
    assert "Arrived for a request" in first.text and request.bag.label in first.text

    second = client.post(url, {"barcode": request.copy.barcode})

    assert second.status_code == 200 and f"Belongs in bag {request.bag.label}" in second.text


def test_a_return_scanned_twice_still_says_where_to_send_it(client, branch, other_branch):
    borrower = make_patron(branch, card="30000001")
    (lent,) = make_ready_requests(borrower, branch, ["Attendu ailleurs"])
    desk.hand_over(patron=borrower, branch=branch)
    waiter = make_patron(other_branch, card="30000002")
    waiting, _ = place_request(patron=waiter, record_id=lent.record_id, pickup_branch=other_branch)
    assert waiting.status == Status.WAITING
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    url = en("desk:returns", branch.pk)
    first = client.post(url, {"barcode": lent.copy.barcode})
    sent = f"Someone is waiting for it at {other_branch.name}: send it there."
    assert sent in first.text

    second = client.post(url, {"barcode": lent.copy.barcode})  # the scanner's double, or a reload

    assert second.status_code == 200 and sent in second.text, second.text[-1500:]
    assert "Attendu ailleurs" in second.text and "is not on loan" not in second.text
    waiting.refresh_from_db()
    assert waiting.status == Status.PLACED and waiting.copy.status == CopyStatus.IN_TRANSIT


def test_a_copy_off_the_van_at_the_wrong_door_is_sent_on_from_returns(client, patron, branch, other_branch):
    """The same answer for a copy travelling to a patron's library that the van left at
    its home library's door: before, Returns said only "not on loan"."""
    request = in_the_van(
        patron, make_record(title="Mauvaise porte", copies=[other_branch]), branch, other_branch
    )
    staff_client(client, Role.DOOR_DESK, other_branch, "accueil")

    response = client.post(en("desk:returns", other_branch.pk), {"barcode": request.copy.barcode})

    assert f"Someone is waiting for it at {branch.name}: send it there." in response.text
    request.refresh_from_db()
    assert request.status == Status.PLACED and request.copy.status == CopyStatus.IN_TRANSIT


def test_a_return_scanned_twice_says_it_was_checked_in(client, patron, branch):
    """Nobody waits for it: the second scan said, in red and urgently, "not on loan", which
    reads as a failure after a scanner's double send. It says the return was done."""
    (lent,) = make_ready_requests(patron, branch, ["Sur l'étagère"])
    desk.hand_over(patron=patron, branch=branch)
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    url = en("desk:returns", branch.pk)
    assert "back on the shelf" in client.post(url, {"barcode": lent.copy.barcode}).text

    again = client.post(url, {"barcode": lent.copy.barcode})

    assert again.status_code == 200 and "is not on loan" not in again.text
    assert "Already checked in at" in again.text and "it goes back on its shelf" in again.text


def test_a_copy_returned_long_ago_and_scanned_is_not_on_loan(client, patron, branch):
    from django.utils import timezone

    (lent,) = make_ready_requests(patron, branch, ["Rendu hier"])
    desk.hand_over(patron=patron, branch=branch)
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    url = en("desk:returns", branch.pk)
    client.post(url, {"barcode": lent.copy.barcode})
    Loan.objects.filter(copy=lent.copy).update(returned_at=timezone.now() - datetime.timedelta(days=1))

    again = client.post(url, {"barcode": lent.copy.barcode})

    assert again.status_code == 422 and "is not on loan" in again.text


# The door: "Lend them all the same" sent again.


def test_lending_an_expired_bag_again_says_it_was_already_lent(client, patron, branch):
    (late,) = expired_bag(patron, branch, ["En retard"])
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    data = {"card": patron.card_number, "requests": [late.pk]}
    url = en("desk:lend_expired", branch.pk)
    first = client.post(url, data, follow=True)  # its answer shown (or lost on the way)
    loan = Loan.objects.get()

    again = client.post(url, data)  # the same form, sent again after a time-out

    assert Loan.objects.count() == 1
    with translation.override("en"):
        assert said(again) == [(constants.INFO, "Already lent: nothing was lent twice.")]
    # To the same receipt as the first answer.
    assert again.status_code == 302 and again["Location"] == first.redirect_chain[-1][0]
    assert f"loans={loan.pk}" in again["Location"]


def test_lending_documents_of_another_household_again_lends_and_shows_nothing(client, patron, branch):
    """The loans found "already lent" are this card's household's only: another card
    sending the same ids is told nothing was lent, and sees no receipt of theirs."""
    (late,) = expired_bag(patron, branch, ["En retard"])
    desk.lend_expired(patron=patron, branch=branch, request_ids=[late.pk])
    stranger = make_patron(branch, card="30000009")
    staff_client(client, Role.DOOR_DESK, branch, "accueil")

    response = client.post(
        en("desk:lend_expired", branch.pk), {"card": stranger.card_number, "requests": [late.pk]}
    )

    assert Loan.objects.count() == 1
    assert "/receipt/" not in response["Location"]
    [(level, text)] = said(response)
    assert level == constants.WARNING and "Nothing was lent" in text


# The phone desk: a cancel sent twice.


def test_a_phone_desk_cancel_sent_twice_says_it_is_cancelled(client, patron, branch):
    record = make_record(title="Annulé au téléphone", copies=[branch])
    hold, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    staff_client(client, Role.PHONE_DESK, branch, "telephone")
    url = en("phonedesk:cancel", patron.pk, hold.pk)
    data = {"reason": "Ne peut pas venir", "asked": "1"}
    client.post(url, data, follow=True)  # cancelled; its answer shown (or lost on the way)
    hold.refresh_from_db()
    assert hold.status == Status.CANCELLED
    events = hold.events.count()

    again = client.post(url, data)

    with translation.override("en"):
        assert said(again) == [(constants.INFO, "Already cancelled: Annulé au téléphone")]
    assert again["Location"].endswith("#requests")  # back to the list, where it shows cancelled
    assert hold.events.count() == events


def test_a_phone_desk_cancel_of_a_request_over_otherwise_is_still_refused(client, patron, branch):
    """Only a cancelled request is "already cancelled": one collected meanwhile cannot be."""
    (ready,) = make_ready_requests(patron, branch, ["Emporté"])
    desk.hand_over(patron=patron, branch=branch)
    ready.refresh_from_db()
    assert ready.status == Status.COLLECTED
    staff_client(client, Role.PHONE_DESK, branch, "telephone")

    response = client.post(en("phonedesk:cancel", patron.pk, ready.pk), {"reason": "Erreur", "asked": "1"})

    [(level, text)] = said(response)
    assert level == constants.ERROR and english("not_cancellable") in text


def test_a_surprise_bag_composed_twice_with_the_same_choice_replays_the_first(branch):
    """The librarian's "Place" sent again (a double click, a reload after a time-out):
    the first placed the documents; the second said "This surprise bag is no longer open",
    although the idempotency key was meant to replay it."""
    from emporter.discovery import services as discovery
    from tests.test_discovery_surprise import comic, librarian

    patron = make_patron(branch, card="20000009")
    user = librarian(branch)
    surprise = discovery.create_surprise_request(
        asked_by=patron, patron=patron, pickup_branch=branch, how_many=2
    )
    chosen = [comic("Un", branch).pk, comic("Deux", branch).pk]
    first = discovery.compose_surprise_request(surprise=surprise, record_ids=chosen, actor=user)
    again = discovery.compose_surprise_request(surprise=surprise, record_ids=chosen, actor=user)
    assert [o.request.pk for o in again] == [o.request.pk for o in first]
    assert patron.requests.count() == 2
    # Other documents for a bag already made up are still refused.
    with pytest.raises(ServiceError) as other:
        discovery.compose_surprise_request(
            surprise=surprise, record_ids=[comic("Trois", branch).pk], actor=user
        )
    assert other.value.code == "surprise_not_open"
    assert patron.requests.count() == 2


def test_a_surprise_bag_sent_again_places_nothing_the_first_could_not(branch):
    """The replay gave what the first placed, and placed anew what the first refused (a
    document on loan then, back since): a bag already made up grew behind the
    librarian's back."""
    from emporter.discovery import services as discovery
    from emporter.holds.models import RequestPolicy
    from tests.test_discovery_surprise import comic, librarian

    patron = make_patron(branch, card="20000010")
    policy = RequestPolicy.objects.create(max_active=1)
    user = librarian(branch)
    surprise = discovery.create_surprise_request(
        asked_by=patron, patron=patron, pickup_branch=branch, how_many=1
    )
    chosen = [comic("Un", branch).pk, comic("Deux", branch).pk]
    with pytest.raises(ServiceError):  # two chosen for a bag of one
        discovery.compose_surprise_request(surprise=surprise, record_ids=chosen, actor=user)
    surprise.how_many = 2
    surprise.save(update_fields=["how_many"])
    first = discovery.compose_surprise_request(surprise=surprise, record_ids=chosen, actor=user)
    assert [o.ok for o in first] == [True, False]  # the patron's limit: one
    policy.max_active = 8
    policy.save()
    again = discovery.compose_surprise_request(surprise=surprise, record_ids=chosen, actor=user)
    assert [o.request.pk for o in again] == [first[0].request.pk]
    assert patron.requests.count() == 1
