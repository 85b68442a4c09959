"""Households, second pass (the thirteenth session's third adversarial review): the API
says whose a request is; a parent's basket keeps what is for a child, says limits are
each person's, and is not stopped by the parent's own card; erasing a guardian clears a
number retyped since; a notice by the guardian's channel goes to the guardian."""

import datetime

from django.urls import reverse
from django.utils import timezone, translation

from emporter.holds.models import Request, RequestPolicy
from emporter.holds.services import place_request
from emporter.notices import compose, outbox, sms
from emporter.notices.models import Notice
from emporter.patrons.models import Patron
from emporter.privacy.services import erase_patron
from tests.conftest import make_patron, make_ready_requests, make_record

V1 = "/api/v1"


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def _family(branch):
    parent = make_patron(branch, card="20000001", first_name="Camille")
    child = make_patron(
        branch, card="20000002", first_name="Léo", category="child", guardian=parent, email=""
    )
    return parent, child


def _token(client, card):
    r = client.post(f"{V1}/auth/token", {"card_number": card, "pin": "1234"}, content_type="application/json")
    return {"Authorization": f"Bearer {r.json()['token']}"}


# 1. The API lists the household's requests but never says whose -------------------------


def test_api_request_list_says_whose_request_it_is(client, branch):
    parent, child = _family(branch)
    make_ready_requests(child, branch, ["Petit ours brun"])
    make_ready_requests(parent, branch, ["Journal"])
    listed = client.get(f"{V1}/requests", headers=_token(client, parent.card_number)).json()
    assert listed["total"] == 2
    # The docstring (api/requests.py my_requests) promises "`patron_id` says whose".
    assert all("patron_id" in item for item in listed["items"]), listed["items"][0].keys()


# 2. The basket is cleaned up for the parent, not for whom it is confirmed -----------------


def test_a_title_the_parent_requested_can_still_be_requested_for_the_child(client, branch):
    parent, child = _family(branch)
    record = make_record(title="Petit ours brun", copies=[branch, branch])
    place_request(patron=parent, record_id=record.pk, pickup_branch=branch)
    client.force_login(parent.user)
    client.post(en("holds:add", record.pk))
    page = client.get(en("holds:basket")).content.decode()
    # Taken out of the basket as "You have already requested": Léo can never get it
    # from the parent's basket (he has no PIN to sign in with).
    assert record.pk in client.session["basket"], page


# 3. A parent at their own limit is told the basket can place nothing --------------------


def test_a_parent_at_their_limit_is_not_told_nothing_can_be_requested_for_a_child(client, branch):
    RequestPolicy.objects.create(max_active=1)
    parent, child = _family(branch)
    place_request(patron=parent, record_id=make_record(title="A", copies=[branch]).pk, pickup_branch=branch)
    record = make_record(title="Petit ours brun", copies=[branch])
    client.force_login(parent.user)
    client.post(en("holds:add", record.pk))
    page = client.get(en("holds:basket")).content.decode()
    assert f'name="for_whom" value="{child.pk}"' in page
    # Confirming for Léo works (his own limit), yet the page says nothing can be requested.
    assert "You have reached the most requests allowed" not in page


# 4. A parent's expired card stops the child's requests (not the child's surprise bag) -----


def test_a_parents_expired_card_does_not_stop_a_childs_requests(client, branch):
    parent, child = _family(branch)
    Patron.objects.filter(pk=parent.pk).update(card_expires=timezone.localdate() - datetime.timedelta(days=1))
    record = make_record(title="Petit ours brun", copies=[branch])
    client.force_login(parent.user)
    client.post(en("holds:add", record.pk))
    client.post(
        en("holds:confirm"), {"pickup_branch": branch.pk, "record": [record.pk], "for_whom": child.pk}
    )
    # Léo's card is in order; the surprise bag (discovery.services.ask) checks only his.
    assert Request.objects.filter(patron=child).exists()


# 5. Erasing a guardian whose stored phone was re-typed since leaves it in the notices -----


def test_erasing_a_guardian_clears_their_number_even_if_retyped_since(branch):
    sms.outbox.clear()
    parent = make_patron(branch, card="30000001", email="", phone="06 12 34 56 78", notice_channel="sms")
    child = make_patron(branch, card="30000002", email="", category="child", guardian=parent)
    make_ready_requests(child, branch, ["Petit ours brun"])
    later = timezone.now() + datetime.timedelta(minutes=5)
    compose.compose_all(later)
    outbox.send_due(later)
    assert Notice.objects.filter(patron=child, sent_to="06 12 34 56 78").exists()
    parent.phone = "0612345678"  # staff tidy the number (phone_digits is the same)
    parent.save()
    Patron.objects.filter(pk=child.pk).update(guardian=None)
    erase_patron(patron_id=parent.pk)
    assert not Notice.objects.filter(sent_to="06 12 34 56 78").exists()


# 6. The guardian's channel is chosen, but render.recipient sends it to the child ----------


def test_a_childs_notice_by_the_guardians_channel_goes_to_the_guardian(branch):
    """Léo's card carries the family's landline (common on children's records), no email,
    channel left at email; Camille chose texts and has a mobile. telling_channel picks
    Camille's channel, then render.recipient picks Léo (he has a 'phone')."""
    sms.outbox.clear()
    parent = make_patron(branch, card="30000001", email="", phone="06 12 34 56 78", notice_channel="sms")
    make_patron(branch, card="30000002", email="", phone="04 78 00 00 00", category="child", guardian=parent)
    child = Patron.objects.get(card_number="30000002")
    make_ready_requests(child, branch, ["Petit ours brun"])
    later = timezone.now() + datetime.timedelta(minutes=5)
    compose.compose_all(later)
    outbox.send_due(later)
    assert sms.outbox, list(Notice.objects.values_list("channel", "state", "error_code"))
    assert {to for to, _ in sms.outbox} == {"06 12 34 56 78"}, sms.outbox
