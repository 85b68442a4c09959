"""A merge in the library system, when the patron had a request on each record and one
of them holds a copy (twenty-fifth session): the copy stays theirs, the wait goes. It
was left as it was: two active requests for one title, read again on every pass."""

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.holds.merges import MERGED, follow, follow_merges
from emporter.holds.models import RequestEvent, Status
from emporter.holds.services import place_request
from tests.conftest import make_record


def _merged(old: Record, new: Record) -> None:
    """What the import does: the old record's copies listed under the new one, the old
    record marked merged into it."""
    Copy.objects.filter(record=old).update(record=new)
    Record.objects.filter(pk=old.pk).update(merged_into=new)


def test_the_request_holding_a_copy_follows_and_the_waiting_one_goes(branch, patron):
    old = make_record(title="Le loup", copies=[branch])
    new = make_record(title="Le loup", copies=[(branch, CopyStatus.ON_LOAN)])
    holding = place_request(patron=patron, record_id=old.pk, pickup_branch=branch)[0]
    waiting = place_request(patron=patron, record_id=new.pk, pickup_branch=branch)[0]
    assert (holding.status, waiting.status) == (Status.PLACED, Status.WAITING)
    _merged(old, new)
    assert follow({old.pk: new.pk}) == 1
    holding.refresh_from_db()
    waiting.refresh_from_db()
    assert (holding.status, holding.record_id) == (Status.PLACED, new.pk)
    assert waiting.status == Status.CANCELLED
    assert RequestEvent.objects.get(request=waiting, to_status=Status.CANCELLED).reason == MERGED
    assert follow_merges() == 0  # nothing left on the merged record


def test_two_requests_holding_copies_both_stay(branch, patron):
    old = make_record(title="Le loup", copies=[branch])
    new = make_record(title="Le loup", copies=[branch])
    first = place_request(patron=patron, record_id=old.pk, pickup_branch=branch)[0]
    second = place_request(patron=patron, record_id=new.pk, pickup_branch=branch)[0]
    _merged(old, new)
    assert follow({old.pk: new.pk}) == 0
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.record_id, second.status) == (Status.PLACED, old.pk, Status.PLACED)
