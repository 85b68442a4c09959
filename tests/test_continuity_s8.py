"""The continuity switch under a review: a double reopening, the waiting lists served
whole, the days a bag gets back, a booking lost to a closing, another library's phone desk."""

import datetime
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from emporter.catalogue.models import Copy, Record
from emporter.curbside import services as curbside
from emporter.curbside.models import Appointment, PickupSettings
from emporter.holds.continuity import set_mode
from emporter.holds.models import Request, RequestEvent, Status
from emporter.holds.services import extend_after_reopening, place_request, tell_closed_pickups
from emporter.network.calendar import nth_open_day
from emporter.network.models import Branch, ModeChange, ServiceMode
from emporter.notices.models import Kind, Notice
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record

MONDAY = datetime.date(2026, 12, 7)
WEDNESDAY = MONDAY + datetime.timedelta(days=2)


def at(day, hour, minute=0):
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def switch(branch, mode):
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=mode, actor=None)
    branch.refresh_from_db()


def place(patron, title, pickup, copies):
    record = make_record(title=title, copies=copies)
    return place_request(patron=patron, record_id=record.pk, pickup_branch=pickup)[0]


def test_on_reopening_every_waiting_request_is_served_before_a_newcomer(patron, branch):
    switch(branch, ServiceMode.CLOSED)
    records = Record.objects.bulk_create(
        Record(source_key=f"t:{i}", title=f"Titre {i}", doc_type="book") for i in range(501)
    )
    Copy.objects.bulk_create(
        Copy(
            record=r,
            barcode=f"C{r.pk:07d}",
            call_number="R",
            branch=branch,
            doc_type="book",
            status="on_shelf",
        )
        for r in records
    )
    Request.objects.bulk_create(
        Request(patron=patron, record=r, pickup_branch=branch, status=Status.WAITING, doc_type="book")
        for r in records
    )
    switch(branch, ServiceMode.CLICK_COLLECT)
    newcomer = make_patron(branch, card="10000099", last_name="Nouveau")
    late, _ = place_request(patron=newcomer, record_id=records[-1].pk, pickup_branch=branch)
    oldest = Request.objects.get(patron=patron, record=records[-1])
    assert (oldest.status, late.status) == (Status.PLACED, Status.WAITING)


def test_a_bag_given_its_days_back_gets_as_many_as_a_new_bag(patron, branch):
    (ready,) = make_ready_requests(patron, branch, ["Patient"])
    past = MONDAY - datetime.timedelta(days=20)
    Request.objects.filter(pk=ready.pk).update(hold_until=past)
    type(ready.bag).objects.filter(pk=ready.bag_id).update(hold_until=past)
    extend_after_reopening(branch=branch, today=MONDAY)  # reopened on Monday morning
    ready.refresh_from_db()
    assert ready.hold_until == nth_open_day(branch, MONDAY + datetime.timedelta(days=1), 5)  # make_ready's


def test_a_booking_at_a_library_closed_meanwhile_stands_if_it_reopens_in_time(patron, branch):
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    (ready,) = make_ready_requests(patron, branch, ["Réservé à 11h"])
    Request.objects.filter(pk=ready.pk).update(hold_until=WEDNESDAY)
    type(ready.bag).objects.filter(pk=ready.bag_id).update(hold_until=WEDNESDAY)
    curbside.book(bag=ready.bag, starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    switch(branch, ServiceMode.CLOSED)  # the patron is told the library closed, not a time lost
    assert curbside.close_finished(now=at(MONDAY, 10, 5)) == 0
    switch(branch, ServiceMode.CLICK_COLLECT)  # back before Wednesday
    assert Appointment.objects.get().state == Appointment.State.BOOKED
    assert not Notice.objects.filter(kind=Kind.TIME_CANCELLED).exists()


def test_a_missed_booking_at_a_closed_library_is_not_told_as_cancelled(patron, branch):
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    (ready,) = make_ready_requests(patron, branch, ["Trop tard"])
    Request.objects.filter(pk=ready.pk).update(hold_until=WEDNESDAY)
    type(ready.bag).objects.filter(pk=ready.bag_id).update(hold_until=WEDNESDAY)
    curbside.book(bag=ready.bag, starts_at=at(MONDAY, 11), now=at(MONDAY, 9))
    switch(branch, ServiceMode.CLOSED)
    assert curbside.close_finished(now=at(MONDAY, 15)) == 1  # its time has gone by
    assert not Notice.objects.filter(kind=Kind.TIME_CANCELLED).exists()


@pytest.mark.parametrize(("closed", "moved"), [(True, True), (False, False)])
def test_another_librarys_phone_desk_moves_a_caller_off_a_closed_library_only(
    client, patron, branch, other_branch, closed, moved
):
    request = place(patron, "Appel", branch, [branch, other_branch])
    if closed:
        switch(branch, ServiceMode.CLOSED)
        picking.withdraw_closed_branches()
    user = get_user_model().objects.create_user(username="tel", password="x")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=other_branch)
    client.force_login(user)
    with translation.override("en"):
        url = reverse("phonedesk:change_pickup", args=[patron.pk, request.pk])
    client.post(url, {"branch": other_branch.pk})
    request.refresh_from_db()
    assert request.pickup_branch == (other_branch if moved else branch)


@pytest.mark.parametrize(("closed", "status"), [(True, 200), (False, 404)])
def test_the_staff_api_moves_a_caller_off_a_closed_library_as_the_page_does(
    client, patron, branch, other_branch, closed, status
):
    from tests.test_api_staff import V1, sign_in, staff_user

    request = place(patron, "Appel", branch, [branch, other_branch])
    if closed:
        switch(branch, ServiceMode.CLOSED)
        picking.withdraw_closed_branches()
    staff_user("tel", role=Role.PHONE_DESK, branch=other_branch)
    answer = client.post(
        f"{V1}/staff/requests/{request.pk}/pickup",
        {"pickup_branch_id": other_branch.pk},
        content_type="application/json",
        headers=sign_in(client, "tel"),
    )
    assert answer.status_code == status, answer.content
    request.refresh_from_db()
    assert request.pickup_branch == (other_branch if closed else branch)


@pytest.mark.django_db(transaction=True)
def test_reopening_twice_at_once_tells_each_patron_once(postgres, settings):
    from emporter.notices import compose, outbox

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    branch = make_branch()
    other = make_branch(code="CRX", name="Croix-Rousse")
    for n in range(10):
        place(make_patron(branch, card=f"1000{n:04d}"), f"T{n}", branch, [other])
    switch(branch, ServiceMode.CLOSED)
    tell_closed_pickups()
    later = timezone.now() + datetime.timedelta(minutes=5)
    compose.compose_all(later)
    outbox.send_due(later)  # the "closed" emails left: the reopening is told
    barrier, errors = threading.Barrier(2), []

    def reopen():
        try:
            barrier.wait()
            set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLICK_COLLECT, actor=None)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    def in_parallel(work):
        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors

    in_parallel(reopen)
    assert ModeChange.objects.filter(branch=branch, to_tell=True).count() == 1  # reopened once

    def compose_now():
        try:
            barrier.wait()
            compose.compose_all(later + datetime.timedelta(minutes=1))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connection.close()

    in_parallel(compose_now)  # two composers read the mark: one tells
    assert RequestEvent.objects.filter(reason="pickup_reopened").count() == 10
    assert Notice.objects.filter(kind=Kind.PICKUP_REOPENED).count() == 10


def test_a_line_printed_before_its_library_closed_is_withdrawn_and_the_copy_stays(
    patron, branch, other_branch
):
    from emporter.catalogue.models import CopyStatus
    from emporter.picking import selectors

    request = place(patron, "Pour Part-Dieu", branch, [other_branch])
    run = picking.build_run(branch=other_branch, kind="late")  # the list, before the switch
    switch(branch, ServiceMode.CLOSED)
    assert picking.settle_withdrawn_lines() == 1
    line = run.lines.get()
    request.refresh_from_db()
    assert (line.status, request.status, request.copy.status) == (
        "cancelled",
        Status.PLACED,
        CopyStatus.SET_ASIDE,
    )
    assert selectors.off_the_lists(other_branch) == 0  # nothing to pull for a closed library
    # Reopened: a late list takes it again, and the picker's page says so.
    switch(branch, ServiceMode.CLICK_COLLECT)
    assert selectors.off_the_lists(other_branch) == 1
    assert picking.build_run(branch=other_branch, kind="late").lines.get().request == request


def test_a_picker_finding_a_copy_for_a_library_closed_meanwhile_is_told_to_leave_it(
    patron, branch, other_branch
):
    from emporter.catalogue.models import CopyStatus
    from emporter.errors import ServiceError

    request = place(patron, "Dans la main", branch, [other_branch])
    run = picking.build_run(branch=other_branch, kind="late")
    switch(branch, ServiceMode.CLOSED)  # before the sweep has run
    line = run.lines.get()
    with translation.override("en"), pytest.raises(ServiceError) as refused:
        picking.mark_found(line=line)
    assert refused.value.code == "pickup_closed_leave"
    with translation.override("en"):
        assert f"the library it was for, {branch.name}, has closed" in refused.value.message
    line.refresh_from_db()
    request.refresh_from_db()
    assert line.status == "cancelled" and request.copy.status == CopyStatus.SET_ASIDE  # not in a van


@pytest.fixture
def mailbox(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def closed_notices():
    return Notice.objects.filter(kind=Kind.PICKUP_CLOSED).count()


def test_one_closing_one_email_though_one_copy_waits_to_be_moved(mailbox, patron, branch, other_branch):
    from emporter.notices import compose, outbox

    switch(other_branch, ServiceMode.CLICK_COLLECT)
    place(patron, "Copie ici", branch, [branch])  # set aside at the closing library
    place(patron, "Copie ailleurs", branch, [other_branch])
    switch(branch, ServiceMode.CLOSED)
    later = timezone.now() + datetime.timedelta(minutes=5)
    assert tell_closed_pickups() == 0  # "Copie ici" is still to be moved: nothing yet
    picking.withdraw_closed_branches()
    assert tell_closed_pickups() == 2
    compose.compose_all(later)
    outbox.send_due(later)
    assert closed_notices() == 1


def test_a_patrons_requests_are_told_in_one_pass_whatever_the_batch(mailbox, patron, branch, other_branch):
    from emporter.notices import compose

    switch(other_branch, ServiceMode.CLICK_COLLECT)
    place(patron, "Un", branch, [other_branch])
    place(patron, "Deux", branch, [other_branch])
    place(make_patron(branch, card="10000077"), "Trois", branch, [other_branch])
    switch(branch, ServiceMode.CLOSED)
    assert tell_closed_pickups(limit=1) == 2  # one patron, both requests
    compose.compose_all(timezone.now() + datetime.timedelta(minutes=5))
    assert tell_closed_pickups(limit=1) == 1
    compose.compose_all(timezone.now() + datetime.timedelta(minutes=6))
    assert closed_notices() == 2  # one per patron


def test_a_sweep_with_a_full_batch_goes_on_until_done_or_out_of_time():
    from emporter.jobs.schedule import until_done

    left = [1200]

    def sweep() -> int:
        did = min(500, left[0])
        left[0] -= did
        return did

    assert until_done(sweep)() == 1200 and left == [0]
    left[0] = 5000
    assert until_done(sweep, seconds=0)() == 500  # out of time after one batch: the next run goes on


def test_a_copy_scanned_after_the_sweep_withdrew_its_line_says_why(patron, branch, other_branch):
    from emporter.errors import ServiceError

    request = place(patron, "Après le balayage", branch, [other_branch])
    run = picking.build_run(branch=other_branch, kind="late")
    switch(branch, ServiceMode.CLOSED)
    assert picking.settle_withdrawn_lines() == 1
    with translation.override("en"), pytest.raises(ServiceError) as refused:
        picking.line_for_barcode(run=run, barcode=request.copy.barcode)
    assert refused.value.code == "pickup_closed_leave"


def test_a_closing_undone_within_the_grace_moves_nothing_and_tells_no_one(
    settings, patron, branch, other_branch
):
    from emporter.holds.models import RequestEvent

    settings.CLOSING_GRACE = 600
    switch(other_branch, ServiceMode.CLICK_COLLECT)
    here = place(patron, "Sur les rayons qui ferment", other_branch, [branch])  # copy at the closing library
    place(patron, "À retirer ici", branch, [other_branch])  # pickup at the closing library
    run = picking.build_run(branch=other_branch, kind="late")
    switch(branch, ServiceMode.CLOSED)  # the wrong row clicked
    assert picking.withdraw_closed_branches() == 0
    assert tell_closed_pickups() == 0
    assert picking.settle_withdrawn_lines() == 0
    switch(branch, ServiceMode.CLICK_COLLECT)  # undone five minutes later
    here.refresh_from_db()
    assert here.status == Status.PLACED and here.copy.branch == branch
    assert not RequestEvent.objects.filter(reason__in=["pickup_closed", "copy_library_closed"]).exists()
    assert run.lines.filter(status="pending").count() == 1

    # A closing that lasts: ten minutes later the sweeps do their work.
    switch(branch, ServiceMode.CLOSED)
    Branch.objects.filter(pk=branch.pk).update(
        mode_changed_at=timezone.now() - datetime.timedelta(minutes=11)
    )
    # Both: the copy on the closed library's shelves, and the one set aside elsewhere to
    # be collected there (twenty-fifth session: it was kept from everyone meanwhile).
    assert picking.withdraw_closed_branches() == 2
    assert tell_closed_pickups() >= 1


@pytest.mark.django_db(transaction=True)
def test_a_long_reopening_does_not_hold_up_requests_at_libraries_already_open(postgres, monkeypatch):
    import time
    from unittest import mock

    from emporter.holds import services as holds_services

    branch = make_branch()
    make_branch(code="VAI", name="Vaise", mode=ServiceMode.CLOSED)
    patron = make_patron(branch)
    record = make_record(title="Ailleurs", copies=[branch])
    real_serve = holds_services.serve_waiting

    def slow_serve(**kwargs):
        time.sleep(2)  # serving thousands of waiting requests
        return real_serve(**kwargs)

    started = threading.Event()

    def reopen_the_network():
        try:
            with mock.patch("emporter.holds.continuity.serve_waiting", slow_serve):
                started.set()
                set_mode(branches=Branch.objects.all(), mode=ServiceMode.CLICK_COLLECT, actor=None)
        finally:
            connection.close()

    thread = threading.Thread(target=reopen_the_network)
    thread.start()
    started.wait()
    time.sleep(0.5)
    began = time.monotonic()
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    took = time.monotonic() - began
    thread.join()
    assert took < 1.0, took  # it waited for the whole reopening (a FOR UPDATE on every branch)


def closed_email_text(patron) -> str:
    from emporter.notices import compose
    from emporter.notices.render import render

    tell_closed_pickups()
    compose.compose_all(timezone.now() + datetime.timedelta(minutes=5))
    with translation.override("en"):
        return render(Notice.objects.get(kind=Kind.PICKUP_CLOSED, patron=patron)).text


def test_the_closed_email_offers_another_library_only_for_what_can_move(patron, branch, other_branch):
    from emporter.catalogue.models import CopyStatus

    patron.language = "en"
    patron.save(update_fields=["language"])
    switch(other_branch, ServiceMode.CLICK_COLLECT)
    in_the_van = place(patron, "Dans le camion", branch, [other_branch])
    line = picking.build_run(branch=other_branch, kind="late").lines.get()
    picking.mark_found(line=line)  # on its way to Part-Dieu
    in_the_van.refresh_from_db()
    assert in_the_van.copy.status == CopyStatus.IN_TRANSIT
    place(patron, "Sur son rayon", branch, [other_branch])
    switch(branch, ServiceMode.CLOSED)
    text = closed_email_text(patron)
    movable, staying = text.split("can be collected at another library", 1)[1].split(
        "stays reserved for you there", 1
    )
    assert "Sur son rayon" in movable and "Dans le camion" not in movable
    assert "Dans le camion" in staying


def test_with_no_library_taking_requests_the_closed_email_offers_none(patron, branch, other_branch):
    patron.language = "en"
    patron.save(update_fields=["language"])
    place(patron, "Bloqué", branch, [other_branch])
    switch(other_branch, ServiceMode.OPEN)  # back to normal service: it takes no requests
    switch(branch, ServiceMode.CLOSED)
    picking.withdraw_closed_branches()
    text = closed_email_text(patron)
    assert "another library" not in text and "stays reserved for you there" in text and "Bloqué" in text


def test_closed_reopened_and_closed_again_before_the_reopening_email_left_is_told_once(
    settings, patron, branch, other_branch
):
    from django.core import mail

    from emporter.notices import compose, outbox

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    switch(other_branch, ServiceMode.CLICK_COLLECT)
    place(patron, "Un", branch, [other_branch])
    moment = timezone.now() + datetime.timedelta(minutes=5)
    compose.compose_all(moment)
    outbox.send_due(moment)
    mail.outbox.clear()
    switch(branch, ServiceMode.CLOSED)
    tell_closed_pickups()
    compose.compose_all(moment + datetime.timedelta(minutes=1))
    outbox.send_due(moment + datetime.timedelta(minutes=1))
    assert len(mail.outbox) == 1  # "closed"
    switch(branch, ServiceMode.CLICK_COLLECT)  # the "reopened" email is written…
    switch(branch, ServiceMode.CLOSED)  # …and outdated a minute later
    tell_closed_pickups()
    compose.compose_all(moment + datetime.timedelta(minutes=2))
    outbox.send_due(moment + datetime.timedelta(minutes=2))
    assert len(mail.outbox) == 1, [m.subject for m in mail.outbox]  # nothing more: they know

    # Reopened for good, told so; closed again later: that closing is told.
    switch(branch, ServiceMode.CLICK_COLLECT)
    compose.compose_all(moment + datetime.timedelta(minutes=3))
    outbox.send_due(moment + datetime.timedelta(minutes=3))
    assert len(mail.outbox) == 2  # "reopened"
    switch(branch, ServiceMode.CLOSED)
    tell_closed_pickups()
    compose.compose_all(moment + datetime.timedelta(minutes=4))
    outbox.send_due(moment + datetime.timedelta(minutes=4))
    assert len(mail.outbox) == 3


@pytest.mark.parametrize("then", [ServiceMode.OPEN, ServiceMode.CLICK_COLLECT])
def test_reopened_then_put_in_the_other_lending_mode_before_the_composer_still_tells(
    settings, patron, branch, other_branch, then
):
    """The end of a crisis: reopened in click and collect, then the whole network back to
    normal service a minute later. Those told it closed are told it reopened, once."""
    from django.core import mail

    from emporter.notices import compose, outbox

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    switch(other_branch, ServiceMode.CLICK_COLLECT)
    place(patron, "Un", branch, [other_branch])
    moment = timezone.now() + datetime.timedelta(minutes=5)
    switch(branch, ServiceMode.CLOSED)
    tell_closed_pickups()
    compose.compose_all(moment)
    outbox.send_due(moment)
    first = ServiceMode.CLICK_COLLECT if then == ServiceMode.OPEN else ServiceMode.OPEN
    switch(branch, first)
    switch(branch, then)
    compose.compose_all(moment + datetime.timedelta(minutes=1))
    compose.compose_all(moment + datetime.timedelta(minutes=2))
    assert Notice.objects.filter(kind=Kind.PICKUP_REOPENED).count() == 1
    assert Notice.objects.filter(kind=Kind.PICKUP_CLOSED).count() == 1
    assert mail.outbox  # the closing email left
