"""What an integrator's review of the API found: errors always in the API's shape, no
field silently ignored, retries that answer what was done, and when to try again."""

from emporter.holds.models import Request
from tests.conftest import make_record
from tests.test_api import V1, post, sign_in


def test_a_method_not_allowed_answers_json_with_allow(client, patron):
    headers = sign_in(client)
    response = client.put(f"{V1}/requests", headers=headers)
    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response["Allow"] and "POST" in response["Allow"]


def test_an_unknown_field_is_refused_not_ignored(client, patron, branch, other_branch):
    headers = sign_in(client)
    record = make_record(copies=[branch, other_branch])
    body = {"record_ids": [record.pk], "pickup_branch": other_branch.pk}  # a typo for pickup_branch_id
    response = post(client, f"{V1}/requests", body, headers)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert any("pickup_branch" in str(e["loc"]) for e in response.json()["errors"])
    assert not Request.objects.exists()


def test_pickup_branch_zero_is_no_branch_not_the_home_one(client, patron, branch):
    headers = sign_in(client)
    record = make_record(copies=[branch])
    response = post(client, f"{V1}/requests", {"record_ids": [record.pk], "pickup_branch_id": 0}, headers)
    # Refused as a field out of range (ids start at 1), never read as "no branch given".
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "pickup_branch_id"]
    assert not Request.objects.exists()


def test_cancelling_twice_answers_the_cancelled_request(client, patron, branch):
    headers = sign_in(client)
    record = make_record(copies=[branch])
    placed = post(client, f"{V1}/requests", {"record_ids": [record.pk]}, headers).json()
    request_id = placed["items"][0]["request"]["id"]
    first = post(client, f"{V1}/requests/{request_id}/cancel", {}, headers)
    again = post(client, f"{V1}/requests/{request_id}/cancel", {}, headers)
    assert first.status_code == again.status_code == 200
    assert again.json()["status"] == "cancelled"


def test_a_slowed_sign_in_says_when_to_try_again(client, patron):
    for _ in range(3):
        client.post(
            f"{V1}/auth/token", {"card_number": "10000001", "pin": "0000"}, content_type="application/json"
        )
    response = client.post(
        f"{V1}/auth/token", {"card_number": "10000001", "pin": "0000"}, content_type="application/json"
    )
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_a_page_past_the_end_is_empty(client, patron, branch):
    headers = sign_in(client)
    record = make_record(title="Nuit", copies=[branch])
    post(client, f"{V1}/requests", {"record_ids": [record.pk]}, headers)
    requests = client.get(f"{V1}/requests", {"page": 5}, headers=headers).json()
    assert (requests["page"], requests["pages"], requests["items"]) == (5, 1, [])
    records = client.get(f"{V1}/records", {"q": "nuit", "page": 99}, headers=headers).json()
    assert (records["page"], records["pages"], records["items"], records["total"]) == (99, 1, [], 1)


def test_an_unknown_bag_and_a_cancelled_requests_pickup_say_what_they_are(
    client, patron, branch, other_branch
):
    headers = sign_in(client)
    bag = client.get(f"{V1}/bags/987654/times", headers=headers)
    assert (bag.status_code, bag.json()["code"]) == (404, "bag_not_found")
    record = make_record(copies=[branch])
    request_id = post(client, f"{V1}/requests", {"record_ids": [record.pk]}, headers).json()["items"][0][
        "request"
    ]["id"]
    post(client, f"{V1}/requests/{request_id}/cancel", {}, headers)
    moved = post(client, f"{V1}/requests/{request_id}/pickup", {"pickup_branch_id": other_branch.pk}, headers)
    assert (moved.status_code, moved.json()["code"]) == (409, "not_active")


def test_a_ready_request_says_which_bag_it_is_in(client, patron, branch):
    from tests.conftest import make_ready_requests

    (ready,) = make_ready_requests(patron, branch, ["Prêt"])
    headers = sign_in(client)
    (item,) = client.get(f"{V1}/requests", headers=headers).json()["items"]
    assert item["bag_id"] == ready.bag_id is not None
    (bag,) = client.get(f"{V1}/bags", headers=headers).json()
    assert bag["id"] == item["bag_id"]


def test_every_invalid_input_names_what_is_wrong(client, patron):
    headers = sign_in(client)
    bad_status = client.get(f"{V1}/requests", {"status": "lost"}, headers=headers)
    assert (bad_status.status_code, bad_status.json()["code"]) == (422, "invalid_input")
    assert bad_status.json()["errors"][0]["loc"] == ["query", "status"]
    both = client.post(
        f"{V1}/auth/token",
        {"card_number": "10000001", "pin": "1234", "username": "x", "password": "y"},
        content_type="application/json",
    )
    assert (both.status_code, both.json()["errors"][0]["type"]) == (422, "credentials")
