"""The continuity switch as a network administrator lives it (the fifteenth session's
review): the last switch asked holds, whatever waits in the task queue; surprise bags
asked for a library that stops taking requests; one email per bag across a closing;
the API says what the account page says; leaving click and collect says first what is
under way."""

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone, translation

from emporter.curbside.models import PickupSettings
from emporter.discovery import services as discovery
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.discovery.selectors import remaining_allowance
from emporter.holds.continuity import set_mode
from emporter.holds.services import place_request, tell_closed_pickups
from emporter.network.models import Branch, ServiceMode
from emporter.notices import compose, outbox
from emporter.notices.models import Notice
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from tests.conftest import make_ready_requests, make_record


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
    discovery.cancel_stranded(now=moment)
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


# -- 2. Surprise bags asked for a library that closes: stranded, untold --------------------


def test_a_surprise_bag_asked_for_a_library_that_closes_is_counted_and_its_patron_told(
    client, patron, branch, other_branch, settings
):
    """A patron asked Part-Dieu's librarians for a surprise bag (3 documents). Part-Dieu
    closes for a week. The closing confirmation counts requests, pickups and bookings,
    not the surprise bag; the sweeps tell the patrons of requests only
    (tell_closed_pickups reads Request rows); the bag stays OPEN, in Part-Dieu's queue,
    where composing it can only fail (place_requests: branch_not_accepting), and it keeps
    3 of the patron's 8 places. Nobody tells the patron anything."""
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    discovery.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=3)
    network_admin(client)
    page = client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLOSED}).text
    confirm = page[
        page.index("<h1>") : page.index("</form>", page.index("<h1>"))
    ]  # the confirmation, not the menu
    client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLOSED, "confirm": "yes"})
    later = timezone.now() + datetime.timedelta(minutes=15)
    sweeps(later)
    sweeps(later + datetime.timedelta(minutes=2))
    told = Notice.objects.filter(patron=patron).exists()
    assert told, "the patron whose surprise bag was to be composed at the closed library is told nothing"
    assert "surprise" in confirm.lower(), "the closing confirmation does not count the surprise bag"


def test_a_surprise_bag_left_open_when_click_and_collect_ends_does_not_keep_the_patrons_places(
    client, patron, branch
):
    """End of the lockdown: the whole network goes back to normal service. A surprise bag
    asked the day before can no longer be composed anywhere (no library takes requests),
    yet it stays OPEN for ever and keeps its places off the patron's allowance (and
    privacy.erase_patron refuses to erase a patron with an open surprise bag)."""
    discovery.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=3)
    network_admin(client)
    client.post(url("network:switch_network"), {"mode": ServiceMode.OPEN, "confirm": "yes"})
    assert mode_of(branch) == ServiceMode.OPEN
    sweeps(timezone.now() + datetime.timedelta(minutes=15))
    surprise = SurpriseRequest.objects.get(patron=patron)
    assert surprise.status == SurpriseStatus.CANCELLED and remaining_allowance(patron=patron) == 8
    (notice,) = Notice.objects.filter(patron=patron, kind="surprise_cancelled")
    assert notice.state == "sent" and notice.surprise == surprise


def test_a_surprise_bag_is_not_cancelled_by_a_closing_undone_at_once(patron, branch):
    discovery.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=3)
    switch(branch, ServiceMode.CLOSED)
    switch(branch, ServiceMode.CLICK_COLLECT)
    sweeps(timezone.now() + datetime.timedelta(minutes=15))
    assert SurpriseRequest.objects.get(patron=patron).status == SurpriseStatus.OPEN


def test_the_surprise_cancelled_email_says_which_bag_and_where_to_ask_again(
    settings, patron, branch, other_branch
):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    patron.language = "en"
    patron.save(update_fields=["language"])
    discovery.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=3)
    switch(branch, ServiceMode.OPEN)
    sweeps(timezone.now() + datetime.timedelta(minutes=15))
    (message,) = mail.outbox
    assert message.subject == "Your surprise bag is cancelled"
    assert f"{branch.name} no longer takes requests: the surprise bag of 3 documents" in message.body
    assert "/en/discover/surprise/" in message.body  # other_branch still takes requests


# -- 5. Leaving click and collect: no confirmation, no counts -------------------------------


def test_switching_a_library_back_to_normal_service_says_first_what_is_under_way_there(
    client, patron, branch, other_branch
):
    """Closing asks first and counts what moves (confirm_close.html). Leaving click and
    collect for normal service is one click: no confirmation, and neither before nor
    after does the page say that 4 requests are still under way there (a bag on the hold
    shelf with a booked time, one on the morning list, one set aside elsewhere, one
    waiting), that they will still be pulled and handed over, and that patrons can no
    longer ask to collect there."""
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    make_ready_requests(patron, branch, ["Prêt"])
    place_request(
        patron=patron, record_id=make_record(title="Liste", copies=[branch]).pk, pickup_branch=branch
    )
    picking.build_run(branch=branch, kind="late")
    place_request(
        patron=patron, record_id=make_record(title="Posé", copies=[other_branch]).pk, pickup_branch=branch
    )
    record = make_record(title="Attente", copies=[(branch, "on_loan")])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    network_admin(client)
    page = client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.OPEN}, follow=True).text
    text = re.sub(r"<[^>]+>", " ", page)
    assert re.search(r"\b4\b[^.]*\brequests?\b", text), "nothing says 4 requests are under way there"


# -- 4. The API's bag at a closed library says nothing of it --------------------------------


def test_the_api_says_a_bag_waits_at_a_closed_library_as_the_account_page_does(client, patron, branch):
    """The account page says "This library is closed: your bag waits there until it
    reopens", and offers no time nor "held until" (a date that may be past). GET
    /api/v1/bags gives the same bag with has_times true, its old hold_until and no word of
    the closing (BranchRef has no mode): an app shows "held until <past date>" and "choose
    a time", and /times answers an empty list."""
    PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)
    make_ready_requests(patron, branch, ["Un"])
    switch(branch, ServiceMode.CLOSED)
    from tests.test_api import V1, sign_in

    client.force_login(patron.user)
    page = client.get(url("patrons:account")).text
    assert "This library is closed: your bag waits there until it reopens." in page
    client.logout()
    (bag,) = client.get(f"{V1}/bags", headers=sign_in(client)).json()
    assert bag["library_closed"] is True and bag["has_times"] is False, bag


def test_with_every_library_in_normal_service_no_page_offers_a_basket(client, patron, branch):
    record = make_record(title="Ouvert", copies=[branch])
    set_mode(branches=Branch.objects.all(), mode=ServiceMode.OPEN, actor=None)
    client.force_login(patron.user)
    page = client.get(url("catalogue:record", record.pk)).text
    assert "Add to my basket" not in page
    assert "No library is taking requests at the moment" in page
    results = client.get(url("catalogue:search"), {"q": "Ouvert"}).text
    assert "Ouvert" in results and "Add to my basket" not in results
    # Back in click and collect somewhere, it is offered again.
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLICK_COLLECT, actor=None)
    assert "Add to my basket" in client.get(url("catalogue:record", record.pk)).text


def test_more_like_this_tiles_offer_no_basket_when_no_library_takes_requests(client, patron, branch):
    record = make_record(title="Ouvert", copies=[branch], responsibility="Anne Autrice")
    make_record(title="Voisin", copies=[branch], responsibility="Anne Autrice")
    set_mode(branches=Branch.objects.all(), mode=ServiceMode.OPEN, actor=None)
    client.force_login(patron.user)
    page = client.get(url("catalogue:record", record.pk)).text
    assert "No library is taking requests at the moment" in page
    assert "Voisin" in page  # the tile is shown ("More like this")
    assert "Add to my basket" not in page, "a tile on the same page still offers the basket"


def test_a_patron_with_a_request_under_way_is_still_told_they_requested_it(client, patron, branch):
    record = make_record(title="Demandé", copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    set_mode(branches=Branch.objects.all(), mode=ServiceMode.OPEN, actor=None)
    client.force_login(patron.user)
    page = client.get(url("catalogue:record", record.pk)).text
    assert "You have requested this document" in page, (
        "the record page says 'come and choose on the shelves' to a patron whose request is under way"
    )


def test_staying_closed_is_not_shown_as_still_switching(client, branch, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    admin = get_user_model().objects.create_user(username="admin", password="x")
    StaffRole.objects.create(user=admin, role=Role.NETWORK_ADMIN)
    client.force_login(admin)
    client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLICK_COLLECT})
    assert "switching to" in client.get(url("network:modes")).text  # queued, as shown
    # The administrator thinks better of it: "Closed" (the row offers it).
    client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLOSED})
    branch.refresh_from_db()
    assert branch.service_mode == ServiceMode.CLOSED
    page = client.get(url("network:modes")).text
    assert "switching to" not in page, "the page still says the library is switching to click and collect"


def test_the_network_confirmation_does_not_say_here_of_several_libraries(
    client, patron, branch, other_branch
):
    place_request(patron=patron, record_id=make_record(title="Un", copies=[branch]).pk, pickup_branch=branch)
    discovery.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=other_branch, how_many=2)
    admin = get_user_model().objects.create_user(username="admin", password="x")
    StaffRole.objects.create(user=admin, role=Role.NETWORK_ADMIN)
    client.force_login(admin)
    with translation.override("en"):
        page = client.post(reverse("network:switch_network"), {"mode": ServiceMode.OPEN}).text
    effects = page[page.index("Across the libraries leaving") :]
    effects = effects[: effects.index("</ul>")]
    assert "here" not in effects and "choose it" not in effects, effects


def test_the_pickup_librarys_manager_sees_a_cancelled_surprise_bags_notice(patron, other_branch, branch):
    from emporter.notices.selectors import visible_notices

    patron.home_branch = other_branch
    patron.save(update_fields=["home_branch"])
    discovery.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=2)
    switch(branch, ServiceMode.OPEN)
    discovery.cancel_stranded(now=timezone.now() + datetime.timedelta(minutes=15))
    compose.compose_all(timezone.now())
    manager = get_user_model().objects.create_user(username="manager", password="x")
    StaffRole.objects.create(user=manager, role=Role.BRANCH_MANAGER, branch=branch)
    (notice,) = visible_notices(manager).filter(kind="surprise_cancelled")
    assert notice.patron == patron


def test_a_surprise_bag_deleted_before_its_email_left_is_not_told_blank(settings, patron, branch):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    discovery.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=2)
    switch(branch, ServiceMode.OPEN)
    later = timezone.now() + datetime.timedelta(minutes=15)
    discovery.cancel_stranded(now=later)
    compose.compose_all(later)
    SurpriseRequest.objects.all().delete()
    outbox.send_due(later)
    assert mail.outbox == []
    assert Notice.objects.get(kind="surprise_cancelled").state == "skipped"


def test_the_requests_table_gives_no_past_deadline_for_a_bag_at_a_closed_library(client, patron, branch):
    (ready,) = make_ready_requests(patron, branch, ["Un"])
    type(ready).objects.filter(pk=ready.pk).update(
        hold_until=timezone.localdate() - datetime.timedelta(days=3)
    )
    switch(branch, ServiceMode.CLOSED)
    client.force_login(patron.user)
    page = client.get(url("patrons:account")).text
    assert "Until the library reopens" in page


# --- upgrading from the release before (a0c50c3) ---------------------------------------


def test_a_switch_queued_before_the_upgrade_keeps_a_library_closed_since_by_the_old_code(db):
    from emporter.network.tasks import switch_modes
    from tests.conftest import make_branch

    closed = make_branch(code="GER", name="Gerland")
    corrected = make_branch(code="CRX", name="Croix-Rousse")
    # GER closed a while ago; CRX in click and collect since long ago.
    long_ago = timezone.now() - datetime.timedelta(days=3)
    Branch.objects.filter(pk=closed.pk).update(service_mode=ServiceMode.CLOSED, mode_changed_at=long_ago)
    Branch.objects.filter(pk=corrected.pk).update(mode_changed_at=long_ago)
    # The old modes page: "All libraries: click and collect", a closed one among them:
    # queued as switch_modes(ids, mode, actor, asked_at) (old network/views.py).
    asked_at = timezone.now() - datetime.timedelta(minutes=5)
    # Then, with the old code, the administrator closes CRX at once (old set_mode:
    # service_mode and mode_changed_at, no mode_asked_at: the column did not exist).
    Branch.objects.filter(pk=corrected.pk).update(
        service_mode=ServiceMode.CLOSED, mode_changed_at=asked_at + datetime.timedelta(minutes=2)
    )
    # After the upgrade the new worker runs the queued task.
    switch_modes.call([closed.pk, corrected.pk], ServiceMode.CLICK_COLLECT, None, asked_at.isoformat())
    closed.refresh_from_db()
    corrected.refresh_from_db()
    assert closed.service_mode == ServiceMode.CLICK_COLLECT
    # The old worker left CRX closed (switched since the switch was asked): so must the new one.
    assert corrected.service_mode == ServiceMode.CLOSED


def test_a_long_stranded_surprise_bag_cancelled_after_the_upgrade_is_told(settings, patron, branch):
    from django.core.management import call_command

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    discovery.create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=3)
    # Asked 40 days ago; the library went back to normal service a month ago (old code).
    long_ago = timezone.now() - datetime.timedelta(days=40)
    SurpriseRequest.objects.update(created_at=long_ago)
    Branch.objects.filter(pk=branch.pk).update(
        service_mode=ServiceMode.OPEN, mode_changed_at=timezone.now() - datetime.timedelta(days=30)
    )
    # The new scheduler starts (the deploy's last restart), then goes on.
    call_command("run_scheduler", "--once")
    call_command("run_scheduler", "--once")
    surprise = SurpriseRequest.objects.get()
    assert surprise.status == SurpriseStatus.CANCELLED
    assert Notice.objects.filter(kind="surprise_cancelled").exists(), (
        "cancelled and forgotten in the same pass: the patron is never told"
    )


def test_no_surprise_bag_is_offered_while_no_library_takes_requests(client, patron, branch):
    set_mode(branches=Branch.objects.all(), mode=ServiceMode.OPEN, actor=None)
    client.force_login(patron.user)
    page = client.get(url("discovery:surprise")).text
    assert "No library is taking requests at the moment" in page
    assert 'name="pickup_branch"' not in page  # a required choice with nothing in it
    assert "Ask for a surprise bag" not in client.get(url("discovery:index")).text


def test_staying_closed_says_the_waiting_reopening_is_cancelled(client, branch, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    switch(branch, ServiceMode.CLOSED)
    network_admin(client)
    client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLICK_COLLECT})
    page = client.post(
        url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLOSED}, follow=True
    ).text
    assert "stays Closed: the switch to Click and collect that was waiting is cancelled" in page


@pytest.mark.django_db(transaction=True)
def test_closing_again_while_the_reopening_serves_its_queue_asks_as_for_an_open_library(
    postgres, branch, client, settings, monkeypatch
):
    import threading

    from django.db import connection
    from django_tasks_db.models import DBTaskResult

    from emporter.holds import continuity
    from emporter.network.tasks import switch_modes
    from tests.conftest import backend_pid, wait_until_blocked

    """A closed library: the administrator clicks "Click and collect" (queued), the
    worker starts it (serving 3,000 waiting requests takes over a minute), the modes page
    still says "switching to Click and collect…", and the administrator thinks better of
    it and clicks "Closed". Before 2c3cc7f the view called set_mode(CLOSED), which waited
    for the reopening's row lock and closed the library again (the last switch asked
    holds). Now the view says "stays Closed: the switch ... is cancelled" and does
    nothing: the running task commits the reopening, and the library is open while the
    administrator was told it stays closed (its patrons are told it reopened).

    Since the switch commits before its waiting lists are served (each request on its
    own), the library is open by then: "Closed" asks to confirm a closing, as for any open
    library, and the confirmation closes it."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    switch(branch, ServiceMode.CLOSED)
    network_admin(client)
    client.post(url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLICK_COLLECT})
    queued = DBTaskResult.objects.get(task_path=switch_modes.module_path)
    args = queued.args_kwargs["args"]
    # The worker takes it.
    DBTaskResult.objects.filter(pk=queued.pk).update(status="RUNNING", started_at=timezone.now())

    entered, release = threading.Event(), threading.Event()
    real = continuity.serve_waiting

    def serving(**kwargs):  # the reopening serving its waiting lists: a while
        entered.set()
        release.wait(20)
        return real(**kwargs)

    monkeypatch.setattr(continuity, "serve_waiting", serving)

    def worker():
        try:
            switch_modes.call(*args)
        finally:
            connection.close()

    pid_box, answer = [], {}

    def administrator():
        try:
            pid_box.append(backend_pid())
            response = client.post(
                url("network:switch_branch", branch.pk), {"mode": ServiceMode.CLOSED}, follow=True
            )
            answer["page"] = response.content.decode()
        finally:
            connection.close()

    running = threading.Thread(target=worker)
    running.start()
    assert entered.wait(10)
    clicking = threading.Thread(target=administrator)
    clicking.start()
    wait_until_blocked(pid_box, unless_done=lambda: not clicking.is_alive())
    release.set()
    running.join(30)
    clicking.join(30)

    assert "Close Part-Dieu?" in answer["page"] and "stays Closed" not in answer["page"]
    assert Branch.objects.get(pk=branch.pk).service_mode == ServiceMode.CLICK_COLLECT
    confirm = {"mode": ServiceMode.CLOSED, "confirm": "yes"}
    client.post(url("network:switch_branch", branch.pk), confirm)
    assert Branch.objects.get(pk=branch.pk).service_mode == ServiceMode.CLOSED
