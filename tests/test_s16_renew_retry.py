"""A renewal asked twice renews once. A phone on a bad network retries `POST /loans/{id}/renew`
after losing the answer: with the same `Idempotency-Key`, it is answered the renewal made
(before, 409 `not_renewable` for a loan that was renewed, or a second renewal spent where
more are allowed). A patron double-tapping "Renew" on the account page spends one renewal
too, and is told the date the first tap gave."""

import datetime
import threading

import pytest
from django.db import connection
from django.db.models import QuerySet
from django.test import Client
from django.utils import timezone

from emporter.api.models import Scope
from emporter.api.tokens import issue_token
from emporter.desk import services as desk
from emporter.desk.models import Loan, LoanPolicy
from emporter.errors import ServiceError
from emporter.holds.models import Status
from emporter.holds.services import place_request
from emporter.patrons.models import Patron
from tests.conftest import make_branch, make_patron, make_ready_requests
from tests.test_api import V1, sign_in
from tests.test_door_pages import url


def allow_renewals(count):
    LoanPolicy.objects.update_or_create(doc_type="", defaults={"max_renewals": count})


def lend(patron, branch, title="Prêt"):
    make_ready_requests(patron, branch, [title])
    (loan,) = desk.hand_over(patron=patron, branch=branch).loans
    return loan


def renew(client, loan, headers, key=None):
    return client.post(
        f"{V1}/loans/{loan.pk}/renew", headers=headers | ({"Idempotency-Key": key} if key else {})
    )


# The API: the same key answers the renewal made ------------------------------------------


@pytest.mark.parametrize("allowed", [1, 3])
def test_a_retry_with_the_same_key_answers_the_renewal_made_and_renews_nothing(
    client, patron, branch, allowed
):
    allow_renewals(allowed)
    loan = lend(patron, branch)
    headers = sign_in(client)
    first = renew(client, loan, headers, "renew-1")
    assert first.status_code == 200 and first.json()["renewals"] == 1

    retry = renew(client, loan, headers, "renew-1")  # the first answer was lost on the way

    assert (retry.status_code, retry.json()) == (200, first.json())
    assert Loan.objects.get(pk=loan.pk).renewals == 1


def test_a_retry_is_answered_even_when_the_card_or_a_waiting_patron_would_now_refuse(
    client, patron, branch, other_branch
):
    loan = lend(patron, branch)
    headers = sign_in(client)
    first = renew(client, loan, headers, "renew-1")
    waiter = make_patron(other_branch, card="30000002")
    waiting, _ = place_request(patron=waiter, record_id=loan.copy.record_id, pickup_branch=other_branch)
    assert waiting.status == Status.WAITING
    Patron.objects.filter(pk=patron.pk).update(blocked_reason="Retards")

    retry = renew(client, loan, headers, "renew-1")

    assert (retry.status_code, retry.json()) == (200, first.json())


def test_a_new_key_is_a_new_renewal_and_an_older_key_still_renews_nothing(client, patron, branch):
    allow_renewals(3)
    loan = lend(patron, branch)
    headers = sign_in(client)
    first = renew(client, loan, headers, "renew-1").json()
    second = renew(client, loan, headers, "renew-2").json()
    assert (first["renewals"], second["renewals"]) == (1, 2) and second["due_date"] > first["due_date"]

    late = renew(client, loan, headers, "renew-1")  # a retry of the first, arriving last

    assert (late.status_code, late.json()) == (200, second)
    assert Loan.objects.get(pk=loan.pk).renewals == 2


def test_a_key_belongs_to_its_loan(client, patron, branch):
    allow_renewals(3)
    one = lend(patron, branch, "Un")
    two = lend(patron, branch, "Deux")
    headers = sign_in(client)
    renew(client, one, headers, "same-key")

    other = renew(client, two, headers, "same-key")

    assert other.status_code == 200 and other.json()["renewals"] == 1
    assert Loan.objects.get(pk=one.pk).renewals == 1


def test_a_malformed_key_is_refused_and_renews_nothing(client, patron, branch):
    loan = lend(patron, branch)

    answer = renew(client, loan, sign_in(client), "with space")

    assert (answer.status_code, answer.json()["code"]) == (422, "idempotency_key_invalid")
    assert Loan.objects.get(pk=loan.pk).renewals == 0


def test_the_document_lists_the_key_and_its_422(client, db):
    operation = client.get("/api/openapi.json").json()["paths"]["/api/v1/loans/{loan_id}/renew"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
    assert {"200", "403", "404", "409", "422"} <= set(operation["responses"])


# Without a key (the account page, an app that sends none): once a day ------------------


def test_renew_tapped_twice_on_the_account_page_spends_one_renewal_and_says_the_same_date(
    client, patron, branch
):
    allow_renewals(3)
    loan = lend(patron, branch, "Prolongé")
    client.force_login(patron.user)
    first = client.post(url("loans:renew", loan.pk), follow=True)
    loan.refresh_from_db()
    assert loan.renewals == 1 and "Prolongé is renewed until" in first.text

    second = client.post(url("loans:renew", loan.pk), follow=True)  # the double tap

    assert Loan.objects.get(pk=loan.pk).renewals == 1
    assert [str(m) for m in second.context["messages"]] == [str(m) for m in first.context["messages"]]


def test_without_a_key_a_loan_renewed_on_an_earlier_day_is_renewed_again(client, patron, branch):
    allow_renewals(3)
    loan = lend(patron, branch)
    headers = sign_in(client)
    assert renew(client, loan, headers).json()["renewals"] == 1
    assert renew(client, loan, headers).json()["renewals"] == 1  # the same day: the same answer
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    Loan.objects.filter(pk=loan.pk).update(renewed_on=yesterday)

    assert renew(client, loan, headers).json()["renewals"] == 2


def test_without_a_key_the_last_renewal_asked_again_is_still_not_renewable(patron, branch):
    """The answer clients and the account page had once none is left: unchanged."""
    loan = lend(patron, branch)
    desk.renew(loan=loan, patron=patron)
    with pytest.raises(ServiceError) as error:
        desk.renew(loan=loan, patron=patron)
    assert error.value.code == "not_renewable"


# In the database: two retries at once renew once ----------------------------------------


def post_at_once(path, each_headers):
    """POST to ``path`` at the same moment from one thread (and connection) per headers."""
    times = len(each_headers)
    barrier = threading.Barrier(times)
    answers = [None] * times

    def worker(i):
        try:
            barrier.wait()
            response = Client().post(path, headers=each_headers[i])
            answers[i] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def lend_at_once_to(allowed):
    branch = make_branch()
    patron = make_patron(branch)
    allow_renewals(allowed)
    headers = {"Authorization": f"Bearer {issue_token(user=patron.user, scope=Scope.PATRON)[1]}"}
    return lend(patron, branch), headers


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("key", ["retry-storm", None])
def test_eight_retries_at_once_renew_once(postgres, key):
    loan, headers = lend_at_once_to(5)
    headers |= {"Idempotency-Key": key} if key else {}

    answers = post_at_once(f"{V1}/loans/{loan.pk}/renew", [headers] * 8)

    assert {status for status, _ in answers} == {200}
    assert {body["renewals"] for _, body in answers} == {1}
    assert Loan.objects.get(pk=loan.pk).renewals == 1


@pytest.mark.django_db(transaction=True)
def test_without_the_row_lock_the_guarded_update_still_counts_every_renewal_once(postgres, monkeypatch):
    """Four renewals with four keys at once, every one reading the same count (no lock):
    each is made once, none is lost (a write of "renewals = 1" over another's), and each
    key is kept, so that its retry answers instead of renewing again."""
    loan, headers = lend_at_once_to(5)
    monkeypatch.setattr(QuerySet, "select_for_update", lambda self, **kwargs: self)

    answers = post_at_once(
        f"{V1}/loans/{loan.pk}/renew", [headers | {"Idempotency-Key": f"k{n}"} for n in range(4)]
    )

    assert sorted(body["renewals"] for _, body in answers) == [1, 2, 3, 4]
    loan.refresh_from_db()
    assert loan.renewals == 4 and sorted(loan.renew_keys.split()) == ["k0", "k1", "k2", "k3"]
