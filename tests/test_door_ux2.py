"""The door screens, second round of the tester's findings: the scan box keeps focus
after a missing copy, copies lent by the library system are checked in, the bag says
where a document not yet ready is, and a partial hand-over says what is still waiting."""

import datetime
import re

import pytest
from django.utils import formats, timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.holds.models import Status
from emporter.holds.services import place_request
from emporter.notices import outbox
from emporter.patrons.models import Role
from emporter.picking import services as picking
from tests.conftest import make_patron, make_ready_requests, make_record
from tests.test_door_pages import hand_over, scan, staff, url
from tests.test_door_ux import missing_copy, returns


@pytest.fixture
def door(client, branch):
    client.force_login(staff(Role.DOOR_DESK, branch))
    return client


# 1. Focus stays in the scan box ----------------------------------------------------------


def test_a_missing_copy_leaves_focus_in_the_scan_box(door, branch):
    """A scanner's Enter would otherwise press "Found: put it back" for the next return."""
    page = returns(door, branch, missing_copy(branch).barcode)
    (button,) = re.findall(r"<button[^>]*>\s*Found: put it back on the shelf", page.text)
    assert "autofocus" not in button
    (field,) = re.findall(r'<input[^>]*id="barcode"[^>]*>', page.text)
    assert "autofocus" in field
    assert page.text.count("autofocus") == 1


# 2. A copy lent by the library system is checked in ---------------------------------------


def lent_by_the_ils(branch, title="Prêté ailleurs"):
    """On loan as the catalogue import says: lent at a desk of the library system, no
    loan of ours."""
    copy = make_record(title=title, copies=[branch]).copies.get()
    Copy.objects.filter(pk=copy.pk).update(status=CopyStatus.ON_LOAN)
    return copy


def test_a_copy_lent_by_the_library_system_goes_back_on_the_shelf(door, branch):
    copy = lent_by_the_ils(branch)
    page = returns(door, branch, copy.barcode)
    assert page.status_code == 200 and "is not on loan" not in page.text
    assert "Returned: back on the shelf." in page.text
    copy.refresh_from_db()
    assert copy.status == CopyStatus.ON_SHELF
    assert not Loan.objects.exists()
    again = returns(door, branch, copy.barcode)  # the scanner's double: said done, nothing changed
    assert again.status_code == 200 and "Already checked in at" in again.text
    copy.refresh_from_db()
    assert copy.status == CopyStatus.ON_SHELF and not Loan.objects.exists()


def test_a_copy_lent_by_the_library_system_serves_the_oldest_waiting_request(branch):
    copy = lent_by_the_ils(branch)
    first, _ = place_request(
        patron=make_patron(branch, card="30000001"), record_id=copy.record_id, pickup_branch=branch
    )
    place_request(patron=make_patron(branch, card="30000002"), record_id=copy.record_id, pickup_branch=branch)
    assert first.status == Status.WAITING
    returned = desk.check_in(barcode=copy.barcode, branch=branch)
    assert returned.loan is None and returned.served == first
    first.refresh_from_db()
    # In hand at the returns desk: straight into the first patron's bag.
    assert first.status == Status.READY and first.copy == copy
    copy.refresh_from_db()
    assert copy.status == CopyStatus.HOLD_SHELF


def test_a_copy_lent_by_the_library_system_returned_elsewhere_travels_home(door, branch, other_branch):
    copy = lent_by_the_ils(other_branch)
    waiting, _ = place_request(
        patron=make_patron(branch, card="30000001"), record_id=copy.record_id, pickup_branch=other_branch
    )
    page = returns(door, branch, copy.barcode)
    assert page.status_code == 200
    assert "Returned. Send it back to Croix-Rousse." in page.text
    copy.refresh_from_db()
    waiting.refresh_from_db()
    assert copy.status == CopyStatus.IN_TRANSIT and waiting.status == Status.WAITING
    # At home it is received and serves the waiting request.
    home, served = desk.receive_home(barcode=copy.barcode, branch=other_branch)
    assert served == waiting


# 3. Where a document not ready yet is -----------------------------------------------------


def not_ready_line(page, title):
    (line,) = re.findall(rf"<li>Not ready yet:\s*<strong>{title}</strong>(.*?)</li>", page.text, re.S)
    return " ".join(line.split())


def test_a_copy_set_aside_at_another_library_says_where_and_how_it_comes(door, branch, other_branch, patron):
    record = make_record(title="Là-bas", copies=[other_branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    assert request.status == Status.PLACED and request.copy.branch == other_branch
    line = not_ready_line(scan(door, branch, patron.card_number), "Là-bas")
    assert "to be pulled at Croix-Rousse, will come by the shuttle" in line
    assert "pulled from the shelves" not in line


def test_a_copy_in_transit_says_where_it_comes_from(door, branch, other_branch, patron):
    record = make_record(title="En route", copies=[other_branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    (line,) = picking.build_run(branch=other_branch, kind="late").lines.all()
    picking.mark_found(line=line)
    assert record.copies.get().status == CopyStatus.IN_TRANSIT
    line = not_ready_line(scan(door, branch, patron.card_number), "En route")
    assert "on its way from Croix-Rousse" in line


def test_a_copy_at_this_library_is_still_to_be_pulled_from_the_shelves(door, branch, patron):
    place_request(patron=patron, record_id=make_record(title="Ici", copies=[branch]).pk, pickup_branch=branch)
    assert "to be pulled from the shelves" in not_ready_line(scan(door, branch, patron.card_number), "Ici")


# 4. A partial hand-over says what is still waiting ----------------------------------------


def test_the_receipt_of_a_partial_hand_over_says_what_is_still_in_the_bag(door, branch, patron):
    lent, kept = make_ready_requests(patron, branch, ["Emporté", "Resté"])
    page = scan(door, branch, patron.card_number)
    receipt = hand_over(door, branch, page, requests=[lent.pk])
    assert Loan.objects.get().request == lent
    kept.refresh_from_db()
    (waiting,) = re.findall(r'<section class="still-waiting".*?</section>', receipt.text, re.S)
    assert "Still waiting in the bag" in waiting and "Resté" in waiting and "Emporté" not in waiting
    until = formats.date_format(kept.hold_until, "l j F Y")
    assert f"bag {kept.bag.label}, kept until {until}" in " ".join(waiting.split())


def test_a_receipt_printed_again_later_shows_when_the_documents_were_lent(door, branch, patron):
    make_ready_requests(patron, branch, ["Emporté"])
    hand_over(door, branch, scan(door, branch, patron.card_number))
    loan = Loan.objects.get()
    lent = timezone.make_aware(datetime.datetime(2026, 12, 1, 10, 5))
    Loan.objects.filter(pk=loan.pk).update(checked_out_at=lent)
    again = door.get(url("desk:receipt", branch.pk, patron.pk), {"loans": str(loan.pk)})
    assert "1 December 2026, 10:05" in again.text


def test_a_full_hand_over_has_nothing_still_waiting(door, branch, patron):
    make_ready_requests(patron, branch, ["Un", "Deux"])
    receipt = hand_over(door, branch, scan(door, branch, patron.card_number))
    assert "Still waiting" not in receipt.text


def test_the_emailed_receipt_says_what_is_still_in_the_bag(door, branch, patron, mailoutbox):
    patron.email, patron.language = "sacha@example.org", "en"
    patron.save(update_fields=["email", "language"])
    lent, kept = make_ready_requests(patron, branch, ["Emporté", "Resté"])
    hand_over(door, branch, scan(door, branch, patron.card_number), requests=[lent.pk])
    door.post(url("desk:email_receipt", branch.pk, patron.pk), {"loans": str(Loan.objects.get().pk)})
    outbox.send_due()
    (mail,) = mailoutbox
    kept.refresh_from_db()
    until = formats.date_format(kept.hold_until, "l j F Y")
    assert "Still waiting in the bag:" in mail.body
    assert f"Resté — bag {kept.bag.label}, kept until {until}" in mail.body


def test_a_documents_barcode_scanned_as_a_card_opens_its_bag(door, branch, patron):
    (ready,) = make_ready_requests(patron, branch, ["Dans le sac"])
    page = door.get(url("desk:door", branch.pk), {"card": ready.copy.barcode}, follow=True)
    assert page.status_code == 200
    assert f"is a document of bag {ready.bag.label}: here is its patron" in page.text
    assert patron.card_number in page.text and "Dans le sac" in page.text


def test_a_receipt_never_shows_someone_elses_anonymised_loans(door, branch, patron):
    make_ready_requests(patron, branch, ["Le mien"])
    hand_over(door, branch, scan(door, branch, patron.card_number))
    mine = Loan.objects.get()
    other = make_patron(branch, card="40000009")
    make_ready_requests(other, branch, ["Pas le mien"])
    hand_over(door, branch, scan(door, branch, other.card_number))
    theirs = Loan.objects.exclude(pk=mine.pk).get()
    Loan.objects.filter(pk=theirs.pk).update(patron=None)  # returned and forgotten long ago
    page = door.get(url("desk:receipt", branch.pk, patron.pk), {"loans": f"{mine.pk},{theirs.pk}"})
    assert "Le mien" in page.text and "Pas le mien" not in page.text
