import datetime

import pytest
from django.utils import timezone, translation

from emporter.catalogue.models import Copy, CopyStatus
from emporter.errors import ServiceError
from emporter.holds.models import Bag, RequestEvent, RequestPolicy, Status
from emporter.holds.services import cancel_request, place_request
from emporter.network.models import ClosedDay
from emporter.picking import services as picking
from emporter.picking.models import LineStatus, PickRun
from tests.conftest import make_branch, make_department, make_location, make_patron, make_record

TZ = timezone.get_current_timezone()


def at(day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=TZ)


FRIDAY = datetime.date(2026, 11, 27)


def place(patron, record, branch, when):
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    type(request).objects.filter(pk=request.pk).update(placed_at=when)
    request.refresh_from_db()
    return request


def test_running_the_morning_pull_twice_gives_one_list(patron, branch):
    for n in range(3):
        place(patron, make_record(title=f"Livre {n}", copies=[branch]), branch, at(FRIDAY, 7))
    first = picking.build_run(branch=branch, now=at(FRIDAY, 8, 45))
    second = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    assert first.pk == second.pk
    assert PickRun.objects.count() == 1
    assert first.lines.count() == 3


def test_a_request_after_the_cutoff_waits_for_the_next_run(patron, branch):
    early = place(patron, make_record(title="Tôt", copies=[branch]), branch, at(FRIDAY, 8))
    late = place(patron, make_record(title="Tard", copies=[branch]), branch, at(FRIDAY, 10))
    today = picking.build_run(branch=branch, now=at(FRIDAY, 11))
    assert list(today.lines.values_list("request", flat=True)) == [early.pk]
    picking.mark_found(line=today.lines.get())
    tomorrow = picking.build_run(branch=branch, now=at(FRIDAY + datetime.timedelta(days=1), 9))
    assert list(tomorrow.lines.values_list("request", flat=True)) == [late.pk]


def test_late_additions_take_what_came_after_the_cutoff(patron, branch):
    place(patron, make_record(title="Tôt", copies=[branch]), branch, at(FRIDAY, 8))
    late = place(patron, make_record(title="Tard", copies=[branch]), branch, at(FRIDAY, 10))
    picking.build_run(branch=branch, now=at(FRIDAY, 9))
    extra = picking.build_run(branch=branch, kind=PickRun.Kind.LATE, now=at(FRIDAY, 14))
    assert list(extra.lines.values_list("request", flat=True)) == [late.pk]


def test_copies_leaving_for_another_pickup_branch_are_on_the_list(patron, branch, other_branch):
    other_branch.service_mode = "click_collect"
    other_branch.save()
    request = place(patron, make_record(copies=[other_branch]), branch, at(FRIDAY, 7))
    run = picking.build_run(branch=other_branch, now=at(FRIDAY, 9))
    line = run.lines.get()
    assert line.request == request
    picking.mark_found(line=line)
    request.refresh_from_db()
    assert request.status == Status.PLACED
    assert request.copy.status == CopyStatus.IN_TRANSIT
    with pytest.raises(ServiceError) as error:  # scanned at the wrong door: where it goes
        picking.receive(branch=other_branch, barcode=request.copy.barcode)
    assert error.value.code == "send_on" and branch.name in error.value.message
    picking.receive(branch=branch, barcode=request.copy.barcode)
    request.refresh_from_db()
    assert request.status == Status.READY and request.bag is not None


def test_lines_come_in_walking_order(patron, branch):
    youth = make_department(branch, code="jeunesse", name="Jeunesse", order=1)
    adults = make_department(branch, code="adultes", name="Adultes", order=2)
    albums = make_location(youth, code="albums", order=1)
    novels = make_location(adults, code="romans", order=1)
    specs = [
        ("Z adulte", novels, "R ZOL"),
        ("A jeunesse", albums, "E B/SAR"),
        ("B jeunesse", albums, "E A/SAR"),
    ]
    for title, location, cote in specs:
        record = make_record(title=title, copies=[branch])
        from emporter.catalogue.callnumber import sort_key

        record.copies.update(
            location=location,
            department=location.department,
            call_number=cote,
            call_number_key=sort_key(cote),
        )
        place(patron, record, branch, at(FRIDAY, 7))
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    titles = [line.copy.record.title for line in picking.walking_order(run.lines.all())]
    assert titles == ["B jeunesse", "A jeunesse", "Z adulte"]


def test_found_puts_the_document_in_the_patrons_bag_with_a_deadline(patron, branch):
    first = place(patron, make_record(title="Un", copies=[branch]), branch, at(FRIDAY, 7))
    second = place(patron, make_record(title="Deux", copies=[branch]), branch, at(FRIDAY, 7))
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    for line in run.lines.all():
        picking.mark_found(line=line)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == second.status == Status.READY
    assert first.bag == second.bag
    assert first.bag.label == "M001"  # Martin
    assert first.copy.status == CopyStatus.HOLD_SHELF


def test_hold_deadline_skips_closed_days(branch):
    # Branch closed on Sunday and Monday; a network-wide holiday on the Wednesday.
    shop = make_branch(code="VAI", name="Vaise", weekdays=range(1, 6))
    patron = make_patron(shop, card="30000001")
    ClosedDay.objects.create(date=datetime.date(2026, 12, 2), reason="Fête")
    request = place(patron, make_record(copies=[shop]), shop, at(FRIDAY, 7))
    line = picking.build_run(branch=shop, now=at(FRIDAY, 9)).lines.get()
    from unittest import mock

    with mock.patch("django.utils.timezone.localdate", return_value=FRIDAY):
        picking.mark_found(line=line)
    request.refresh_from_db()
    # Open days after Friday 27: Sat 28, Tue 1, (Wed 2 closed), Thu 3, Fri 4, Sat 5.
    assert request.hold_until == datetime.date(2026, 12, 5)
    assert Bag.objects.get().hold_until == datetime.date(2026, 12, 5)


def test_not_found_with_another_copy_retargets_silently(patron, branch, other_branch):
    record = make_record(copies=[branch, branch])
    request = place(patron, record, branch, at(FRIDAY, 7))
    first_copy = request.copy
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    line = run.lines.get()
    picking.mark_not_found(line=line, reason="pas en rayon")
    request.refresh_from_db()
    first_copy.refresh_from_db()
    assert request.status == Status.PLACED
    assert request.copy != first_copy and request.copy.branch == branch
    assert first_copy.status == CopyStatus.MISSING
    event = RequestEvent.objects.filter(request=request).last()
    assert (event.from_status, event.to_status, event.reason, event.note) == (
        "placed",
        "placed",
        "retarget",
        "pas en rayon",
    )
    # The other copy is on these shelves: on the list being walked, to fetch now.
    assert run.lines.get(status=LineStatus.PENDING).copy == request.copy
    assert not picking.build_run(branch=branch, kind=PickRun.Kind.LATE, now=timezone.now()).lines.exists()


def test_not_found_with_a_copy_at_another_library_leaves_it_to_that_library(patron, branch, other_branch):
    other_branch.service_mode = "click_collect"
    other_branch.save()
    request = place(patron, make_record(copies=[branch, other_branch]), branch, at(FRIDAY, 7))
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    picking.mark_not_found(line=run.lines.get(), reason="absent")
    request.refresh_from_db()
    assert request.status == Status.PLACED and request.copy.branch == other_branch
    assert not run.lines.filter(status=LineStatus.PENDING).exists()
    there = picking.build_run(branch=other_branch, kind=PickRun.Kind.LATE, now=timezone.now())
    assert there.lines.get().copy == request.copy


def test_not_found_with_no_other_copy_closes_the_request(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch, at(FRIDAY, 7))
    line = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    picking.mark_not_found(line=line, reason="introuvable")
    request.refresh_from_db()
    assert request.status == Status.NOT_FOUND
    assert request.events.last().reason == "not_found"


def test_two_pickers_marking_the_same_line_the_second_is_told(patron, branch):
    place(patron, make_record(copies=[branch]), branch, at(FRIDAY, 7))
    line = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    picking.mark_found(line=line)
    with pytest.raises(ServiceError) as error:
        picking.mark_not_found(line=line)
    assert error.value.code == "line_already_marked"


def test_scanning_a_barcode_not_on_the_list_is_refused(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch, at(FRIDAY, 7))
    stranger = make_record(title="Autre", copies=[branch])
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    assert picking.line_for_barcode(run=run, barcode=f" {request.copy.barcode} ").copy == request.copy
    with pytest.raises(ServiceError) as error:
        picking.line_for_barcode(run=run, barcode=stranger.copies.get().barcode)
    assert error.value.code == "not_on_this_list"
    with pytest.raises(ServiceError) as error:
        picking.line_for_barcode(run=run, barcode="NOPE")
    assert error.value.code == "unknown_barcode"


def test_a_copy_on_todays_late_list_is_marked_from_the_morning_list(patron, branch):
    place(patron, make_record(title="Matin", copies=[branch]), branch, at(FRIDAY, 7))
    morning = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    late_request = place(patron, make_record(title="Tard", copies=[branch]), branch, at(FRIDAY, 10))
    late = picking.build_run(branch=branch, kind="late", now=at(FRIDAY, 11))
    # The picker, still walking the morning list, takes it off the shelf on the way.
    line = picking.line_for_barcode(run=morning, barcode=late_request.copy.barcode)
    assert line.run == late and line.request == late_request
    # Another day's list is another matter.
    tomorrow = PickRun.objects.create(
        branch=branch,
        run_date=morning.run_date + datetime.timedelta(days=1),
        kind="late",
        cutoff=at(FRIDAY, 11),
    )
    with pytest.raises(ServiceError) as error:
        picking.line_for_barcode(run=tomorrow, barcode=late_request.copy.barcode)
    assert error.value.code == "not_on_this_list"


def test_scanning_a_copy_again_says_it_was_found_and_where_it_goes(patron, branch, other_branch):
    here = place(patron, make_record(copies=[branch]), branch, at(FRIDAY, 7))
    other_branch.service_mode = "click_collect"
    other_branch.save()
    away = place(patron, make_record(title="Ailleurs", copies=[branch]), other_branch, at(FRIDAY, 7))
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    for request in (here, away):
        picking.mark_found(line=picking.line_for_barcode(run=run, barcode=request.copy.barcode))
    here.refresh_from_db()
    with pytest.raises(ServiceError) as error:
        picking.line_for_barcode(run=run, barcode=here.copy.barcode)
    assert error.value.code == "already_found" and here.bag.label in error.value.message
    with pytest.raises(ServiceError) as error:
        picking.line_for_barcode(run=run, barcode=away.copy.barcode)
    assert error.value.code == "already_found_transit" and other_branch.name in error.value.message


def test_found_after_the_patron_cancelled_puts_nothing_in_a_bag(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch, at(FRIDAY, 7))
    line = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    cancel_request(request=request)
    assert picking.mark_found(line=line) is None
    line.refresh_from_db()
    # Found (the shelf did its job, and the figures count it so), for nobody: put back.
    assert line.status == LineStatus.FOUND and picking.found_for_nobody(line)
    assert not Bag.objects.exists()
    assert Copy.objects.get(pk=line.copy_id).status == CopyStatus.ON_SHELF
    with pytest.raises(ServiceError) as again:  # scanned a second time
        picking.line_for_barcode(run=line.run, barcode=line.copy.barcode)
    assert again.value.code == "already_found_put_back"


def test_a_missing_copy_put_back_serves_the_waiting_list(patron, branch):
    RequestPolicy.objects.create(allow_waiting_list=True)
    record = make_record(copies=[branch])
    request = place(patron, record, branch, at(FRIDAY, 7))
    line = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    picking.mark_not_found(line=line)
    waiting, _ = place_request(
        patron=make_patron(branch, card="10000009"), record_id=record.pk, pickup_branch=branch
    )
    assert waiting.status == Status.WAITING
    picking.put_back(copy=request.copy)
    waiting.refresh_from_db()
    assert waiting.status == Status.READY and waiting.copy == request.copy  # in hand: into their bag


def test_departments_left_at_the_same_walking_order_are_not_interleaved(patron, branch):
    from emporter.catalogue.callnumber import sort_key
    from emporter.picking.selectors import sections

    # Both left at the admin's default order: shelf marks alternate between them.
    youth = make_location(make_department(branch, code="jeunesse", name="Jeunesse"), code="albums")
    adults = make_location(make_department(branch, code="adultes", name="Adultes"), code="romans")
    for cote, location in (("A", youth), ("B", adults), ("C", youth), ("D", adults)):
        record = make_record(title=f"Livre {cote}", copies=[branch])
        record.copies.update(
            location=location,
            department=location.department,
            call_number=cote,
            call_number_key=sort_key(cote),
        )
        place(patron, record, branch, at(FRIDAY, 7))
    run = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    lines = list(picking.walking_order(run.lines.select_related("copy", "department", "location")))
    assert [line.copy.call_number for line in lines] == ["B", "D", "A", "C"]  # Adultes, then Jeunesse
    assert [section.department.name for section in sections(lines)] == ["Adultes", "Jeunesse"]


def test_a_copy_in_hand_just_marked_not_found_elsewhere_says_what_to_do(patron, branch):
    record = make_record(title="Disputé", copies=[branch])
    first = place(patron, record, branch, at(FRIDAY, 7))
    morning = picking.build_run(branch=branch, now=at(FRIDAY, 9))
    line = morning.lines.get()
    picking.mark_not_found(line=line, reason="absent")  # a colleague did not see it
    with pytest.raises(ServiceError) as scanned:
        picking.line_for_barcode(run=morning, barcode=first.copy.barcode)
    assert scanned.value.code == "missing_in_hand"
    with translation.override("en"):
        assert "Found it: put back" in scanned.value.message


def test_a_copy_found_into_a_bag_whose_request_was_cancelled_later_is_not_said_back_on_the_shelf(
    patron, branch
):
    request = place(patron, make_record(copies=[branch]), branch, at(FRIDAY, 7))
    line = picking.build_run(branch=branch, now=at(FRIDAY, 9)).lines.get()
    assert picking.mark_found(line=line).status == Status.READY
    cancel_request(request=request)  # afterwards: the copy waits in its bag on the hold shelf
    line.refresh_from_db()
    assert not picking.found_for_nobody(line)
