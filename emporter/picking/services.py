"""The morning pull: building pick runs and marking their lines found or not found."""

import datetime
from typing import NoReturn

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Case, Exists, F, IntegerField, OuterRef, Q, Value, When
from django.utils import timezone, translation
from django.utils.translation import gettext

from emporter.catalogue.models import Copy, CopyStatus, Record
from emporter.errors import ServiceError
from emporter.holds import policy
from emporter.holds import services as holds
from emporter.holds.lifecycle import transition
from emporter.holds.models import HOLDING_COPY, Request, Status
from emporter.network.models import Branch, ServiceMode, closed_for_a_while

from .models import LineStatus, PickLine, PickRun, not_found_text


def morning_cutoff(branch: Branch, day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, branch.pick_time))


def build_run(*, branch: Branch, kind: str = PickRun.Kind.MORNING, now=None, actor=None) -> PickRun:
    """Build the branch's run: every copy set aside there before the cut-off and not yet
    on a list. The morning run is built once a day; building it again returns it."""
    now = now or timezone.now()
    day = timezone.localdate(now)
    if kind == PickRun.Kind.MORNING:
        existing = PickRun.objects.filter(branch=branch, run_date=day, kind=kind).first()
        if existing:
            return existing
        # Built on demand before the set time, the run closes when it is built.
        cutoff = min(morning_cutoff(branch, day), now)
    else:
        cutoff = now
    try:
        return _create_run(branch=branch, day=day, kind=kind, cutoff=cutoff, actor=actor)
    except IntegrityError:
        if kind == PickRun.Kind.MORNING:
            morning = PickRun.objects.filter(branch=branch, run_date=day, kind=kind).first()
            if morning:  # another worker built this morning's run at the same moment: theirs
                return morning
    # Another run took some of these requests at the same moment (a request is on one
    # list at a time, the database says so): build again, without them.
    return _create_run(branch=branch, day=day, kind=kind, cutoff=cutoff, actor=actor)


def drop_if_empty(run: PickRun) -> bool:
    """Delete a run with no line (a late list asked for when nothing came since the
    last): empty lists would pile up on the picking page. True if it was deleted."""
    lines = PickLine.objects.filter(run=OuterRef("pk"))
    deleted, _ = PickRun.objects.filter(pk=run.pk).exclude(Exists(lines)).delete()
    return bool(deleted)


def _create_run(*, branch: Branch, day: datetime.date, kind: str, cutoff, actor) -> PickRun:
    with transaction.atomic():
        run = PickRun.objects.create(branch=branch, run_date=day, kind=kind, cutoff=cutoff, created_by=actor)
        _add_lines(run)
    return run


def _add_lines(run: PickRun) -> int:
    """Every request whose copy is set aside at the run's branch and is on no list.

    The morning run also takes over what earlier days' lists left pending (Koha
    rebuilds its holds queue every night): the old line is closed as carried over, so
    it no longer counts as waiting to be pulled, and a request never has two pending
    lines (the database says so)."""
    wanted = Request.objects.filter(
        status=Status.PLACED,
        copy__branch=run.branch,
        copy__status=CopyStatus.SET_ASIDE,
        placed_at__lte=run.cutoff,
    ).exclude(
        # Nobody could collect it there: it waits on its shelf until the patron chooses
        # another library (holds.services.change_pickup) or that one reopens.
        pickup_branch__service_mode=ServiceMode.CLOSED
    )
    _close_stale_lines(wanted)
    if run.kind == PickRun.Kind.MORNING:
        _carry_over(run, wanted)
    on_a_list = PickLine.objects.filter(request=OuterRef("pk"), status=LineStatus.PENDING)
    rows = wanted.exclude(Exists(on_a_list)).values_list(
        "pk",
        "copy_id",
        "copy__department_id",
        "copy__department__name",
        "copy__department__code",
        "copy__location_id",
        "copy__call_number_key",
        "copy__doc_type",
    )
    lines = [
        PickLine(
            run=run,
            request_id=r,
            copy_id=c,
            department_id=d,
            department_name=d_name or "",
            department_code=d_code or "",
            location_id=loc,
            call_number_key=key,
            doc_type=doc_type,
        )
        for r, c, d, d_name, d_code, loc, key, doc_type in rows.iterator(chunk_size=2000)
    ]
    PickLine.objects.bulk_create(lines, batch_size=2000)
    return len(lines)


def _close_stale_lines(wanted) -> None:
    """Pending lines for a copy the request has since left are no longer needed."""
    PickLine.objects.filter(request__in=wanted, status=LineStatus.PENDING).exclude(
        copy=F("request__copy")
    ).update(status=LineStatus.CANCELLED, marked_at=timezone.now())


def _carry_over(run: PickRun, wanted) -> None:
    """Close earlier days' pending lines at this branch: carried over when the request
    still wants that copy (this run takes it), else no longer needed (cancelled)."""
    left = PickLine.objects.filter(
        status=LineStatus.PENDING, run__branch=run.branch, run__run_date__lt=run.run_date
    )
    now = timezone.now()
    left.filter(request__in=wanted, copy=F("request__copy")).update(status=LineStatus.CARRIED, marked_at=now)
    left.update(status=LineStatus.CANCELLED, marked_at=now)


def walking_keys(prefix: str = "") -> list:
    """Department, then location in the branch's walking order, then shelf order. Two
    departments (or locations) left at the same walking order (the admin's default is 0)
    are walked one after the other, by name, never interleaved shelf by shelf."""
    keys = []
    for place in ("department", "location"):
        keys += [
            F(f"{prefix}{place}__walking_order").asc(nulls_last=True),
            F(f"{prefix}{place}__name").asc(nulls_last=True),
            F(f"{prefix}{place}_id").asc(nulls_last=True),
        ]
    return [*keys, f"{prefix}call_number_key"]


def walking_order(lines):
    return lines.order_by(*walking_keys(), "pk")


def _claim(line: PickLine, status: str, *, actor, cause: str = "", reason: str = "") -> bool:
    """Mark a pending line; when two pickers scan the same copy, the second is told. Of
    the copy the picker holds: a line another copy of its title took meanwhile
    (``_take_instead``) is no longer theirs to mark.

    True when this call marked it. False when this very picker had already marked it
    not found (a double tap on weak wifi, a form sent again): the caller answers what
    the first tap did. Otherwise, a line no longer pending raises what became of it
    (``_why_marked``)."""
    claimed = PickLine.objects.filter(pk=line.pk, status=LineStatus.PENDING, copy_id=line.copy_id).update(
        status=status,
        cause=cause,
        reason=reason,
        marked_at=timezone.now(),
        marked_by=actor if actor and actor.is_authenticated else None,
    )
    if claimed:
        return True
    # Another picker said "not found" for this copy (on another list) a moment ago.
    if (
        status == LineStatus.FOUND
        and Copy.objects.filter(pk=line.copy_id, status=CopyStatus.MISSING).exists()
    ):
        raise ServiceError("missing_in_hand", barcode=line.copy.barcode)
    _why_marked(line, status, actor=actor)
    return False


def _why_marked(line: PickLine, status: str, *, actor) -> None:
    """Why a line tapped ``status`` was no longer pending: most often the same tap sent
    twice, whose second answer is the one on the picker's screen. Said as a second scan
    says it (``_why_not_on_this_list``): where a copy found went (its bag, the van, back
    on its shelf), whoever found it; "someone else" only when it was someone else.
    Returns (nothing raised) for this picker's own "not found" tapped again."""
    marked = (
        PickLine.objects.select_related("copy", "request__bag", "request__pickup_branch")
        .filter(pk=line.pk)
        .first()
    )
    if marked is None or marked.copy_id != line.copy_id:  # another copy of its title took it
        raise ServiceError("line_already_marked")
    mine = actor is not None and actor.is_authenticated and marked.marked_by_id == actor.pk
    if marked.status == LineStatus.FOUND and (status == LineStatus.FOUND or mine):
        _say_found(marked)
    if marked.status == LineStatus.NOT_FOUND and status == LineStatus.NOT_FOUND and mine:
        return
    if status == LineStatus.FOUND:
        _say_if_withdrawn(PickLine.objects.filter(pk=line.pk), barcode=marked.copy.barcode)
    raise ServiceError("line_already_marked")


def _say_found(found: PickLine) -> NoReturn:
    """Where the copy of a line already marked found went, for the picker scanning or
    tapping it again."""
    barcode = found.copy.barcode
    if found_for_nobody(found):
        raise ServiceError("already_found_put_back", barcode=barcode)
    if found.request.bag_id:
        raise ServiceError("already_found", barcode=barcode, label=found.request.bag.label)
    if found.request.status not in HOLDING_COPY:
        # Cancelled (or expired) since, before the van left: nobody waits for it there,
        # and the copy, in transit on paper, is still in hand here (receive_home).
        raise ServiceError("already_found_cancelled", barcode=barcode)
    raise ServiceError("already_found_transit", barcode=barcode, branch=found.request.pickup_branch.name)


def _say_if_withdrawn(lines, *, barcode: str) -> None:
    """Withdrawn by the sweep (or by a first tap) because its library closed since the
    list was printed: the picker holding the copy is told why, as when scanning it
    before the sweep (``mark_found``)."""
    withdrawn = (
        lines.filter(
            status=LineStatus.CANCELLED,
            request__status=Status.PLACED,
            request__copy_id=F("copy_id"),
            request__pickup_branch__service_mode=ServiceMode.CLOSED,
        )
        .select_related("request__pickup_branch")
        .first()
    )
    if withdrawn is not None:
        raise ServiceError(
            "pickup_closed_leave", barcode=barcode, branch=withdrawn.request.pickup_branch.name
        )


def _lock_lines_of_copy(line: PickLine) -> None:
    """Lock every line still to pull for the line's copy, in id order, before anything
    else. A copy can be on two lists for a moment (its request cancelled at 9:05, it was
    set aside for the next patron, whose late list was made before the sweep): a picker
    finding it on one while another says "not found" on the other used to take the two
    lines in opposite orders and deadlock, one of them getting an error, copy in hand."""
    _lock_lines_of_copies([line.copy_id])


def _lock_lines_of_copies(copy_ids: list[int]) -> None:
    """``_lock_lines_of_copy`` for several copies at once, all in one id order."""
    list(
        PickLine.objects.select_for_update()
        .filter(copy_id__in=copy_ids, status=LineStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _locked_request(queryset) -> Request | None:
    """The request's row locked, then read with its patron and pickup branch.

    Locked alone: joined in the locking query, a request whose pickup library changed
    while this waited for it vanished from the answer (PostgreSQL re-checks the new row
    against the branch row it had joined), and the picker got a server error. The
    patron's and branch's rows are read, not locked: locking the branch would queue
    every picker of the branch behind one another, and deadlock two of them on copies
    of one title (one holds the record and waits for the branch, the other the reverse)."""
    request_id = queryset.select_for_update(of=("self",)).values_list("pk", flat=True).first()
    if request_id is None:
        return None
    return Request.objects.select_related("patron", "pickup_branch").get(pk=request_id)


def _live_request(line: PickLine) -> Request | None:
    """The line's request if it still wants this copy (it may have been cancelled)."""
    request = _locked_request(Request.objects.filter(pk=line.request_id))
    if request.status == Status.PLACED and request.copy_id == line.copy_id:
        return request
    return None


def mark_found(*, line: PickLine, actor=None) -> Request | None:
    """The copy is in the picker's hand: it goes into its patron's bag, or on its way
    to their pickup library. Returns the request it now serves, or None when nobody
    wants it any more (it goes back on its shelf).

    The line's request may have been cancelled while the picker walked, and the copy
    set aside for the next patron waiting for it: the copy serves them at once, rather
    than going back on the shelf to be pulled again tomorrow.

    Its library closed since the list was made: the copy stays here, set aside for its
    patron (no van goes to a closed library, and from the van nobody could send it
    elsewhere); the line closes and the picker is told (``pickup_closed_leave``).

    A line from ``line_for_barcode`` may come with another copy of its title, the one
    scanned (``line.in_hand``): the request takes it in place of the one listed first
    (``_take_instead``, which sets ``line.in_place_of``), then it is found as that one."""
    in_hand = getattr(line, "in_hand", None)
    if in_hand is not None and in_hand.pk != line.copy_id:
        _take_instead(line, in_hand, actor=actor)
    with transaction.atomic():
        _lock_lines_of_copy(line)
        closed = _closed_pickup(line)
        if closed is None:
            return _found(line, actor=actor)
        PickLine.objects.filter(pk=line.pk, status=LineStatus.PENDING).update(
            status=LineStatus.CANCELLED, marked_at=timezone.now()
        )
    raise ServiceError("pickup_closed_leave", barcode=line.copy.barcode, branch=closed.name)


def found_for_nobody(line: PickLine) -> bool:
    """A line found after its request no longer wanted the copy (cancelled, or moved to
    another) and nobody else did: the copy went back on its shelf. Not one found into a
    bag whose request was cancelled later: that copy is on the hold shelf."""
    request = line.request
    if request.copy_id != line.copy_id:
        return True
    ended_before = (
        request.closed_at is not None and line.marked_at is not None and request.closed_at <= line.marked_at
    )
    return request.status in (Status.CANCELLED, Status.WAITING) and (
        request.closed_at is None or ended_before
    )


def _closed_pickup(line: PickLine) -> Branch | None:
    """The pickup library of the line's request, still pending and wanting this copy,
    if that library has closed since the list was made."""
    request = (
        Request.objects.filter(
            pk=line.request_id,
            status=Status.PLACED,
            copy_id=line.copy_id,
            pickup_branch__service_mode=ServiceMode.CLOSED,
            pick_lines__pk=line.pk,
            pick_lines__status=LineStatus.PENDING,
        )
        .select_related("pickup_branch")
        .first()
    )
    return request.pickup_branch if request else None


def _found(line: PickLine, *, actor) -> Request | None:
    """``mark_found`` once the copy's lines are locked, for a library not closed."""
    _claim(line, LineStatus.FOUND, actor=actor)
    request = _live_request(line) or _next_in_line(line)
    if request is None:
        # Found all the same (the shelf did its job: the figures count it so); the copy
        # goes back on it, as the picker is told.
        return None
    if request.pk != line.request_id:
        # Its own line, on a later list, has nothing left to pull; this line is now
        # theirs (a second scan names their bag).
        PickLine.objects.filter(request=request, copy_id=line.copy_id, status=LineStatus.PENDING).update(
            status=LineStatus.CANCELLED, marked_at=timezone.now()
        )
        PickLine.objects.filter(pk=line.pk).update(request=request)
    return holds.copy_in_hand(request=request, at_branch_id=line.run.branch_id, actor=actor)


def settle_withdrawn_lines(*, limit: int = 500) -> int:
    """Lines still to pull whose request no longer wants their copy (cancelled, or moved
    to another copy) since the list was made: pickers must not walk to a shelf for
    nothing. The copy's next patron, when it was set aside for one, takes the line over
    (same copy, same shelf, their bag); otherwise the line closes. Run by the scheduler
    every minute; marking such a line in the meantime does the same (``mark_found``).
    Returns how many lines were settled."""
    live = Q(request__status=Status.PLACED, request__copy_id=F("copy_id"))
    # Nobody sends a copy to a library that has closed since the list was made: its line
    # closes, the copy stays set aside on its shelf (as ``mark_found`` says to a picker
    # who has it in hand), and a late list takes it once that library reopens.
    settled = 0
    try:
        with transaction.atomic():
            _give_way()
            settled = PickLine.objects.filter(
                live, closed_for_a_while("request__pickup_branch__"), status=LineStatus.PENDING
            ).update(status=LineStatus.CANCELLED, marked_at=timezone.now())
    except OperationalError:
        pass  # a picker holds one of them: the next pass
    stale = PickLine.objects.filter(status=LineStatus.PENDING).exclude(live).values_list("pk", flat=True)
    for line_id in list(stale[:limit]):
        try:
            with transaction.atomic():
                _give_way()
                # The line first, then requests: the order marking a line takes them in.
                line = (
                    PickLine.objects.select_for_update().filter(pk=line_id, status=LineStatus.PENDING).first()
                )
                if line is None or _live_request(line) is not None:
                    continue
                settled += _hand_over_line(line, _next_in_line(line))
        except OperationalError:
            continue  # it gave way (see _give_way): the next pass settles the line
    return settled


def _give_way() -> None:
    """This sweep can wait a minute, a picker or a morning list cannot: on PostgreSQL it
    stops waiting for a lock well before a deadlock would be looked for (deadlock_timeout,
    1 s by default), so that should it ever meet, say, a list being built that waits for
    this line, the sweep is the one to give up."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '200ms'")


def _hand_over_line(line: PickLine, holder: Request | None) -> int:
    """The line becomes the holder's, or closes. No event is written: the requests'
    histories already say what happened (one cancelled, the other given the copy), and a
    line only says which shelf to walk to for whom."""
    # The holder may have a pending line of its own (one pending line a request): looked
    # up first, so the constraint's refusal (an ERROR in the database's log) stays rare.
    if holder is not None and not PickLine.objects.filter(request=holder, status=LineStatus.PENDING).exists():
        try:
            with transaction.atomic():
                return PickLine.objects.filter(pk=line.pk).update(request=holder)
        except IntegrityError:  # one written since
            pass
    return PickLine.objects.filter(pk=line.pk).update(status=LineStatus.CANCELLED, marked_at=timezone.now())


def _next_in_line(line: PickLine) -> Request | None:
    """The request the line's copy was set aside for since, if the copy still waits on
    its shelf for it, and its pickup library is open (nothing is pulled for a closed one).

    Its own pending line, if any, is locked before it: lines, then requests, the order
    marking that line takes them in."""
    holders = Request.objects.filter(copy_id=line.copy_id, status=Status.PLACED).exclude(
        pickup_branch__service_mode=ServiceMode.CLOSED
    )
    holder_id = holders.values_list("pk", flat=True).first()
    if holder_id is None:
        return None
    list(PickLine.objects.select_for_update().filter(request_id=holder_id, status=LineStatus.PENDING))
    # Locked by id alone, then checked again: a pickup library changed meanwhile must not
    # make the request vanish from the locking query (see _locked_request).
    holder = _locked_request(Request.objects.filter(pk=holder_id))
    if holder is None or holder.status != Status.PLACED or holder.copy_id != line.copy_id:
        return None
    if holder.pickup_branch.service_mode == ServiceMode.CLOSED:
        return None
    if not Copy.objects.filter(pk=line.copy_id, status=CopyStatus.SET_ASIDE).exists():
        return None
    return holder


def mark_not_found(*, line: PickLine, actor=None, cause: str = "", reason: str = "") -> Request | None:
    """The copy is not on its shelf: it is missing, and the request waiting for it moves
    silently to another copy (closed as not found only when none is left). ``cause`` is
    a ``NotFoundCause``, ``reason`` the picker's own words.

    That request may no longer be the line's: cancelled while the picker walked, its
    copy went to the next in line. The copy is still not on the shelf, so that next
    request moves on just as if its own line had been marked. A copy already found for
    someone (in a bag, in transit) is left alone. Returns the line's request if it
    still wanted the copy.

    Tapped again by the same picker (weak wifi, a form sent twice), nothing more is
    done: the line's request is returned as it is now, and ``line.already_marked`` set,
    so the answer still says where its other copy is (on this list, say) rather than
    "marked by someone else"."""
    with transaction.atomic():
        _lock_lines_of_copy(line)
        if not _claim(line, LineStatus.NOT_FOUND, actor=actor, cause=cause, reason=reason):
            line.already_marked = True
            return Request.objects.select_related("copy", "pickup_branch").filter(pk=line.request_id).first()
        # Requests are locked before the copy, as cancelling and placing do: changing a
        # copy locks its record, which must not be held while waiting for a request.
        request = _live_request(line)
        next_in_line = Request.objects.filter(copy_id=line.copy_id, status=Status.PLACED)
        holder = request or _locked_request(next_in_line)
        if not _mark_missing(line.copy_id, live=request is not None, held=holder is not None):
            return None
        if holder is None:
            return None
        # The request's history keeps a note in words (the language of the moment).
        note = not_found_text(cause, reason)
        moved = holds.retarget_or_close(request=holder, actor=actor, note=note)
        if request is None:
            return None
        _pull_now_if_here(line.run, moved)
        return moved


def _pull_now_if_here(run: PickRun, request: Request) -> bool:
    """A request moved to another copy on this library's shelves goes on the list being
    walked: the picker can fetch it now, not tomorrow (nor wait for a late list). True
    if it did."""
    if request.status != Status.PLACED or request.copy.branch_id != run.branch_id:
        return False
    if request.pickup_branch.service_mode == ServiceMode.CLOSED:
        return False  # as _add_lines: nothing is pulled for a library that has closed
    copy = request.copy
    PickLine.objects.create(run=run, request=request, copy=copy, **_shelf_of(copy))
    return True


def _shelf_of(copy: Copy) -> dict:
    """A line's copy of where ``copy`` stands and what it is, as the list and the figures
    read them."""
    department = copy.department
    return {
        "department_id": copy.department_id,
        "department_name": department.name if department else "",
        "department_code": department.code if department else "",
        "location_id": copy.location_id,
        "call_number_key": copy.call_number_key,
        "doc_type": copy.doc_type,
    }


def _mark_missing(copy_id: int, *, live: bool, held: bool) -> bool:
    """Mark the copy missing, and close every pending line for it: nobody can pull it.

    The copy of a line still wanted is missing, the picker says so. A copy the line's
    request has let go is missing only if it should be on a shelf (set aside for the
    next request, or free); one found for someone since (in a bag, in transit) is left
    alone, and False returned."""
    copies = Copy.objects.filter(pk=copy_id)
    if not live:
        copies = copies.filter(status=CopyStatus.SET_ASIDE if held else CopyStatus.ON_SHELF)
    if not copies.update(status=CopyStatus.MISSING, updated_at=timezone.now()):
        return False
    PickLine.objects.filter(copy_id=copy_id, status=LineStatus.PENDING).update(
        status=LineStatus.CANCELLED, marked_at=timezone.now()
    )
    return True


def carried_on(line: PickLine) -> PickLine:
    """Where ``line`` is now: the pending line of a later list it was carried to (a
    picker tapping the list printed or opened before that one was built has the copy in
    hand, as a scan of it finds: ``line_for_barcode``), else ``line`` itself."""
    if line.status != LineStatus.CARRIED:
        return line
    later = (
        PickLine.objects.select_related("run__branch", "copy__record")
        .filter(request_id=line.request_id, copy_id=line.copy_id, status=LineStatus.PENDING)
        .first()
    )
    return later or line


def line_for_barcode(*, run: PickRun, barcode: str) -> PickLine:
    """The run's pending line for the scanned copy. A copy whose line was carried over
    to a later list, or is on another of today's lists here, is marked there: the picker
    has it in hand. Another copy of a title listed, which may serve its request, comes
    with that title's line, the copy as ``line.in_hand`` (``_line_for_another_copy``)."""
    barcode = barcode.strip()
    if not Copy.objects.filter(barcode=barcode).exists():
        raise ServiceError("unknown_barcode", barcode=barcode)
    line = run.lines.filter(copy__barcode=barcode, status=LineStatus.PENDING).first()
    if line is None:
        carried = run.lines.filter(copy__barcode=barcode, status=LineStatus.CARRIED)
        line = PickLine.objects.filter(
            request__in=carried.values("request"), copy__barcode=barcode, status=LineStatus.PENDING
        ).first()
    if line is None:
        # On another of today's lists here (a late list): the copy is in hand all the same.
        line = PickLine.objects.filter(
            run__branch_id=run.branch_id,
            run__run_date=run.run_date,
            copy__barcode=barcode,
            status=LineStatus.PENDING,
        ).first()
    if line is None:
        _why_not_on_this_list(run=run, barcode=barcode)
        # A request is for a title, not for a copy (Koha and Evergreen fill a title-level
        # hold with any copy that may serve it): the copy beside the one listed will do.
        line = _line_for_another_copy(run=run, barcode=barcode)
    if line is None:
        raise ServiceError("not_on_this_list", barcode=barcode)
    return line


def _why_not_on_this_list(*, run: PickRun, barcode: str) -> None:
    """Why a scanned copy has nothing to mark here: most often, scanned twice. Raises
    the reason, if it is one of these."""
    found = (
        run.lines.filter(copy__barcode=barcode, status=LineStatus.FOUND)
        .select_related("copy", "request__bag", "request__pickup_branch")
        .first()
    )
    if found is not None:
        _say_found(found)
    if run.lines.filter(copy__barcode=barcode, copy__status=CopyStatus.MISSING).exists():
        raise ServiceError("missing_in_hand", barcode=barcode)
    _say_if_withdrawn(run.lines.filter(copy__barcode=barcode), barcode=barcode)


def _line_for_another_copy(*, run: PickRun, barcode: str) -> PickLine | None:
    """A pending line of today's lists here for the scanned copy's title, when that copy
    may serve the line's request in place of the one listed: the line is returned with
    the copy as ``line.in_hand``, and ``mark_found`` takes it instead (``_take_instead``).
    None when no line here wants the title; refused in words when the copy cannot serve
    (another library's, held for another request, not on the shelf, a type the request
    may not take).

    Of several lines for the title (two patrons asked for it), the one whose listed copy
    stands on the same shelf comes first: same location and call number, then the same
    location, then the same department; this list's before another of today's."""
    copy = Copy.objects.select_related("branch").filter(barcode=barcode).first()
    lines = list(_lines_of_the_title(run, copy)[:MAX_LINES_OF_A_TITLE])
    if not lines:
        return None
    first_refusal = None
    for line in lines:
        try:
            _refuse_in_hand(copy, listed=line.copy, request=line.request, branch_id=run.branch_id)
        except ServiceError as refusal:
            # The copy itself cannot serve (another library's, held): no line will take it.
            if refusal.code not in TYPE_REFUSALS:
                raise
            first_refusal = first_refusal or refusal
            continue
        line.in_hand = copy
        return line
    raise first_refusal


# Lines of one title looked at for a copy in hand: one per patron who asked for it today.
MAX_LINES_OF_A_TITLE = 20


def _lines_of_the_title(run: PickRun, copy: Copy):
    """Today's pending lines here (this list's, the later ones it carried lines to, the
    other lists of the day) whose request still wants its listed copy of ``copy``'s title,
    nearest shelf first."""
    carried = run.lines.filter(status=LineStatus.CARRIED).values("request")
    today_here = Q(run__branch_id=run.branch_id, run__run_date=run.run_date)
    same_shelf = Case(
        When(location_id=copy.location_id, call_number_key=copy.call_number_key, then=Value(0)),
        When(location_id=copy.location_id, then=Value(1)),
        When(department_id=copy.department_id, then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )
    this_list = Case(When(run=run, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (
        PickLine.objects.filter(
            Q(run=run) | today_here | Q(request__in=carried),
            status=LineStatus.PENDING,
            copy__status=CopyStatus.SET_ASIDE,
            request__record_id=copy.record_id,
            request__status=Status.PLACED,
            request__copy_id=F("copy_id"),
        )
        # Nothing is pulled for a library that has closed (settle_withdrawn_lines).
        .exclude(request__pickup_branch__service_mode=ServiceMode.CLOSED)
        .annotate(this_list=this_list, same_shelf=same_shelf)
        .select_related("run", "copy__record", "request__patron", "request__pickup_branch")
        .order_by("this_list", "same_shelf", "pk")
    )


# Refusals that depend on the request (its patron's rules), not on the copy alone.
TYPE_REFUSALS = {"in_hand_wrong_type"}


def _refuse_in_hand(copy: Copy, *, listed: Copy, request: Request, branch_id: int) -> None:
    """Why ``copy`` may not serve ``request`` in place of ``listed`` (its copy set aside
    at ``branch_id``), in words: nothing raised when it may. The rules of placement:
    a copy of this library (as the one listed), on the shelf and held by no request,
    lent from its location, of a type the request's library lets it take and whose limit
    its patron has not reached (``holds.services.types_full_for``)."""
    said = {"barcode": copy.barcode, "listed": listed.barcode}
    if copy.branch_id != branch_id:
        raise ServiceError("in_hand_other_branch", branch=copy.branch.name, **said)
    if Request.objects.filter(copy=copy, status__in=HOLDING_COPY).exclude(pk=request.pk).exists():
        raise ServiceError("in_hand_held", **said)
    if copy.status != CopyStatus.ON_SHELF:
        raise ServiceError("in_hand_not_on_shelf", status=copy.get_status_display(), **said)
    if not Copy.objects.lendable().filter(pk=copy.pk).exists():
        raise ServiceError("in_hand_not_lent", **said)
    rules = policy.resolve(branch=request.pickup_branch, category=request.patron.category)
    if not rules.can_request_type(copy.doc_type) or copy.doc_type in holds.types_full_for(request, rules):
        raise ServiceError("in_hand_wrong_type", doc_type=copy.get_doc_type_display(), **said)


def _take_instead(line: PickLine, copy: Copy, *, actor) -> None:
    """The request of ``line`` takes ``copy``, another copy of its title in the picker's
    hand, in place of the one listed; that one goes back on its shelf, or to the next
    patron waiting for the title (``holds.release_copy``: onto this list, as a copy a
    request moved to does). The line names the copy taken, and ``mark_found`` then goes
    on as for the listed one. Sets ``line.in_place_of`` (the copy listed) and
    ``line.listed_pulled`` (it went onto a list for someone else).

    In a transaction of its own, before the one that bags the copy: the title's record,
    which changing a copy's status locks, must not be held while a new bag is labelled
    under the branch's lock (a picker bagging another copy of the title takes the branch,
    then the record). Inside, the lines of both copies, then the request, then the
    record, then the copies: a picker saying "not found" for another copy of the title
    holds the record while it waits for a copy to move its request to, so this waits for
    the record before it locks any copy, and skips a copy someone else holds (a patron's
    placement, a return) rather than wait for it with the record in hand."""
    listed_id = line.copy_id
    try:
        with transaction.atomic():
            _lock_lines_of_copies([listed_id, copy.pk])
            request = _live_request(line)
            still_listed = PickLine.objects.filter(pk=line.pk, status=LineStatus.PENDING, copy_id=listed_id)
            if (
                request is None
                or not still_listed.exists()
                or request.pickup_branch.service_mode == ServiceMode.CLOSED
            ):
                raise ServiceError("in_hand_changed", barcode=copy.barcode)
            list(Record.objects.select_for_update().filter(pk=request.record_id).values_list("pk", flat=True))
            copies = {
                c.pk: c
                for c in Copy.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("branch")
                .filter(pk__in=[listed_id, copy.pk])
            }
            if len(copies) < 2:
                raise ServiceError("in_hand_busy", barcode=copy.barcode)
            listed, copy = copies[listed_id], copies[copy.pk]
            if listed.status != CopyStatus.SET_ASIDE:
                raise ServiceError("in_hand_changed", barcode=copy.barcode)
            _refuse_in_hand(copy, listed=listed, request=request, branch_id=line.run.branch_id)
            now = timezone.now()
            Copy.objects.filter(pk=copy.pk, status=CopyStatus.ON_SHELF).update(
                status=CopyStatus.SET_ASIDE, updated_at=now
            )
            # Seen in the request's history (the admin), in the picker's language.
            note = gettext("Another copy taken from the shelf in place of %(barcode)s.") % {
                "barcode": listed.barcode
            }
            taking = {"copy": copy, "doc_type": copy.doc_type, "placed_at": now}
            transition(request, Status.PLACED, actor=actor, reason="retarget", note=note, **taking)
            # Its shelf too: the line is walked, listed and counted where the copy stands.
            # And its type: counted as what was found (an audiobook CD for a book).
            PickLine.objects.filter(pk=line.pk).update(copy=copy, **_shelf_of(copy))
            served = holds.release_copy(copy=listed, actor=actor)
            pulled = served is not None and _pull_now_if_here(line.run, served)
    except IntegrityError as error:
        # The database's word (one request per copy), should a check above ever miss it.
        raise ServiceError("in_hand_held", barcode=copy.barcode, listed=line.copy.barcode) from error
    line.copy, line.in_place_of, line.listed_pulled = copy, listed, pulled


def receive(*, branch: Branch, barcode: str, actor=None) -> Request:
    """A copy arrives in transit at the pickup branch: it goes into the patron's bag.

    Scanned again once it is in a bag here (the scanner sends twice, the page is
    reloaded): nothing is done, and its request is returned with ``already_in_bag``
    set, so that the second answer names the same bag, as Returns does ("belongs in bag
    L"), rather than "not expected here" (the answer left on the screen)."""
    barcode = barcode.strip()
    with transaction.atomic():
        request = _locked_request(
            Request.objects.filter(
                copy__barcode=barcode,
                status=Status.PLACED,
                pickup_branch=branch,
                copy__status=CopyStatus.IN_TRANSIT,
            )
        )
        if request is None:
            bagged = _in_a_bag_here(branch=branch, barcode=barcode)
            if bagged is None:
                _not_for_a_bag_here(branch=branch, barcode=barcode)
            bagged.already_in_bag = True
            return bagged
        return holds.make_ready(request=request, actor=actor)


def _in_a_bag_here(*, branch: Branch, barcode: str) -> Request | None:
    """The ready request whose bag on this library's hold shelf holds the copy, if any."""
    return (
        Request.objects.filter(
            copy__barcode=barcode,
            status=Status.READY,
            pickup_branch=branch,
            bag__isnull=False,
            copy__status=CopyStatus.HOLD_SHELF,
        )
        .select_related("record", "copy", "patron", "bag", "pickup_branch")
        .first()
    )


def _not_for_a_bag_here(*, branch: Branch, barcode: str) -> NoReturn:
    """Why a scanned copy goes into no bag here, in words that say what to do with it."""
    copy = Copy.objects.select_related("branch").filter(barcode=barcode).first()
    if copy is None:
        raise ServiceError("unknown_barcode", barcode=barcode)
    held = copy.requests.filter(status__in=HOLDING_COPY).exists()
    if copy.status == CopyStatus.IN_TRANSIT and not held:
        # Its request was cancelled, or not collected, while it travelled: it goes home.
        if copy.branch_id != branch.pk:
            raise ServiceError("send_home", barcode=barcode, home=copy.branch.name)
        raise ServiceError("scan_at_returns", barcode=barcode)
    heading_for = (
        Request.objects.filter(copy=copy, status=Status.PLACED, copy__status=CopyStatus.IN_TRANSIT)
        .exclude(pickup_branch=branch)
        .select_related("pickup_branch")
        .first()
    )
    if heading_for is not None:  # the van stopped at the wrong door
        raise ServiceError("send_on", barcode=barcode, branch=heading_for.pickup_branch.name)
    if copy.status == CopyStatus.ON_LOAN:
        # A patron's return in the van's crate: checked in at Returns, or it stays on loan.
        raise ServiceError("on_loan_check_in", barcode=barcode)
    raise ServiceError("not_in_transit", barcode=barcode)


def put_back(*, copy: Copy, actor=None) -> Request | None:
    """A missing copy turned up, in a librarian's hand at its library: back on the
    shelf, or to the next waiting request (into their bag, or on its way to them:
    ``holds.copy_in_hand``). Returns the request served, if any."""
    with transaction.atomic():
        # Guarded: of two staff putting the same copy back, one does it.
        if not Copy.objects.filter(pk=copy.pk, status=CopyStatus.MISSING).update(
            status=CopyStatus.ON_SHELF, updated_at=timezone.now()
        ):
            return None
        return holds.release_copy_in_hand(copy=copy, actor=actor)


def _stranded() -> Q:
    """A copy set aside that nobody will pull: its library closed (nobody is there to
    pull it), or the library it is to be collected at (no list serves a closed pickup,
    ``_add_lines``), whatever library holds it."""
    return Q(status=Status.PLACED, copy__status=CopyStatus.SET_ASIDE) & (
        closed_for_a_while("copy__branch__") | closed_for_a_while("pickup_branch__")
    )


def withdraw_closed_branches(*, actor=None, limit: int = 500) -> int:
    """Requests whose copy waits to be pulled at a branch since switched to closed move
    to a copy elsewhere; with none left, they go back on the waiting list with their place
    (cancelled where the rules allow no waiting list), and the patron is told why. Those
    to be collected at a closed branch go back on the waiting list, wherever their copy
    is. The copy stays on its shelf, for others. Run by the scheduler after a switch; safe
    to run often. Returns how many requests moved."""
    stranded = Request.objects.filter(_stranded()).values_list("pk", flat=True)[:limit]
    withdrawn = 0
    for request_id in list(stranded):
        try:
            with transaction.atomic():
                withdrawn += _withdraw(request_id, actor=actor)
        except OperationalError:  # a picker is marking one of its lines: next sweep
            continue
    return withdrawn


def _withdraw(request_id: int, *, actor) -> bool:
    # The lines before the request, as a picker marking one does (_claim, then
    # _live_request): the other order could deadlock against them.
    # NOWAIT: a picker marking one may lock another request first (mark_not_found moves
    # the copy's new holder); rather than wait in the other order, skip it this time.
    list(
        PickLine.objects.select_for_update(nowait=True)
        .filter(request_id=request_id, status=LineStatus.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    request = _locked_request(Request.objects.filter(_stranded(), pk=request_id))
    if request is None:  # moved, cancelled or reopened meanwhile
        return False
    now, stranded_copy = timezone.now(), request.copy_id
    PickLine.objects.filter(request=request, status=LineStatus.PENDING).update(
        status=LineStatus.CANCELLED, marked_at=now
    )
    pickup_closed = request.pickup_branch.service_mode == ServiceMode.CLOSED
    with translation.override(request.patron.reader_language):
        # Shown to the patron in the email that tells them.
        if pickup_closed:
            note = gettext("The library where you chose to collect it is closed.")
        else:
            note = gettext("The library holding the copy you asked for is closed.")
    rules = policy.resolve(branch=request.pickup_branch, category=request.patron.category)
    if pickup_closed:
        # Collected at a closed library: its copy, here or at a library still open, or
        # one set aside elsewhere, would be pulled by nobody (no list serves a closed
        # pickup) and kept from everyone else for the whole closure. It waits with its
        # place; the patron is told their library closed and may choose another
        # (holds.services.tell_closed_pickups), which serves it from there, and its
        # reopening serves the waiting list first. Even where the rules allow no waiting
        # list: the closure is the library's doing.
        back = {"copy": None, "placed_at": None}
        transition(request, Status.WAITING, actor=actor, reason="pickup_closed_withdrawn", note=note, **back)
    elif copy := holds.take_copy_for(request, rules):
        moved = {"copy": copy, "doc_type": copy.doc_type, "placed_at": now}
        transition(request, Status.PLACED, actor=actor, reason="retarget", note=note, **moved)
    elif rules.allow_waiting_list:
        # Back on the waiting list, as Koha keeps a hold: its place is when it was asked
        # for (created_at), so when the library reopens its copy goes to this request
        # (set_mode serves the waiting list, oldest first), not to whoever asked later.
        back = {"copy": None, "placed_at": None}
        transition(request, Status.WAITING, actor=actor, reason="copy_library_closed", note=note, **back)
    else:
        transition(request, Status.CANCELLED, actor=actor, reason="staff", note=note)
    Copy.objects.filter(pk=stranded_copy, status=CopyStatus.SET_ASIDE).update(
        status=CopyStatus.ON_SHELF, updated_at=now
    )
    return True
