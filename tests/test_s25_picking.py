"""The morning pull, from the twenty-fifth session's review: the printed list marks a
line cancelled since it was built; a tap on a line carried to a later list marks it
there; a barcode typed by eye is read as the desk reads it."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from emporter.holds.models import Request, Status
from emporter.holds.services import cancel_request, place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.picking.models import LineStatus, PickRun
from tests.conftest import make_branch, make_patron, make_record
from tests.test_picking_pdf import pdf_text


@pytest.fixture
def setting(client, db):
    """A branch open every day, a patron, and a picker signed in there."""
    branch = make_branch(weekdays=range(7))
    user = get_user_model().objects.create_user(username="picker", password="x")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    client.force_login(user)
    return branch, make_patron(branch)


def _placed_yesterday(patron, branch, *titles):
    requests = [
        place_request(
            patron=patron, record_id=make_record(title=t, copies=[branch]).pk, pickup_branch=branch
        )[0]
        for t in titles
    ]
    Request.objects.filter(pk__in=[r.pk for r in requests]).update(
        placed_at=timezone.now() - datetime.timedelta(days=2)
    )
    return requests


def test_the_printed_list_marks_a_line_cancelled_since_it_was_built(client, setting):
    """It printed like a line to pull (and a guessed bag label): a picker walked to the
    shelf and pulled a copy for nobody."""
    branch, patron = setting
    _kept, cancelled = _placed_yesterday(patron, branch, "Gardé", "Annulé")
    run = picking.build_run(branch=branch)
    cancelled.refresh_from_db()
    cancel_request(request=cancelled)
    picking.settle_withdrawn_lines()
    assert run.lines.get(request=cancelled).status == LineStatus.CANCELLED
    rows = pdf_text(client.get(reverse("picking:run_pdf", args=[run.pk]))).splitlines()
    (row,) = [r for r in rows if "Annulé" in r]
    assert str(LineStatus.CANCELLED.label) in row


def test_found_tapped_on_a_line_carried_to_a_later_list_marks_it_there(client, setting):
    """Yesterday's list still open on the phone when the morning's was built: the tap
    said someone else had marked it, and the copy in hand was not bagged."""
    branch, patron = setting
    (request,) = _placed_yesterday(patron, branch, "Hier")
    old = picking.build_run(branch=branch)
    PickRun.objects.filter(pk=old.pk).update(run_date=timezone.localdate() - datetime.timedelta(days=1))
    old_line = old.lines.get()
    picking.build_run(branch=branch)
    old_line.refresh_from_db()
    assert old_line.status == LineStatus.CARRIED
    client.post(reverse("picking:mark", args=[old_line.pk]), {"action": "found"})
    request.refresh_from_db()
    assert request.status == Status.READY


def test_a_barcode_typed_in_other_capitals_or_groups_is_scanned(client, setting):
    branch, patron = setting
    first, second = _placed_yesterday(patron, branch, "Usé", "Effacé")
    run = picking.build_run(branch=branch)
    scan = reverse("picking:scan", args=[run.pk])
    for request, typed in ((first, first.copy.barcode.lower()), (second, " ".join(second.copy.barcode))):
        answer = client.post(scan, {"barcode": typed}, HTTP_ACCEPT="application/json")
        assert answer.status_code == 200, answer.json()
        request.refresh_from_db()
        assert request.status == Status.READY
