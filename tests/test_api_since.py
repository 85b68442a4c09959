"""Polling for news: `since` lists the requests placed or changed since a moment."""

import datetime
from unittest import mock

import pytest
from django.utils import timezone

from emporter.holds.services import cancel_request, place_request
from tests.conftest import make_record
from tests.test_api import V1, sign_in
from tests.test_api_staff import sign_in as staff_sign_in
from tests.test_api_staff import staff_user


@pytest.fixture(autouse=True)
def libraries_switched_long_ago(branch):
    # A library's switch is news for its requests; the tests' libraries were made just now.
    from emporter.network.models import Branch

    Branch.objects.update(mode_changed_at=timezone.now() - datetime.timedelta(days=30))


def placed_at(moment, patron, branch, title):
    with mock.patch("django.utils.timezone.now", return_value=moment):
        return place_request(
            patron=patron, record_id=make_record(title=title, copies=[branch]).pk, pickup_branch=branch
        )[0]


def test_since_lists_what_was_placed_or_changed_since_then(client, patron, branch):
    morning = timezone.now() - datetime.timedelta(hours=3)
    quiet = placed_at(morning, patron, branch, "Rien de neuf")
    changed = placed_at(morning, patron, branch, "Annulé depuis")
    noon = timezone.now() - datetime.timedelta(hours=1)
    cancel_request(request=changed)
    new = placed_at(timezone.now(), patron, branch, "Nouveau")
    headers = sign_in(client)

    listed = client.get(f"{V1}/requests", {"since": noon.isoformat()}, headers=headers).json()
    assert {item["id"] for item in listed["items"]} == {changed.pk, new.pk}
    assert listed["total"] == 2
    everything = client.get(f"{V1}/requests", headers=headers).json()
    assert {item["id"] for item in everything["items"]} == {quiet.pk, changed.pk, new.pk}
    bad = client.get(f"{V1}/requests", {"since": "hier"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"


def test_the_phone_desk_polls_a_patrons_requests_too(client, patron, branch):
    morning = timezone.now() - datetime.timedelta(hours=3)
    placed_at(morning, patron, branch, "Ancien")
    new = placed_at(timezone.now(), patron, branch, "Récent")
    staff_user("agnes", branch=branch)
    headers = staff_sign_in(client, "agnes")
    since = (timezone.now() - datetime.timedelta(hours=1)).isoformat()
    listed = client.get(f"{V1}/staff/patrons/{patron.pk}/requests", {"since": since}, headers=headers).json()
    assert [item["id"] for item in listed["items"]] == [new.pk]


def test_a_since_out_of_reach_is_refused_not_a_server_error(client, patron):
    headers = sign_in(client)
    for since in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00", "1999-12-31T12:00:00"):
        response = client.get(f"{V1}/requests", {"since": since}, headers=headers)
        assert response.status_code == 422 and response.json()["code"] == "invalid_input", since


def test_a_deadline_moved_by_a_document_joining_the_bag_is_news_too(client, patron, branch):
    from emporter.holds.models import Request
    from tests.conftest import make_ready_requests

    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - datetime.timedelta(hours=3)):
        (first,) = make_ready_requests(patron, branch, ["Premier"])
    noon = timezone.now() - datetime.timedelta(hours=1)
    (second,) = make_ready_requests(patron, branch, ["Second"])  # joins the bag: one deadline for both
    assert Request.objects.get(pk=first.pk).bag_id == second.bag_id
    listed = client.get(f"{V1}/requests", {"since": noon.isoformat()}, headers=sign_in(client)).json()
    assert {item["id"] for item in listed["items"]} == {first.pk, second.pk}


def test_a_switch_of_the_pickup_library_is_news_for_its_requests(client, patron, branch):
    from emporter.holds.continuity import set_mode
    from emporter.network.models import Branch, ServiceMode

    quiet = placed_at(timezone.now() - datetime.timedelta(hours=3), patron, branch, "Calme")
    noon = timezone.now() - datetime.timedelta(hours=1)
    headers = sign_in(client)
    assert client.get(f"{V1}/requests", {"since": noon.isoformat()}, headers=headers).json()["items"] == []
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    listed = client.get(f"{V1}/requests", {"since": noon.isoformat()}, headers=headers).json()
    assert [item["id"] for item in listed["items"]] == [quiet.pk]
