"""Invariants broken through a second path (the admin, a write-off, a race), found by the
thirteenth session's invariants review:

- a waiting request whose title's last copies are written off or deleted is closed and
  its patron told, not kept waiting for ever against their limit;
- loans change at the door only: the admin may move a due date, nothing else;
- a pickup time is cancelled (its place given back), never deleted in the admin;
- a department or location with copies on it cannot be deleted (SET_NULL made a
  reference collection requestable and took a set-aside copy's shelf from it);
- per-type limits hold when a copy comes back while the same patron places a request.
"""

import datetime
import threading

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.curbside import services as curbside
from emporter.curbside.models import Appointment, PickupSettings, Slot
from emporter.curbside.selectors import slot_times
from emporter.desk import services as desk
from emporter.desk.models import Loan
from emporter.errors import ServiceError
from emporter.holds import services as holds
from emporter.holds.models import ACTIVE, Request, RequestEvent, RequestPolicy, Status
from emporter.holds.services import close_waiting_without_copies, place_request, set_copy_status
from emporter.network.models import Department
from tests.conftest import (
    make_branch,
    make_department,
    make_location,
    make_patron,
    make_ready_requests,
    make_record,
)


@pytest.fixture
def network_admin(client, db):
    client.force_login(get_user_model().objects.create_superuser(username="admin", password="x"))
    return client


def _waiting_for(patron, branch, status):
    record = make_record(title="Perdu", copies=[(branch, status)])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    assert request.status == Status.WAITING
    return request, record.copies.get()


# -- A waiting list behind nothing --------------------------------------------------------


def test_a_title_written_off_closes_its_waiting_list_and_tells_it(patron, branch):
    request, copy = _waiting_for(patron, branch, CopyStatus.MISSING)
    assert close_waiting_without_copies() == 0  # a missing copy may turn up: it waits
    set_copy_status(copy_id=copy.pk, seen=CopyStatus.MISSING, status=CopyStatus.WITHDRAWN)
    # A day's grace: its replacement is often catalogued within the hour.
    assert close_waiting_without_copies() == 0
    Copy.objects.filter(pk=copy.pk).update(updated_at=timezone.now() - datetime.timedelta(days=2))
    assert close_waiting_without_copies() == 1
    request.refresh_from_db()
    assert request.status == Status.NOT_FOUND
    event = RequestEvent.objects.filter(request=request).latest("pk")
    assert (event.from_status, event.to_status, event.reason) == (
        Status.WAITING,
        Status.NOT_FOUND,
        "no_copy_left",
    )
    assert close_waiting_without_copies() == 0


def test_the_last_copy_deleted_in_the_admin_frees_its_patrons_place(network_admin, patron, branch):
    RequestPolicy.objects.create(max_active=1)
    request, copy = _waiting_for(patron, branch, CopyStatus.ON_LOAN)  # lent by the library system
    network_admin.post(reverse("admin:catalogue_copy_delete", args=[copy.pk]), {"post": "yes"})
    assert not Copy.objects.filter(pk=copy.pk).exists()
    other = make_record(title="Autre", copies=[branch])
    with pytest.raises(ServiceError, match="limit"):
        place_request(patron=patron, record_id=other.pk, pickup_branch=branch)
    close_waiting_without_copies()
    request.refresh_from_db()
    assert request.status == Status.NOT_FOUND
    placed, _ = place_request(patron=patron, record_id=other.pk, pickup_branch=branch)
    assert placed.status == Status.PLACED


def test_a_copy_left_out_of_one_export_keeps_the_queue(db, tmp_path):
    """--withdraw-missing withdraws a copy an export left out, marked to come back with
    the next export listing it: its queue is not closed meanwhile."""
    import pymarc

    from tests.test_import_marc import NOT_OUT, koha_items, run, write

    def marc(control, title, *items):
        record = koha_items(*items)
        record.remove_fields("001", "245")
        record.add_field(pymarc.Field("001", data=control))
        record.add_field(pymarc.Field("245", pymarc.Indicators("1", "0"), [pymarc.Subfield("a", title)]))
        return record.as_marc()

    branch = make_branch()
    shelf = [(f"W{n:02d}", NOT_OUT) for n in range(1, 11)]  # most of the export stays
    full = [marc("k1", "Le loup", *shelf), marc("k2", "Le Horla", ("W00", [*NOT_OUT, ("q", "2030-12-01")]))]
    run([write(tmp_path, "koha.mrc", full)])
    horla = Copy.objects.get(barcode="W00").record
    request, _ = place_request(patron=make_patron(branch), record_id=horla.pk, pickup_branch=branch)
    assert request.status == Status.WAITING
    run([write(tmp_path, "koha.mrc", full[:1])], withdraw_missing=True)
    Copy.objects.filter(barcode="W00").update(updated_at=timezone.now() - datetime.timedelta(days=3))
    assert Copy.objects.get(barcode="W00").status == CopyStatus.WITHDRAWN
    assert close_waiting_without_copies() == 0
    run([write(tmp_path, "koha.mrc", full)], withdraw_missing=True)
    request.refresh_from_db()
    assert request.status == Status.WAITING


def test_a_copy_still_lendable_elsewhere_keeps_the_queue(patron, branch, other_branch):
    request, copy = _waiting_for(patron, branch, CopyStatus.ON_LOAN)
    Copy.objects.create(
        record=copy.record, barcode="ELSEWHERE", branch=other_branch, status=CopyStatus.ON_LOAN
    )
    copy.delete()
    assert close_waiting_without_copies() == 0
    request.refresh_from_db()
    assert request.status == Status.WAITING


# -- Loans in the admin -------------------------------------------------------------------


def test_loans_are_neither_added_nor_deleted_in_the_admin(network_admin, patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Chez moi"])
    (loan,) = desk.hand_over(patron=patron, branch=branch).loans
    assert network_admin.get(reverse("admin:desk_loan_add")).status_code == 403
    assert (
        network_admin.post(reverse("admin:desk_loan_delete", args=[loan.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert Loan.objects.filter(pk=loan.pk, returned_at__isnull=True).exists()


def test_a_loans_due_date_moves_but_its_copy_does_not(network_admin, patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Prêté"])
    (loan,) = desk.hand_over(patron=patron, branch=branch).loans
    shelf_copy = Copy.objects.get(record=make_record(title="En rayon", copies=[branch]))
    later = loan.due_date + datetime.timedelta(days=7)
    form = {"copy": shelf_copy.pk, "patron": patron.pk, "branch": branch.pk, "due_date": later.isoformat()}
    response = network_admin.post(reverse("admin:desk_loan_change", args=[loan.pk]), form)
    assert response.status_code == 302
    loan.refresh_from_db()
    assert (loan.copy_id, loan.due_date) == (request.copy_id, later)
    shelf_copy.refresh_from_db()
    assert shelf_copy.status == CopyStatus.ON_SHELF


# -- Pickup times in the admin ------------------------------------------------------------


def test_a_pickup_time_is_cancelled_in_the_admin_and_its_place_given_back(network_admin, patron, branch):
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=1)
    (request,) = make_ready_requests(patron, branch, ["Un"])
    now = timezone.now()
    when = slot_times(bag=request.bag, settings=branch.pickup_settings, now=now)[0]
    appointment = curbside.book(bag=request.bag, starts_at=when, now=now)
    delete = reverse("admin:curbside_appointment_delete", args=[appointment.pk])
    assert network_admin.post(delete, {"post": "yes"}).status_code == 403
    assert Slot.objects.get().booked == 1
    changelist = reverse("admin:curbside_appointment_changelist")
    network_admin.post(changelist, {"action": "cancel_selected", "_selected_action": [appointment.pk]})
    appointment.refresh_from_db()
    assert appointment.state == Appointment.State.CANCELLED
    assert Slot.objects.get().booked == 0


# -- Shelving places with copies on them --------------------------------------------------


def test_a_department_with_copies_on_it_is_not_deleted(network_admin, patron, branch):
    department = make_department(branch, code="etude", name="Étude")
    reference = make_location(department, code="usuels", name="Usuels", requestable=False)
    record = make_record(title="Dictionnaire", copies=[branch])
    Copy.objects.filter(record=record).update(department=department, location=reference)
    response = network_admin.post(
        reverse("admin:network_department_delete", args=[department.pk]), {"post": "yes"}
    )
    assert response.status_code == 200  # the page lists the copies that keep it
    assert Department.objects.filter(pk=department.pk).exists()
    assert not Copy.objects.requestable().filter(record=record).exists()
    # Emptied first, it goes.
    Copy.objects.filter(record=record).update(department=None, location=None)
    network_admin.post(reverse("admin:network_department_delete", args=[department.pk]), {"post": "yes"})
    assert not Department.objects.filter(pk=department.pk).exists()


# -- Per-type limits when a copy comes back during a placement (PostgreSQL) ---------------


def _dvd_scene():
    branch = make_branch()
    RequestPolicy.objects.create(type_limits={"dvd": 1})
    patron = make_patron(branch)
    # A title catalogued as a book, with a book and a DVD edition, both out: the patron
    # waits for it, counted as a book until it takes a copy.
    mixed = make_record(title="Le Seigneur des anneaux", doc_type="book", copies=[(branch, "on_loan")])
    dvd_edition = Copy.objects.create(
        record=mixed, barcode="DVD-LOTR", call_number="F TOL", branch=branch, doc_type="dvd", status="on_loan"
    )
    waiting, _ = holds.place_request(patron=patron, record_id=mixed.pk, pickup_branch=branch)
    assert (waiting.status, waiting.doc_type) == (Status.WAITING, "book")
    film = make_record(title="Amélie", doc_type="dvd", copies=[branch])
    return branch, patron, waiting, dvd_edition, film


def _dvds(patron):
    return Request.objects.filter(patron=patron, status__in=ACTIVE, doc_type="dvd").count()


@pytest.mark.django_db(transaction=True)
def test_a_return_during_a_placement_keeps_the_type_limit(postgres, monkeypatch):
    branch, patron, waiting, dvd_edition, film = _dvd_scene()
    placed_not_committed, returned = threading.Event(), threading.Event()
    real_record_event = holds.record_event

    def record_event_then_wait(request, **kw):
        # Only place_request calls holds.placement.record_event (transitions call the
        # lifecycle's own): the placement's row is written, its transaction still open.
        event = real_record_event(request, **kw)
        if threading.current_thread().name == "placement":
            placed_not_committed.set()
            returned.wait(15)
        return event

    monkeypatch.setattr("emporter.holds.placement.record_event", record_event_then_wait)
    errors = []

    def placement():
        try:
            holds.place_request(patron=patron, record_id=film.pk, pickup_branch=branch)
        except Exception as error:  # noqa: BLE001 (reported by the assertion)
            errors.append(error)
        finally:
            connection.close()

    def a_return():
        try:
            placed_not_committed.wait(15)
            desk.check_in(barcode=dvd_edition.barcode, branch=branch)
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            returned.set()
            connection.close()

    threads = [threading.Thread(target=placement, name="placement"), threading.Thread(target=a_return)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    waiting.refresh_from_db()
    assert _dvds(patron) == 1, (waiting.status, waiting.doc_type)
    # The request passed over keeps its place; the DVD is on the shelf for the next one.
    assert waiting.status == Status.WAITING
    # Once the placement is done, the sweep finds the limit reached, as placement would.
    holds.serve_waiting()
    assert _dvds(patron) == 1
