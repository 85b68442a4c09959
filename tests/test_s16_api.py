"""The API as an integrator meets it (sixteenth session's review): a sync client learns
every change of a request, every 429 says when to try again, a field at fault is named
as the schema documents, and a mistyped path answers the API's 404 whatever the method."""

import datetime
import threading

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from emporter.api import requests as api_requests
from emporter.holds.models import RequestEvent
from emporter.holds.services import expire_overdue, extend_after_reopening, place_request
from emporter.network.models import Branch, ClosedDay
from emporter.notices.compose import set_aside
from emporter.patrons import throttle
from tests.conftest import make_ready_requests, make_record
from tests.test_api import V1, sign_in
from tests.test_sign_in_addresses import GUESSER, spray


@pytest.fixture
def switched_long_ago(branch):
    Branch.objects.update(mode_changed_at=timezone.now() - datetime.timedelta(days=30))


def _since(client, headers, moment):
    listed = client.get(f"{V1}/requests", {"since": moment.isoformat()}, headers=headers).json()
    return [item["id"] for item in listed["items"]]


def test_a_last_day_moved_past_a_closed_day_is_news_for_since(client, patron, branch, switched_long_ago):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    old_deadline = request.hold_until
    headers = sign_in(client)
    after_ready = timezone.now()
    # A strike is declared on the bag's last day: the scheduler's expiry pass moves it.
    ClosedDay.objects.create(branch=branch, date=old_deadline, reason="grève")
    expire_overdue(today=old_deadline - datetime.timedelta(days=1))
    request.refresh_from_db()
    assert request.hold_until > old_deadline
    assert _since(client, headers, after_ready) == [request.pk]
    # Nobody is emailed for it: the event is not one a notice tells.
    event = RequestEvent.objects.get(request=request, reason="hold_extended")
    set_aside()
    event.refresh_from_db()
    assert not event.to_tell


def test_days_given_back_at_a_reopening_are_news_for_since(client, patron, branch, switched_long_ago):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    headers = sign_in(client)
    old_deadline = request.hold_until
    after_ready = timezone.now()
    later = old_deadline + datetime.timedelta(days=10)
    assert extend_after_reopening(branch=branch, today=later) == 1
    request.refresh_from_db()
    assert request.hold_until > old_deadline
    assert _since(client, headers, after_ready) == [request.pk]


def test_an_address_stopped_from_card_sign_ins_says_when_to_try_again(client, patron, one_quarter):
    spray(client, throttle.ADDRESS_MAX_FAILURES)
    response = client.post(
        f"{V1}/auth/token",
        {"card_number": patron.card_number, "pin": "1234"},
        content_type="application/json",
        REMOTE_ADDR=GUESSER,
    )
    assert response.status_code == 429 and response.json()["code"] == "login_address_locked"
    assert 0 < int(response["Retry-After"]) <= 15 * 60


def test_a_body_field_at_fault_is_named_as_the_schema_documents(client, patron):
    documented = client.get("/api/openapi.json").json()["components"]["schemas"]["FieldErrorOut"]
    assert '["body", "record_ids", 0]' in documented["properties"]["loc"]["description"]
    response = client.post(
        f"{V1}/requests",
        {"record_ids": ["not an id"]},
        content_type="application/json",
        headers=sign_in(client),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "record_ids", 0]


@pytest.mark.django_db
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_a_mistyped_path_answers_the_apis_404_whatever_the_method(method):
    client = Client(enforce_csrf_checks=True)  # as an app: no CSRF cookie
    response = getattr(client, method)(
        "/api/v1/token", data={"card_number": "1"}, content_type="application/json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "endpoint_not_found"


def test_next_since_lets_a_poller_see_what_commits_after_its_answer(
    client, patron, branch, switched_long_ago
):
    headers = sign_in(client)
    first = client.get(f"{V1}/requests", headers=headers).json()
    next_since = datetime.datetime.fromisoformat(first["next_since"])
    assert next_since <= timezone.now()
    (request,) = make_ready_requests(patron, branch, ["Un"])
    assert _since(client, headers, next_since) == [request.pk]


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_after_the_answer_is_read_by_the_next_poll(
    client, patron, branch, postgres, monkeypatch
):
    Branch.objects.update(mode_changed_at=timezone.now() - datetime.timedelta(days=30))
    monkeypatch.setattr(api_requests, "SYNC_MARGIN", datetime.timedelta(0))  # the open transaction alone
    headers = sign_in(client)
    record = make_record(title="Lent", copies=[branch])
    stamped, answered = threading.Event(), threading.Event()

    def slow_writer():  # a placement whose transaction ends after the poll's answer
        try:
            with transaction.atomic():
                place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
                stamped.set()
                answered.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    assert stamped.wait(10)
    first = client.get(f"{V1}/requests", headers=headers).json()
    answered.set()
    writer.join()
    assert first["items"] == []  # not committed yet
    placed = list(patron.requests.values_list("pk", flat=True))
    assert _since(client, headers, datetime.datetime.fromisoformat(first["next_since"])) == placed


@pytest.mark.parametrize("invisible", ["\u202e", "\u200b\u200b", "\ufeff", "\u202a\u2060"])
def test_a_reason_of_invisible_characters_is_blank(invisible):
    from emporter.inputs import one_line

    assert one_line(invisible) == ""
    assert one_line(f"Abîmé{invisible}, remplacé") in ("Abîmé, remplacé", "Abîmé , remplacé")
    assert one_line("👨\u200d👩\u200d👧 famille") == "👨\u200d👩\u200d👧 famille"  # joiners kept


def test_a_token_sent_but_refused_says_invalid_token(client, patron):
    assert client.get(f"{V1}/requests")["WWW-Authenticate"] == "Bearer"
    refused = client.get(f"{V1}/requests", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_right_to_left_reason_keeps_its_marks():
    from emporter.inputs import one_line

    # U+200F places a Hebrew reason's parenthesis and digit; U+2067/U+2069 isolate a name.
    reason = "\u05d4\u05e2\u05d5\u05ea\u05e7 \u05d0\u05d1\u05d3 (2)\u200f \u2067\u05d3\u05d5\u05d3\u2069"
    assert one_line(reason) == reason
