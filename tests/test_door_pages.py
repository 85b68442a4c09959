import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.holds.models import Request, Status
from emporter.holds.services import expire_overdue, place_request
from emporter.network.models import Department, Location, ServiceMode
from emporter.notices import outbox
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record
from tests.test_picking_pdf import pdf_text


def url(name, *args, query=""):
    # English pages: the assertions read the English msgids, whatever the French catalogue says.
    with translation.override("en"):
        return reverse(name, args=args) + (f"?{query}" if query else "")


def staff(role, branch=None, username="door"):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


@pytest.fixture
def door(client, branch):
    client.force_login(staff(Role.DOOR_DESK, branch))
    return client


def scan(client, branch, card):
    return client.get(url("desk:door", branch.pk, query=f"card={card}"))


def hand_over(client, branch, page, **extra):
    """Submit the hand-over form exactly as the page rendered it (all boxes ticked)."""
    form = page.context
    data = {
        "card": form["door"].patron.card_number,
        "nonce": form["nonce"],
        "requests": [r.pk for r in form["door"].ready],
    }
    return client.post(url("desk:hand_over", branch.pk), data | extra, follow=True)


def test_scanning_a_card_shows_the_bag_and_handing_over_makes_the_loans(door, branch, patron):
    requests = make_ready_requests(patron, branch, ["Un", "Deux"])
    page = scan(door, branch, patron.card_number)
    label = requests[0].bag.label
    assert label in page.text and "Un" in page.text and requests[1].copy.barcode in page.text
    receipt = hand_over(door, branch, page)
    assert Loan.objects.filter(patron=patron, returned_at=None).count() == 2
    assert "2 documents handed over." in receipt.text
    due = Loan.objects.first().due_date
    assert due.strftime("%Y") in receipt.text and "Loans receipt" in receipt.text


def test_a_repeated_click_or_second_scan_lends_nothing_twice(door, branch, patron):
    make_ready_requests(patron, branch, ["Un", "Deux"])
    page = scan(door, branch, patron.card_number)
    hand_over(door, branch, page)
    again = hand_over(door, branch, page)
    assert Loan.objects.count() == 2
    assert again.status_code == 200 and "Already handed over" in again.text
    # A fresh page for the same card (another nonce) says so too, instead of an error.
    rescan = scan(door, branch, patron.card_number)
    assert "Already handed over today" in rescan.text
    assert Loan.objects.count() == 2


def test_the_same_documents_from_a_stale_page_are_already_handed_over(door, branch, patron):
    make_ready_requests(patron, branch, ["Un"])
    first, stale = scan(door, branch, patron.card_number), scan(door, branch, patron.card_number)
    hand_over(door, branch, first)
    response = hand_over(door, branch, stale)
    assert Loan.objects.count() == 1
    assert "Already handed over" in response.text and "Un" in response.text


def test_handing_over_only_the_ticked_documents(door, branch, patron):
    first, second = make_ready_requests(patron, branch, ["Un", "Deux"])
    page = scan(door, branch, patron.card_number)
    hand_over(door, branch, page, requests=[first.pk])
    assert list(Loan.objects.values_list("request", flat=True)) == [first.pk]
    second.refresh_from_db()
    assert second.status == Status.READY


def test_no_document_ticked_is_refused_with_a_message(door, branch, patron):
    make_ready_requests(patron, branch, ["Un"])
    page = scan(door, branch, patron.card_number)
    response = hand_over(door, branch, page, requests=[])
    assert "Tick at least one document" in response.text
    assert not Loan.objects.exists()


def test_a_wrong_card_number_says_so(door, branch):
    response = scan(door, branch, "99999999")
    assert response.status_code == 404
    assert "No patron has the card 99999999" in response.text


def test_a_blocked_patron_needs_the_explicit_override(door, branch, patron):
    make_ready_requests(patron, branch, ["Un"])
    patron.blocked_reason = "documents en retard"
    patron.save()
    page = scan(door, branch, patron.card_number)
    assert "Blocked by the library: documents en retard" in page.text
    assert 'name="override"' in page.text
    refused = hand_over(door, branch, page)
    assert "This patron is blocked (documents en retard)" in refused.text
    assert not Loan.objects.exists()
    page = scan(door, branch, patron.card_number)
    hand_over(door, branch, page, override="1")
    assert Loan.objects.count() == 1


def test_an_expired_card_is_shown_and_needs_the_override(door, branch, patron):
    make_ready_requests(patron, branch, ["Un"])
    patron.card_expires = timezone.localdate() - datetime.timedelta(days=1)
    patron.save()
    page = scan(door, branch, patron.card_number)
    assert "Card expired on" in page.text
    refused = hand_over(door, branch, page)
    assert "This card has expired" in refused.text and not Loan.objects.exists()
    hand_over(door, branch, scan(door, branch, patron.card_number), override="1")
    assert Loan.objects.count() == 1


def test_nothing_ready_gets_a_clear_answer_and_not_ready_documents_are_shown(door, branch, patron):
    place_request(
        patron=patron, record_id=make_record(title="Pas encore", copies=[branch]).pk, pickup_branch=branch
    )
    page = scan(door, branch, patron.card_number)
    assert "Nothing is ready for this card here." in page.text
    assert "Not ready yet:" in page.text and "Pas encore" in page.text
    assert 'name="requests"' not in page.text


def test_a_patron_at_the_wrong_door_is_told_where_their_bag_is(door, branch, other_branch, patron):
    make_ready_requests(patron, other_branch, ["Ailleurs", "Là-bas"])
    page = scan(door, branch, patron.card_number)
    assert "Nothing is ready for this card here." in page.text
    assert "2 documents are ready at Croix-Rousse." in page.text


def test_a_copy_arriving_in_transit_is_received_on_the_returns_screen(door, branch, patron):
    far = make_branch(code="VAI", name="Vaise")
    request = place_request(
        patron=patron, record_id=make_record(title="Voyageur", copies=[far]).pk, pickup_branch=branch
    )[0]
    Copy.objects.filter(pk=request.copy_id).update(status=CopyStatus.IN_TRANSIT)
    response = door.post(url("desk:returns", branch.pk), {"barcode": request.copy.barcode})
    request.refresh_from_db()
    assert request.status == Status.READY
    assert "put it in bag" in response.text and request.bag.label in response.text


def test_a_guardian_sees_and_collects_their_childs_bag(door, branch):
    parent = make_patron(branch, card="40000001")
    child = make_patron(branch, card="40000002", category="child", guardian=parent, first_name="Léo")
    make_ready_requests(child, branch, ["Album"])
    page = scan(door, branch, parent.card_number)
    assert "Album" in page.text and "Léo" in page.text
    hand_over(door, branch, page)
    assert Loan.objects.get().patron == child


def test_the_receipt_can_be_emailed_to_the_patron(door, branch, patron, settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    make_ready_requests(patron, branch, ["Un"])
    receipt = hand_over(door, branch, scan(door, branch, patron.card_number))
    loan = Loan.objects.get()
    response = door.post(
        url("desk:email_receipt", branch.pk, patron.pk), {"loans": str(loan.pk)}, follow=True
    )
    assert receipt.status_code == 200
    assert f"The receipt will be emailed to {patron.email} within a minute." in response.text
    assert mail.outbox == []  # by the worker, not while the patron waits
    outbox.send_due()
    (message,) = mail.outbox
    assert message.to == [patron.email] and "Un" in message.body


def test_returns_screen_checks_in_and_serves_a_waiting_request(door, branch, patron):
    (request,) = make_ready_requests(patron, branch, ["Convoité"])
    hand_over(door, branch, scan(door, branch, patron.card_number))
    other = make_patron(branch, card="40000003")
    waiting, _ = place_request(patron=other, record_id=request.record_id, pickup_branch=branch)
    response = door.post(url("desk:returns", branch.pk), {"barcode": request.copy.barcode})
    waiting.refresh_from_db()
    # Trapped at check-in, as Koha does: straight into the waiting patron's bag, not onto
    # a trolley where tomorrow's picker, sent to its shelf, would not look.
    assert waiting.status == Status.READY and waiting.copy_id == request.copy_id
    assert f"put it in bag {waiting.bag.label} ({other.first_name}), on the hold shelf" in response.text
    assert Copy.objects.get(pk=request.copy_id).status == CopyStatus.HOLD_SHELF
    # The waiting patron had no bag here: the new one's label prints from the screen.
    label_url = url("desk:bag_label", branch.pk, waiting.bag_id)
    assert f'href="{label_url}"' in response.text
    text = pdf_text(door.get(label_url))
    assert waiting.bag.label in text and f"{other.first_name} {other.last_name[0]}." in text


def test_a_bag_label_prints_only_for_an_open_bag_of_this_door(door, client, branch, other_branch, patron):
    (request,) = make_ready_requests(patron, branch, ["Étiquette"])
    assert door.get(url("desk:bag_label", branch.pk, request.bag_id)).status_code == 200
    # Not a bag of this library (its door staff may not print here), nor a bag handed over.
    assert door.get(url("desk:bag_label", other_branch.pk, request.bag_id)).status_code == 403
    hand_over(door, branch, scan(door, branch, patron.card_number))
    assert door.get(url("desk:bag_label", branch.pk, request.bag_id)).status_code == 404


def test_a_return_wanted_at_another_library_is_sent_there(door, branch, other_branch, patron):
    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    (request,) = make_ready_requests(patron, branch, ["Voyageur"])
    hand_over(door, branch, scan(door, branch, patron.card_number))
    far = make_patron(other_branch, card="40000004")
    waiting, _ = place_request(patron=far, record_id=request.record_id, pickup_branch=other_branch)
    response = door.post(url("desk:returns", branch.pk), {"barcode": request.copy.barcode})
    waiting.refresh_from_db()
    assert waiting.status == Status.PLACED and waiting.copy_id == request.copy_id
    assert Copy.objects.get(pk=request.copy_id).status == CopyStatus.IN_TRANSIT
    assert f"Someone is waiting for it at {other_branch.name}: send it there." in response.text
    # Scanned when it arrives there, it goes into that patron's bag.
    from emporter.picking.services import receive

    receive(branch=other_branch, barcode=request.copy.barcode)
    waiting.refresh_from_db()
    assert waiting.status == Status.READY and waiting.bag.branch == other_branch


def test_returns_screen_puts_a_copy_back_on_the_shelf_or_says_what_is_wrong(door, branch, patron):
    (request,) = make_ready_requests(patron, branch, ["Rendu"])
    hand_over(door, branch, scan(door, branch, patron.card_number))
    back = door.post(url("desk:returns", branch.pk), {"barcode": request.copy.barcode})
    assert "back on the shelf" in back.text
    # Scanned again at once: the same return, said as done (tests/test_s15_double_submits.py).
    again = door.post(url("desk:returns", branch.pk), {"barcode": request.copy.barcode})
    assert again.status_code == 200 and "Already checked in at" in again.text
    unknown = door.post(url("desk:returns", branch.pk), {"barcode": "NOPE"})
    assert unknown.status_code == 422 and "No copy has the barcode NOPE" in unknown.text


def test_hold_shelf_lists_bags_by_label_and_transit_apart(door, branch):
    zola = make_patron(branch, card="50000001", last_name="Zola")
    adam = make_patron(branch, card="50000002", last_name="Adam")
    make_ready_requests(zola, branch, ["Z1", "Z2"])
    make_ready_requests(adam, branch, ["A1"])
    far = make_branch(code="VAI", name="Vaise")
    travelling = place_request(
        patron=adam, record_id=make_record(title="En route", copies=[far]).pk, pickup_branch=branch
    )[0]
    Copy.objects.filter(pk=travelling.copy_id).update(status=CopyStatus.IN_TRANSIT)
    page = door.get(url("desk:shelf", branch.pk))
    bags = page.context["bags"]
    assert [b.label for b in bags] == sorted(b.label for b in bags) == ["A001", "Z001"]
    assert [b.ready_count for b in bags] == [1, 2]
    assert [r.record.title for r in page.context["in_transit"]] == ["En route"]
    assert page.text.index("A001") < page.text.index("Z001") < page.text.index("En route")


def test_hold_shelf_filters_by_deadline(door, branch, patron):
    make_ready_requests(patron, branch, ["Un"])
    hold_until = Request.objects.get().hold_until
    today = timezone.localdate()
    expected = (
        "today" if hold_until == today else "tomorrow" if hold_until == today + datetime.timedelta(1) else ""
    )
    for due in ("today", "tomorrow", "overdue"):
        bags = door.get(url("desk:shelf", branch.pk, query=f"due={due}")).context["bags"]
        assert len(bags) == (1 if due == expected else 0)
    assert len(door.get(url("desk:shelf", branch.pk)).context["bags"]) == 1


def test_back_to_the_shelves_lists_expired_copies_in_walking_order(door, branch):
    youth = Department.objects.create(branch=branch, code="jeunesse", name="Jeunesse", walking_order=2)
    adults = Department.objects.create(branch=branch, code="adultes", name="Adultes", walking_order=1)
    albums = Location.objects.create(department=youth, code="albums", name="Albums")
    novels = Location.objects.create(department=adults, code="romans", name="Romans")
    patron = make_patron(branch, card="60000001")
    kid, novel = make_ready_requests(patron, branch, ["Petit ours", "Grand roman"])
    Copy.objects.filter(pk=kid.copy_id).update(department=youth, location=albums)
    Copy.objects.filter(pk=novel.copy_id).update(department=adults, location=novels)
    expire_overdue(today=kid.hold_until + datetime.timedelta(days=1))
    back = door.get(url("desk:shelf", branch.pk)).context["back"]
    assert [e.copy.record.title for e in back] == ["Grand roman", "Petit ours"]


def test_staff_of_another_branch_get_403(client, branch, other_branch, patron):
    client.force_login(staff(Role.DOOR_DESK, other_branch))
    for name in ("desk:door", "desk:shelf", "desk:returns"):
        assert client.get(url(name, branch.pk)).status_code == 403
    assert client.get(url("desk:door", other_branch.pk)).status_code == 200


def test_pickers_and_anonymous_users_cannot_use_the_door(client, branch):
    assert client.get(url("desk:door", branch.pk)).status_code == 302
    client.force_login(staff(Role.PICKER, branch))
    assert client.get(url("desk:door", branch.pk)).status_code == 403


def test_account_shows_loans_with_due_dates_and_renew_buttons(client, branch, patron):
    make_ready_requests(patron, branch, ["Prolongé"])
    loan = desk.hand_over(patron=patron, branch=branch).loans[0]
    client.force_login(patron.user)
    page = client.get(url("patrons:account"))
    assert "My loans" in page.text
    assert url("loans:renew", loan.pk) in page.text
    assert loan.due_date.strftime("%Y") in page.text


def test_renewing_from_the_account_says_until_when_or_why_not(client, branch, patron):
    make_ready_requests(patron, branch, ["Prolongé"])
    loan = desk.hand_over(patron=patron, branch=branch).loans[0]
    client.force_login(patron.user)
    renewed = client.post(url("loans:renew", loan.pk), follow=True)
    loan.refresh_from_db()
    assert loan.renewals == 1 and "Prolongé is renewed until" in renewed.text
    refused = client.post(url("loans:renew", loan.pk), follow=True)
    assert "cannot be renewed any more" in refused.text


def test_a_patron_cannot_renew_someone_elses_loan(client, branch, patron):
    make_ready_requests(patron, branch, ["À moi"])
    loan = desk.hand_over(patron=patron, branch=branch).loans[0]
    intruder = make_patron(branch, card="70000001")
    client.force_login(intruder.user)
    assert client.post(url("loans:renew", loan.pk)).status_code == 404


def expired_bag(patron, branch, titles):
    requests = make_ready_requests(patron, branch, titles)
    expire_overdue(today=requests[0].hold_until + datetime.timedelta(days=1))
    for request in requests:
        request.refresh_from_db()
        assert request.status == Status.EXPIRED
    return requests


def test_a_patron_come_after_their_bag_expired_gets_what_is_still_on_the_shelf(door, branch, patron):
    (late,) = expired_bag(patron, branch, ["En retard"])
    page = scan(door, branch, patron.card_number)
    assert "Expired, but still on the hold shelf" in page.text and "En retard" in page.text
    assert [r.pk for r in page.context["door"].expired_here] == [late.pk]

    response = door.post(
        url("desk:lend_expired", branch.pk), {"card": patron.card_number, "requests": [late.pk]}
    )

    assert response.status_code == 302 and "/receipt/" in response["Location"]
    loan = Loan.objects.get()
    assert (loan.copy_id, loan.patron, loan.request_id) == (late.copy_id, patron, late.pk)
    assert Copy.objects.get(pk=late.copy_id).status == CopyStatus.ON_LOAN
    late.refresh_from_db()
    assert late.status == Status.EXPIRED  # what happened; the loan says the rest
    # Lent once: offered no more, and a second post lends nothing.
    assert not scan(door, branch, patron.card_number).context["door"].expired_here
    door.post(url("desk:lend_expired", branch.pk), {"card": patron.card_number, "requests": [late.pk]})
    assert Loan.objects.count() == 1


def test_an_expired_document_someone_waits_for_goes_to_them_not_the_latecomer(door, branch, patron):
    (late,) = expired_bag(patron, branch, ["Convoité"])
    other = make_patron(branch, card="40000009")
    waiting, _ = place_request(patron=other, record_id=late.record_id, pickup_branch=branch)
    assert waiting.status == Status.WAITING
    page = scan(door, branch, patron.card_number)
    assert "Someone is waiting for it: scan it at Returns for them." in page.text
    door.post(url("desk:lend_expired", branch.pk), {"card": patron.card_number, "requests": [late.pk]})
    assert not Loan.objects.exists()


def test_an_expired_document_already_put_back_or_long_expired_is_not_offered(door, branch, patron):
    put_back, long_ago = expired_bag(patron, branch, ["Rangé", "Oublié"])
    desk.receive_home(barcode=put_back.copy.barcode, branch=branch)  # out of its bag, scanned
    Request.objects.filter(pk=long_ago.pk).update(closed_at=timezone.now() - datetime.timedelta(days=8))
    assert not scan(door, branch, patron.card_number).context["door"].expired_here
