"""The door in headless Chromium: the hand-over button counts the ticked documents, and
after the hand-over the next card can be scanned at once. Screenshots land in
test-output/door-ux/."""

import re

import pytest
from playwright.sync_api import expect

from emporter.catalogue.models import CopyStatus
from emporter.desk.models import Loan
from emporter.patrons.models import Role
from tests.browser.conftest import Shots
from tests.browser.test_journey import staff, staff_sign_in
from tests.conftest import make_branch, make_patron, make_ready_requests
from tests.test_door_ux import missing_copy

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_button_counts_and_focus_returns_to_the_card(live_server, desktop):
    base = live_server.url
    branch = make_branch()
    patron = make_patron(branch, first_name="Sacha", last_name="Moreau")
    next_one = make_patron(branch, card="10000002", first_name="Lou", last_name="Durand")
    make_ready_requests(patron, branch, ["Un", "Deux", "Trois"])
    make_ready_requests(next_one, branch, ["Quatre"])
    staff("door", Role.DOOR_DESK, branch)
    shot = Shots("door-ux")

    staff_sign_in(desktop, base, "door")
    desktop.goto(f"{base}/staff/door/{branch.pk}/")
    desktop.fill("#card", "moreau")  # found by name: one patron with a bag here
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    button = desktop.locator("form.handover button[type=submit]")
    assert button.inner_text() == "Remettre 3 documents"
    boxes = desktop.locator("input[name=requests]")
    boxes.nth(0).uncheck()
    assert button.inner_text() == "Remettre 2 documents"
    shot(desktop, "one-unticked")
    boxes.nth(1).uncheck()
    boxes.nth(2).uncheck()
    assert button.is_disabled()
    boxes.nth(1).check()
    boxes.nth(2).check()
    assert button.inner_text() == "Remettre 2 documents" and button.is_enabled()
    with desktop.expect_navigation():
        button.click()
    assert "2 documents remis" in desktop.content() or "2 documents handed over" in desktop.content()
    assert Loan.objects.filter(patron=patron).count() == 2
    assert desktop.evaluate("document.activeElement.id") == "card"
    shot(desktop, "receipt-focus-on-card")

    # The next patron's card, scanned straight away.
    desktop.keyboard.type(next_one.card_number)
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    assert "Quatre" in desktop.content()
    assert desktop.locator("form.handover button[type=submit]").inner_text() == "Remettre 1 document"


def test_a_name_lists_the_bags_and_a_missing_copy_goes_back_only_when_clicked(live_server, desktop):
    base = live_server.url
    branch = make_branch()
    for card, first in (("10000001", "Sacha"), ("10000002", "Lou")):
        moreau = make_patron(branch, card=card, first_name=first, last_name="Moreau")
        make_ready_requests(moreau, branch, [first])
    copy = missing_copy(branch)
    staff("door", Role.DOOR_DESK, branch)
    shot = Shots("door-ux-name-and-missing")

    staff_sign_in(desktop, base, "door")
    desktop.goto(f"{base}/staff/door/{branch.pk}/")
    desktop.fill("#card", "Moreau")
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    shot(desktop, "two-patrons-named-moreau")
    with desktop.expect_navigation():
        desktop.get_by_role("link", name="Lou").click()
    assert desktop.locator("form.handover").count() == 1

    desktop.goto(f"{base}/staff/door/{branch.pk}/returns/")
    desktop.fill("#barcode", copy.barcode)
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    shot(desktop, "missing-copy-scanned")
    # The next scan goes to the scan box, and its Enter does not put the copy back.
    assert desktop.evaluate("document.activeElement.id") == "barcode"
    desktop.keyboard.type("NOPE")
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    assert "NOPE" in desktop.content()
    copy.refresh_from_db()
    assert copy.status == CopyStatus.MISSING
    desktop.fill("#barcode", copy.barcode)
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    with desktop.expect_navigation():
        desktop.get_by_role("button", name=re.compile("Retrouvé|Found")).click()
    shot(desktop, "put-back")
    copy.refresh_from_db()
    assert copy.status == CopyStatus.ON_SHELF


def test_a_scan_outside_the_box_lands_in_it_but_a_single_key_stays_put(live_server, desktop):
    base = live_server.url
    branch = make_branch()
    patron = make_patron(branch, first_name="Sacha", last_name="Moreau")
    make_ready_requests(patron, branch, ["Un"])
    staff("door", Role.DOOR_DESK, branch)
    staff_sign_in(desktop, base, "door")
    desktop.goto(f"{base}/staff/door/{branch.pk}/?card={patron.card_number}")
    desktop.locator("input[name=requests]").first.focus()

    desktop.keyboard.press("x")  # a person (or speech input): no jump to the scan box
    assert desktop.evaluate("document.activeElement.name") == "requests"

    desktop.wait_for_timeout(1600)  # a while later (two keys within 1.5 s are typed together),
    desktop.keyboard.type("10000002")  # a scanner: a burst, a few milliseconds apart
    assert desktop.evaluate("document.activeElement.id") == "card"
    assert desktop.input_value("#card") == "10000002"


def test_what_a_scan_found_is_said_to_a_screen_reader(live_server, desktop):
    # The result is on the page from its load: copied into a live region, it is read out
    # (focus is back in the card box, which says nothing of it).
    base = live_server.url
    branch = make_branch()
    make_patron(branch, first_name="Sacha", last_name="Moreau", blocked_reason="Amende")
    staff("door", Role.DOOR_DESK, branch)
    staff_sign_in(desktop, base, "door")
    desktop.goto(f"{base}/staff/door/{branch.pk}/?card=10000001")
    polite, urgent = desktop.locator("#announce-polite"), desktop.locator("#announce-urgent")
    expect(polite).to_contain_text("Rien n’est prêt pour cette carte ici")
    expect(urgent).to_contain_text("Amende")
