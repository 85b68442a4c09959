import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from emporter.holds.services import place_request
from emporter.network.models import Branch, ServiceMode
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_branch, make_patron, make_record


def url(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def staff(role=None, branch=None, username="admin", **kw):
    user = get_user_model().objects.create_user(username=username, password="x", **kw)
    if role:
        StaffRole.objects.create(user=user, role=role, branch=branch)
    return user


@pytest.fixture
def network(db):
    return [
        make_branch(code="PDI", name="Part-Dieu", mode=ServiceMode.OPEN),
        make_branch(code="CRX", name="Croix-Rousse", mode=ServiceMode.OPEN),
        make_branch(code="VAI", name="Vaise", mode=ServiceMode.CLOSED),
    ]


@pytest.fixture
def admin_client(client, network):
    client.force_login(staff(Role.NETWORK_ADMIN))
    return client


def modes():
    return dict(Branch.objects.values_list("code", "service_mode"))


def test_a_network_admin_sees_every_branch_and_its_mode(admin_client, network):
    page = admin_client.get(url("network:modes"))
    assert page.status_code == 200
    for branch in network:
        assert branch.name in page.text
    assert "Closed" in page.text and "Open (normal service)" in page.text


def test_closing_a_branch_says_what_will_happen_and_asks_first(admin_client, network):
    crx, vai = network[1], network[2]
    Branch.objects.filter(pk__in=[crx.pk, vai.pk]).update(service_mode=ServiceMode.CLICK_COLLECT)
    crx.refresh_from_db()
    vai.refresh_from_db()
    patron = make_patron(crx)
    for title in ("Un", "Deux"):  # to collect at Croix-Rousse, copies there
        place_request(patron=patron, record_id=make_record(title=title, copies=[crx]).pk, pickup_branch=crx)
    # To collect at Vaise, its copy set aside at Croix-Rousse.
    place_request(patron=patron, record_id=make_record(title="Trois", copies=[crx]).pk, pickup_branch=vai)
    # To collect at Croix-Rousse, its copy at Vaise: only this one waits on its patron.
    place_request(patron=patron, record_id=make_record(title="Quatre", copies=[vai]).pk, pickup_branch=crx)
    page = admin_client.post(url("network:switch_branch", crx.pk), {"mode": ServiceMode.CLOSED})
    text = page.content.decode()
    assert page.status_code == 200 and modes()["CRX"] == "click_collect"  # nothing switched yet
    assert "3 requests wait for a copy set aside here" in text
    # Those set aside here are counted once, with what moves; the rest wait on patrons.
    assert "1 request is to be collected here" in text
    response = admin_client.post(
        url("network:switch_branch", crx.pk), {"mode": ServiceMode.CLOSED, "confirm": "yes"}, follow=True
    )
    assert modes()["CRX"] == "closed"
    assert "1 request is to be collected at Croix-Rousse, now closed" in response.content.decode()
    # Reopening needs no confirmation.
    admin_client.post(url("network:switch_branch", crx.pk), {"mode": ServiceMode.OPEN})
    assert modes()["CRX"] == "open"


def test_switching_one_branch_leaves_the_others(admin_client, network):
    pdi = network[0]
    response = admin_client.post(url("network:switch_branch", pdi.pk), {"mode": ServiceMode.CLICK_COLLECT})
    assert response.status_code == 302
    assert modes() == {"PDI": "click_collect", "CRX": "open", "VAI": "closed"}


def test_switching_the_whole_network_asks_for_confirmation_first(admin_client, network):
    asked = admin_client.post(url("network:switch_network"), {"mode": ServiceMode.CLICK_COLLECT})
    assert asked.status_code == 200 and "Yes, switch them all" in asked.text
    assert "Vaise" in asked.text
    assert modes() == {"PDI": "open", "CRX": "open", "VAI": "closed"}
    done = admin_client.post(
        url("network:switch_network"), {"mode": ServiceMode.CLICK_COLLECT, "confirm": "yes"}, follow=True
    )
    assert set(modes().values()) == {"click_collect"}
    # Vaise reopens: that is done by the task worker (here, at once), and the page says so.
    assert "Whole network: Click and collect in a moment." in done.text


def test_an_unknown_mode_is_refused_and_changes_nothing(admin_client, network):
    response = admin_client.post(url("network:switch_branch", network[0].pk), {"mode": "party"}, follow=True)
    assert "Choose a service mode." in response.text
    response = admin_client.post(url("network:switch_network"), {"mode": "", "confirm": "yes"}, follow=True)
    assert "Choose a service mode." in response.text
    assert modes() == {"PDI": "open", "CRX": "open", "VAI": "closed"}


@pytest.mark.parametrize("role", [Role.DOOR_DESK, Role.BRANCH_MANAGER, Role.PICKER])
def test_only_network_admins_can_switch_modes(client, network, role):
    client.force_login(staff(role, username=f"u-{role}"))
    assert client.get(url("network:modes")).status_code == 403
    assert client.post(url("network:switch_branch", network[0].pk), {"mode": "closed"}).status_code == 403
    data = {"mode": "closed", "confirm": "yes"}
    assert client.post(url("network:switch_network"), data).status_code == 403
    assert modes()["PDI"] == "open"


def test_a_network_admin_role_for_one_branch_is_refused_by_the_database(network):
    """It would show the whole staff menu and be refused every page: a library's manager
    is the role for one library."""
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        staff(Role.NETWORK_ADMIN, branch=network[0])


def test_superusers_can_switch_and_anonymous_users_are_sent_to_sign_in(client, network):
    assert client.get(url("network:modes")).status_code == 302
    client.force_login(staff(username="root", is_superuser=True))
    client.post(url("network:switch_branch", network[2].pk), {"mode": "click_collect"})
    assert modes()["VAI"] == "click_collect"


def test_home_page_shows_which_branches_take_requests_and_their_pickup_hours(client, network):
    Branch.objects.filter(code="CRX").update(service_mode=ServiceMode.CLICK_COLLECT)
    page = client.get(url("home"))
    text = page.text
    crx = text[text.index("Croix-Rousse") : text.index("Part-Dieu")]
    assert "Takes requests" in crx and "Pickup hours" in crx and "10:00–19:00" in crx
    pdi = text[text.index("Part-Dieu") :]
    assert "Not taking requests" in pdi and "Pickup hours" not in pdi


def test_a_reopening_is_done_by_the_task_worker_not_in_the_web_request(admin_client, network, settings):
    from django.tasks import default_task_backend

    from emporter.network.tasks import switch_modes

    # The worker is down: the page answers at once, the library is still closed.
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    vaise = next(b for b in network if b.code == "VAI")
    done = admin_client.post(
        url("network:switch_branch", vaise.pk), {"mode": ServiceMode.CLICK_COLLECT}, follow=True
    )
    assert "Vaise: Click and collect in a moment." in done.text
    assert modes()["VAI"] == "closed"
    (queued,) = default_task_backend.results
    assert queued.args[:2] == [[vaise.pk], ServiceMode.CLICK_COLLECT]
    switch_modes.call(*queued.args)  # what the worker does
    assert modes()["VAI"] == "click_collect"


def test_a_queued_switch_leaves_a_library_switched_again_since(admin_client, network, settings):
    from django.tasks import default_task_backend

    from emporter.holds.continuity import set_mode
    from emporter.network.tasks import switch_modes

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    vaise = next(b for b in network if b.code == "VAI")
    admin_client.post(url("network:switch_branch", vaise.pk), {"mode": ServiceMode.CLICK_COLLECT})
    (queued,) = default_task_backend.results
    # While it waits, the administrator switches Vaise to normal service instead.
    set_mode(branches=Branch.objects.filter(pk=vaise.pk), mode=ServiceMode.OPEN, actor=None)
    switch_modes.call(*queued.args)
    assert modes()["VAI"] == "open"


def test_the_modes_page_says_a_switch_is_under_way_while_the_worker_has_not_done_it(
    admin_client, network, settings
):
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    vaise = next(b for b in network if b.code == "VAI")
    admin_client.post(url("network:switch_branch", vaise.pk), {"mode": ServiceMode.CLICK_COLLECT})
    assert DBTaskResult.objects.filter(status="READY").count() == 1  # the worker is not running
    page = admin_client.get(url("network:modes")).text
    assert "switching to Click and collect…" in page and modes()["VAI"] == "closed"


def test_a_switch_whose_worker_was_killed_is_not_shown_under_way_for_ever(admin_client, network, settings):
    import datetime

    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    vaise = next(b for b in network if b.code == "VAI")
    admin_client.post(url("network:switch_branch", vaise.pk), {"mode": ServiceMode.CLICK_COLLECT})
    # Taken by a worker, which was then killed (SIGKILL): RUNNING, never finished.
    DBTaskResult.objects.update(status="RUNNING", started_at=timezone.now() - datetime.timedelta(minutes=5))
    assert "switching to Click and collect…" in admin_client.get(url("network:modes")).text
    DBTaskResult.objects.update(started_at=timezone.now() - datetime.timedelta(hours=2))
    page = admin_client.get(url("network:modes")).text
    assert "switching to" not in page and modes()["VAI"] == "closed"  # to switch again


def test_every_switch_is_kept_with_who_made_it_and_shown_on_the_page(admin_client, network):
    from emporter.network.models import ModeChange

    pdi = next(b for b in network if b.code == "PDI")
    admin_client.post(url("network:switch_branch", pdi.pk), {"mode": ServiceMode.CLICK_COLLECT})
    (change,) = ModeChange.objects.all()
    assert (change.branch, change.from_mode, change.to_mode) == (pdi, "open", "click_collect")
    assert change.changed_by.get_username() == "admin"
    page = admin_client.get(url("network:modes")).text
    assert "(admin)" in page
    admin_client.force_login(staff(username="root", is_superuser=True, is_staff=True))
    history = admin_client.get(reverse("admin:network_modechange_changelist"))
    assert history.status_code == 200 and pdi.name in history.text
    assert admin_client.get(reverse("admin:network_modechange_change", args=[change.pk])).status_code == 200
    assert admin_client.post(reverse("admin:network_modechange_delete", args=[change.pk])).status_code == 403
