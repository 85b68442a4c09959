"""A guardian collects their children's documents with their own card: each document is
lent to its own patron's card, so each of those cards is checked (blocked, expired) as
the scanned one is, the door says whose card it is, and the same override covers them.
And a blocked or expired card renews nothing, unless staff decide otherwise."""

import datetime
import html

import pytest
from django.utils import timezone

from emporter.desk import selectors as door_selectors
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.errors import ServiceError
from emporter.holds.models import Status
from emporter.holds.services import expire_overdue
from emporter.patrons.models import Patron, Role
from tests.conftest import make_patron, make_ready_requests
from tests.test_door_pages import hand_over, scan, staff, url

LONG_AGO = datetime.date(2020, 1, 1)
BLOCKED = {"blocked_reason": "Documents perdus"}
EXPIRED = {"card_expires": LONG_AGO}


@pytest.fixture
def door(client, branch):
    client.force_login(staff(Role.DOOR_DESK, branch))
    return client


@pytest.fixture
def parent(branch):
    return make_patron(branch, card="20000001", first_name="Camille", last_name="Martin")


@pytest.fixture
def child(branch, parent):
    names = {"first_name": "Léo", "last_name": "Martin"}
    return make_patron(branch, card="20000002", category="child", guardian=parent, email="", **names)


def since(patron, **change):
    """Blocked or expired after the requests were placed (placing checks the card too)."""
    Patron.objects.filter(pk=patron.pk).update(**change)


# The services -------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "code"), [(BLOCKED, "patron_blocked"), (EXPIRED, "card_expired")])
def test_a_guardian_cannot_collect_a_blocked_or_expired_childs_bag_without_the_override(
    branch, parent, child, change, code
):
    make_ready_requests(parent, branch, ["Pour moi"])
    make_ready_requests(child, branch, ["Petit ours"])
    since(child, **change)
    with pytest.raises(ServiceError) as error:
        desk.hand_over(patron=parent, branch=branch)
    assert error.value.code == code and error.value.params["name"] == "Léo Martin"
    # Nothing lent, not even the guardian's own: one decision for the whole hand-over.
    assert not Loan.objects.exists()
    loans = desk.hand_over(patron=parent, branch=branch, override_blocks=True).loans
    assert sorted(loan.patron_id for loan in loans) == sorted([parent.pk, child.pk])


def test_the_guardians_own_documents_need_no_override_when_the_childs_stay_on_the_shelf(
    branch, parent, child
):
    (mine,) = make_ready_requests(parent, branch, ["Pour moi"])
    (theirs,) = make_ready_requests(child, branch, ["Petit ours"])
    since(child, **BLOCKED)
    with pytest.raises(ServiceError):
        desk.hand_over(patron=parent, branch=branch, request_ids=[mine.pk, theirs.pk])
    (loan,) = desk.hand_over(patron=parent, branch=branch, request_ids=[mine.pk]).loans
    assert loan.patron_id == parent.pk
    theirs.refresh_from_db()
    assert theirs.status == Status.READY


def expired_bag(patron, branch, titles):
    requests = make_ready_requests(patron, branch, titles)
    expire_overdue(today=requests[0].hold_until + datetime.timedelta(days=1))
    return requests


@pytest.mark.parametrize("change", [BLOCKED, EXPIRED])
def test_a_blocked_or_expired_childs_expired_bag_is_not_lent_to_the_guardian_unchecked(
    branch, parent, child, change
):
    (late,) = expired_bag(child, branch, ["En retard"])
    since(child, **change)
    with pytest.raises(ServiceError) as error:
        desk.lend_expired(patron=parent, branch=branch, request_ids=[late.pk])
    assert error.value.params["name"] == "Léo Martin" and not Loan.objects.exists()
    (loan,) = desk.lend_expired(patron=parent, branch=branch, request_ids=[late.pk], override_blocks=True)
    assert loan.patron_id == child.pk


def test_the_door_view_names_each_childs_block_and_expiry(branch, parent, child):
    other = make_patron(branch, card="20000003", first_name="Zoé", last_name="Martin", guardian=parent)
    make_ready_requests(child, branch, ["Petit ours"])
    make_ready_requests(other, branch, ["Grand ours"])
    since(child, **BLOCKED)
    since(other, **EXPIRED)
    view = door_selectors.door_view(patron=parent, branch=branch)
    assert view.needs_override and not view.blocked and not view.card_expired
    problems = [(p.patron.first_name, p.blocked_reason, p.expired_on) for p in view.children_problems]
    assert problems == [("Léo", "Documents perdus", None), ("Zoé", "", LONG_AGO)]


# Renewals -----------------------------------------------------------------------------


@pytest.mark.parametrize(("change", "code"), [(BLOCKED, "patron_blocked"), (EXPIRED, "card_expired")])
def test_a_blocked_or_expired_card_renews_nothing_unless_staff_override(patron, branch, change, code):
    make_ready_requests(patron, branch, ["Un"])
    (loan,) = desk.hand_over(patron=patron, branch=branch).loans
    due = loan.due_date
    since(patron, **change)
    with pytest.raises(ServiceError) as error:
        desk.renew(loan=loan, patron=patron)
    assert error.value.code == code
    loan.refresh_from_db()
    assert (loan.renewals, loan.due_date) == (0, due)
    assert desk.renew(loan=loan, patron=patron, override_blocks=True).renewals == 1


def test_renewing_from_a_blocked_account_says_why_and_renews_nothing(client, branch, patron):
    make_ready_requests(patron, branch, ["Prolongé"])
    (loan,) = desk.hand_over(patron=patron, branch=branch).loans
    since(patron, blocked_reason="Retards")
    client.force_login(patron.user)
    refused = client.post(url("loans:renew", loan.pk), follow=True)
    assert "Prolongé: Your account is blocked: Retards." in refused.text
    loan.refresh_from_db()
    assert loan.renewals == 0


def test_a_blocked_account_says_why_once_and_offers_no_renew_button(client, branch, patron):
    make_ready_requests(patron, branch, ["Prolongé"])
    desk.hand_over(patron=patron, branch=branch)
    client.force_login(patron.user)
    assert "/renew/" in client.get(url("patrons:account")).text
    since(patron, blocked_reason="Retards")
    page = client.get(url("patrons:account")).text
    assert "Your account is blocked: Retards." in page and "/renew/" not in page


# The door pages -----------------------------------------------------------------------


def test_the_door_page_names_the_blocked_child_and_the_override_covers_them(door, branch, parent, child):
    make_ready_requests(parent, branch, ["Pour moi"])
    make_ready_requests(child, branch, ["Petit ours"])
    since(child, **BLOCKED)
    page = scan(door, branch, parent.card_number)
    assert "Léo Martin is blocked by the library: Documents perdus" in page.text
    assert 'name="override"' in page.text
    refused = hand_over(door, branch, page)
    assert "Léo Martin is blocked (Documents perdus): tick “Hand over anyway”" in refused.text
    assert not Loan.objects.exists()
    hand_over(door, branch, scan(door, branch, parent.card_number), override="1")
    assert sorted(Loan.objects.values_list("patron_id", flat=True)) == sorted([parent.pk, child.pk])


def test_the_door_page_names_the_child_whose_card_has_expired(door, branch, parent, child):
    make_ready_requests(child, branch, ["Petit ours"])
    since(child, **EXPIRED)
    page = scan(door, branch, parent.card_number)
    assert "Léo Martin's card expired on 1 January 2020" in html.unescape(page.text)
    refused = hand_over(door, branch, page)
    assert "Léo Martin's card has expired: tick “Hand over anyway”" in html.unescape(refused.text)
    assert not Loan.objects.exists()


def test_an_expired_bag_can_be_lent_to_a_blocked_card_with_the_override(door, branch, patron):
    (late,) = expired_bag(patron, branch, ["En retard"])
    patron.card_expires = timezone.localdate() - datetime.timedelta(days=1)
    patron.save()
    page = scan(door, branch, patron.card_number)
    # The expired documents' form offers the override too (the message asks to tick it).
    expired_form = page.text.split('class="expired-here"')[1].split("</form>")[0]
    assert 'name="override"' in expired_form and "Lend anyway (staff decision)" in expired_form
    lend = url("desk:lend_expired", branch.pk)
    refused = door.post(lend, {"card": patron.card_number, "requests": [late.pk]}, follow=True)
    # It names this form's box, not the hand-over's (two boxes once said the same).
    assert "This card has expired: tick “Lend anyway”" in html.unescape(refused.text)
    assert not Loan.objects.exists()
    door.post(lend, {"card": patron.card_number, "requests": [late.pk], "override": "1"})
    assert Loan.objects.get().request_id == late.pk
