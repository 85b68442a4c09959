"""What a Chromium walk of this session's pages found (the thirteenth session): staff
offered a surprise-bag page that is theirs to prepare, not to ask for; the whole
network's closing promising other libraries; pickup times in UTC in the admin; a child's
card read as the parent's; a closed home library replaced by another one preselected;
the admin's cancel action taking patrons at the door off the door's list."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from emporter.curbside import services as curbside
from emporter.curbside.models import Appointment, Slot
from emporter.network.models import ServiceMode
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record


@pytest.mark.django_db
def test_staff_are_not_offered_to_ask_for_a_surprise_bag(client, branch):
    user = get_user_model().objects.create_user("staff-phone", password="x")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=branch)
    client.force_login(user)
    surprise = f'href="{reverse("discovery:surprise")}"'
    for page in (reverse("home"), reverse("discovery:index")):
        assert surprise not in client.get(page).content.decode(), page
    client.logout()
    assert surprise in client.get(reverse("discovery:index")).content.decode()  # visitors are


@pytest.mark.django_db
def test_closing_the_whole_network_promises_no_other_library(admin_client, branch, other_branch):
    page = admin_client.post(reverse("network:switch_network"), {"mode": ServiceMode.CLOSED}).content.decode()
    assert "Une bibliothèque fermée ne prête rien" in page
    assert "autre bibliothèque" not in page and "ailleurs" not in page


@pytest.mark.django_db
def test_a_slot_reads_in_the_librarys_time_and_name(branch):
    starts = timezone.make_aware(datetime.datetime(2026, 12, 1, 10, 30))
    slot = Slot.objects.get(pk=Slot.objects.create(branch=branch, starts_at=starts, capacity=6).pk)
    assert "10:30" in str(slot) and branch.name in str(slot)


@pytest.mark.django_db
def test_a_parent_is_told_it_is_the_childs_card_that_expired(client, branch):
    parent = make_patron(branch, card="20000001", first_name="Anaïs")
    expired = timezone.localdate() - datetime.timedelta(days=3)
    child = make_patron(branch, card="20000002", first_name="Lina", guardian=parent, card_expires=expired)
    record = make_record("Le Petit Prince", copies=[branch])
    client.force_login(parent.user)
    client.post(reverse("holds:add", args=[record.pk]))
    response = client.post(reverse("holds:confirm"), {"for_whom": child.pk, "pickup_branch": branch.pk})
    said = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "Lina" in said and "Votre carte" not in said, said


@pytest.mark.django_db
def test_a_closed_home_library_leaves_the_choice_to_the_patron(client, branch):
    home = make_branch(code="GER", name="Gerland", mode=ServiceMode.CLOSED)
    patron = make_patron(home, card="20000010")
    client.force_login(patron.user)
    client.post(reverse("holds:add", args=[make_record(copies=[branch]).pk]))
    page = client.get(reverse("holds:basket")).content.decode()
    select = page[page.index('id="pickup"') : page.index("</select>")]
    assert 'option value="" selected disabled' in select and "required" in select
    assert f'value="{branch.pk}" selected' not in select


@pytest.mark.django_db
def test_the_admins_cancel_action_leaves_patrons_at_the_door(admin_client, branch, patron):
    from emporter.network.models import OpeningHours

    branch.hours.all().delete()
    for day in range(7):  # open now, whatever the hour: "I'm here" needs an open door
        OpeningHours.objects.create(
            branch=branch, weekday=day, opens=datetime.time(0), closes=datetime.time(23, 59, 59)
        )
    (request,) = make_ready_requests(patron, branch, ["Un"])
    arrived = curbside.i_am_here(bag=request.bag)
    changelist = reverse("admin:curbside_appointment_changelist")
    admin_client.post(changelist, {"action": "cancel_selected", "_selected_action": [arrived.pk]})
    arrived.refresh_from_db()
    assert arrived.state == Appointment.State.ARRIVED


@pytest.mark.django_db
def test_the_phone_desk_links_a_parent_and_their_children(client, branch):
    user = get_user_model().objects.create_user("desk", password="x")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=branch)
    parent = make_patron(branch, card="20000001", first_name="Camille")
    child = make_patron(branch, card="20000002", first_name="Léo", guardian=parent)
    client.force_login(user)
    parent_page = client.get(reverse("phonedesk:patron", args=[parent.pk])).content.decode()
    assert f'href="{reverse("phonedesk:patron", args=[child.pk])}"' in parent_page
    child_page = client.get(reverse("phonedesk:patron", args=[child.pk])).content.decode()
    assert f'href="{reverse("phonedesk:patron", args=[parent.pk])}"' in child_page
