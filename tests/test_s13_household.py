"""Children's cards and their guardian (the thirteenth session's household review): a
re-import ends a guardianship; a guardian with only a mobile is told by text; the API
acts on a child's requests as the web does; erasing a former guardian leaves no address
of theirs in the child's notices."""

import datetime

import pytest
from django.utils import timezone

from emporter.desk import services as desk
from emporter.holds.services import place_request
from emporter.notices import compose, outbox, sms
from emporter.notices.models import Notice, State
from emporter.patrons.importer import import_patrons
from emporter.patrons.models import Patron
from emporter.privacy.services import erase_patron
from tests.conftest import make_patron, make_ready_requests, make_record

V1 = "/api/v1"


def later():
    return timezone.now() + datetime.timedelta(minutes=5)


@pytest.fixture
def parent(branch):
    return make_patron(
        branch, card="20000001", first_name="Camille", last_name="Martin", email="camille@example.org"
    )


@pytest.fixture
def child(branch, parent):
    return make_patron(
        branch,
        card="20000002",
        first_name="Léo",
        last_name="Martin",
        category="child",
        guardian=parent,
        email="",
    )


# 1. A re-import cannot end a guardianship --------------------------------------------------

HEADER = "card_number;first_name;last_name;email;home_branch;category;guardian\n"


def test_a_reimport_with_an_empty_guardian_cell_ends_the_guardianship(tmp_path, branch):
    """The library system removed the guarantor (Léo turned 18): the nightly file says
    category=adult and an empty guardian cell. The parent must lose his requests, bags,
    notices and the right to collect for him; today the link stays for ever."""
    path = tmp_path / "patrons.csv"
    path.write_text(
        HEADER + "P1;Camille;Martin;camille@example.org;PDI;adult;\nP2;Léo;Martin;;PDI;child;P1\n",
        encoding="utf-8",
    )
    import_patrons(path)
    assert Patron.objects.get(card_number="P2").guardian is not None
    path.write_text(
        HEADER + "P1;Camille;Martin;camille@example.org;PDI;adult;\nP2;Léo;Martin;;PDI;adult;\n",
        encoding="utf-8",
    )
    import_patrons(path)
    leo = Patron.objects.get(card_number="P2")
    assert leo.category == "adult"
    # Before: the former guardian still answers for him.
    assert leo.guardian is None
    # ...so the parent's card still hands over the adult's bag at the door:
    make_ready_requests(leo, branch, ["Journal intime"])
    camille = Patron.objects.get(card_number="P1")
    assert desk.hand_over(patron=camille, branch=branch).loans == []


# 2. A guardian who chose texts: the child's notices go to nobody ---------------------------


def test_a_childs_ready_notice_reaches_a_guardian_who_has_only_a_mobile(branch):
    sms.outbox.clear()
    parent = make_patron(branch, card="30000001", email="", phone="06 12 34 56 78", notice_channel="sms")
    child = make_patron(branch, card="30000002", email="", category="child", guardian=parent)
    make_ready_requests(child, branch, ["Petit ours brun"])
    compose.compose_all(later())
    outbox.send_due(later())
    notices = list(Notice.objects.values_list("kind", "state", "error_code"))
    # Before: [('confirmation', 'failed', 'no_email'), ('ready', 'failed', 'no_email')], no text sent.
    assert all(state == State.SENT for _, state, _ in notices), notices
    assert sms.outbox and sms.outbox[-1][0] == "06 12 34 56 78"


# 3. The app: one rule for whose rows a patron may act on (of_household) ------------------


def _token(client, card):
    r = client.post(f"{V1}/auth/token", {"card_number": card, "pin": "1234"}, content_type="application/json")
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_the_api_lets_a_guardian_see_and_cancel_a_childs_request_as_the_web_does(
    client, branch, parent, child
):
    (request,) = make_ready_requests(child, branch, ["Petit ours brun"])
    auth = _token(client, parent.card_number)
    assert len(client.get(f"{V1}/bags", headers=auth).json()) == 1  # the child's bag is listed...
    listed = client.get(f"{V1}/requests", headers=auth).json()
    # Before: ...but not what is in it (total 0), and cancelling it is "not found" (404),
    # while /basket/requests/<id>/cancel/ cancels it for the same signed-in parent.
    assert listed["total"] == 1, listed
    assert client.post(f"{V1}/requests/{request.pk}/cancel", headers=auth).status_code == 200


def test_the_api_never_reaches_another_familys_child(client, branch, parent, child):
    """Control (passes): another family's child's bag and request are 'not found'."""
    other = make_patron(branch, card="20000009", first_name="Zoé", last_name="Autre")
    theirs = make_patron(branch, card="20000010", first_name="Noé", guardian=other, email="")
    (request,) = make_ready_requests(theirs, branch, ["Autre"])
    auth = _token(client, parent.card_number)
    assert client.get(f"{V1}/bags/{request.bag_id}/times", headers=auth).status_code == 404
    assert client.post(f"{V1}/requests/{request.pk}/cancel", headers=auth).status_code == 404


# 4. Erasing a former guardian leaves their address behind ---------------------------------


def test_erasing_a_former_guardian_leaves_no_address_of_theirs(branch, parent, child):
    place_request(
        patron=child, record_id=make_record(title="Album", copies=[branch]).pk, pickup_branch=branch
    )
    compose.compose_all(later())
    outbox.send_due(later())
    assert Notice.objects.get(patron=child).sent_to == "camille@example.org"
    # Léo gets another guardian (or turns adult); Camille asks to be erased.
    Patron.objects.filter(pk=child.pk).update(guardian=None)
    erase_patron(patron_id=parent.pk)
    assert not Patron.objects.filter(pk=parent.pk).exists()
    # Before: her address stays in Léo's notice (staff outbox, and Léo's own my-data.json).
    assert not Notice.objects.filter(sent_to="camille@example.org").exists()
