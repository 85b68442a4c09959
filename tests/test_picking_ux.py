"""The morning pull as a branch manager and a late picker see it: lists built after the
pick time, the picking and door pages of one's own branch, the page that says no."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import reverse
from django.utils import translation
from django.views.defaults import permission_denied

from emporter.catalogue.models import CopyStatus
from emporter.holds.services import place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.picking.models import PickRun
from tests.conftest import make_patron, make_record


@pytest.fixture(autouse=True)
def french():
    # Pages are French by default; an earlier test's English request must not leak
    # into this one's reverse() (a /en/ address would answer in English).
    with translation.override("fr"):
        yield


def staff(role, branch, username):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


def english(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def set_aside_today(branch, count):
    """``count`` copies set aside at ``branch`` now, for patrons of up to 7 requests."""
    patrons = [make_patron(branch, card=f"3000{n:04d}") for n in range(0, count, 7)]
    for n in range(count):
        record = make_record(title=f"Titre {n}", copies=[branch])
        place_request(patron=patrons[n // 7], record_id=record.pk, pickup_branch=branch)


def test_a_morning_list_built_after_the_pick_time_offers_the_late_additions(client, branch):
    # The tester's evening: the list stops at the pick time (here midnight, so that
    # every request of the test comes after it at whatever hour the test runs).
    branch.pick_time = datetime.time(0, 0)
    branch.save(update_fields=["pick_time"])
    set_aside_today(branch, 14)
    client.force_login(staff(Role.PICKER, branch, "picker"))
    page = client.post(english("picking:build", branch.pk), {"kind": "morning"}, follow=True).text
    assert "Nothing to pull." in page
    assert "14 requests set aside here are on no list yet" in page
    assert 'name="kind" value="late"' in page and "Build a run of late additions" in page
    late = client.post(english("picking:build", branch.pk), {"kind": "late"}, follow=True)
    run = PickRun.objects.get(branch=branch, kind=PickRun.Kind.LATE)
    assert run.lines.count() == 14
    assert "14 / 14 left" in late.text and "on no list yet" not in late.text
    index = client.get(english("picking:index")).text
    assert "on no list yet" not in index  # the late list has them


def test_the_pick_runs_page_says_how_many_requests_came_after_todays_last_list(client, branch):
    branch.pick_time = datetime.time(0, 0)
    branch.save(update_fields=["pick_time"])
    set_aside_today(branch, 3)
    picking.build_run(branch=branch, kind=PickRun.Kind.MORNING)
    client.force_login(staff(Role.PICKER, branch, "picker"))
    index = client.get(english("picking:index")).text
    assert "3 requests set aside here are on no list yet" in index


def test_a_list_says_nothing_when_nothing_came_after_it(client, branch):
    set_aside_today(branch, 2)
    run = picking.build_run(branch=branch, kind=PickRun.Kind.LATE)
    client.force_login(staff(Role.PICKER, branch, "picker"))
    page = client.get(english("picking:run", run.pk)).text
    assert "2 / 2 left" in page
    assert "on no list yet" not in page


@pytest.fixture
def manager(client, branch):
    client.force_login(staff(Role.BRANCH_MANAGER, branch, "manager"))
    return client


def test_a_branch_manager_opens_the_picking_and_door_pages_of_their_branch(manager, branch, other_branch):
    run = picking.build_run(branch=branch)
    index = manager.get(reverse("picking:index"))
    assert index.status_code == 200
    assert branch.name in index.text and other_branch.name not in index.text
    for url in (
        reverse("picking:missing"),
        reverse("picking:run", args=[run.pk]),
        reverse("picking:receive", args=[branch.pk]),
        reverse("desk:door", args=[branch.pk]),
        reverse("desk:shelf", args=[branch.pk]),
    ):
        assert manager.get(url).status_code == 200, url
    # One branch: the door sends them straight to it.
    assert manager.get(reverse("desk:index")).url == reverse("desk:door", args=[branch.pk])


def test_a_branch_manager_can_pull_a_copy_at_their_branch(manager, branch):
    patron = make_patron(branch)
    place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    run = picking.build_run(branch=branch, kind=PickRun.Kind.LATE)
    line = run.lines.get()
    manager.post(reverse("picking:mark", args=[line.pk]), {"action": "found"})
    line.copy.refresh_from_db()
    assert line.copy.status == CopyStatus.HOLD_SHELF


def test_another_branch_answers_with_the_french_403_page(manager, other_branch):
    run = picking.build_run(branch=other_branch)
    for url in (
        reverse("picking:run", args=[run.pk]),
        reverse("picking:receive", args=[other_branch.pk]),
        reverse("desk:door", args=[other_branch.pk]),
    ):
        response = manager.get(url)
        assert response.status_code == 403, url
        page = response.text
        assert '<html lang="fr">' in page
        assert "Vous ne pouvez pas ouvrir cette page" in page
        assert f'href="{reverse("home")}"' in page and "Retour à l’accueil" in page
        assert 'href="/staff/stats/"' in page  # the page has the menu: the manager can go on


def test_a_picker_still_cannot_open_the_statistics(client, branch):
    client.force_login(staff(Role.PICKER, branch, "picker"))
    response = client.get(reverse("stats:dashboard"))
    assert response.status_code == 403
    assert '<html lang="fr">' in response.text


def test_a_manager_is_not_made_a_phone_desk_librarian(manager):
    assert manager.get(reverse("phonedesk:find")).status_code == 403


def test_the_403_page_offers_a_signed_out_visitor_to_sign_in(db):
    request = RequestFactory().get("/staff/picking/")
    request.user = AnonymousUser()
    with translation.override("fr"):
        page = permission_denied(request, PermissionDenied()).content.decode()
    assert f'href="{reverse("staff_login")}?next=/staff/picking/"' in page
    assert f'href="{reverse("patrons:login")}?next=/staff/picking/"' in page
    assert "Connexion du personnel" in page
