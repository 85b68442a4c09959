"""The continuity switch as a network administrator lives it (the fifteenth session's
review): the last switch asked holds, whatever waits in the task queue; surprise bags
asked for a library that stops taking requests; one email per bag across a closing;
the API says what the account page says; leaving click and collect says first what is
under way."""

import datetime

from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from emporter.holds.continuity import set_mode
from emporter.holds.services import place_request, tell_closed_pickups
from emporter.network.models import Branch, ServiceMode
from emporter.notices import compose, outbox
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from tests.conftest import make_record


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


# -- 3. A "ready" email held over a closing goes after the "reopened" one: told twice ------


def test_a_ready_email_held_by_a_closing_is_not_sent_again_after_the_reopened_email(settings, patron, branch):
    """The morning of a staff shortage: one of the patron's two documents is found at 9:00,
    the other is still on the list, so the "ready" email waits (PULL_WAIT). At 9:30 the
    library closes: the patron gets the "closed" email (their bag waits there). The held
    "ready" email waits for the reopening (outbox._waits_for_reopening). A week later the
    library reopens: the "reopened" email lists the bag and its new deadline, and up to an
    hour later the old "ready" email says the same again."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    for title in ("Un", "Deux"):
        place_request(
            patron=patron, record_id=make_record(title=title, copies=[branch]).pk, pickup_branch=branch
        )
    start = timezone.now()
    sweeps(start + datetime.timedelta(minutes=2))  # the confirmation
    first, _second = picking.build_run(branch=branch, kind="late").lines.order_by("pk")
    picking.mark_found(line=first)
    sweeps(start + datetime.timedelta(minutes=5))  # "ready" waits for the rest of the list
    switch(branch, ServiceMode.CLOSED)
    sweeps(start + datetime.timedelta(minutes=10))
    sweeps(start + datetime.timedelta(minutes=11))
    mail.outbox.clear()
    switch(branch, ServiceMode.CLICK_COLLECT)
    for minutes in (20, 21, 90, 200, 300):
        sweeps(start + datetime.timedelta(minutes=minutes))
    about_the_bag = [m.subject for m in mail.outbox if "Un" in m.body]
    assert len(about_the_bag) == 1, about_the_bag
