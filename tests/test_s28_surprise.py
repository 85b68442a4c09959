"""Surprise bags as the twenty-eighth session's review found them: searching while
composing offers what the reader's category may request, the documents ticked at first
respect the reader's per-type limits, an adult who leaves the age empty (as the form says)
is offered adult documents, the admin cannot undo a composed bag, and a title whose last
copy was taken meanwhile is refused, not put on a waiting list."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from emporter.discovery import selectors, services
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.holds.models import Request, RequestPolicy
from emporter.holds.services import place_requests
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_patron, make_record


def librarian(branch, username="biblio"):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=branch)
    return user


def test_searching_while_composing_a_childs_bag_offers_only_types_the_child_may_request(client, branch):
    RequestPolicy.objects.create(category="child", requestable_types=["book"])
    parent = make_patron(branch, card="20000001")
    child = make_patron(branch, card="20000002", first_name="Lina", category="child", guardian=parent)
    film = dict(doc_type="dvd", audience="youth", age_min=6, age_max=9)
    dvd = make_record(title="Dinosaures le film", copies=[branch], **film)
    book = make_record(title="Dinosaures géants", copies=[branch], audience="youth", age_min=6, age_max=9)
    surprise = services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=branch, how_many=2, age=7
    )
    client.force_login(librarian(branch))

    page = client.post(
        f"/discover/staff/surprise/{surprise.pk}/", {"record": [], "q": "dinosaures", "search": "1"}
    )

    found = [t.record for t in page.context["found"]] + [t.record for t in page.context["bag"]]
    assert book in found and dvd not in found


def test_the_documents_ticked_at_first_respect_the_readers_type_limit(branch):
    RequestPolicy.objects.create(type_limits={"dvd": 1})
    patron = make_patron(branch)
    for n in range(3):
        make_record(title=f"Livre {n}", copies=[branch], audience="adult")
    for n in range(3):
        make_record(title=f"Film {n}", copies=[branch], doc_type="dvd", audience="adult")
    surprise = services.create_surprise_request(
        asked_by=patron, patron=patron, pickup_branch=branch, how_many=3
    )
    ticked = selectors.first_choices(surprise, selectors.suggestions(surprise))
    assert len(ticked) == 3

    outcomes = services.compose_surprise_request(
        surprise=surprise, record_ids=ticked, actor=librarian(branch)
    )

    assert all(o.ok for o in outcomes), [(o.record_id, o.error and o.error.code) for o in outcomes]
    assert Request.objects.filter(patron=patron, doc_type="dvd").count() == 1


def test_an_adult_leaving_the_age_empty_as_told_is_offered_adult_documents(client, branch):
    patron = make_patron(branch)
    novel = make_record(title="Roman noir", copies=[branch], audience="adult")
    baby = make_record(title="Imagier des bébés", copies=[branch], audience="youth", age_min=0, age_max=3)
    client.force_login(patron.user)
    key = re.search(r'name="ask_key" value="([0-9a-f]{32})"', client.get("/discover/surprise/").text).group(1)
    form = {"for_whom": patron.pk, "age": "", "how_many": 1, "pickup_branch": branch.pk, "ask_key": key}
    client.post("/discover/surprise/", form)
    surprise = SurpriseRequest.objects.get()
    assert surprise.age is None

    suggested = [t.record for t in selectors.suggestions(surprise)]

    assert novel in suggested and baby not in suggested


def test_an_admin_saving_a_surprise_bag_keeps_one_composed_meanwhile(admin_client, branch):
    patron = make_patron(branch)
    records = [make_record(title=f"Roman {n}", copies=[branch], audience="adult") for n in range(3)]
    surprise = services.create_surprise_request(
        asked_by=patron, patron=patron, pickup_branch=branch, how_many=3
    )
    url = reverse("admin:discovery_surpriserequest_change", args=[surprise.pk])
    assert admin_client.get(url).status_code == 200
    # The form as the administrator opened it, the tastes corrected; a librarian composes
    # the bag before it is saved. (What it also sends for fields now read-only is ignored.)
    data = {
        "age": "",
        "kinds": json.dumps(surprise.kinds),
        "tastes": "polars nordiques",
        "avoid": "",
        "status": SurpriseStatus.OPEN,
        "how_many": 3,
    }
    services.compose_surprise_request(
        surprise=surprise, record_ids=[r.pk for r in records], actor=librarian(branch)
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302
    surprise.refresh_from_db()
    assert surprise.tastes == "polars nordiques"
    assert (surprise.status, surprise.requests.count(), selectors.remaining_allowance(patron=patron)) == (
        SurpriseStatus.COMPOSED,
        3,
        8 - 3,
    )


def test_surprise_bags_are_not_added_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:discovery_surpriserequest_add")).status_code == 403


def test_a_surprise_document_whose_copy_was_taken_meanwhile_is_refused_not_waited_for(branch):
    patron = make_patron(branch)
    other = make_patron(branch, card="10000002")
    record = make_record(title="Roman unique", copies=[branch], audience="adult")
    other_title = make_record(title="Roman second", copies=[branch], audience="adult")
    surprise = services.create_surprise_request(
        asked_by=patron, patron=patron, pickup_branch=branch, how_many=2
    )
    (taken,) = place_requests(patron=other, record_ids=[record.pk], pickup_branch=branch)
    assert taken.ok

    outcomes = services.compose_surprise_request(
        surprise=surprise, record_ids=[record.pk, other_title.pk], actor=librarian(branch)
    )

    assert [(o.record_id, o.error.code if o.error else None) for o in outcomes] == [
        (record.pk, "surprise_copy_taken"),
        (other_title.pk, None),
    ]
    assert not Request.objects.filter(patron=patron, status="waiting").exists()


@pytest.mark.parametrize("age", [None, 40])
def test_an_adults_bag_is_never_offered_youth_documents(branch, age):
    patron = make_patron(branch)
    make_record(title="Album", copies=[branch], audience="youth", age_min=3, age_max=6)
    surprise = services.create_surprise_request(
        asked_by=patron, patron=patron, pickup_branch=branch, how_many=1, age=age
    )
    assert selectors.suggestions(surprise) == []
