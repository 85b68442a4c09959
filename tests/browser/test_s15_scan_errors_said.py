"""A scan refused at the door, at Returns or at Receive transfers (the fifteenth session's
accessibility review) is shown in a red box
with role="alert" that is already in the page when it loads. announce.js's own comment
says why that is not enough: "screen readers only read what changes in one"; every other
scan result of these screens (nothing ready, needs attention, returned, put it in bag…)
is marked data-announce and copied into the empty live region after the load. The
refusals are not: a librarian who cannot see the screen hears nothing after the scan
(the page reloads with the same box focused)."""

import pytest

from emporter.patrons.models import Role
from tests.browser.conftest import chromium, desktop  # noqa: F401 (fixtures)
from tests.browser.test_journey import staff, staff_sign_in
from tests.conftest import make_branch

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def said_urgently(page):
    # announce.js waits for the load, then 500 ms, then 100 ms.
    page.wait_for_load_state("load")
    page.wait_for_timeout(1200)
    return page.locator("#announce-urgent").text_content()


def test_a_refused_scan_is_said_at_the_door_at_returns_and_at_receive(live_server, desktop):  # noqa: F811
    base = live_server.url
    branch = make_branch()
    staff("manager", Role.BRANCH_MANAGER, branch)  # door and picker at this branch
    staff_sign_in(desktop, base, "manager")
    desktop.wait_for_load_state()

    # The door: a card nobody has.
    desktop.goto(f"{base}/staff/door/{branch.pk}/")
    desktop.fill("#card", "99999999")
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    error = desktop.locator("#card-error").text_content().strip()
    assert error  # shown, and tied to the box (aria-describedby)...
    assert error in said_urgently(desktop), "the door's refusal is not said"  # ...but never said

    # Returns: a barcode that is no copy of ours.
    desktop.goto(f"{base}/staff/door/{branch.pk}/returns/")
    desktop.fill("#barcode", "NOPE1")
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    error = desktop.locator("#barcode-error").text_content().strip()
    assert error in said_urgently(desktop), "the Returns refusal is not said"

    # Receive transfers (picking): the same.
    desktop.goto(f"{base}/staff/picking/branches/{branch.pk}/receive/")
    desktop.fill("#barcode", "NOPE1")
    with desktop.expect_navigation():
        desktop.keyboard.press("Enter")
    error = desktop.locator("#barcode-error").text_content().strip()
    assert error in said_urgently(desktop), "the Receive refusal is not said"
