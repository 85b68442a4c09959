"""Requests follow their title when the library system merges two records, or gives one
a new control number.

The re-import then finds the copies of the old record listed under another one and
moves them there (catalogue.importer); the old record, left without a copy that could
serve a request, is marked ``Record.merged_into`` in the same transaction. Its requests
must follow: left behind, they waited for nothing (the sweep closed them as not found
and told the patrons so), and a copy coming back went to whoever requested the new
record. Koha (``Koha::Biblio->merge_with``) and Evergreen (``asset.merge_record_assets``)
move the holds with a merge, as this does:

- each active request of the old record moves to the record its copies went to (to the
  end of a chain, should that one have been merged since), keeping its place in the
  queue (``created_at``), its pickup library and everything else; an event
  ``record_merged`` says so (no notice: the patron's document is the same);
- a patron who already has a request under way for the new record keeps one: the one
  holding a copy, else the older; the other is cancelled with the reason
  ``record_merged`` (the database allows one active request per patron and record),
  without a notice either (both holding a copy, both stay as they are);
- the import calls ``follow`` in the transaction that moved the copies (the commands
  and the imports page give it), so no sweep ever sees the old record empty with its
  requests still on it; ``follow_merges``, a scheduler job, moves what that could not
  (a request or patron busy at that moment, an import run without it).

Nothing here waits for a lock: a request or a patron another transaction holds (a
placement, a cancellation) is left for the next pass. So it can run inside an import's
batch, which holds records and copies, without closing a circle with anyone.
"""

from collections.abc import Mapping

from django.db import transaction
from django.utils.translation import gettext as _

from emporter.catalogue.models import Record
from emporter.patrons.models import Patron

from .lifecycle import record_event, transition
from .models import ACTIVE, Request, Status

# RequestEvent.reason of a request moved, or cancelled as a duplicate, by a merge.
MERGED = "record_merged"
# How far a chain of merges is followed (a merged into b merged into c…).
CHAIN_AT_MOST = 20


def follow(merged: Mapping[int, int], *, actor=None) -> int:
    """Move the active requests of the records ``merged`` names ({old record id: the
    record its copies went to}); returns how many requests were moved or cancelled.
    Runs in the caller's transaction (the import's batch), each request in a savepoint."""
    done = 0
    for old in sorted(merged):
        target = _end_of_chain(old)
        if target is None:
            continue
        rows = Request.objects.filter(record_id=old, status__in=ACTIVE).order_by("created_at", "pk")
        for request_id in list(rows.values_list("pk", flat=True)):
            done += _follow_one(request_id, old=old, target=target, actor=actor)
    return done


def follow_merges(*, limit: int = 500, actor=None) -> int:
    """The scheduler's job: move the active requests still on a record merged into
    another (``follow``, for those the import could not move), oldest first, at most
    ``limit``; returns how many were moved or cancelled. Read through the partial index on
    ``Record.merged_into``: the few merged records, not the catalogue."""
    merged = Record.objects.filter(merged_into__isnull=False).values("pk")
    rows = (
        Request.objects.filter(record__in=merged, status__in=ACTIVE)
        .order_by("created_at", "pk")
        .values_list("pk", "record_id")[:limit]
    )
    done, targets = 0, {}
    for request_id, old in list(rows):
        if old not in targets:
            targets[old] = _end_of_chain(old)
        if targets[old] is not None:
            with transaction.atomic():
                done += _follow_one(request_id, old=old, target=targets[old], actor=actor)
    return done


def _end_of_chain(record_id: int) -> int | None:
    """The record ``record_id``'s copies are on now: the one it was merged into, or the
    one that one was merged into since, and so on. None when it is not merged (any more:
    a copy came back to it) or the chain loops."""
    seen = {record_id}
    target = Record.objects.filter(pk=record_id).values_list("merged_into_id", flat=True).first()
    if target is None:
        return None
    for _step in range(CHAIN_AT_MOST):
        further = Record.objects.filter(pk=target).values_list("merged_into_id", flat=True).first()
        if further is None:
            return target
        if further in seen:
            return None
        seen.add(target)
        target = further
    return None


def _follow_one(request_id: int, *, old: int, target: int, actor=None) -> int:
    """Move one request of ``old`` to ``target``, or cancel it when its patron has one
    there already: 1 if done, 0 if left (moved, closed or busy meanwhile)."""
    with transaction.atomic():
        request = (
            Request.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=request_id, record_id=old, status__in=ACTIVE)
            .first()
        )
        if request is None:
            return 0
        # The patron's row, as a placement takes it first: none of theirs for the new
        # record can be placed meanwhile (one active request per patron and record).
        patron = Patron.objects.select_for_update(skip_locked=True).filter(pk=request.patron_id)
        if patron.values_list("pk", flat=True).first() is None:
            return 0
        keys = dict(Record.objects.filter(pk__in=[old, target]).values_list("pk", "source_key"))
        # The request's history keeps a note in words (the language of the moment).
        note = _("record %(old)s merged into %(new)s in the library system") % {
            "old": keys.get(old, old),
            "new": keys.get(target, target),
        }
        theirs = Request.objects.filter(patron_id=request.patron_id, record_id=target, status__in=ACTIVE)
        if theirs.exists():
            other = theirs.select_for_update(skip_locked=True, of=("self",)).first()
            if other is None:
                return 0  # being changed now: the next pass
            if request.status != Status.WAITING:
                if other.status != Status.WAITING:
                    return 0  # both hold a copy: each ends as it is
                # This one holds a copy, the other waits for one: the copy stays theirs,
                # the wait goes (left, the patron had two requests for one title, and
                # this one was read again on every pass).
            elif other.status != Status.WAITING or other.created_at <= request.created_at:
                transition(request, Status.CANCELLED, actor=actor, reason=MERGED, note=note)
                return 1
            # Else both waiting, this one first: it keeps its place in the queue, the later
            # one goes (else those who asked in between would pass before the patron).
            transition(other, Status.CANCELLED, actor=actor, reason=MERGED, note=note)
        if not Request.objects.filter(pk=request.pk, status=request.status, record_id=old).update(
            record_id=target
        ):
            return 0
        request.record_id = target
        record_event(request, old=request.status, actor=actor, reason=MERGED, note=note)
        return 1
