"""Figures that count what their label says (review "stats" of the eighteenth session)."""

from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.holds.services import place_request
from emporter.picking import services as picking
from emporter.stats import selectors
from emporter.stats.selectors import Period
from tests.conftest import make_record


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
