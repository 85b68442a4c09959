from django.contrib.auth import get_user_model

from emporter.patrons.models import Role, StaffRole

OUTBOX = "/staff/notices/"


def test_staff_see_the_screens_their_roles_open(client, branch):
    user = get_user_model().objects.create_user(username="picker", password="x-demo-pass")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    response = client.post("/staff/login/", {"username": "picker", "password": "x-demo-pass"}, follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/staff/picking/"  # straight to their screen
    assert 'href="/staff/picking/"' in page
    assert 'href="/staff/door/"' not in page and 'href="/staff/phone/"' not in page
    # Patrons' notices are for branch managers and administrators: not on a picker's menu.
    assert f'href="{OUTBOX}"' not in page


def test_a_branch_manager_has_the_notices_in_the_menu(client, branch):
    user = get_user_model().objects.create_user(username="manager", password="x-demo-pass")
    StaffRole.objects.create(user=user, role=Role.BRANCH_MANAGER, branch=branch)
    client.force_login(user)
    assert f'href="{OUTBOX}"' in client.get("/").content.decode()


def test_a_network_admin_sees_every_screen(client, db):
    user = get_user_model().objects.create_user(username="admin2", password="x-demo-pass")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    client.force_login(user)
    page = client.get("/").content.decode()
    for url in (
        "/staff/phone/",
        "/staff/picking/",
        "/staff/door/",
        "/staff/stats/",
        "/staff/network/modes/",
        OUTBOX,
    ):
        assert f'href="{url}"' in page


def test_patrons_see_no_staff_menu(client, patron):
    client.force_login(patron.user)
    assert 'class="staff-link"' not in client.get("/").content.decode()


def test_a_branch_manager_has_the_pick_lists_and_the_door_in_the_menu(client, branch):
    user = get_user_model().objects.create_user(username="manager2", password="x-demo-pass")
    StaffRole.objects.create(user=user, role=Role.BRANCH_MANAGER, branch=branch)
    client.force_login(user)
    page = client.get("/").content.decode()
    assert 'href="/staff/picking/"' in page and 'href="/staff/door/"' in page
    assert 'href="/staff/phone/"' not in page


def test_managers_and_administrators_land_on_the_services_figures(client, branch):
    """Today's workload, what is late, what is not found: the branch manager's first
    screen, not the phone desk that happens to come first in the menu."""
    for username, role, where in (
        ("manager", Role.BRANCH_MANAGER, branch),
        ("admin2", Role.NETWORK_ADMIN, None),
    ):
        user = get_user_model().objects.create_user(username=username, password="x-demo-pass")
        StaffRole.objects.create(user=user, role=role, branch=where)
        response = client.post("/staff/login/", {"username": username, "password": "x-demo-pass"})
        assert response["Location"] == "/staff/stats/"
        client.logout()
