"""A guardian sees the loans of the children in their care on their account, with their
due dates, and renews them: on the child's card, which is what is checked. Before, a
parent collected the children's documents with their own card and could then see
neither when they were due nor renew them without the child's PIN."""

import datetime

import pytest

from emporter.desk import services as desk
from emporter.desk.models import Loan
from tests.conftest import make_patron, make_ready_requests
from tests.test_door_pages import url


@pytest.fixture
def parent(branch):
    return make_patron(branch, card="20000001", first_name="Camille", language="en")


@pytest.fixture
def child(branch, parent):
    return make_patron(branch, card="20000002", first_name="Léo", category="child", guardian=parent)


def lend(patron, branch, title):
    make_ready_requests(patron, branch, [title])
    (loan,) = desk.hand_over(patron=patron, branch=branch).loans
    return loan


def test_a_guardian_sees_and_renews_a_childs_loan(client, branch, parent, child):
    loan = lend(child, branch, "Album de Léo")
    client.force_login(parent.user)
    page = client.get(url("patrons:account")).text
    assert "Loans of Léo" in page and "Album de Léo" in page
    assert url("loans:renew", loan.pk) in page
    due = loan.due_date
    renewed = client.post(url("loans:renew", loan.pk), follow=True)
    assert "Album de Léo is renewed until" in renewed.text
    loan.refresh_from_db()
    assert loan.renewals == 1 and loan.due_date > due and loan.patron == child


def test_a_childs_blocked_card_is_said_under_their_loans_and_renews_nothing(client, branch, parent, child):
    loan = lend(child, branch, "Album de Léo")
    own = lend(parent, branch, "Roman")
    type(child).objects.filter(pk=child.pk).update(blocked_reason="Documents perdus")
    client.force_login(parent.user)
    page = client.get(url("patrons:account")).text
    assert "Léo’s account is blocked by the library: Documents perdus." in page
    assert url("loans:renew", loan.pk) not in page and url("loans:renew", own.pk) in page
    refused = client.post(url("loans:renew", loan.pk), follow=True)
    assert "Album de Léo: Léo’s account is blocked by the library: Documents perdus." in refused.text
    loan.refresh_from_db()
    assert loan.renewals == 0


def test_nobody_renews_a_loan_outside_their_household(client, branch, parent, child):
    stranger = make_patron(branch, card="20000003", first_name="Zoé")
    theirs = lend(stranger, branch, "Pas à toi")
    client.force_login(parent.user)
    assert client.post(url("loans:renew", theirs.pk)).status_code == 404
    assert "Pas à toi" not in client.get(url("patrons:account")).text


def test_a_former_guardian_no_longer_sees_the_childs_loans(client, branch, parent, child):
    loan = lend(child, branch, "Album de Léo")
    type(child).objects.filter(pk=child.pk).update(guardian=None)
    client.force_login(parent.user)
    assert "Album de Léo" not in client.get(url("patrons:account")).text
    assert client.post(url("loans:renew", loan.pk)).status_code == 404
    assert Loan.objects.get(pk=loan.pk).renewals == 0


# The API: an app shows the same loans and renews them ------------------------------------

V1 = "/api/v1"


def _token(client, card):
    r = client.post(f"{V1}/auth/token", {"card_number": card, "pin": "1234"}, content_type="application/json")
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_the_api_lists_the_households_loans_soonest_due_first(client, branch, parent, child):
    mine = lend(parent, branch, "Roman")
    theirs = lend(child, branch, "Album de Léo")
    Loan.objects.filter(pk=mine.pk).update(due_date=theirs.due_date + datetime.timedelta(days=3))
    stranger = make_patron(branch, card="20000003")
    lend(stranger, branch, "Pas à toi")
    listed = client.get(f"{V1}/loans", headers=_token(client, parent.card_number)).json()
    assert [(item["record"]["title"], item["patron_id"]) for item in listed] == [
        ("Album de Léo", child.pk),
        ("Roman", parent.pk),
    ]
    assert listed[0]["due_date"] == theirs.due_date.isoformat() and listed[0]["renewals"] == 0
    assert listed[0]["branch"]["id"] == branch.pk


def test_the_api_renews_a_childs_loan_on_the_childs_card(client, branch, parent, child):
    loan = lend(child, branch, "Album de Léo")
    other = lend(child, branch, "Deuxième album")
    headers = _token(client, parent.card_number)
    renewed = client.post(f"{V1}/loans/{loan.pk}/renew", headers=headers)
    assert renewed.status_code == 200 and renewed.json()["renewals"] == 1
    loan.refresh_from_db()
    assert renewed.json()["due_date"] == loan.due_date.isoformat() and loan.renewals == 1
    again = client.post(f"{V1}/loans/{loan.pk}/renew", headers=headers)  # one renewal allowed
    assert (again.status_code, again.json()["code"]) == (409, "not_renewable")
    type(child).objects.filter(pk=child.pk).update(blocked_reason="Documents perdus")
    blocked = client.post(f"{V1}/loans/{other.pk}/renew", headers=headers)
    # Said as the child's card, not "your account" (the parent's own is fine).
    assert (blocked.status_code, blocked.json()["code"]) == (403, "child_blocked")
    assert "Léo" in blocked.json()["message"]


def test_the_api_answers_404_for_a_loan_outside_the_household(client, branch, parent):
    stranger = make_patron(branch, card="20000003")
    theirs = lend(stranger, branch, "Pas à toi")
    answer = client.post(f"{V1}/loans/{theirs.pk}/renew", headers=_token(client, parent.card_number))
    assert (answer.status_code, answer.json()["code"]) == (404, "loan_not_found")
    assert Loan.objects.get(pk=theirs.pk).renewals == 0


def test_one_idempotency_key_places_one_basket_not_one_per_child(client, branch, parent, child):
    from emporter.holds.models import Request
    from tests.conftest import make_record

    second = make_patron(branch, card="20000009", first_name="Zoé", category="child", guardian=parent)
    record = make_record(title="Album", copies=[branch, branch])
    headers = _token(client, parent.card_number) | {"Idempotency-Key": "panier-1"}
    body = {"record_ids": [record.pk], "for_patron_id": child.pk}
    first = client.post(f"{V1}/requests", body, content_type="application/json", headers=headers)
    assert first.status_code == 201
    replay = client.post(f"{V1}/requests", body, content_type="application/json", headers=headers)
    assert replay.status_code == 201 and replay.json()["items"][0]["replayed"]
    for_zoe = body | {"for_patron_id": second.pk}
    other = client.post(f"{V1}/requests", for_zoe, content_type="application/json", headers=headers)
    assert other.json()["code"] == "idempotency_key_reused"
    assert not Request.objects.filter(patron=second).exists()
