"""The composer's first step, ``set_aside``: events no notice will tell stop being "to
tell". It runs on every pass (every 15 s), so its statement must stay cheap to plan."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from emporter.holds.models import Request, RequestEvent, Status
from emporter.holds.services import place_request
from emporter.notices import compose
from emporter.notices.models import Kind, Notice, NoticeEvent
from tests.conftest import make_record


def _placed(patron, branch, title):
    request = place_request(
        patron=patron, record_id=make_record(title=title, copies=[branch]).pk, pickup_branch=branch
    )[0]
    return request


def _event(request, **fields):
    return RequestEvent.objects.create(request=request, **fields)


def test_set_aside_clears_what_no_notice_will_tell_and_keeps_the_rest(patron, branch):
    kept, forgotten, linked_request = (_placed(patron, branch, t) for t in ("Gardé", "Oublié", "Déjà dit"))
    Request.objects.filter(pk=forgotten.pk).update(status=Status.CANCELLED, patron=None, copy=None)
    RequestEvent.objects.update(to_tell=False)  # the placements' own events, out of the way

    placement = _event(kept, from_status="", to_status=Status.PLACED)
    staff_note = _event(kept, from_status=Status.PLACED, to_status=Status.PLACED, reason="note")
    cancelled_for_nobody = _event(
        forgotten, from_status=Status.PLACED, to_status=Status.CANCELLED, reason="staff"
    )
    linked = _event(linked_request, from_status="", to_status=Status.PLACED)
    old = Notice.objects.create(patron=patron, kind=Kind.CONFIRMATION, dedupe_key="old-composer")
    NoticeEvent.objects.create(notice=old, event=linked)

    assert compose.set_aside() == 3
    still = set(RequestEvent.objects.filter(to_tell=True).values_list("pk", flat=True))
    assert still == {placement.pk}
    assert not {staff_note.pk, cancelled_for_nobody.pk, linked.pk} & still


def test_set_aside_is_one_statement_on_the_events_table_alone(patron, branch):
    """The forgotten borrower and the notice already linked are asked with EXISTS. Django's
    joins for them, ORed with the events' own conditions, took PostgreSQL 12-38 ms to plan
    on each pass, against 0.3 ms (the pass found nothing)."""
    _placed(patron, branch, "Un")
    with CaptureQueriesContext(connection) as queries:
        compose.set_aside()
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 1, updates
    assert " JOIN " not in updates[0], updates[0]
    assert updates[0].count("EXISTS") == 2, updates[0]
