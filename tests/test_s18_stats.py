"""Figures that count what their label says (review "stats" of the eighteenth session): a
line served by another copy counts under that copy's type, a department merged into
another keeps its name in past months, and another library's copy left in a bag here is
work to take out."""

import datetime

import pytest
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import selectors as desk_selectors
from emporter.desk.services import receive_home
from emporter.errors import ServiceError
from emporter.holds.models import Status
from emporter.holds.services import expire_overdue, place_request
from emporter.network.models import Department
from emporter.patrons.models import Role
from emporter.picking import services as picking
from emporter.stats import selectors
from emporter.stats.selectors import Period
from tests.conftest import make_department, make_record
from tests.test_door_pages import staff, url


def test_a_line_served_by_another_copy_counts_under_that_copys_type(patron, branch):
    """A title with a book and an audiobook CD on one shelf: the book is listed, the picker
    scans the CD beside it and it serves the request. "Found by document type" counted
    a book found (the line kept the listed copy's type)."""
    record = make_record(title="Bel-Ami", copies=[branch], doc_type="book")
    cd = Copy.objects.create(
        record=record,
        barcode="CD0001",
        call_number="R MAU",
        branch=branch,
        doc_type="audiobook",
        status=CopyStatus.ON_SHELF,
    )
    request = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)[0]
    assert request.copy.doc_type == "book"
    run = picking.build_run(branch=branch, kind="late")
    picking.mark_found(line=picking.line_for_barcode(run=run, barcode=cd.barcode))
    request.refresh_from_db()
    assert request.copy_id == cd.pk and request.doc_type == "audiobook"

    today = timezone.localdate()
    by_type = selectors.pick_outcomes(period=Period(today, today), branch_ids=[branch.pk], by="doc_type")
    assert [(o.code, o.found) for o in by_type] == [("audiobook", 1)]


def test_a_department_merged_and_deleted_keeps_its_name_in_past_figures(patron, branch):
    """Last month 2 copies were pulled from "Jeunesse"; the library then merged it into
    "Adultes" (copies moved, the empty department deleted). The figures by department,
    sent to the city, said "—" for those lines, the row of lines with no department."""
    youth = make_department(branch, code="jeunesse", name="Jeunesse")
    adults = make_department(branch, code="adultes", name="Adultes", order=1)
    records = [make_record(title=t, copies=[branch]) for t in ("Un", "Deux")]
    Copy.objects.filter(record__in=records).update(department=youth)
    for record in records:
        place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    today = timezone.localdate()
    period = Period(today, today)

    Copy.objects.filter(department=youth).update(department=adults)
    Department.objects.filter(pk=youth.pk).delete()

    after = selectors.pick_outcomes(period=period, branch_ids=[branch.pk], by="department")
    assert [(o.label, o.code, o.found) for o in after] == [("Jeunesse", "jeunesse", 2)]


def test_another_librarys_copy_left_in_an_expired_bag_is_work_until_scanned_out(patron, branch, other_branch):
    """Part-Dieu's patron asked for a title only Croix-Rousse has; it came over, waited in
    the bag at Part-Dieu, and the bag expired. It is travelling home from then on, yet
    still in the bag on Part-Dieu's shelf: today's work there said 0 to take out."""
    record = make_record(title="Loin", copies=[other_branch])
    request = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)[0]
    for line in picking.build_run(branch=other_branch, kind="late").lines.all():
        picking.mark_found(line=line)
    copy = Copy.objects.get(record=record)
    picking.receive(branch=branch, barcode=copy.barcode)
    expire_overdue(today=timezone.localdate() + datetime.timedelta(days=40))
    request.refresh_from_db()
    assert request.status == Status.EXPIRED

    def to_take_out():
        rows = {w.branch_code: w for w in selectors.workload(branches=[branch, other_branch])}
        return rows[branch.code].to_take_out, rows[other_branch.code].to_take_out

    assert to_take_out() == (1, 0)
    with pytest.raises(ServiceError) as said:  # scanned at Part-Dieu's Returns: send it home
        receive_home(barcode=copy.barcode, branch=branch)
    assert said.value.code == "send_home"
    assert to_take_out() == (0, 0)  # out of its bag, in the van's box


def test_the_door_lists_such_a_copy_for_as_long_as_the_figure_counts_it(client, patron, branch, other_branch):
    """The door's list dropped it after its days (BACK_TO_SHELVES_DAYS), saying only "Send
    back", while the workload counted it until a scan at Returns: they agree now."""
    record = make_record(title="Loin", copies=[other_branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    for line in picking.build_run(branch=other_branch, kind="late").lines.all():
        picking.mark_found(line=line)
    copy = Copy.objects.get(record=record)
    picking.receive(branch=branch, barcode=copy.barcode)
    expire_overdue(today=timezone.localdate() + datetime.timedelta(days=40))
    later = timezone.now() + datetime.timedelta(days=desk_selectors.BACK_TO_SHELVES_DAYS + 1)

    assert [e.copy_id for e in desk_selectors.back_to_shelves(branch=branch, now=later)] == [copy.pk]
    client.force_login(staff(Role.DOOR_DESK, branch))
    shelf = client.get(url("desk:shelf", branch.pk)).content.decode()
    assert "scan it at Returns, then send it back to Croix-Rousse" in shelf

    with pytest.raises(ServiceError):
        receive_home(barcode=copy.barcode, branch=branch)  # "send it home": out of its bag
    assert desk_selectors.back_to_shelves(branch=branch, now=later) == []
    assert "Send back to Croix-Rousse" in client.get(url("desk:shelf", branch.pk)).content.decode()
