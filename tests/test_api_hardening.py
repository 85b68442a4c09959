"""The API and the phone desk against what a reviewer tried: control characters (NUL
makes PostgreSQL fail), a bug leaking a traceback, card numbers as staff names, tokens
outliving a password, an unbounded confirmation, a 403 that tells ids exist."""

import datetime
import logging

import pytest
from django.contrib.auth import get_user_model, hashers
from django.utils import timezone
from django.utils.html import escape
from django.utils.translation import gettext as _

from emporter.api import tokens
from emporter.api.errors import ApiError
from emporter.api.models import ApiToken, Scope
from emporter.holds.models import Status
from emporter.holds.services import place_request
from emporter.inputs import has_control_chars, without_control_chars
from emporter.patrons import throttle
from emporter.patrons.models import Role
from emporter.patrons.services import set_pin
from emporter.phonedesk import basket
from tests.conftest import make_record
from tests.test_api import sign_in as sign_in_patron
from tests.test_api_staff import sign_in as sign_in_staff
from tests.test_api_staff import staff_user
from tests.test_phone_desk import FIND, make_staff, patron_url

V1 = "/api/v1"
# A NUL, another C0 control, DEL, a C1 control, a lone surrogate (only JSON can send it).
UNTYPABLE = ["\x00", "\x1b", "\x7f", "\x85", "\ud800"]


def post(client, url, data, headers=None):
    return client.post(url, data, content_type="application/json", headers=headers or {})


def token_answer(client, username, password="wrong"):
    return post(client, f"{V1}/auth/token", {"username": username, "password": password})


def assert_invalid_input(response):
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["message"] == ApiError("invalid_input").message


@pytest.fixture
def desk_token(client, branch):
    staff_user("agnes", branch=branch)
    return sign_in_staff(client, "agnes")


# -- 1. Control characters, and no traceback ever --------------------------------------------


def test_untypable_characters_are_found_and_removed_but_typed_whitespace_is_kept():
    for c in UNTYPABLE:
        assert has_control_chars(f"ab{c}c") and without_control_chars(f"ab{c}c") == "abc"
    assert not has_control_chars("Lœtitia\tde\r\nLa Tour ★")
    assert without_control_chars("Lœtitia\tde\r\nLa Tour ★") == "Lœtitia\tde\r\nLa Tour ★"


@pytest.mark.parametrize("c", UNTYPABLE)
@pytest.mark.parametrize(
    "body",
    [
        {"card_number": "10000001{c}", "pin": "1234"},
        {"card_number": "10000001", "pin": "12{c}34"},
        {"username": "agnes{c}", "password": "secret-pass"},
        {"username": "agnes", "password": "secret{c}"},
    ],
)
def test_sign_in_refuses_control_characters_with_422(client, patron, body, c):
    response = post(client, f"{V1}/auth/token", {k: v.replace("{c}", c) for k, v in body.items()})
    assert_invalid_input(response)
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("name", ["q", "field", "doc_type", "audience", "language"])
def test_catalogue_search_refuses_a_nul_in_any_parameter(client, db, name):
    response = client.get(f"{V1}/records", {"q": "roman", name: "book\x00"})
    assert_invalid_input(response)
    assert response.json()["errors"][0]["loc"][-1] == name


def test_finding_a_patron_over_the_api_refuses_a_nul(client, desk_token, patron):
    assert_invalid_input(client.get(f"{V1}/staff/patrons", {"q": "10000001\x00"}, headers=desk_token))
    status = client.get(f"{V1}/staff/patrons/{patron.pk}/requests", {"status": "\x00"}, headers=desk_token)
    assert_invalid_input(status)


def test_a_staff_cancel_reason_with_a_nul_is_refused(client, desk_token, branch, patron):
    hold, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    response = post(client, f"{V1}/staff/requests/{hold.pk}/cancel", {"reason": "Erreur\x00"}, desk_token)
    assert_invalid_input(response)
    hold.refresh_from_db()
    assert hold.status == Status.PLACED


def test_the_phone_desk_find_page_ignores_control_characters(client, branch, patron):
    client.force_login(make_staff(branch=branch))
    assert client.get(FIND, {"q": "\x00"}).status_code == 200
    assert client.get(FIND, {"q": "Mar\x00tin\x1b"}).status_code == 302  # "Martin": one patron
    found = client.get(FIND, {"q": "1000\x000001"})
    assert (found.status_code, found["Location"]) == (302, patron_url(patron))
    assert client.get(patron_url(patron), {"q": "roman\x00"}).status_code == 200


def test_the_phone_desk_cancel_reason_loses_its_control_characters(client, branch, patron):
    client.force_login(make_staff(branch=branch))
    hold, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    url = patron_url(patron, f"requests/{hold.pk}/cancel/")
    assert client.post(url, {"reason": "\x00\x00"}).status_code == 302  # no reason: nothing done
    hold.refresh_from_db()
    assert hold.status == Status.PLACED
    assert client.post(url, {"reason": "Err\x00eur"}).status_code == 302
    hold.refresh_from_db()
    assert hold.status == Status.CANCELLED
    assert hold.events.last().note == "Erreur"


def test_an_unexpected_error_answers_json_500_and_logs_it(client, db, settings, monkeypatch, caplog):
    settings.DEBUG = True  # where ninja would let Django's HTML debug page through

    def broken(**kwargs):
        raise RuntimeError("secret internals /srv/emporter")

    monkeypatch.setattr("emporter.api.catalogue.search_records", broken)
    with caplog.at_level(logging.ERROR, logger="emporter.api"):
        response = client.get(f"{V1}/records", {"q": "roman"}, headers={"Accept-Language": "en"})
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json() == {
        "code": "internal_error",
        "message": "Something went wrong on our side. Please try again later.",
    }
    assert b"secret internals" not in response.content and b"Traceback" not in response.content
    (record,) = [r for r in caplog.records if r.name == "emporter.api.main"]
    assert isinstance(record.exc_info[1], RuntimeError)


def test_what_django_refuses_stays_an_answer_with_a_code(client, db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100  # not swallowed by the catch-all as a 500
    response = post(client, f"{V1}/auth/token", {"username": "x" * 200, "password": "y"})
    assert (response.status_code, response.json()["code"]) == (413, "body_too_large")


# -- 2. A card number as a staff name pays like any other name --------------------------------


@pytest.mark.parametrize("username", ["10000001", "nobody-at-all"])
def test_every_staff_name_counts_toward_the_lock_card_numbers_too(client, patron, username):
    codes = [token_answer(client, username).json()["code"] for _ in range(throttle.MAX_FAILURES + 1)]
    assert codes == ["staff_login_failed"] * throttle.MAX_FAILURES + ["staff_login_locked"]


def test_a_card_number_is_refused_like_an_unknown_name_with_a_password_hashed(client, patron, monkeypatch):
    calls = []
    real = hashers.get_hasher

    def counting(algorithm="default"):
        calls.append(algorithm)
        return real(algorithm)

    monkeypatch.setattr(hashers, "get_hasher", counting)
    card = token_answer(client, "10000001", "1234")  # the right PIN, not checked
    card_hashing = len(calls)
    calls.clear()
    unknown = token_answer(client, "nobody-at-all", "1234")
    assert (card.status_code, card.json()) == (unknown.status_code, unknown.json())
    assert card.json()["code"] == "staff_login_failed"
    assert card_hashing == len(calls) >= 1


# -- 3. A staff token ends with the password -------------------------------------------------


def test_a_staff_token_stops_working_once_the_password_changes(client, branch):
    user = staff_user("agnes", branch=branch)
    headers = sign_in_staff(client, "agnes")
    assert client.get(f"{V1}/staff/patrons", {"q": "Martin"}, headers=headers).status_code == 200
    user.set_password("another-secret")  # the admin, the staff page, a shell: all end here
    user.save()
    refused = client.get(f"{V1}/staff/patrons", {"q": "Martin"}, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (401, "unauthenticated")
    assert not ApiToken.objects.exists()  # it can never be valid again
    body = {"username": "agnes", "password": "another-secret"}
    new = {"Authorization": f"Bearer {post(client, f'{V1}/auth/token', body).json()['token']}"}
    assert client.get(f"{V1}/staff/patrons", {"q": "Martin"}, headers=new).status_code == 200


def test_a_staff_token_survives_a_secret_key_rotation(client, branch, settings):
    staff_user("agnes", branch=branch)
    headers = sign_in_staff(client, "agnes")
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert client.get(f"{V1}/staff/patrons", {"q": "Martin"}, headers=headers).status_code == 200


def test_patron_tokens_end_with_a_new_pin_only(client, patron):
    headers = sign_in_patron(client)
    # Django re-hashing the same PIN (a newer hasher) must not sign a phone out.
    patron.user.password = hashers.make_password("1234")
    patron.user.save()
    assert client.get(f"{V1}/me", headers=headers).status_code == 200
    set_pin(patron.user, "5678")
    assert client.get(f"{V1}/me", headers=headers).status_code == 401


# -- 4. The phone desk confirms no more than a basket holds ------------------------------------


MANY = "At most %(count)s documents can be confirmed at once: remove some from the basket."


def test_the_phone_desk_confirms_no_more_documents_than_a_basket_holds(client, branch, patron, monkeypatch):
    client.force_login(make_staff(branch=branch))
    placed = []
    monkeypatch.setattr("emporter.phonedesk.views.place_requests", lambda **kw: placed.append(kw) or [])
    records = [make_record(title=f"Roman {n}") for n in range(basket.MAX_ITEMS + 1)]
    form = {"confirm_key": "a" * 32, "pickup_branch": branch.pk, "record": [r.pk for r in records]}
    page = client.post(patron_url(patron, "confirm/"), form, follow=True).content.decode()
    assert placed == []
    assert escape(_(MANY) % {"count": basket.MAX_ITEMS}) in page
    form["record"] = form["record"][: basket.MAX_ITEMS]
    client.post(patron_url(patron, "confirm/"), form)
    assert len(placed[0]["record_ids"]) == basket.MAX_ITEMS


# -- 5. Out of my branches is as unknown as nonexistent ---------------------------------------


def test_cancelling_a_request_at_another_branch_answers_like_a_missing_one(
    client, desk_token, branch, other_branch, patron
):
    there = make_record(copies=[other_branch])
    theirs, _ = place_request(patron=patron, record_id=there.pk, pickup_branch=other_branch)
    refused = post(client, f"{V1}/staff/requests/{theirs.pk}/cancel", {"reason": "Appel"}, desk_token)
    missing = post(client, f"{V1}/staff/requests/{theirs.pk + 1000}/cancel", {"reason": "Appel"}, desk_token)
    assert (refused.status_code, refused.json()) == (missing.status_code, missing.json())
    assert (refused.status_code, refused.json()["code"]) == (404, "not_found")
    theirs.refresh_from_db()
    assert theirs.status == Status.PLACED


def test_staff_without_the_phone_desk_role_still_get_403_on_cancel(client, branch, patron):
    hold, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    staff_user("pierre", role=Role.PICKER, branch=branch)
    response = post(
        client, f"{V1}/staff/requests/{hold.pk}/cancel", {"reason": "Appel"}, sign_in_staff(client, "pierre")
    )
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


# -- 6. Expired tokens are swept -------------------------------------------------------------


def test_forget_expired_deletes_every_expired_token_and_only_those(db):
    now = timezone.now()
    users = [get_user_model().objects.create_user(username=f"u{n}") for n in range(3)]
    for n, user in enumerate(users):
        ApiToken.objects.create(
            user=user,
            scope=Scope.PATRON,
            key_hash=f"{n:064d}",
            prefix=str(n),
            expires_at=now + datetime.timedelta(hours=n - 1),  # -1 h, now, +1 h
        )
    assert tokens.forget_expired(now=now) == 2
    assert list(ApiToken.objects.values_list("user", flat=True)) == [users[2].pk]
    assert tokens.forget_expired() == 0
