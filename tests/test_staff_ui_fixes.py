"""Staff screens from a browser walkthrough: the staff menu stays on the picking and door
screens (tests/browser/test_staff_ui.py: a long call number fits a 360 px pick list,
flash messages line up with the page, Esc on the phone desk readies the search box)."""

from django.contrib.auth import get_user_model

from emporter.catalogue.models import Copy
from emporter.holds.services import place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from tests.conftest import make_branch, make_patron, make_record

STATS, NOTICES, PHONE = 'href="/staff/stats/"', 'href="/staff/notices/"', 'href="/staff/phone/"'
PICKING, DOOR, MISSING = 'href="/staff/picking/"', 'href="/staff/door/"', 'href="/staff/picking/missing/"'


def staff(username, role, branch=None):
    user = get_user_model().objects.create_user(username=username, password="motdepasse-demo")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


def a_run(branch, call_numbers):
    """A run at ``branch`` with one line per call number (a request each)."""
    patron = make_patron(branch)
    for n, call_number in enumerate(call_numbers):
        record = make_record(title=f"Partition {n}", copies=[branch], doc_type="music")
        Copy.objects.filter(record=record).update(call_number=call_number)
        place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    return picking.build_run(branch=branch, kind="late")


def header_nav(response) -> str:
    html = response.content.decode()
    return html[html.index("<nav") : html.index("</nav>")]


# ---- the staff menu on the picking and door screens (no browser needed) ----


def test_a_branch_manager_keeps_the_staff_menu_on_the_picking_screens(client, db):
    branch = make_branch()
    run = a_run(branch, ["ML 3561 J3 F73 l966"])
    client.force_login(staff("manager", Role.BRANCH_MANAGER, branch))
    for url in ["/staff/picking/", f"/staff/picking/runs/{run.pk}/pick/", "/staff/picking/missing/"]:
        response = client.get(url)
        assert response.status_code == 200, url
        nav = header_nav(response)
        for link in (STATS, NOTICES, PICKING, DOOR, MISSING):
            assert link in nav, (url, link)
        assert PHONE not in nav  # the phone desk is not a manager's role


def test_a_branch_manager_keeps_the_staff_menu_at_the_door(client, db):
    branch = make_branch()
    client.force_login(staff("manager", Role.BRANCH_MANAGER, branch))
    for tab, url in [("door", f"/staff/door/{branch.pk}/"), ("returns", f"/staff/door/{branch.pk}/returns/")]:
        response = client.get(url)
        assert response.status_code == 200, url
        nav = header_nav(response)
        for link in (STATS, NOTICES, PICKING, DOOR):
            assert link in nav, (url, link)
        # The branch's own tabs are still there, the current one marked.
        assert f'href="/staff/door/{branch.pk}/shelf/"' in nav
        assert f'href="{url}" aria-current="page"' in nav, tab


def test_the_menu_on_these_screens_still_follows_the_roles(client, db):
    branch = make_branch()
    run = a_run(branch, ["R BLU"])
    client.force_login(staff("picker", Role.PICKER, branch))
    nav = header_nav(client.get(f"/staff/picking/runs/{run.pk}/pick/"))
    assert PICKING in nav and MISSING in nav
    assert STATS not in nav and NOTICES not in nav and DOOR not in nav
    client.force_login(staff("door", Role.DOOR_DESK, branch))
    nav = header_nav(client.get(f"/staff/door/{branch.pk}/"))
    assert DOOR in nav and STATS not in nav and PICKING not in nav
