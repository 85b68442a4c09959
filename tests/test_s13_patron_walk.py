"""What a patron met walking the site (the thirteenth session's patron review): an expired
card told only at "Confirm", once per document; "I'm here" offered at a closed door; the
"similar documents" link leading back to the document not found; a home library not
taking requests silently swapped; no word after signing out; wrong PINs kept but not in
the patron's data file."""

import datetime
import json
import re
from urllib.parse import urlsplit

from django.urls import reverse
from django.utils import timezone, translation

from emporter.holds.services import place_request
from emporter.network.models import OpeningHours, ServiceMode
from emporter.notices import compose
from emporter.notices.models import Notice
from emporter.notices.render import render
from emporter.patrons import throttle
from emporter.picking import services as picking
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def test_the_basket_tells_an_expired_card_before_confirming(client, branch):
    expired = timezone.localdate() - datetime.timedelta(days=30)
    patron = make_patron(branch, card="20000017", card_expires=expired)
    record = make_record(title="Le Petit Prince", copies=[branch])
    client.force_login(patron.user)
    client.post(en("holds:add", record.pk))
    page = client.get(en("holds:basket")).content.decode()
    assert "Your card has expired" in page
    assert "Confirm my requests" not in page
    # A confirmation anyway (an old page) says it once, not once per document.
    response = client.post(
        en("holds:confirm"), {"pickup_branch": branch.pk, "record": [record.pk]}, follow=True
    )
    assert response.content.decode().count("Your card has expired") == 1
    assert client.session["basket"] == [record.pk]  # nothing lost


def test_a_blocked_card_is_told_in_the_basket_too(client, branch):
    patron = make_patron(branch, blocked_reason="documents en retard")
    client.force_login(patron.user)
    client.post(en("holds:add", make_record(copies=[branch]).pk))
    page = client.get(en("holds:basket")).content.decode()
    assert "documents en retard" in page and "Confirm my requests" not in page


def test_i_am_here_is_offered_only_while_the_door_is_open(client, patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    bag = request.bag
    client.force_login(patron.user)
    OpeningHours.objects.filter(branch=branch).delete()
    now = timezone.localtime()
    tomorrow = (now + datetime.timedelta(days=1)).date()
    # Closed now; open tomorrow from 10:00 (within the bag's hold).
    OpeningHours.objects.create(
        branch=branch, weekday=tomorrow.weekday(), opens=datetime.time(10), closes=datetime.time(12)
    )
    type(bag).objects.filter(pk=bag.pk).update(hold_until=tomorrow + datetime.timedelta(days=3))
    page = client.get(en("patrons:account")).content.decode()
    assert en("curbside:here", bag.pk) not in page
    assert "is closed now; it opens" in page and "10:00" in page
    # Open at every hour: the button is back.
    for day in range(7):
        OpeningHours.objects.create(
            branch=branch, weekday=day, opens=datetime.time(0), closes=datetime.time(23, 59, 59)
        )
    page = client.get(en("patrons:account")).content.decode()
    assert en("curbside:here", bag.pk) in page and "is closed now" not in page


def test_the_link_for_documents_like_a_missing_one_leads_to_others(client, patron, branch):
    author = "Antoine de Saint-Exupéry"
    missing = make_record(title="Vol de nuit", copies=[branch], responsibility=author, subjects="Aviation")
    make_record(title="Terre des hommes", copies=[branch], responsibility=author, subjects="Aviation")
    make_record(title="Courrier sud", copies=[branch], responsibility=author, subjects="Aviation")
    place_request(patron=patron, record_id=missing.pk, pickup_branch=branch)
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_not_found(line=line, cause="shelf")
    compose.compose_all(timezone.now() + datetime.timedelta(minutes=5))
    notice = Notice.objects.filter(patron=patron).exclude(kind="confirmation").latest("pk")
    rendered = render(notice)
    link = re.search(r"(https?://\S+/catalogue/\S*)", rendered.text).group(1)
    assert f"/catalogue/record/{missing.pk}/#more-like-this-title" in link
    assert link in rendered.html
    page = client.get(urlsplit(link).path).content.decode()
    more = page.split('id="more-like-this-title"')[1]
    assert "Terre des hommes" in more or "Courrier sud" in more


def test_a_home_library_not_taking_requests_is_said_not_swapped_silently(client, branch):
    home = make_branch(code="GER", name="Gerland", mode=ServiceMode.CLOSED)
    patron = make_patron(home, card="20000010")
    client.force_login(patron.user)
    client.post(en("holds:add", make_record(copies=[branch]).pk))
    page = client.get(en("holds:basket")).content.decode()
    assert "Gerland is not taking requests at the moment: choose where to collect." in page


def test_signing_out_is_said(client, patron):
    client.force_login(patron.user)
    page = client.post(en("patrons:logout"), follow=True).content.decode()
    assert "You are signed out." in page


def test_wrong_pins_are_in_the_patrons_data_file_without_the_addresses(client, patron):
    for _ in range(2):
        wrong = {"card_number": patron.card_number, "pin": "0000"}
        client.post(en("patrons:login"), wrong, REMOTE_ADDR="203.0.113.9")
    assert throttle.counted_against(patron.card_number).count() == 2  # from anywhere, and from there
    client.force_login(patron.user)
    data = json.loads(client.get(reverse("privacy:my_data")).content)
    assert [row["in_a_row"] for row in data["wrong_pins"]] == [2, 2]
    assert "203.0.113.9" not in json.dumps(data)
