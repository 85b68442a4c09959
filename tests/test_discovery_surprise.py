"""Surprise bags: a patron (or a parent for a child) asks, a librarian composes, the
documents follow the normal flow to the next pick run; the limits hold throughout."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation

from emporter.catalogue.models import CopyStatus
from emporter.discovery import selectors, services
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.errors import ServiceError
from emporter.holds.models import Channel, Request, RequestPolicy, Status
from emporter.holds.services import place_requests
from emporter.patrons.models import Role, StaffRole
from emporter.picking.services import build_run
from tests.conftest import make_branch, make_patron, make_record

pytestmark = pytest.mark.django_db


def librarian(branch, role=Role.PHONE_DESK, username="biblio"):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


def comic(title, branch, **kw):
    return make_record(
        title=title, copies=[branch], doc_type="comic", audience="youth", age_min=6, age_max=9, **kw
    )


@pytest.fixture
def library():
    # A pick time late in the day: the run built now takes everything placed before it.
    return make_branch(code="JEA", name="Jean Macé", weekdays=range(7), pick_time=datetime.time(23, 59))


@pytest.fixture
def family(library):
    parent = make_patron(library, card="20000001", first_name="Nadia", last_name="Benali")
    child = make_patron(
        library, card="20000002", first_name="Lina", last_name="Benali", category="child", guardian=parent
    )
    return parent, child


def test_surprise_bag_for_a_child_goes_from_request_to_the_next_pick_run(client, library, family):
    parent, child = family
    dinos = comic("Dinosaures en folie", library, subjects=["Dinosaures"])
    space = comic("Mission espace", library, subjects=["Espace"])
    comic("Les monstres de la nuit", library, subjects=["Horreur"])
    make_record(title="Roman pour adultes", copies=[library])
    user = librarian(library)

    # The parent asks for their daughter.
    client.force_login(parent.user)
    response = client.post(
        "/discover/surprise/",
        {
            "for_whom": child.pk,
            "age": 7,
            "how_many": 2,
            "kinds": ["comics"],
            "tastes": "dinosaures espace",
            "avoid": "horreur",
            "pickup_branch": library.pk,
        },
    )
    assert response.status_code == 302
    surprise = SurpriseRequest.objects.get()
    assert (surprise.patron, surprise.asked_by, surprise.status) == (child, parent, SurpriseStatus.OPEN)

    # The librarian sees it in the queue and gets suggestions: comics for 6–9, nothing to avoid.
    client.force_login(user)
    assert "Lina" in client.get("/discover/staff/surprise/").content.decode()
    page = client.get(f"/discover/staff/surprise/{surprise.pk}/")
    # The best two come ticked, in the bag; the one to avoid and the adult novel are not offered.
    assert {t.record for t in page.context["bag"]} == {dinos, space}
    assert page.context["suggested"] == []

    response = client.post(
        f"/discover/staff/surprise/{surprise.pk}/", {"record": [dinos.pk, space.pk], "confirm": "1"}
    )
    assert response.status_code == 302

    surprise.refresh_from_db()
    placed = list(surprise.requests.order_by("record__title"))
    assert surprise.status == SurpriseStatus.COMPOSED and surprise.composed_by == user
    assert [(r.record, r.patron, r.channel, r.status) for r in placed] == [
        (dinos, child, Channel.SURPRISE, Status.PLACED),
        (space, child, Channel.SURPRISE, Status.PLACED),
    ]

    # The morning pull takes them like any other request.
    run = build_run(branch=library, now=timezone.now() + datetime.timedelta(minutes=1))
    assert set(run.lines.values_list("request_id", flat=True)) == {r.pk for r in placed}


def test_asking_for_more_than_the_remaining_allowance_is_refused(library, family):
    parent, _child = family
    RequestPolicy.objects.create(max_active=3)
    owned = [make_record(title=f"Livre {n}", copies=[library]).pk for n in range(2)]
    place_requests(patron=parent, record_ids=owned, pickup_branch=library)

    with pytest.raises(ServiceError) as refused:
        services.create_surprise_request(asked_by=parent, patron=parent, pickup_branch=library, how_many=2)
    assert refused.value.code == "surprise_over_limit"

    services.create_surprise_request(asked_by=parent, patron=parent, pickup_branch=library, how_many=1)
    # The open bag promises its one document: nothing is left for another bag.
    assert selectors.remaining_allowance(patron=parent) == 0
    with pytest.raises(ServiceError) as none_left:
        services.create_surprise_request(asked_by=parent, patron=parent, pickup_branch=library, how_many=1)
    # Not "0 more documents", which reads like a fault: the basket's own words.
    assert none_left.value.code == "surprise_no_allowance"
    assert "0" not in none_left.value.message


def test_with_nothing_left_the_page_says_so_in_words_and_offers_a_library(client, library, family):
    parent, _child = family
    RequestPolicy.objects.create(max_active=1)
    place_requests(
        patron=parent, record_ids=[make_record(title="Seul", copies=[library]).pk], pickup_branch=library
    )
    parent.home_branch.service_mode = "closed"
    parent.home_branch.save()
    other = make_branch(code="VAI", name="Vaise", mode="click_collect")
    client.force_login(parent.user)
    with translation.override("en"):
        page = client.get(reverse("discovery:surprise"))
    text = page.content.decode()
    assert "You have reached the most requests allowed" in text and "0 more" not in text
    assert page.context["form"]["pickup_branch"].initial == other.pk


def test_the_form_says_why_and_keeps_what_was_typed(client, library, family):
    parent, _child = family
    RequestPolicy.objects.create(max_active=2)
    client.force_login(parent.user)

    response = client.post(
        "/discover/surprise/",
        {"for_whom": parent.pk, "how_many": 3, "tastes": "polars nordiques", "pickup_branch": library.pk},
    )

    html = response.content.decode()
    assert response.status_code == 200 and not SurpriseRequest.objects.exists()
    assert 'role="alert"' in html and 'value="polars nordiques"' in html


def test_composing_places_through_the_normal_limits(library, family):
    parent, child = family
    RequestPolicy.objects.create(max_active=2)
    user = librarian(library)
    surprise = services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=library, how_many=2
    )
    # Meanwhile the child requests one document themselves: the bag holds both places.
    (own,) = place_requests(
        patron=child, record_ids=[comic("Choisi seul", library).pk], pickup_branch=library
    )
    assert own.error.code == "limit_reached_with_surprise"
    # A place freed by the rules (the limit lowered meanwhile) is still checked at composing.
    RequestPolicy.objects.update(max_active=1)
    chosen = [comic("Premier", library).pk, comic("Second", library).pk]

    outcomes = services.compose_surprise_request(surprise=surprise, record_ids=chosen, actor=user)

    assert [o.ok for o in outcomes] == [True, False]
    assert outcomes[1].error.code == "limit_reached"
    assert Request.objects.filter(patron=child, status=Status.PLACED).count() == 1
    assert surprise.requests.count() == 1


def test_a_bag_is_composed_once_and_never_beyond_what_was_asked(library, family):
    parent, _child = family
    user = librarian(library)
    surprise = services.create_surprise_request(
        asked_by=parent, patron=parent, pickup_branch=library, how_many=1
    )
    records = [comic("Un", library).pk, comic("Deux", library).pk]

    with pytest.raises(ServiceError) as too_many:
        services.compose_surprise_request(surprise=surprise, record_ids=records, actor=user)
    assert too_many.value.code == "surprise_too_many"

    services.compose_surprise_request(surprise=surprise, record_ids=records[:1], actor=user)
    with pytest.raises(ServiceError) as again:
        services.compose_surprise_request(surprise=surprise, record_ids=records[1:], actor=user)
    assert again.value.code == "surprise_not_open"
    assert Request.objects.filter(patron=parent).count() == 1


def test_a_parent_asks_only_for_their_own_children(library, family):
    parent, _child = family
    stranger = make_patron(library, card="30000001", category="child")

    with pytest.raises(ServiceError):
        services.create_surprise_request(asked_by=parent, patron=stranger, pickup_branch=library, how_many=1)


def test_suggestions_rank_by_tastes_and_skip_what_cannot_go_in_the_bag(library, family, other_branch):
    parent, child = family
    liked_both = comic("Dinosaures dans l'espace", library, subjects=["Dinosaures", "Espace"])
    liked_one = comic("Dinosaures du jurassique", library, subjects=["Dinosaures"])
    plain = comic("Une histoire", library)
    elsewhere = comic("Ailleurs", other_branch)
    comic("Prêtée", library).copies.update(status=CopyStatus.ON_LOAN)
    comic("Dinosaures qui font peur", library, subjects=["Horreur"])
    make_record(
        title="Dinosaures pour ados", copies=[library], doc_type="comic", audience="youth", age_min=13
    )
    mine = comic("Déjà demandée", library)
    place_requests(patron=child, record_ids=[mine.pk], pickup_branch=library)
    surprise = services.create_surprise_request(
        asked_by=parent,
        patron=child,
        pickup_branch=library,
        how_many=3,
        age=7,
        kinds=["comics"],
        tastes="dinosaures espace",
        avoid="peur",
    )

    found = [t.record for t in selectors.suggestions(surprise)]

    assert found[:2] == [liked_both, liked_one]
    assert set(found[2:]) == {plain, elsewhere}
    assert found.index(plain) < found.index(elsewhere)


def test_only_librarians_of_the_pickup_branch_compose(client, library, family, other_branch):
    parent, _child = family
    surprise = services.create_surprise_request(
        asked_by=parent, patron=parent, pickup_branch=library, how_many=1
    )
    url = f"/discover/staff/surprise/{surprise.pk}/"

    assert client.get(url).status_code == 302  # to the staff login
    client.force_login(librarian(library, role=Role.PICKER, username="picker"))
    assert client.get(url).status_code == 403
    client.force_login(librarian(other_branch, username="ailleurs"))
    assert client.get(url).status_code == 403
    assert "Benali" not in client.get("/discover/staff/surprise/").content.decode()
    client.force_login(librarian(library, role=Role.BRANCH_MANAGER, username="manager"))
    assert client.get(url).status_code == 200


def test_a_patron_cancels_an_open_bag(client, library, family):
    parent, _child = family
    surprise = services.create_surprise_request(
        asked_by=parent, patron=parent, pickup_branch=library, how_many=2
    )
    client.force_login(parent.user)

    client.post(f"/discover/surprise/{surprise.pk}/cancel/")

    surprise.refresh_from_db()
    assert surprise.status == SurpriseStatus.CANCELLED
    assert selectors.remaining_allowance(patron=parent) == 8


def test_searching_while_composing_keeps_the_ticks_and_an_error_loses_nothing(client, library, family):
    parent, child = family
    first = comic("Premier choix", library)
    second = comic("Second choix", library)
    extra = comic("Troisième larron", library)
    surprise = services.create_surprise_request(
        asked_by=parent, patron=child, pickup_branch=library, how_many=2
    )
    client.force_login(librarian(library))
    url = f"/discover/staff/surprise/{surprise.pk}/"

    page = client.post(url, {"record": [first.pk], "q": "larron", "search": "1"})
    assert [t.record for t in page.context["bag"]] == [first]
    assert [t.record for t in page.context["found"]] == [extra]

    page = client.post(url, {"record": [first.pk, second.pk, extra.pk], "confirm": "1"}, follow=True)
    assert [t.record for t in page.context["bag"]] == [first, second, extra]
    assert "2" in [str(m) for m in page.context["messages"]][0]
    assert not Request.objects.filter(patron=child).exists()
    surprise.refresh_from_db()
    assert surprise.status == SurpriseStatus.OPEN


def test_the_form_shows_what_each_person_may_still_ask_for(client, library, family):
    parent, child = family
    place_requests(patron=child, record_ids=[comic("Déjà", library).pk], pickup_branch=library)
    client.force_login(parent.user)

    page = client.get("/discover/surprise/")

    assert page.context["allowances"] == [(parent, 8), (child, 7)]
    assert "Lina" in page.content.decode()


def test_a_blocked_or_expired_card_is_told_at_once(library, family):
    parent, child = family
    child.blocked_reason = "documents en retard"
    child.save()
    parent.card_expires = timezone.localdate() - datetime.timedelta(days=1)
    parent.save()

    with pytest.raises(ServiceError) as blocked:
        services.create_surprise_request(asked_by=parent, patron=child, pickup_branch=library, how_many=1)
    with pytest.raises(ServiceError) as expired:
        services.create_surprise_request(asked_by=parent, patron=parent, pickup_branch=library, how_many=1)

    # Said to the guardian about the child's card; about their own, as theirs.
    assert (blocked.value.code, expired.value.code) == ("child_blocked", "card_expired")
    assert "documents en retard" in blocked.value.message
    assert not SurpriseRequest.objects.exists()


@pytest.mark.parametrize("everywhere", [Role.PHONE_DESK, Role.BRANCH_MANAGER])
def test_a_librarian_everywhere_in_one_role_and_local_in_the_other_opens_the_queue(
    client, branch, everywhere
):
    parent = make_patron(branch, card="30000001")
    surprise = services.create_surprise_request(
        asked_by=parent, patron=parent, pickup_branch=branch, how_many=1
    )
    user = get_user_model().objects.create_user(username="mixte", password="x")
    local = Role.BRANCH_MANAGER if everywhere == Role.PHONE_DESK else Role.PHONE_DESK
    StaffRole.objects.create(user=user, role=everywhere, branch=None)
    StaffRole.objects.create(user=user, role=local, branch=branch)
    client.force_login(user)
    assert client.get("/discover/staff/surprise/").status_code == 200
    assert client.get(f"/discover/staff/surprise/{surprise.pk}/").status_code == 200


def test_a_childs_bag_is_its_guardians_of_now_to_see_and_cancel(client, branch):
    former = make_patron(branch, card="50000001", first_name="Avant")
    guardian = make_patron(branch, card="50000002", first_name="Maintenant")
    child = make_patron(branch, card="50000003", first_name="Lou", category="child", guardian=former)
    surprise = services.create_surprise_request(
        asked_by=former, patron=child, pickup_branch=branch, how_many=2
    )
    child.guardian = guardian
    child.save()
    client.force_login(former.user)
    assert "Lou" not in client.get("/discover/surprise/").text
    client.post(f"/discover/surprise/{surprise.pk}/cancel/")
    assert SurpriseRequest.objects.get(pk=surprise.pk).status == SurpriseStatus.OPEN
    client.force_login(guardian.user)
    assert f"/surprise/{surprise.pk}/cancel/" in client.get("/discover/surprise/").text
    client.post(f"/discover/surprise/{surprise.pk}/cancel/")
    assert SurpriseRequest.objects.get(pk=surprise.pk).status == SurpriseStatus.CANCELLED


def test_a_bag_asked_by_a_former_guardian_is_not_composed_on_the_childs_card(branch):
    former = make_patron(branch, card="50000011", first_name="Avant")
    child = make_patron(branch, card="50000013", first_name="Lou", category="child", guardian=former)
    surprise = services.create_surprise_request(
        asked_by=former, patron=child, pickup_branch=branch, how_many=1
    )
    child.guardian = make_patron(branch, card="50000012", first_name="Maintenant")
    child.save()
    record = make_record(title="Pour Lou", copies=[branch])
    with pytest.raises(ServiceError) as refused:
        services.compose_surprise_request(surprise=surprise, record_ids=[record.pk], actor=None)
    assert refused.value.code == "surprise_not_guardian_now"
    assert not child.requests.exists()
