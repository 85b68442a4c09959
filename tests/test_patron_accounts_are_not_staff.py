"""A patron's account signs in with a card and a four-digit PIN: a staff role given to it
(by mistake, in the admin) opens no staff screen, and the admin refuses to give it."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

from emporter.patrons.models import Role, StaffRole
from emporter.patrons.permissions import branches_for, has_role, is_network_admin, is_staff_member


@pytest.fixture
def patron_with_a_role(patron):
    StaffRole.objects.create(user=patron.user, role=Role.NETWORK_ADMIN)
    return patron


def test_the_role_gives_nothing(patron_with_a_role, branch):
    user = patron_with_a_role.user
    assert not is_staff_member(user) and not is_network_admin(user)
    assert not has_role(user, Role.DOOR_DESK, branch)
    assert not branches_for(user, Role.DOOR_DESK).exists()


def test_signed_in_with_the_pin_no_staff_screen_opens(client, patron_with_a_role, branch):
    client.post("/account/login/", {"card_number": patron_with_a_role.card_number, "pin": "1234"})
    with translation.override("en"):
        modes, imports = reverse("network:modes"), reverse("imports:index")
    assert client.get(modes).status_code == 403
    assert client.get(imports).status_code == 403
    assert not client.get("/").context["staff_menu"]


def test_the_admin_refuses_such_a_role(patron):
    with pytest.raises(ValidationError) as refused:
        StaffRole(user=patron.user, role=Role.DOOR_DESK).full_clean()
    assert "user" in refused.value.message_dict


def test_superuser_and_staff_flags_on_a_card_account_open_nothing(client, patron):
    """The likeliest mistake: "superuser" ticked on a librarian's own card account."""
    patron.user.is_superuser = patron.user.is_staff = True
    patron.user.save()
    client.post("/account/login/", {"card_number": patron.card_number, "pin": "1234"})
    with translation.override("en"):
        modes = reverse("network:modes")
    assert client.get(modes).status_code == 403
    assert client.get("/admin/").status_code == 302  # to the admin's sign-in
    assert client.get("/admin/patrons/patron/").status_code == 302
    assert not client.get("/").context["staff_menu"]


def test_a_card_is_not_given_to_a_staff_account(patron, branch):
    from django.contrib.auth import get_user_model

    from emporter.patrons.models import Patron

    staff = get_user_model().objects.create_user("mdurand", password="x")
    StaffRole.objects.create(user=staff, role=Role.DOOR_DESK, branch=branch)
    card = Patron(user=staff, card_number="99990001", first_name="M", last_name="Durand", home_branch=branch)
    with pytest.raises(ValidationError) as refused:
        card.full_clean()
    assert "user" in refused.value.message_dict
