"""Editing a copy in the admin never undoes circulation: the status is set by hand only
among on shelf / missing / withdrawn, guarded by the status the librarian saw, and a
save writes only what was edited."""

import html

from django.db import IntegrityError
from django.urls import reverse

from emporter.catalogue.models import Copy, CopyStatus
from emporter.errors import ServiceError
from emporter.holds.models import Request, Status
from emporter.holds.placement import _placement_conflict
from emporter.holds.services import place_request
from tests.conftest import make_patron, make_record


def copy_form(copy, **changes):
    data = {
        "record": copy.record_id,
        "barcode": copy.barcode,
        "call_number": copy.call_number,
        "branch": copy.branch_id,
        "department": "",
        "location": "",
        "doc_type": copy.doc_type,
        "status": copy.status,
        "source_codes": "{}",
        "status_seen": copy.status,
    }
    return data | changes


def change_url(copy):
    return reverse("admin:catalogue_copy_change", args=[copy.pk])


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_saving_a_call_number_keeps_a_request_taken_meanwhile(admin_client, branch, patron):
    record = make_record(copies=[branch])
    seen = Copy.objects.get(record=record)  # the page opens: on the shelf
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)

    response = admin_client.post(change_url(seen), copy_form(seen, call_number="R ETR 2"))

    assert response.status_code == 302
    copy = Copy.objects.get(pk=seen.pk)
    assert copy.call_number == "R ETR 2"
    assert copy.status == CopyStatus.SET_ASIDE
    request.refresh_from_db()
    assert request.status == Status.PLACED and request.copy_id == copy.pk


def test_marking_missing_a_copy_a_request_took_meanwhile_is_refused_in_words(admin_client, branch, patron):
    record = make_record(copies=[branch])
    seen = Copy.objects.get(record=record)
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)

    response = admin_client.post(change_url(seen), copy_form(seen, status="missing"), follow=True)

    assert Copy.objects.get(pk=seen.pk).status == CopyStatus.SET_ASIDE
    assert f"{seen.barcode} a changé entre-temps" in text(response)


def test_two_librarians_on_one_copy_the_second_is_told(admin_client, branch):
    seen = Copy.objects.get(record=make_record(copies=[branch]))
    Copy.objects.filter(pk=seen.pk).update(status=CopyStatus.MISSING)  # the first one saved

    response = admin_client.post(change_url(seen), copy_form(seen, status="withdrawn"), follow=True)

    assert Copy.objects.get(pk=seen.pk).status == CopyStatus.MISSING
    assert f"{seen.barcode} a changé entre-temps (il est maintenant" in text(response)


def test_a_copy_found_again_goes_to_the_oldest_waiting_request(admin_client, branch, patron):
    record = make_record(copies=[(branch, "missing")])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    assert request.status == Status.WAITING
    copy = Copy.objects.get(record=record)

    response = admin_client.post(change_url(copy), copy_form(copy, status="on_shelf"), follow=True)

    request.refresh_from_db()
    assert request.status == Status.PLACED and request.copy_id == copy.pk
    assert Copy.objects.get(pk=copy.pk).status == CopyStatus.SET_ASIDE
    assert "plus ancienne réservation en attente" in text(response)


def test_a_copy_in_circulation_shows_its_status_read_only(admin_client, branch, patron):
    record = make_record(copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    copy = Copy.objects.get(record=record)

    form = admin_client.get(change_url(copy)).context["adminform"].form
    assert form.fields["status"].disabled
    # Posting a status anyway changes nothing.
    admin_client.post(change_url(copy), copy_form(copy, status="on_shelf", status_seen="set_aside"))
    assert Copy.objects.get(pk=copy.pk).status == CopyStatus.SET_ASIDE


def test_only_hand_set_statuses_are_offered(admin_client, branch):
    copy = Copy.objects.get(record=make_record(copies=[branch]))
    form = admin_client.get(change_url(copy)).context["adminform"].form
    assert [value for value, _label in form.fields["status"].choices] == ["on_shelf", "missing", "withdrawn"]


def test_the_record_page_inline_does_not_write_back_the_status(admin_client, branch, patron):
    record = make_record(copies=[branch])
    copy = Copy.objects.get(record=record)
    page = admin_client.get(reverse("admin:catalogue_record_change", args=[record.pk]))
    data = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if value is not None and not isinstance(value, list)
    }
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)  # meanwhile
    data |= {
        "title": record.title,
        "doc_type": record.doc_type,
        "audience": record.audience,
        "subjects": "[]",
        "copies-TOTAL_FORMS": "1",
        "copies-INITIAL_FORMS": "1",
        "copies-0-id": copy.pk,
        "copies-0-record": record.pk,
        "copies-0-barcode": copy.barcode,
        "copies-0-call_number": "R ETR 3",
        "copies-0-branch": branch.pk,
        "copies-0-doc_type": copy.doc_type,
        "copies-0-source_codes": "{}",
    }
    response = admin_client.post(reverse("admin:catalogue_record_change", args=[record.pk]), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    copy.refresh_from_db()
    assert copy.call_number == "R ETR 3"
    assert copy.status == CopyStatus.SET_ASIDE


def test_a_constraint_other_than_the_patrons_own_request_is_not_already_requested(branch, patron):
    record = make_record(copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    # A copy said on the shelf while a request holds it (which nothing lets happen now).
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)
    other = make_patron(branch, card="10000002")
    try:
        place_request(patron=other, record_id=record.pk, pickup_branch=branch)
    except ServiceError as error:
        assert error.code == "placement_conflict"
    else:
        raise AssertionError("the copy another request holds was taken")
    assert Request.objects.filter(patron=other).count() == 0


def test_the_patrons_own_request_constraint_reads_already_requested():
    error = IntegrityError(
        'duplicate key value violates unique constraint "one_active_request_per_patron_record"'
    )
    assert _placement_conflict(error) == "already_requested"
    sqlite = IntegrityError("UNIQUE constraint failed: holds_request.patron_id, holds_request.record_id")
    assert _placement_conflict(sqlite) == "already_requested"


def test_a_copy_back_from_circulation_meanwhile_keeps_the_librarians_edit(admin_client, branch, patron):
    from emporter.holds.services import cancel_request

    record = make_record(copies=[branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    seen = Copy.objects.get(record=record)  # set aside: the status shows read-only
    cancel_request(request=request)  # meanwhile: back on its shelf
    data = copy_form(seen, call_number="R ETR 4")
    del data["status"]  # a disabled select is not sent

    response = admin_client.post(change_url(seen), data)

    assert response.status_code == 302
    copy = Copy.objects.get(pk=seen.pk)
    assert (copy.call_number, copy.status) == ("R ETR 4", CopyStatus.ON_SHELF)


def test_a_status_asked_for_on_a_copy_that_left_circulation_meanwhile_is_refused_in_words(
    admin_client, branch, patron
):
    from emporter.holds.services import cancel_request

    record = make_record(copies=[branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    seen = Copy.objects.get(record=record)
    cancel_request(request=request)

    response = admin_client.post(change_url(seen), copy_form(seen, status="missing"), follow=True)

    assert response.status_code == 200
    assert Copy.objects.get(pk=seen.pk).status == CopyStatus.ON_SHELF
    assert f"{seen.barcode} a changé entre-temps (il est maintenant «\u00a0En rayon\u00a0»)" in text(response)


def test_an_edit_alone_on_a_copy_moving_in_circulation_gives_no_warning(admin_client, branch, patron):
    record = make_record(copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    seen = Copy.objects.get(record=record)
    Copy.objects.filter(pk=seen.pk).update(status=CopyStatus.HOLD_SHELF)  # found meanwhile
    data = copy_form(seen, call_number="R ETR 5")
    del data["status"]

    response = admin_client.post(change_url(seen), data, follow=True)

    assert "a changé entre-temps" not in text(response)
    assert Copy.objects.get(pk=seen.pk).call_number == "R ETR 5"


def test_a_copy_no_request_could_take_is_shelved_not_given_to_the_waiting_list(admin_client, branch, patron):
    from tests.conftest import make_department, make_location

    record = make_record(copies=[(branch, "missing")])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    reference = make_location(make_department(branch, code="ref"), code="ref", requestable=False)
    copy = Copy.objects.get(record=record)
    Copy.objects.filter(pk=copy.pk).update(location=reference)
    copy.refresh_from_db()

    admin_client.post(change_url(copy), copy_form(copy, location=reference.pk, status="on_shelf"))

    request.refresh_from_db()
    assert request.status == Status.WAITING
    assert Copy.objects.get(pk=copy.pk).status == CopyStatus.ON_SHELF
