"""Admin actions name the permission they need: Django runs an action for anyone who may
see the change list otherwise, so a staff account given only "view patron" (to look
people up) could give any patron a new PIN, read it on the page and sign in as them;
"view" on records deleted records, "view" on sign-in failures lifted a card's lock (a
finding of the fourteenth session's security review)."""

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from emporter.catalogue.models import Record
from emporter.patrons.models import SignInFailures
from emporter.patrons.pins import pin_matches
from tests.conftest import make_patron, make_record


def viewer(*codenames):
    user = get_user_model().objects.create_user(
        username="lookup", password="a-long-password-1", is_staff=True
    )
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


def run_action(client, changelist, action, pk):
    return client.post(changelist, {"action": action, "_selected_action": [pk], "index": 0}, follow=True)


def test_every_admin_action_names_the_permission_it_needs():
    unguarded = [
        f"{model._meta.label}.{action.name}"
        for model, model_admin in admin.site._registry.items()
        for action in model_admin._get_base_actions()
        if not getattr(action.func, "allowed_permissions", None)
    ]
    assert unguarded == []


def test_view_only_staff_cannot_give_a_patron_a_new_pin(client, branch):
    victim = make_patron(branch, card="20000002", pin="4826")
    client.force_login(viewer("view_patron"))
    assert client.get("/admin/patrons/patron/").status_code == 200  # may look people up
    run_action(client, "/admin/patrons/patron/", "reset_pin", victim.pk)
    victim.user.refresh_from_db()
    assert pin_matches(victim.user, "4826")


def test_view_only_staff_cannot_delete_records(client, branch):
    record = make_record(title="Kept")
    client.force_login(viewer("view_record"))
    run_action(client, "/admin/catalogue/record/", "delete_without_copies", record.pk)
    assert Record.objects.filter(pk=record.pk).exists()


def test_view_only_staff_cannot_lift_a_pin_lock(client, branch):
    row = SignInFailures.objects.create(username="!pin 20000002", failures=0, locks=1)
    client.force_login(viewer("view_signinfailures"))
    run_action(client, "/admin/patrons/signinfailures/", "unlock", row.pk)
    assert SignInFailures.objects.filter(pk=row.pk).exists()


@pytest.mark.parametrize(
    ("codenames", "changelist", "action"),
    [
        (["view_patron", "change_patron"], "/admin/patrons/patron/", "reset_pin"),
        (["view_signinfailures", "delete_signinfailures"], "/admin/patrons/signinfailures/", "unlock"),
    ],
)
def test_staff_with_the_permission_still_may(client, branch, codenames, changelist, action):
    patron = make_patron(branch, card="20000002", pin="4826")
    row = SignInFailures.objects.create(username="!pin 20000002", failures=0, locks=1)
    client.force_login(viewer(*codenames))
    run_action(client, changelist, action, patron.pk if action == "reset_pin" else row.pk)
    patron.user.refresh_from_db()
    assert (
        not pin_matches(patron.user, "4826") if action == "reset_pin" else not SignInFailures.objects.exists()
    )
