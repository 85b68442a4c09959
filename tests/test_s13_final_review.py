"""The last adversarial review of the thirteenth session: a patron with no guardian who
changed channel since a notice was written still gets it; the staff API refuses a
for_patron_id it would not honour (it placed on the parent's card)."""

import datetime

import pytest
from django.utils import timezone

from emporter.holds.models import Request
from emporter.notices import compose, outbox, sms
from emporter.notices.models import Notice
from emporter.patrons.models import Patron
from tests.conftest import make_patron, make_ready_requests, make_record
from tests.test_api_staff import post, sign_in, staff_user

V1 = "/api/v1"


# 1. recipient(): an ADULT (no guardian) whose ready notice was composed by SMS, who
#    switches to email before it goes (bag waiting for a closed library, a retry): before
#    696b097 the text went to their phone; now people = () -> nobody -> FAILED no_phone.
@pytest.mark.django_db
def test_adult_notice_still_goes_when_they_changed_channel_since(branch):
    sms.outbox.clear()
    adult = make_patron(
        branch, card="50000001", email="a@example.org", phone="06 12 34 56 78", notice_channel="sms"
    )
    make_ready_requests(adult, branch, ["Petit ours brun"])
    later = timezone.now() + datetime.timedelta(minutes=5)
    compose.compose_all(later)
    notice = Notice.objects.get(patron=adult, kind="ready")
    assert notice.channel == "sms"
    Patron.objects.filter(pk=adult.pk).update(notice_channel="email")  # account page
    outbox.send_due(later)
    notice.refresh_from_db()
    assert notice.state == "sent", (notice.state, notice.error_code)


# 2. StaffBasketIn inherits BasketIn: for_patron_id is now accepted on the STAFF endpoint
#    (before: extra="forbid" -> 422) and silently ignored: a desk app placing for a
#    parent's child gets the requests on the parent's card, 201.
@pytest.mark.django_db
def test_staff_basket_does_not_silently_ignore_for_patron_id(client, branch):
    staff_user("agnes", branch=branch)
    desk = sign_in(client, "agnes")
    parent = make_patron(branch, card="20000001", first_name="Camille")
    child = make_patron(branch, card="20000002", first_name="Léo", category="child", guardian=parent)
    record = make_record(title="Petit ours brun", copies=[branch])
    body = {"record_ids": [record.pk], "for_patron_id": child.pk}
    response = post(client, f"{V1}/staff/patrons/{parent.pk}/requests", body, desk)
    placed_for = list(Request.objects.values_list("patron_id", flat=True))
    # Either refused as an unknown field (422) or placed for the child: never the parent.
    assert response.status_code == 422 or placed_for == [child.pk], (response.status_code, placed_for)
