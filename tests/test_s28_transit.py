"""Copies between libraries as the twenty-eighth session's review found them: a copy
returned, given to a waiting request that was cancelled minutes later, is brought home by
its next scan at Returns (it was said "already checked in" and left in transit, or on the
hold shelf, for good); a picker scanning again a copy whose transfer was cancelled before
the van left is told to scan it at Returns, not to put it in the van."""

import pytest

from emporter.catalogue.models import CopyStatus
from emporter.desk import selectors as desk_selectors
from emporter.desk import services as desk
from emporter.errors import ServiceError
from emporter.holds.models import Status
from emporter.holds.services import cancel_request, place_request
from emporter.patrons.models import Role
from emporter.picking import services as picking
from tests.conftest import make_patron, make_record
from tests.test_s15_double_submits import en, staff_client
from tests.test_s18_returns import shown


def lent_at(home, card="30000001", title="Rendu"):
    """A copy of ``home`` lent there to a patron of ``home``."""
    lender = make_patron(home, card=card)
    record = make_record(title=title, copies=[home])
    place_request(patron=lender, record_id=record.pk, pickup_branch=home)
    (line,) = picking.build_run(branch=home, kind="late").lines.all()
    picking.mark_found(line=line)
    desk.hand_over(patron=lender, branch=home)
    copy = record.copies.get()
    copy.refresh_from_db()
    assert copy.status == CopyStatus.ON_LOAN
    return copy


def test_returned_sent_on_then_cancelled_is_brought_home_by_the_next_scan(
    client, branch, other_branch, patron
):
    copy = lent_at(other_branch)
    waiting, _ = place_request(patron=patron, record_id=copy.record_id, pickup_branch=branch)
    assert waiting.status == Status.WAITING
    staff_client(client, Role.DOOR_DESK, other_branch, "accueil")
    url = en("desk:returns", other_branch.pk)
    first = client.post(url, {"barcode": copy.barcode})
    assert f"Someone is waiting for it at {branch.name}: send it there." in first.text, shown(first)
    waiting.refresh_from_db()
    cancel_request(request=waiting)

    second = client.post(url, {"barcode": copy.barcode})

    copy.refresh_from_db()
    assert "Already checked in" not in second.text, shown(second)
    assert copy.status == CopyStatus.ON_SHELF


def test_returned_bagged_here_then_cancelled_is_taken_out_by_the_next_scan(client, branch, patron):
    copy = lent_at(branch, card="30000002")
    waiting, _ = place_request(patron=patron, record_id=copy.record_id, pickup_branch=branch)
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    url = en("desk:returns", branch.pk)
    first = client.post(url, {"barcode": copy.barcode})
    assert "Someone was waiting for it: put it in bag" in first.text, shown(first)
    waiting.refresh_from_db()
    cancel_request(request=waiting)

    second = client.post(url, {"barcode": copy.barcode})

    copy.refresh_from_db()
    assert "Already checked in" not in second.text, shown(second)
    assert copy.status == CopyStatus.ON_SHELF
    assert not [
        e for e in desk_selectors.back_to_shelves(branch=branch) if e.copy.status == CopyStatus.HOLD_SHELF
    ]


def test_a_return_scanned_twice_with_nothing_more_to_do_is_still_said_done(client, branch):
    copy = lent_at(branch, card="30000003")
    staff_client(client, Role.DOOR_DESK, branch, "accueil")
    url = en("desk:returns", branch.pk)
    client.post(url, {"barcode": copy.barcode})
    assert "it goes back on its shelf." in client.post(url, {"barcode": copy.barcode}).text


def test_a_picker_scanning_again_a_copy_whose_transfer_was_cancelled_is_told_to_scan_it_at_returns(
    branch, other_branch, patron
):
    record = make_record(title="Annulé en route", copies=[other_branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    run = picking.build_run(branch=other_branch, kind="late")
    (line,) = run.lines.all()
    picking.mark_found(line=line)
    copy = record.copies.get()
    assert copy.status == CopyStatus.IN_TRANSIT
    request.refresh_from_db()
    cancel_request(request=request)

    with pytest.raises(ServiceError) as said:
        picking.line_for_barcode(run=run, barcode=copy.barcode)

    assert said.value.code == "already_found_cancelled"
    # And Returns, at its own library, puts it back on the shelf.
    desk.receive_home(barcode=copy.barcode, branch=other_branch)
    copy.refresh_from_db()
    assert copy.status == CopyStatus.ON_SHELF


def test_a_picker_scanning_again_a_copy_still_wanted_elsewhere_is_told_the_van(branch, other_branch, patron):
    record = make_record(title="En route", copies=[other_branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    run = picking.build_run(branch=other_branch, kind="late")
    (line,) = run.lines.all()
    picking.mark_found(line=line)

    with pytest.raises(ServiceError) as said:
        picking.line_for_barcode(run=run, barcode=record.copies.get().barcode)

    assert said.value.code == "already_found_transit"
