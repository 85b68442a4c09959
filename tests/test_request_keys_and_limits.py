"""An Idempotency-Key stands for one call by one kind of caller; a patron's limits are
the same whichever library they collect at."""

from emporter.holds.models import Request, RequestPolicy, Status
from tests.conftest import make_patron, make_record
from tests.test_api import V1, post, sign_in
from tests.test_api_staff import sign_in as staff_sign_in
from tests.test_api_staff import staff_user


def basket(client, headers, records, branch, key):
    body = {"record_ids": [r.pk for r in records], "pickup_branch_id": branch.pk}
    return post(client, f"{V1}/requests", body, headers, **{"Idempotency-Key": key})


def test_the_same_key_and_body_replays_the_first_call(client, patron, branch):
    headers = sign_in(client)
    records = [make_record(title=t, copies=[branch]) for t in ("Un", "Deux")]
    first = basket(client, headers, records, branch, "panier-1")
    again = basket(client, headers, list(reversed(records)), branch, "panier-1")  # order is not the call
    assert first.status_code == again.status_code == 201
    assert [i["replayed"] for i in again.json()["items"]] == [True, True]
    assert Request.objects.count() == 2


def test_a_retry_after_the_library_closed_still_gets_what_the_first_call_placed(client, patron, branch):
    headers = sign_in(client)
    records = [make_record(title=t, copies=[branch]) for t in ("Un", "Deux")]
    assert basket(client, headers, records, branch, "panier-1").status_code == 201
    branch.service_mode = "closed"
    branch.save(update_fields=["service_mode"])
    again = basket(client, headers, records, branch, "panier-1")
    assert again.status_code == 201
    assert [i["replayed"] for i in again.json()["items"]] == [True, True]
    # A new call is refused, as before.
    refused = basket(client, headers, [make_record(title="Trois", copies=[branch])], branch, "panier-2")
    assert refused.json()["code"] == "branch_not_accepting"


def test_keys_differing_only_in_case_are_two_keys(client, patron, branch):
    headers = sign_in(client)
    assert (
        basket(client, headers, [make_record(title="Un", copies=[branch])], branch, "k-bac").status_code
        == 201
    )
    other = basket(client, headers, [make_record(title="Deux", copies=[branch])], branch, "K-BAC")
    assert other.status_code == 201
    assert [i["replayed"] for i in other.json()["items"]] == [False]


def test_a_key_used_again_with_another_pickup_library_is_refused(client, patron, branch, other_branch):
    headers = sign_in(client)
    record = make_record(title="Un", copies=[branch, other_branch])
    assert basket(client, headers, [record], branch, "panier-1").status_code == 201
    moved = basket(client, headers, [record], other_branch, "panier-1")
    assert moved.status_code == 422
    assert moved.json()["code"] == "idempotency_key_reused"
    assert Request.objects.get().pickup_branch == branch  # nothing silently kept or changed


def test_a_key_used_again_with_other_documents_places_nothing(client, patron, branch):
    headers = sign_in(client)
    one, two = make_record(title="Un", copies=[branch]), make_record(title="Deux", copies=[branch])
    assert basket(client, headers, [one], branch, "panier-1").status_code == 201
    more = basket(client, headers, [one, two], branch, "panier-1")
    assert more.status_code == 422
    assert [i["code"] for i in more.json()["items"]] == ["idempotency_key_reused"] * 2
    assert list(Request.objects.values_list("record__title", flat=True)) == ["Un"]


def test_a_patrons_key_does_not_replay_what_the_phone_desk_placed(client, patron, branch):
    staff_user("agnes", branch=branch)
    desk = staff_sign_in(client, "agnes")
    record = make_record(title="Un", copies=[branch])
    placed = post(
        client,
        f"{V1}/staff/patrons/{patron.pk}/requests",
        {"record_ids": [record.pk], "pickup_branch_id": branch.pk},
        desk,
        **{"Idempotency-Key": "1"},
    )
    assert placed.status_code == 201
    mine = basket(client, sign_in(client), [record], branch, "1")
    assert mine.json()["items"][0]["replayed"] is False
    assert mine.json()["code"] == "already_requested"


def test_the_limit_of_the_home_library_holds_at_another_pickup_library(client, patron, branch, other_branch):
    RequestPolicy.objects.create(branch=branch, max_active=3)  # the patron's home library
    RequestPolicy.objects.create(branch=other_branch, max_active=8)
    headers = sign_in(client)
    here = [make_record(title=f"Ici {n}", copies=[branch]) for n in range(3)]
    assert basket(client, headers, here, branch, "a").status_code == 201
    there = basket(client, headers, [make_record(title="Là-bas", copies=[other_branch])], other_branch, "b")
    assert there.status_code == 409
    assert there.json()["code"] == "limit_reached"
    me = client.get(f"{V1}/me", headers=headers).json()
    assert (me["active_requests"], me["max_active"]) == (3, 3)
    assert Request.objects.filter(status__in=[Status.PLACED, Status.WAITING]).count() == 3


def test_a_patron_of_another_library_collecting_here_keeps_their_own_limit(client, branch, other_branch):
    RequestPolicy.objects.create(branch=branch, max_active=1)  # strict here, for its own patrons
    make_patron(other_branch, card="10000077")  # home: the other library (network default, 8)
    headers = sign_in(client, card="10000077")
    records = [make_record(title=f"Titre {n}", copies=[branch]) for n in range(2)]
    assert basket(client, headers, records, branch, "a").status_code == 201
