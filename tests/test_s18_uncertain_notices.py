"""A notice whose sending was cut off ("uncertain") is never sent again on its own: the
staff menu and the outbox point managers to it, for a week."""

import datetime

from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from emporter.notices import outbox
from emporter.notices.models import Kind, Notice, State
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_branch, make_patron


def manager(branch, username):
    user = get_user_model().objects.create_user(username=username, password="x")
    StaffRole.objects.create(user=user, role=Role.BRANCH_MANAGER, branch=branch)
    client = Client()
    client.force_login(user)
    return client


def uncertain(patron, key, days_ago=0):
    notice = Notice.objects.create(
        patron=patron,
        kind=Kind.CONFIRMATION,
        dedupe_key=key,
        state=State.UNCERTAIN,
        error_code="worker_stopped",
    )
    Notice.objects.filter(pk=notice.pk).update(created_at=timezone.now() - datetime.timedelta(days=days_ago))
    return notice


def menu(client) -> str:
    text = client.get("/en/staff/notices/").content.decode()
    return text[text.index("<nav") : text.index("</nav>")]


def test_the_menu_and_the_outbox_point_a_manager_to_uncertain_notices_of_the_week(branch):
    patron = make_patron(branch)
    first = uncertain(patron, "a")
    uncertain(patron, "b", days_ago=8)  # stale news: the bag's week is over
    Notice.objects.create(patron=patron, kind=Kind.CONFIRMATION, dedupe_key="c", state=State.FAILED)
    client = manager(branch, "chef")

    assert "Notices (1 to check)" in menu(client)
    page = client.get("/en/staff/notices/").content.decode()
    assert "1 notice this week may have reached its patron or not" in page
    assert '<a href="?state=uncertain">See the uncertain notices</a>' in page

    outbox.resend(notice=first)  # staff chose: sent again
    assert "Notices (1 to check)" not in menu(client)
    assert ">Notices</a>" in menu(client)
    assert "may have reached" not in client.get("/en/staff/notices/").content.decode()


def test_another_branchs_manager_is_not_pointed_to_them(branch):
    uncertain(make_patron(branch), "a")
    other = manager(make_branch(code="VAI", name="Vaise"), "voisin")
    assert ">Notices</a>" in menu(other)
    assert "may have reached" not in other.get("/en/staff/notices/").content.decode()
