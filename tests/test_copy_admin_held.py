"""A copy our circulation holds (set aside for a request, in transit, on the hold shelf,
on loan at one of our doors) keeps its record, barcode and place in the admin, as an
import keeps them (importer.keep_placement), and is not deleted: the patron must get the
title they asked for, and the picker, the van and the door must find the copy where it
was promised. The refusal says why, in words."""

import html

import pytest
from django.urls import reverse

from emporter.catalogue.models import Copy, CopyStatus
from emporter.desk import services as desk
from emporter.holds.models import Status
from emporter.holds.services import place_request
from emporter.picking import services as picking
from tests.conftest import make_department, make_location, make_ready_requests, make_record
from tests.test_copy_admin import change_url
from tests.test_copy_admin import copy_form as base_copy_form


def copy_form(copy, **changes):
    """The change form as the page sends it (tests/test_copy_admin.py's), with the copy's
    own department and location."""
    placed = {"department": copy.department_id or "", "location": copy.location_id or ""}
    return base_copy_form(copy, **(placed | changes))


def placement(copy):
    copy = Copy.objects.get(pk=copy.pk)
    return (copy.record_id, copy.barcode, copy.branch_id, copy.department_id, copy.location_id)


def refusal(response) -> str:
    """The form's error saying the copy is held (its code: copy_held)."""
    assert response.status_code == 200, "the change was saved"
    errors = response.context["adminform"].form.errors.as_data()["__all__"]
    assert [error.code for error in errors] == ["copy_held"]
    return errors[0].messages[0]


def set_aside(patron, branch, pickup=None):
    record = make_record(title="Demandé", copies=[branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=pickup or branch)
    return request, Copy.objects.get(pk=request.copy_id)


def in_transit_home(branch, other_branch):
    """A copy marked missing, found at another library: on its way home, held by nothing
    else (no request, no loan ever)."""
    copy = Copy.objects.get(record=make_record(title="Retrouvé", copies=[(branch, "missing")]))
    desk.put_back_found(barcode=copy.barcode, branch=other_branch)
    copy.refresh_from_db()
    assert copy.status == CopyStatus.IN_TRANSIT and not copy.requests.exists()
    return copy


def test_a_set_aside_copy_is_not_moved_to_another_record_or_library(
    admin_client, patron, branch, other_branch
):
    request, copy = set_aside(patron, branch)
    before = placement(copy)
    other = make_record(title="Autre titre", copies=[])

    response = admin_client.post(change_url(copy), copy_form(copy, record=other.pk, branch=other_branch.pk))

    assert "Part-Dieu" in refusal(response)
    assert placement(copy) == before
    request.refresh_from_db()
    assert request.status == Status.PLACED and request.copy_id == copy.pk


def test_a_set_aside_copy_keeps_its_department_and_location(admin_client, patron, branch):
    _request, copy = set_aside(patron, branch)
    department = make_department(branch, code="jeunesse", name="Jeunesse")
    location = make_location(department, code="albums", name="Albums")
    before = placement(copy)

    response = admin_client.post(
        change_url(copy), copy_form(copy, department=department.pk, location=location.pk)
    )

    refusal(response)
    assert placement(copy) == before


def test_a_copy_on_the_hold_shelf_keeps_its_library(admin_client, patron, branch, other_branch):
    (request,) = make_ready_requests(patron, branch, ["Prêt à retirer"])
    assert request.status == Status.READY
    copy = Copy.objects.get(pk=request.copy_id)

    response = admin_client.post(change_url(copy), copy_form(copy, branch=other_branch.pk))

    assert "Part-Dieu" in refusal(response)
    assert Copy.objects.get(pk=copy.pk).branch_id == branch.pk


def test_a_copy_in_transit_for_a_request_keeps_its_library(admin_client, patron, branch, other_branch):
    _request, copy = set_aside(patron, branch, pickup=other_branch)
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get())
    copy.refresh_from_db()
    assert copy.status == CopyStatus.IN_TRANSIT

    response = admin_client.post(change_url(copy), copy_form(copy, branch=other_branch.pk))

    assert "Croix-Rousse" in refusal(response)  # where it is going
    assert Copy.objects.get(pk=copy.pk).branch_id == branch.pk


def test_a_copy_on_loan_keeps_its_barcode(admin_client, patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Emprunté"])
    desk.hand_over(patron=patron, branch=branch)
    copy = Copy.objects.get(pk=request.copy_id)
    assert copy.status == CopyStatus.ON_LOAN

    response = admin_client.post(change_url(copy), copy_form(copy, barcode="B99999"))

    refusal(response)
    assert Copy.objects.get(pk=copy.pk).barcode == copy.barcode


def test_a_copy_in_transit_home_keeps_its_library(admin_client, branch, other_branch):
    copy = in_transit_home(branch, other_branch)

    response = admin_client.post(change_url(copy), copy_form(copy, branch=other_branch.pk))

    assert "Part-Dieu" in refusal(response)  # the library it is travelling back to
    assert Copy.objects.get(pk=copy.pk).branch_id == branch.pk


def test_a_request_taken_while_the_page_was_open_stops_the_move(admin_client, patron, branch, other_branch):
    record = make_record(title="Demandé", copies=[branch])
    seen = Copy.objects.get(record=record)  # the page opens: on the shelf
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)  # meanwhile

    response = admin_client.post(change_url(seen), copy_form(seen, branch=other_branch.pk))

    refusal(response)
    assert Copy.objects.get(pk=seen.pk).branch_id == branch.pk
    request.refresh_from_db()
    assert request.copy_id == seen.pk


def record_page_data(record, copy, **changes):
    data = {
        "title": record.title,
        "doc_type": record.doc_type,
        "audience": record.audience,
        "subjects": "[]",
        "copies-TOTAL_FORMS": "1",
        "copies-INITIAL_FORMS": "1",
        "copies-MIN_NUM_FORMS": "0",
        "copies-MAX_NUM_FORMS": "1000",
        "copies-0-id": copy.pk,
        "copies-0-record": record.pk,
        "copies-0-barcode": copy.barcode,
        "copies-0-call_number": copy.call_number,
        "copies-0-branch": copy.branch_id,
        "copies-0-department": copy.department_id or "",
        "copies-0-location": copy.location_id or "",
        "copies-0-doc_type": copy.doc_type,
        "copies-0-source_codes": "{}",
    }
    return data | {f"copies-0-{name}": value for name, value in changes.items()}


def record_url(record):
    return reverse("admin:catalogue_record_change", args=[record.pk])


def test_the_record_page_does_not_move_a_set_aside_copy(admin_client, patron, branch, other_branch):
    request, copy = set_aside(patron, branch)
    record = request.record

    response = admin_client.post(record_url(record), record_page_data(record, copy, branch=other_branch.pk))

    assert response.status_code == 200, "the change was saved"
    (formset,) = [f.formset for f in response.context["inline_admin_formsets"]]
    assert [e.code for e in formset.forms[0].errors.as_data()["__all__"]] == ["copy_held"]
    assert Copy.objects.get(pk=copy.pk).branch_id == branch.pk


def test_the_record_page_does_not_delete_a_copy_in_transit(admin_client, branch, other_branch):
    copy = in_transit_home(branch, other_branch)
    record = copy.record

    response = admin_client.post(record_url(record), record_page_data(record, copy, DELETE="on"))

    assert response.status_code == 200, "the copy was deleted"
    (formset,) = [f.formset for f in response.context["inline_admin_formsets"]]
    assert copy.barcode in " ".join(formset.non_form_errors())
    assert Copy.objects.filter(pk=copy.pk).exists()


def test_a_copy_in_transit_is_not_deleted_from_its_page(admin_client, branch, other_branch):
    copy = in_transit_home(branch, other_branch)
    url = reverse("admin:catalogue_copy_delete", args=[copy.pk])

    page = admin_client.get(url)
    admin_client.post(url, {"post": "yes"})

    assert Copy.objects.filter(pk=copy.pk).exists()
    assert any(copy.barcode in str(line) and "Part-Dieu" in str(line) for line in page.context["protected"])


def test_a_copy_in_transit_is_not_deleted_with_others(admin_client, branch, other_branch):
    copy = in_transit_home(branch, other_branch)
    idle = Copy.objects.get(record=make_record(title="En rayon", copies=[branch]))
    url = reverse("admin:catalogue_copy_changelist")

    admin_client.post(
        url, {"action": "delete_selected", "_selected_action": [copy.pk, idle.pk], "post": "yes"}
    )

    assert set(Copy.objects.filter(pk__in=[copy.pk, idle.pk]).values_list("pk", flat=True)) == {
        copy.pk,
        idle.pk,
    }


def test_a_record_with_a_copy_in_transit_is_not_deleted(admin_client, branch, other_branch):
    copy = in_transit_home(branch, other_branch)
    url = reverse("admin:catalogue_record_delete", args=[copy.record_id])

    admin_client.post(url, {"post": "yes"})

    assert Copy.objects.filter(pk=copy.pk).exists()


def test_the_delete_page_of_a_set_aside_copy_says_why_in_words(admin_client, patron, branch):
    # Its request's PROTECT already stopped the deletion; the page now says what it means.
    _request, copy = set_aside(patron, branch)

    page = admin_client.get(reverse("admin:catalogue_copy_delete", args=[copy.pk]))

    reasons = [str(line) for line in page.context["protected"] if copy.barcode in str(line)]
    assert len(reasons) == 1 and "Part-Dieu" in reasons[0]
    # On the page itself: Django shows missing permissions first, and instead (the
    # requests admin deletes nothing), which read as "you lack a permission".
    assert not page.context["perms_lacking"]
    assert html.escape(reasons[0]) in page.text or reasons[0] in page.text


def test_the_delete_action_checks_again_in_the_transaction_that_deletes(rf, admin_user, branch, other_branch):
    # Its confirmation page was read before: the copy set off home since.
    from django.contrib import admin
    from django.contrib.messages.storage.fallback import FallbackStorage

    copy = in_transit_home(branch, other_branch)
    request = rf.post("/")
    request.user, request.session = admin_user, {}
    request._messages = FallbackStorage(request)

    admin.site._registry[Copy].delete_queryset(request, Copy.objects.filter(pk=copy.pk))

    assert Copy.objects.filter(pk=copy.pk).exists()
    assert [copy.barcode in str(m) for m in request._messages] == [True]


@pytest.mark.django_db(transaction=True)
def test_a_copy_checked_free_stays_locked_until_the_admin_saves(postgres):
    # FOR UPDATE on the held copies alone left a free one to a placement between the
    # admin's check and its save: the copy then moved under the request, which still
    # expected it at its old place (its pick list).
    import threading

    from django.db import connection, transaction

    from emporter.catalogue.admin import held_copies
    from emporter.holds.models import Request
    from tests.conftest import make_branch, make_patron

    branch, other = make_branch(), make_branch(code="CRX", name="Croix-Rousse")
    patron = make_patron(branch)
    record = make_record(copies=[branch])
    copy = record.copies.get()

    def place():
        try:
            place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
        finally:
            connection.close()

    with transaction.atomic():  # the admin's own transaction
        assert held_copies([copy]) == {}
        worker = threading.Thread(target=place)
        worker.start()
        worker.join(timeout=2)
        waited = worker.is_alive()
        Copy.objects.filter(pk=copy.pk).update(branch=other)  # the form's save
    worker.join(10)
    assert waited  # for the admin's save: then it read the copy where it now is
    request = Request.objects.select_related("copy").get()
    assert request.copy.branch_id == other.pk  # pulled there, sent to the patron's library
