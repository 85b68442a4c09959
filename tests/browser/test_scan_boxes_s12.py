"""Scan boxes in headless Chromium, as a USB scanner uses them (characters a few ms
apart, then Enter): every scan lands, whole, in the barcode box.

- Returns: a scan typed while the focus is off the box goes to the box, not into the
  form's hidden CSRF token (the return was lost and the next one failed with a 403).
- Returns and shuttle reception: a refused barcode is shown again selected, so the next
  scan replaces it instead of being glued in front of it ("3000700601217299999").
- The pick list: a copy whose request was cancelled meanwhile is shown as a warning
  (back on the shelf), not in green as a copy to bag.
"""

import pytest

from emporter.catalogue.models import CopyStatus
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.holds.services import cancel_request, place_request
from emporter.patrons.models import Role
from emporter.picking import services as picking
from tests.browser.test_journey import staff, staff_sign_in
from tests.conftest import make_patron, make_ready_requests, make_record

pytestmark = pytest.mark.django_db(transaction=True)

SELECTION = (
    "() => { const box = document.getElementById('barcode'); return [box.selectionStart, box.selectionEnd]; }"
)


def scanner(page, code):
    """What a USB scanner does: characters a few ms apart, then Enter (the form is sent)."""
    with page.expect_navigation():
        page.keyboard.type(code, delay=5)
        page.keyboard.press("Enter")


def two_loans(branch):
    patron = make_patron(branch, card="20690001")
    requests = make_ready_requests(patron, branch, ["Premier", "Second"])
    desk.hand_over(patron=patron, branch=branch)
    return [r.copy.barcode for r in requests]


def returned(barcode) -> bool:
    return Loan.objects.filter(copy__barcode=barcode, returned_at__isnull=False).exists()


def test_a_scan_made_while_the_focus_is_off_the_box_is_checked_in(live_server, desktop, branch):
    first, second = two_loans(branch)
    staff("accueil", Role.DOOR_DESK, branch)
    staff_sign_in(desktop, live_server.url, "accueil")
    desktop.goto(f"{live_server.url}/staff/door/{branch.pk}/returns/")
    scanner(desktop, first)
    assert returned(first)
    # The librarian clicks on the result to read it: the focus leaves the box.
    desktop.click("h1")
    token = desktop.input_value("input[name=csrfmiddlewaretoken]")
    desktop.keyboard.type(second, delay=5)
    assert desktop.input_value("#barcode") == second
    assert desktop.input_value("input[name=csrfmiddlewaretoken]") == token
    with desktop.expect_navigation() as navigation:
        desktop.keyboard.press("Enter")
    assert navigation.value.status == 200
    assert returned(second), desktop.inner_text("main")


def test_after_a_refused_barcode_the_next_scan_replaces_it_on_returns(live_server, desktop, branch):
    first, _ = two_loans(branch)
    staff("accueil", Role.DOOR_DESK, branch)
    staff_sign_in(desktop, live_server.url, "accueil")
    desktop.goto(f"{live_server.url}/staff/door/{branch.pk}/returns/")
    scanner(desktop, "99999")  # a wrong barcode (the card, a publisher's EAN...)
    # Shown again, with the error, selected: what is scanned next replaces it.
    assert desktop.evaluate("document.activeElement.id") == "barcode"
    assert desktop.input_value("#barcode") == "99999"
    assert desktop.evaluate(SELECTION) == [0, 5]
    scanner(desktop, first)
    assert returned(first), desktop.inner_text("main")
    # After an answer the box is empty and ready for the next scan.
    assert desktop.input_value("#barcode") == ""
    assert desktop.evaluate("document.activeElement.id") == "barcode"


def test_after_a_refused_barcode_the_next_scan_replaces_it_on_shuttle_reception(
    live_server, desktop, branch, other_branch
):
    patron = make_patron(branch, card="20690002")
    record = make_record(title="En navette", copies=[other_branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    for line in picking.build_run(branch=other_branch, kind="late").lines.all():
        picking.mark_found(line=line)
    request.refresh_from_db()
    assert request.copy.status == CopyStatus.IN_TRANSIT
    staff("rayon", Role.PICKER, branch)
    staff_sign_in(desktop, live_server.url, "rayon")
    desktop.goto(f"{live_server.url}/staff/picking/branches/{branch.pk}/receive/")
    scanner(desktop, "99999")
    assert desktop.evaluate("document.activeElement.id") == "barcode"
    assert desktop.evaluate(SELECTION) == [0, 5]
    scanner(desktop, request.copy.barcode)
    request.refresh_from_db()
    assert request.status == "ready", desktop.inner_text("main")
    assert desktop.input_value("#barcode") == ""


def test_a_cancelled_request_scanned_is_a_warning_and_not_drawn_found(live_server, phone, branch):
    patron = make_patron(branch, card="20690010")
    kept, cancelled = (
        place_request(
            patron=patron, record_id=make_record(title=t, copies=[branch]).pk, pickup_branch=branch
        )[0]
        for t in ("Gardé", "Annulé")
    )
    run = picking.build_run(branch=branch, kind="late")
    line = run.lines.get(request=cancelled)
    staff("rayon", Role.PICKER, branch)
    staff_sign_in(phone, live_server.url, "rayon")
    phone.goto(f"{live_server.url}/staff/picking/runs/{run.pk}/pick/")
    # The patron cancels from their phone while the list is out.
    cancel_request(request=cancelled)
    phone.fill("#barcode", cancelled.copy.barcode)
    phone.press("#barcode", "Enter")
    phone.wait_for_function("() => document.querySelector('[data-scan-result]').textContent.length > 0")
    result = phone.locator("[data-scan-result]")
    assert "rayon" in result.inner_text()  # "…remettez l’exemplaire en rayon."
    classes = result.get_attribute("class").split()
    assert "warning" in classes and "success" not in classes
    # It leaves "To pull", but is not drawn "Found" in Done as a copy to bag would be.
    phone.wait_for_selector(f"#line-{line.pk}", state="detached")
    assert phone.locator("#barcode").input_value() == ""
    # The server's own done line (after the refresh) says where it goes.
    phone.wait_for_function(
        "() => /rayon/.test(document.querySelector('.done-lines').textContent)", polling=100
    )
    assert phone.locator(f"#line-{run.lines.get(request=kept).pk}").count() == 1
