"""The phone desk over the API: staff tokens, finding the caller, placing for them, scope."""

import pytest
from django.contrib.auth import get_user_model

from emporter.holds.models import Request, RequestEvent, Status
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_patron, make_record

V1 = "/api/v1"


def staff_user(username, role=Role.PHONE_DESK, branch=None):
    user = get_user_model().objects.create_user(username=username, password="secret-pass")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


def sign_in(client, username):
    body = {"username": username, "password": "secret-pass"}
    response = client.post(f"{V1}/auth/token", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["scope"] == "staff"
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def desk(client, branch):
    staff_user("agnes", branch=branch)
    return sign_in(client, "agnes")


def post(client, url, data, headers, **extra):
    return client.post(url, data, content_type="application/json", headers=headers | extra)


def test_phone_desk_places_three_requests_for_a_patron_found_by_phone(client, desk, branch):
    caller = make_patron(branch, card="10000042", phone="06 12 34 56 78", last_name="Durand")
    make_patron(branch, card="10000043", phone="04 72 00 00 00")
    found = client.get(f"{V1}/staff/patrons", {"q": "0612345678"}, headers=desk)
    assert found.status_code == 200
    assert [p["card_number"] for p in found.json()] == ["10000042"]
    records = [make_record(title=f"Album {n}", copies=[branch]) for n in range(3)]
    patron_id = found.json()[0]["id"]
    response = post(
        client, f"{V1}/staff/patrons/{patron_id}/requests", {"record_ids": [r.pk for r in records]}, desk
    )
    assert response.status_code == 201
    requests = Request.objects.filter(patron=caller)
    assert requests.count() == 3
    assert set(requests.values_list("channel", flat=True)) == {"phone"}
    assert set(requests.values_list("placed_by__username", flat=True)) == {"agnes"}
    assert set(RequestEvent.objects.values_list("reason", flat=True)) == {"phone"}
    listed = client.get(f"{V1}/staff/patrons/{patron_id}/requests", headers=desk).json()
    assert listed["total"] == 3
    assert {r["held_copy"]["call_number"] for r in listed["items"]} == {"R ALB"}


def test_find_patrons_by_card_or_name(client, desk, branch):
    make_patron(branch, card="10000042", first_name="Léa", last_name="Durand")
    make_patron(branch, card="10000043", first_name="Marc", last_name="Durandal")
    by_card = client.get(f"{V1}/staff/patrons", {"q": "10000043"}, headers=desk).json()
    assert [p["last_name"] for p in by_card] == ["Durandal"]
    by_name = client.get(f"{V1}/staff/patrons", {"q": "durand léa"}, headers=desk).json()
    assert [p["card_number"] for p in by_name] == ["10000042"]


def test_staff_cannot_place_for_pickup_at_a_branch_not_theirs(client, desk, branch, other_branch):
    caller = make_patron(branch, card="10000042")
    record = make_record(copies=[other_branch])
    body = {"record_ids": [record.pk], "pickup_branch_id": other_branch.pk}
    response = post(client, f"{V1}/staff/patrons/{caller.pk}/requests", body, desk)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert not Request.objects.exists()


def test_staff_see_and_cancel_only_requests_at_their_branches(client, desk, branch, other_branch):
    caller = make_patron(branch, card="10000042")
    here, there = make_record(title="Ici", copies=[branch]), make_record(title="Là", copies=[other_branch])
    mine = Request.objects.create(patron=caller, record=here, copy=here.copies.get(), pickup_branch=branch)
    theirs = Request.objects.create(
        patron=caller, record=there, copy=there.copies.get(), pickup_branch=other_branch
    )
    listed = client.get(f"{V1}/staff/patrons/{caller.pk}/requests", headers=desk).json()
    assert [r["id"] for r in listed["items"]] == [mine.pk]
    refused = post(client, f"{V1}/staff/requests/{theirs.pk}/cancel", {"reason": "Appel"}, desk)
    # Out of scope is "not found", like a missing id: ids are not confirmed to exist.
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
    done = post(client, f"{V1}/staff/requests/{mine.pk}/cancel", {"reason": "Ne viendra pas"}, desk)
    assert done.status_code == 200
    assert done.json()["status"] == "cancelled"
    event = RequestEvent.objects.get(request=mine, to_status=Status.CANCELLED)
    assert (event.reason, event.note, event.actor.username) == ("staff", "Ne viendra pas", "agnes")
    theirs.refresh_from_db()
    assert theirs.status == Status.PLACED


def test_staff_cancel_needs_a_reason(client, desk, branch):
    caller = make_patron(branch, card="10000042")
    record = make_record(copies=[branch])
    request = Request.objects.create(
        patron=caller, record=record, copy=record.copies.get(), pickup_branch=branch
    )
    # Blank, or spaces only: the patron's email would print "Reason:" and nothing.
    # A bidi override or zero-width spaces alone look blank too (sixteenth session).
    for blank in ("", "   ", "\n\t", "\u202e", "\u200b\u200b"):
        response = post(client, f"{V1}/staff/requests/{request.pk}/cancel", {"reason": blank}, desk)
        assert (response.status_code, response.json()["code"]) == (422, "invalid_input")
    request.refresh_from_db()
    assert request.status == Status.PLACED
    # Written as the phone desk's page writes it: one line, single spaces.
    post(client, f"{V1}/staff/requests/{request.pk}/cancel", {"reason": "  Ne   viendra\npas "}, desk)
    request.refresh_from_db()
    assert request.status == Status.CANCELLED
    assert request.events.latest("pk").note == "Ne viendra pas"


def test_staff_moving_a_request_to_a_library_that_does_not_exist_is_a_404(client, desk, branch):
    caller = make_patron(branch, card="10000043")
    record = make_record(copies=[branch])
    request = Request.objects.create(
        patron=caller, record=record, copy=record.copies.get(), pickup_branch=branch
    )
    response = post(client, f"{V1}/staff/requests/{request.pk}/pickup", {"pickup_branch_id": 999_999}, desk)
    assert (response.status_code, response.json()["code"]) == (404, "branch_not_found")


def test_staff_without_the_phone_desk_role_are_refused(client, branch):
    staff_user("pierre", role=Role.PICKER, branch=branch)
    headers = sign_in(client, "pierre")
    response = client.get(f"{V1}/staff/patrons", {"q": "Martin"}, headers=headers)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


def test_a_user_without_any_staff_role_gets_no_staff_token(client, db):
    get_user_model().objects.create_user(username="nobody", password="secret-pass")
    response = client.post(
        f"{V1}/auth/token", {"username": "nobody", "password": "secret-pass"}, content_type="application/json"
    )
    assert (response.status_code, response.json()["code"]) == (401, "staff_login_failed")


def test_a_card_and_pin_sent_as_staff_credentials_are_not_checked(client, patron, monkeypatch):
    # Checking them would let PINs be guessed around the patron lock-out.
    def no_password_check(*args, **kwargs):
        raise AssertionError("a patron's PIN was checked through the staff door")

    monkeypatch.setattr("emporter.api.tokens.authenticate", no_password_check)
    body = {"username": "10000001", "password": "1234"}  # the right PIN
    response = client.post(f"{V1}/auth/token", body, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (401, "staff_login_failed")


def test_a_staff_token_is_refused_on_patron_endpoints(client, desk):
    response = client.get(f"{V1}/requests", headers=desk)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


def test_opening_a_patron_through_the_api_is_in_the_audit_log(client, desk, branch, caplog):
    caller = make_patron(branch, card="10000042")
    agnes = get_user_model().objects.get(username="agnes")
    with caplog.at_level("INFO", logger="emporter.audit"):
        assert client.get(f"{V1}/staff/patrons/{caller.pk}", headers=desk).status_code == 200
        assert client.get(f"{V1}/staff/patrons/{caller.pk}/requests", headers=desk).status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "emporter.audit"]
    assert lines == [f"api phone desk: {agnes.pk} opened patron {caller.pk}"] * 2


def test_placing_for_a_patron_through_the_api_is_in_the_audit_log(client, desk, branch, caplog):
    """The answer says what the patron has at home (a title refused as already on loan)."""
    caller = make_patron(branch, card="10000042")
    agnes = get_user_model().objects.get(username="agnes")
    body = {"record_ids": [make_record(copies=[branch]).pk]}
    with caplog.at_level("INFO", logger="emporter.audit"):
        assert post(client, f"{V1}/staff/patrons/{caller.pk}/requests", body, desk).status_code == 201
    lines = [r.getMessage() for r in caplog.records if r.name == "emporter.audit"]
    assert lines == [f"api phone desk: {agnes.pk} opened patron {caller.pk}"]


def test_searching_patrons_is_in_the_audit_log_through_the_api_and_the_page(client, desk, branch, caplog):
    """A search shows cards, emails and phone numbers: who looked whom up is kept."""
    make_patron(branch, card="10000042")
    agnes = get_user_model().objects.get(username="agnes")
    with caplog.at_level("INFO", logger="emporter.audit"):
        assert client.get(f"{V1}/staff/patrons", {"q": "10000042"}, headers=desk).status_code == 200
        client.force_login(agnes)
        client.get(reverse_phone_find(), {"q": "Martin"})
    lines = [r.getMessage() for r in caplog.records if r.name == "emporter.audit"]
    assert lines == [
        f"api phone desk: {agnes.pk} searched patrons '10000042': 1 found",
        f"phone desk: {agnes.pk} searched patrons 'Martin': 1 found",
    ]


def reverse_phone_find():
    from django.urls import reverse
    from django.utils import translation

    with translation.override("en"):
        return reverse("phonedesk:find")
