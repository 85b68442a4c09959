"""A parent requests for the children in their care from their own basket (the brief's
parents; Koha's guarantor): the basket asks for whom, the requests are the child's (their
limits, their bag, their notices to the parent), and nobody else's child can be chosen."""

from django.urls import reverse
from django.utils import translation

from emporter.holds.models import Request
from tests.conftest import make_patron, make_record


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def _basket(client, *records):
    for record in records:
        client.post(en("holds:add", record.pk))


def _confirm_for(client, parent, whom, branch) -> str:
    """``parent`` signs in, puts a title in the basket and confirms it for ``whom``."""
    record = make_record(title="Petit ours brun", copies=[branch])
    client.force_login(parent.user)
    _basket(client, record)
    form = {"pickup_branch": branch.pk, "record": [record.pk], "for_whom": whom.pk}
    return client.post(en("holds:confirm"), form, follow=True).content.decode()


def test_a_parent_requests_for_a_child_from_the_basket(client, branch):
    parent = make_patron(branch, card="20000001", first_name="Camille")
    child = make_patron(
        branch, card="20000002", first_name="Léo", category="child", guardian=parent, email=""
    )
    record = make_record(title="Petit ours brun", copies=[branch])
    client.force_login(parent.user)
    _basket(client, record)
    page = client.get(en("holds:basket")).content.decode()
    assert "These documents are for" in page and f'name="for_whom" value="{child.pk}"' in page
    done = client.post(
        en("holds:confirm"),
        {"pickup_branch": branch.pk, "record": [record.pk], "for_whom": child.pk},
        follow=True,
    )
    assert "Requested for Léo: Petit ours brun" in done.content.decode()
    request = Request.objects.get()
    assert (request.patron_id, request.placed_by_id) == (child.pk, parent.user_id)
    assert client.session["basket"] == []


def test_someone_elses_child_cannot_be_chosen(client, branch):
    parent = make_patron(branch, card="20000001", first_name="Camille")
    other = make_patron(branch, card="20000003", first_name="Inès")
    stranger = make_patron(branch, card="20000004", first_name="Zoé", category="child", guardian=other)
    page = _confirm_for(client, parent, stranger, branch)
    assert "Choose whom the documents are for." in page
    assert not Request.objects.exists()
    assert len(client.session["basket"]) == 1


def test_without_children_the_basket_asks_nothing(client, branch):
    patron = make_patron(branch, card="20000001")
    client.force_login(patron.user)
    _basket(client, make_record(title="Petit ours brun", copies=[branch]))
    assert "for_whom" not in client.get(en("holds:basket")).content.decode()


def test_an_expired_childs_card_is_said_and_nothing_is_placed(client, branch):
    import datetime

    from django.utils import timezone

    parent = make_patron(branch, card="20000001", first_name="Camille")
    expired = timezone.localdate() - datetime.timedelta(days=1)
    child = make_patron(branch, card="20000002", first_name="Léo", guardian=parent, card_expires=expired)
    assert "Léo’s card has expired: your library renews it." in _confirm_for(client, parent, child, branch)
    assert not Request.objects.exists()


def _api_token(client, card):
    answer = client.post(
        "/api/v1/auth/token", {"card_number": card, "pin": "1234"}, content_type="application/json"
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {answer.json()['token']}"}


def test_an_app_places_for_a_child_as_the_basket_does(client, branch):
    parent = make_patron(branch, card="20000001", first_name="Camille")
    child = make_patron(
        branch, card="20000002", first_name="Léo", category="child", guardian=parent, email=""
    )
    other = make_patron(branch, card="20000003", first_name="Inès")
    stranger = make_patron(branch, card="20000004", first_name="Zoé", category="child", guardian=other)
    record = make_record(title="Petit ours brun", copies=[branch])
    auth = _api_token(client, parent.card_number)
    me = client.get("/api/v1/me", **auth).json()
    assert me["children"] == [{"id": child.pk, "first_name": "Léo"}]
    body = {"record_ids": [record.pk], "for_patron_id": stranger.pk}
    refused = client.post("/api/v1/requests", body, content_type="application/json", **auth)
    assert refused.status_code == 404 and refused.json()["code"] == "patron_not_found"
    body["for_patron_id"] = child.pk
    placed = client.post("/api/v1/requests", body, content_type="application/json", **auth)
    assert placed.status_code == 201
    item = placed.json()["items"][0]
    assert item["request"]["patron_id"] == child.pk
    assert Request.objects.get().placed_by_id == parent.user_id


def test_a_parent_with_children_still_hears_of_their_own_limit(client, branch):
    from emporter.holds.models import RequestPolicy
    from emporter.holds.services import place_request

    RequestPolicy.objects.create(max_active=1)
    parent = make_patron(branch, card="20000001", first_name="Camille")
    make_patron(branch, card="20000002", first_name="Léo", category="child", guardian=parent, email="")
    place_request(
        patron=parent, record_id=make_record(title="Déjà", copies=[branch]).pk, pickup_branch=branch
    )
    client.force_login(parent.user)
    _basket(client, make_record(title="Petit ours brun", copies=[branch]))
    page = client.get(en("holds:basket")).content.decode()
    assert "For yourself, you have reached the most requests allowed." in page
    assert 'name="for_whom"' in page  # the child's requests are still offered
