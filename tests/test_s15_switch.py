"""The continuity switch as a network administrator lives it (the fifteenth session's
review): the last switch asked holds, whatever waits in the task queue; surprise bags
asked for a library that stops taking requests; one email per bag across a closing;
the API says what the account page says; leaving click and collect says first what is
under way."""

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from emporter.holds.continuity import set_mode
from emporter.holds.services import tell_closed_pickups
from emporter.network.models import Branch, ServiceMode
from emporter.notices import compose, outbox
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking


def url(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def network_admin(client):
    admin = get_user_model().objects.create_user(username="admin", password="x")
    StaffRole.objects.create(user=admin, role=Role.NETWORK_ADMIN)
    client.force_login(admin)
    return admin


def switch(branch, mode):
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=mode, actor=None)
    branch.refresh_from_db()


def sweeps(moment):
    """What the scheduler runs every minute or two, at ``moment``."""
    picking.settle_withdrawn_lines()
    picking.withdraw_closed_branches()
    tell_closed_pickups()
    compose.compose_all(moment)
    outbox.send_due(moment)


def mode_of(branch):
    branch.refresh_from_db()
    return branch.service_mode


# -- 1. A queued reopening: the administrator's later choice is dropped ---------------------


def test_a_reopening_corrected_while_queued_ends_in_the_mode_chosen_last(client, branch, settings):
    """A closed library is reopened by the task worker (network.tasks.switch_modes). The
    administrator clicks "Click and collect", sees "switching to Click and collect…",
    corrects it to "Open (normal service)" before the worker got to it: the page then says
    "switching to Open…". The worker runs both tasks in order: the first reopens the
    library (mode_changed_at = now), and the second, asked before that moment, is skipped
    as "switched again since" (its asked_at is older). The library ends in click and
    collect, the mode the administrator took back, and nothing says so."""
    from django.tasks import default_task_backend

    from emporter.network.tasks import switch_modes

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    switch(branch, ServiceMode.CLOSED)
    network_admin(client)
    client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLICK_COLLECT})
    client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.OPEN})
    for queued in list(default_task_backend.results):  # the worker, in the order asked
        switch_modes.call(*queued.args)
    assert mode_of(branch) == ServiceMode.OPEN


def test_closing_the_network_while_a_reopening_is_queued_keeps_the_library_closed(client, branch, settings):
    """The same, the other way: a reopening waits in the queue; the administrator thinks
    better of it and closes every library ("All libraries: Closed", confirmed). The
    confirmation counts the waiting library as "already in this mode", set_mode changes
    nothing for it (so mode_changed_at stays older than the queued task's asked_at), and
    the worker then reopens it: its patrons are served and told it reopened."""
    from django.tasks import default_task_backend

    from emporter.network.tasks import switch_modes

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    switch(branch, ServiceMode.CLOSED)
    network_admin(client)
    client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLICK_COLLECT})
    client.post(url("network:switch_network"), {"mode": ServiceMode.CLOSED, "confirm": "yes"})
    for queued in list(default_task_backend.results):
        switch_modes.call(*queued.args)
    assert mode_of(branch) == ServiceMode.CLOSED


def test_a_library_whose_reopening_is_queued_offers_to_stay_closed(client, branch, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    switch(branch, ServiceMode.CLOSED)
    network_admin(client)
    client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLICK_COLLECT})
    page = client.get(url("network:modes")).text
    row = page[page.index(url("network:switch_branch", branch.pk)) :]
    row = row[: row.index("</form>")]
    assert f'value="{ServiceMode.CLOSED}"' in row
    assert f'value="{ServiceMode.CLICK_COLLECT}"' not in row
