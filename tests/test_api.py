"""The JSON API as a patron uses it: sign in, search, basket, list, cancel."""

import datetime

import pytest
from django.utils import timezone

from emporter.api.models import ApiToken
from emporter.holds.models import Request, RequestPolicy, Status
from emporter.network.models import ServiceMode
from tests.conftest import make_branch, make_department, make_location, make_patron, make_record, pause_over

V1 = "/api/v1"


def sign_in(client, card="10000001", pin="1234"):
    response = client.post(
        f"{V1}/auth/token", {"card_number": card, "pin": pin}, content_type="application/json"
    )
    assert response.status_code == 201, response.content
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def auth(client, patron):
    return sign_in(client)


def post(client, url, data, headers, **extra):
    return client.post(url, data, content_type="application/json", headers=headers | extra)


def test_token_flow_sign_in_use_and_revoke(client, patron):
    headers = sign_in(client)
    token = headers["Authorization"].split()[1]
    row = ApiToken.objects.get()
    assert token not in (row.key_hash, row.prefix) and len(row.key_hash) == 64  # only a hash is kept
    me = client.get(f"{V1}/me", headers=headers)
    assert me.status_code == 200
    assert me.json()["card_number"] == "10000001"
    assert client.delete(f"{V1}/auth/token", headers=headers).status_code == 204
    refused = client.get(f"{V1}/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "unauthenticated"
    assert refused["WWW-Authenticate"] == 'Bearer error="invalid_token"'  # revoked: sign in again


def test_no_token_is_401_with_a_code(client, db):
    response = client.get(f"{V1}/requests")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_wrong_pin_is_401_and_repeated_failures_lock_the_card_429(client, patron):
    def wrong():
        return post(client, f"{V1}/auth/token", {"card_number": "10000001", "pin": "0000"}, {}).json()["code"]

    # Two wrong PINs, the third starts a pause; a try during it is refused, not counted.
    assert [wrong() for _ in range(4)] == ["login_failed"] * 2 + ["login_slowed"] * 2
    pause_over()
    assert wrong() == "login_slowed"  # the fourth wrong PIN: another pause
    pause_over()
    assert wrong() == "login_locked"  # the fifth: the lock
    # Even the right PIN is refused while locked: the API shares the pages' lock-out.
    locked = post(client, f"{V1}/auth/token", {"card_number": "10000001", "pin": "1234"}, {})
    assert locked.status_code == 429
    assert locked.json()["code"] == "login_locked"


def test_token_request_must_be_one_kind_of_credentials(client, patron):
    response = post(client, f"{V1}/auth/token", {"card_number": "10000001", "password": "x"}, {})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"


def test_a_patron_token_is_refused_on_staff_endpoints(client, auth):
    response = client.get(f"{V1}/staff/patrons", {"q": "Martin"}, headers=auth)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


def test_basket_with_a_mix_of_ok_and_refused_items_is_207(client, auth, patron, branch):
    RequestPolicy.objects.create(allow_waiting_list=False)
    ok = make_record(title="Sur l'étagère", copies=[branch])
    gone = make_record(title="Tous prêtés", copies=[(branch, "on_loan")])
    body = {"record_ids": [ok.pk, gone.pk, 999999], "pickup_branch_id": branch.pk}
    response = post(client, f"{V1}/requests", body, auth)
    assert response.status_code == 207
    data = response.json()
    assert (data["placed"], data["refused"]) == (1, 2)
    first, second, third = data["items"]
    assert first["ok"] and first["http_status"] == 201 and first["request"]["status"] == "placed"
    assert (second["code"], second["http_status"]) == ("nothing_available", 409)
    assert second["message"] == "Aucun exemplaire de ce document n’est en rayon pour le moment."
    assert (third["code"], third["http_status"]) == ("record_not_found", 404)
    assert list(Request.objects.values_list("record_id", flat=True)) == [ok.pk]


def test_basket_all_placed_is_201_at_the_home_branch_by_default(client, auth, branch):
    records = [make_record(title=f"Livre {n}", copies=[branch]) for n in range(3)]
    response = post(client, f"{V1}/requests", {"record_ids": [r.pk for r in records]}, auth)
    assert response.status_code == 201
    assert response.json()["placed"] == 3
    assert {i["request"]["pickup_branch"]["code"] for i in response.json()["items"]} == {"PDI"}
    assert set(Request.objects.values_list("channel", flat=True)) == {"app"}  # told apart from the web


def test_ninth_request_is_409_limit_reached_in_french(client, auth, branch):
    records = [make_record(title=f"Livre {n}", copies=[branch]) for n in range(9)]
    assert (
        post(client, f"{V1}/requests", {"record_ids": [r.pk for r in records[:8]]}, auth).status_code == 201
    )
    response = post(client, f"{V1}/requests", {"record_ids": [records[8].pk]}, auth)
    assert response.status_code == 409
    assert response.json()["code"] == "limit_reached"
    assert response.json()["message"] == "Vous avez déjà 8 réservations en cours, le maximum autorisé."
    assert response["Content-Language"] == "fr"


def test_error_message_follows_accept_language(client, auth, branch):
    RequestPolicy.objects.create(max_active=0)
    record = make_record(copies=[branch])
    response = post(client, f"{V1}/requests", {"record_ids": [record.pk]}, auth, **{"Accept-Language": "en"})
    assert response.status_code == 409
    assert response.json()["code"] == "limit_reached"
    assert response.json()["message"] == "You already have 0 active requests, the most allowed."


def test_fourth_dvd_is_409_type_limit_reached(client, auth, branch):
    RequestPolicy.objects.create(type_limits={"dvd": 3})
    dvds = [make_record(title=f"Film {n}", doc_type="dvd", copies=[branch]) for n in range(4)]
    response = post(client, f"{V1}/requests", {"record_ids": [d.pk for d in dvds]}, auth)
    assert response.status_code == 207
    assert [i["code"] for i in response.json()["items"]] == [None, None, None, "type_limit_reached"]
    assert "DVD" in response.json()["items"][3]["message"]


def test_replayed_idempotency_key_returns_the_same_requests_and_one_row(client, auth, branch):
    record = make_record(copies=[branch, branch])
    body, key = {"record_ids": [record.pk]}, {"Idempotency-Key": "basket-7f3a"}
    first = post(client, f"{V1}/requests", body, auth, **key)
    again = post(client, f"{V1}/requests", body, auth, **key)
    assert first.status_code == again.status_code == 201
    assert first.json()["items"][0]["request"]["id"] == again.json()["items"][0]["request"]["id"]
    assert (first.json()["items"][0]["replayed"], again.json()["items"][0]["replayed"]) == (False, True)
    assert Request.objects.count() == 1


def test_a_malformed_idempotency_key_is_422(client, auth, branch):
    record = make_record(copies=[branch])
    response = post(
        client, f"{V1}/requests", {"record_ids": [record.pk]}, auth, **{"Idempotency-Key": "x" * 65}
    )
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_invalid"
    assert not Request.objects.exists()


def test_pickup_branch_not_accepting_requests_is_422(client, auth, branch):
    closed = make_branch(code="VAI", name="Vaise", mode=ServiceMode.OPEN)
    record = make_record(copies=[branch])
    response = post(
        client, f"{V1}/requests", {"record_ids": [record.pk], "pickup_branch_id": closed.pk}, auth
    )
    assert response.status_code == 422
    assert response.json()["code"] == "branch_not_accepting"


def test_invalid_body_is_422_with_code_and_details(client, auth):
    response = post(client, f"{V1}/requests", {"record_ids": []}, auth)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert response.json()["errors"][0]["loc"][-1] == "record_ids"


def test_list_and_cancel_my_requests(client, auth, branch):
    record = make_record(copies=[branch])
    request_id = post(client, f"{V1}/requests", {"record_ids": [record.pk]}, auth).json()["items"][0][
        "request"
    ]["id"]
    listed = client.get(f"{V1}/requests", {"status": "active"}, headers=auth).json()
    assert [r["id"] for r in listed["items"]] == [request_id]
    cancelled = post(client, f"{V1}/requests/{request_id}/cancel", {}, auth)
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert client.get(f"{V1}/requests", {"status": "active"}, headers=auth).json()["total"] == 0
    again = post(client, f"{V1}/requests/{request_id}/cancel", {}, auth)  # a retry: answered as it is
    assert (again.status_code, again.json()["status"]) == (200, "cancelled")
    assert client.get(f"{V1}/requests", {"status": "cancelled"}, headers=auth).json()["total"] == 1
    unknown = client.get(f"{V1}/requests", {"status": "lost"}, headers=auth)
    assert (unknown.status_code, unknown.json()["code"]) == (422, "invalid_input")


def test_a_patron_cannot_see_or_cancel_another_patrons_request(client, auth, branch):
    other = make_patron(branch, card="10000002")
    record = make_record(copies=[branch])
    theirs = Request.objects.create(
        patron=other, record=record, copy=record.copies.get(), pickup_branch=branch, doc_type="book"
    )
    for response in (
        client.get(f"{V1}/requests/{theirs.pk}", headers=auth),
        post(client, f"{V1}/requests/{theirs.pk}/cancel", {}, auth),
    ):
        # 404 like a request that does not exist: existence is not leaked.
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert client.get(f"{V1}/requests", headers=auth).json()["total"] == 0
    theirs.refresh_from_db()
    assert theirs.status == Status.PLACED


def test_search_returns_hits_facets_and_pages(client, branch):
    for n in range(3):
        make_record(title=f"Le petit prince {n}", copies=[branch])
    make_record(title="Le petit prince en DVD", doc_type="dvd", copies=[(branch, "on_loan")])
    response = client.get(f"{V1}/records", {"q": "petit prince", "per_page": 2})
    assert response.status_code == 200
    data = response.json()
    assert (data["total"], data["pages"], len(data["items"])) == (4, 2, 2)
    assert {f["value"]: f["count"] for f in data["facets"]["doc_type"]} == {"book": 3, "dvd": 1}
    dvd_only = client.get(f"{V1}/records", {"q": "petit prince", "doc_type": "dvd"}).json()
    assert [i["title"] for i in dvd_only["items"]] == ["Le petit prince en DVD"]
    assert dvd_only["items"][0]["available"] == 0
    assert dvd_only["items"][0]["authors"] == []


def test_records_give_their_author_headings_as_the_record_page_links_them(client, branch):
    record = make_record(
        title="Vol de nuit",
        responsibility="Antoine de Saint-Exupéry ; préface d'André Gide",
        authors="Saint-Exupéry, Antoine de\nGide, André",
        copies=[branch],
    )
    detail = client.get(f"{V1}/records/{record.pk}").json()
    assert detail["authors"] == ["Saint-Exupéry, Antoine de", "Gide, André"]
    (hit,) = client.get(f"{V1}/records", {"q": "vol de nuit"}).json()["items"]
    assert hit["authors"] == ["Saint-Exupéry, Antoine de", "Gide, André"]


def test_record_detail_shows_availability_per_branch(client, branch, other_branch):
    closed = make_branch(code="GER", name="Gerland", mode=ServiceMode.CLOSED)
    reference = make_location(make_department(branch), code="ref", requestable=False)
    record = make_record(copies=[branch, (branch, "on_loan"), branch, other_branch, closed])
    record.copies.filter(branch=branch, status="on_shelf").exclude(pk=record.copies.first().pk).update(
        location=reference
    )
    response = client.get(f"{V1}/records/{record.pk}")
    assert response.status_code == 200
    rows = {a["branch"]["code"]: (a["copies"], a["on_shelf"]) for a in response.json()["availability"]}
    # Not counted as requestable: on loan, in a reference location, at a closed branch.
    assert rows == {"PDI": (3, 1), "CRX": (1, 1), "GER": (1, 0)}
    missing = client.get(f"{V1}/records/999999")
    assert (missing.status_code, missing.json()["code"]) == (404, "record_not_found")


def test_branches_accepting_requests(client, branch, other_branch):
    response = client.get(f"{V1}/branches", {"accepting_requests": "true"})
    assert [b["code"] for b in response.json()] == ["CRX", "PDI"]
    make_branch(code="VAI", name="Vaise", mode=ServiceMode.OPEN)
    response = client.get(f"{V1}/branches", {"accepting_requests": "true"})
    assert "VAI" not in [b["code"] for b in response.json()]
    assert "VAI" in [b["code"] for b in client.get(f"{V1}/branches").json()]


def test_unknown_api_path_answers_json_404(client, db):
    response = client.get("/api/v2/nothing")
    assert response.status_code == 404
    assert response.json()["code"] == "endpoint_not_found"


def test_a_body_that_is_not_json_is_400_with_a_code(client, auth):
    response = client.post(f"{V1}/requests", "not json", content_type="application/json", headers=auth)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"


def test_an_expired_token_is_refused_and_swept_at_the_next_sign_in(client, patron):
    headers = sign_in(client)
    ApiToken.objects.update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert client.get(f"{V1}/me", headers=headers).status_code == 401
    sign_in(client)
    assert ApiToken.objects.count() == 1
