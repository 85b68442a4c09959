"""Collecting at another library, and what a library that closes does to the patrons who
were to collect there: they are told once, may choose another library, nothing is sent
there meanwhile, and the bags waiting there do not expire until it reopens."""

import datetime
import re

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation

from emporter.catalogue.models import Copy, CopyStatus
from emporter.dates import long_date
from emporter.errors import ServiceError
from emporter.holds.continuity import set_mode
from emporter.holds.models import RequestEvent, RequestPolicy, Status
from emporter.holds.services import (
    change_pickup,
    expire_overdue,
    place_request,
    release_copy,
    serve_waiting,
    tell_closed_pickups,
)
from emporter.network.models import Branch, ServiceMode
from emporter.notices import compose, outbox
from emporter.notices.models import Kind, Notice, State
from emporter.picking import services as picking
from tests.conftest import make_branch, make_patron, make_ready_requests, make_record


@pytest.fixture(autouse=True)
def mailbox(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


@pytest.fixture
def third(db):
    return make_branch(code="VAI", name="Vaise")


def url(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def place(patron, title, pickup, copies):
    return place_request(
        patron=patron, record_id=make_record(title=title, copies=copies).pk, pickup_branch=pickup
    )[0]


def later(**delta):
    return timezone.now() + datetime.timedelta(minutes=5) + datetime.timedelta(**delta)


def close(branch):
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    branch.refresh_from_db()


def reopen(branch):
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLICK_COLLECT, actor=None)
    branch.refresh_from_db()


# -- Changing the pickup library -----------------------------------------------------------


def test_the_copy_set_aside_stays_when_copies_travel(patron, branch, other_branch):
    request = place(patron, "Voyage", branch, [branch])
    copy_id = request.copy_id
    change_pickup(request=request, branch=other_branch)
    request.refresh_from_db()
    assert (request.pickup_branch, request.status, request.copy_id) == (other_branch, Status.PLACED, copy_id)
    event = request.events.last()
    assert (event.reason, event.from_status, event.to_status, event.branch) == (
        "pickup_changed",
        Status.PLACED,
        Status.PLACED,
        other_branch,
    )


def test_without_travel_a_copy_at_the_new_library_is_taken_and_the_old_one_freed(
    patron, branch, other_branch
):
    RequestPolicy.objects.create(allow_other_branches=False)
    record = make_record(title="Sur place", copies=[branch, other_branch])
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    old = request.copy
    waiting_patron = make_patron(branch, card="10000002")
    # Someone waits for the title at the first library: the freed copy is theirs.
    Copy.objects.filter(record=record, branch=other_branch).update(status=CopyStatus.ON_LOAN)
    waiter, _ = place_request(patron=waiting_patron, record_id=record.pk, pickup_branch=branch)
    assert waiter.status == Status.WAITING
    Copy.objects.filter(record=record, branch=other_branch).update(status=CopyStatus.ON_SHELF)

    change_pickup(request=request, branch=other_branch)
    request.refresh_from_db()
    waiter.refresh_from_db()
    assert request.copy.branch == other_branch and request.pickup_branch == other_branch
    assert (waiter.status, waiter.copy_id) == (Status.PLACED, old.pk)


def test_no_copy_the_new_library_may_have_leaves_the_request_as_it_was(patron, branch, other_branch):
    RequestPolicy.objects.create(allow_other_branches=False)
    request = place(patron, "Seul ici", branch, [branch])
    with pytest.raises(ServiceError) as error:
        change_pickup(request=request, branch=other_branch)
    assert error.value.code == "pickup_no_copy"
    request.refresh_from_db()
    assert (request.pickup_branch, request.copy.status) == (branch, CopyStatus.SET_ASIDE)


def test_once_the_document_has_left_its_shelf_the_library_cannot_change(patron, branch, other_branch):
    request = place(patron, "En route", other_branch, [branch])
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)  # in the van to Croix-Rousse
    with pytest.raises(ServiceError) as error:
        change_pickup(request=request, branch=branch)
    assert error.value.code == "pickup_not_changeable"


def test_only_libraries_taking_requests(patron, branch, other_branch):
    request = place(patron, "Fermé", branch, [branch])
    other_branch.service_mode = ServiceMode.OPEN
    other_branch.save()
    with pytest.raises(ServiceError) as error:
        change_pickup(request=request, branch=other_branch)
    assert error.value.code == "branch_not_accepting"


def test_a_waiting_request_changes_library_too(patron, branch, other_branch):
    request = place(patron, "Attendu", branch, [(branch, CopyStatus.ON_LOAN)])
    assert request.status == Status.WAITING
    change_pickup(request=request, branch=other_branch)
    request.refresh_from_db()
    assert (request.status, request.pickup_branch) == (Status.WAITING, other_branch)


def test_the_account_page_offers_it_and_changes_it(client, patron, branch, other_branch):
    request = place(patron, "Ma réservation", branch, [branch])
    client.force_login(patron.user)
    page = client.get(url("patrons:account"))
    assert url("holds:change_pickup", request.pk) in page.text
    done = client.post(url("holds:change_pickup", request.pk), {"branch": other_branch.pk}, follow=True)
    assert "will be collected at Croix-Rousse" in done.text
    request.refresh_from_db()
    assert request.pickup_branch == other_branch


def test_at_a_closed_library_the_choice_starts_empty_rather_than_on_another_library(
    client, patron, branch, other_branch
):
    """Preselecting the first library of the list would send the bag there on one click."""
    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    request = place(patron, "Ma réservation", branch, [other_branch])  # its copy elsewhere
    close(branch)
    client.force_login(patron.user)
    page = client.get(url("patrons:account")).text
    (select,) = re.findall(rf'<select id="pickup-{request.pk}".*?</select>', page, re.S)
    assert '<option value="" selected disabled>Choose a library</option>' in select
    assert " selected" not in select.replace('<option value="" selected disabled>', "")


def test_another_patrons_request_is_not_found(client, patron, branch, other_branch):
    request = place(patron, "Pas à toi", branch, [branch])
    intruder = make_patron(branch, card="10000003")
    client.force_login(intruder.user)
    assert client.post(url("holds:change_pickup", request.pk), {"branch": other_branch.pk}).status_code == 404
    request.refresh_from_db()
    assert request.pickup_branch == branch


def test_the_api_changes_it_with_stable_codes(client, patron, branch, other_branch):
    from tests.test_api import V1, post, sign_in

    headers = sign_in(client)
    request = place(patron, "Par l'API", branch, [branch])
    moved = post(client, f"{V1}/requests/{request.pk}/pickup", {"pickup_branch_id": other_branch.pk}, headers)
    assert moved.status_code == 200 and moved.json()["pickup_branch"]["code"] == "CRX"
    for line in picking.build_run(branch=branch, kind="late").lines.all():
        picking.mark_found(line=line)
    late = post(client, f"{V1}/requests/{request.pk}/pickup", {"pickup_branch_id": branch.pk}, headers)
    assert (late.status_code, late.json()["code"]) == (409, "pickup_not_changeable")


# -- A library that closes -----------------------------------------------------------------


def test_patrons_collecting_at_a_closed_library_are_told_once_in_one_email(
    patron, branch, other_branch, third
):
    (ready,) = make_ready_requests(patron, branch, ["Dans le sac"])
    coming = place(patron, "Pas encore", branch, [other_branch])
    place(patron, "Ailleurs", third, [third])  # collected elsewhere: not in the email
    compose.compose_all(later())
    outbox.send_due(later())
    mail.outbox.clear()

    close(branch)
    assert tell_closed_pickups() == 2
    assert tell_closed_pickups() == 0  # once per closing
    compose.compose_all(later(minutes=1))
    notice = Notice.objects.get(kind=Kind.PICKUP_CLOSED)
    outbox.send_due(later(minutes=1))
    notice.refresh_from_db()
    assert notice.state == State.SENT
    (message,) = mail.outbox
    body = message.body
    assert "Part-Dieu" in message.subject
    assert "Dans le sac" in body and "Pas encore" in body and "Ailleurs" not in body
    assert not Notice.objects.filter(kind=Kind.READY, created_at__gte=notice.created_at).exists()
    assert {e.request_id for e in RequestEvent.objects.filter(reason="pickup_closed")} == {
        ready.pk,
        coming.pk,
    }

    reopen(branch)
    close(branch)  # closed again later: told again
    assert tell_closed_pickups() == 2


def test_patrons_told_their_library_closed_are_told_once_it_reopens(patron, branch, other_branch, third):
    (ready,) = make_ready_requests(patron, branch, ["Dans le sac"])
    coming = place(patron, "Pas encore", branch, [other_branch])
    waiting = place(patron, "Tous sortis", branch, [(other_branch, CopyStatus.ON_LOAN)])
    compose.compose_all(later())
    outbox.send_due(later())
    close(branch)
    tell_closed_pickups()
    compose.compose_all(later(minutes=1))
    outbox.send_due(later(minutes=1))
    mail.outbox.clear()

    reopen(branch)

    # The switch leaves a mark; the composer's pass reads it and tells them.
    reopened = RequestEvent.objects.filter(reason="pickup_reopened")
    assert not reopened.exists()
    compose.compose_all(later(minutes=2))
    assert {e.request_id for e in reopened} == {ready.pk, coming.pk, waiting.pk}
    assert outbox.send_due(later(minutes=2)) == 1
    (message,) = mail.outbox
    assert message.subject == "Part-Dieu a rouvert"
    ready.refresh_from_db()
    assert "Dans le sac" in message.body and "Pas encore" in message.body
    # Only what has a copy set aside "will be prepared"; the rest is still on the waiting list.
    prepared, rest = message.body.split("Toujours en liste d’attente")
    assert "Pas encore" in prepared and "Tous sortis" not in prepared and "Tous sortis" in rest
    assert f"mis de côté jusqu’au {long_date(ready.hold_until, 'l j F')}" in message.body
    # Reopened once: told once.
    compose.compose_all(later(minutes=3))
    assert Notice.objects.filter(kind=Kind.PICKUP_REOPENED).count() == 1


def test_a_closing_undone_before_its_email_left_tells_nobody_anything(patron, branch):
    place(patron, "Pas encore", branch, [branch])
    close(branch)
    picking.withdraw_closed_branches()
    assert tell_closed_pickups() == 1
    compose.compose_all(later())
    reopen(branch)  # before the scheduler sent the email
    compose.compose_all(later(minutes=1))
    outbox.send_due(later(minutes=1))
    assert not RequestEvent.objects.filter(reason="pickup_reopened").exists()
    assert Notice.objects.get(kind=Kind.PICKUP_CLOSED).state == State.SKIPPED  # outdated
    assert not Notice.objects.filter(kind=Kind.PICKUP_REOPENED).exists()


def test_nothing_is_pulled_for_a_closed_library(patron, branch, other_branch):
    request = place(patron, "Pour Part-Dieu", branch, [other_branch])
    close(branch)
    run = picking.build_run(branch=other_branch, kind="late")
    assert not run.lines.exists()
    change_pickup(request=request, branch=other_branch)
    assert picking.build_run(branch=other_branch, kind="late").lines.get().request == request


def test_bags_at_a_closed_library_wait_and_get_their_days_back_when_it_reopens(patron, branch):
    (ready,) = make_ready_requests(patron, branch, ["Patient"])
    close(branch)
    long_after = ready.hold_until + datetime.timedelta(days=30)
    assert expire_overdue(today=long_after) == 0
    reopen(branch)
    ready.refresh_from_db()
    assert ready.status == Status.READY
    assert ready.hold_until >= timezone.localdate() + datetime.timedelta(days=4)  # 5 open days again
    assert ready.bag.hold_until == ready.hold_until


def test_the_admin_form_does_not_switch_modes_it_points_to_the_service_modes_page(
    admin_client, patron, branch
):
    """Switching moves or cancels requests: only the service-modes page (which says how
    many and asks first) does it. The admin form shows the mode, read-only, with a link."""
    (ready,) = make_ready_requests(patron, branch, ["Par l'admin"])
    branch.service_mode = ServiceMode.CLOSED
    branch.save()
    before = Branch.objects.get(pk=branch.pk).mode_changed_at
    change = url("admin:network_branch_change", branch.pk)
    form = admin_client.get(change)
    assert form.status_code == 200
    assert 'name="service_mode"' not in form.text
    assert url("network:modes") in form.text
    data = {
        "code": branch.code,
        "name": branch.name,
        "service_mode": ServiceMode.CLICK_COLLECT,  # ignored: not a field of the form
        "pick_time": "08:30",
        "label_name_style": "short",
    }
    for prefix in ("hours", "closed_days", "departments"):
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    response = admin_client.post(change, data)
    assert response.status_code == 302, response.content[:2000]
    branch.refresh_from_db()
    ready.refresh_from_db()
    assert branch.service_mode == ServiceMode.CLOSED and branch.mode_changed_at == before
    assert ready.status == Status.READY


def test_no_reminder_for_a_bag_at_a_closed_library(patron, branch):
    (ready,) = make_ready_requests(patron, branch, ["Pas de rappel"])
    compose.compose_outcomes(timezone.now() + datetime.timedelta(minutes=5))  # "ready" first
    eve = timezone.make_aware(
        datetime.datetime.combine(ready.hold_until - datetime.timedelta(days=1), datetime.time(10))
    )
    close(branch)
    compose.compose_reminders(eve)
    assert not Notice.objects.filter(kind=Kind.REMINDER).exists()
    reopen(branch)
    ready.refresh_from_db()
    eve = timezone.make_aware(
        datetime.datetime.combine(ready.hold_until - datetime.timedelta(days=1), datetime.time(10))
    )
    compose.compose_reminders(eve)
    assert Notice.objects.filter(kind=Kind.REMINDER).count() == 1


def test_the_phone_desk_moves_a_callers_request_to_another_library(client, patron, branch, other_branch):
    from django.contrib.auth import get_user_model

    from emporter.patrons.models import Role, StaffRole

    user = get_user_model().objects.create_user(username="tel", password="x")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=None)  # the whole network
    request = place(patron, "Au téléphone", branch, [branch])
    client.force_login(user)
    page = client.get(url("phonedesk:patron", patron.pk))
    assert url("phonedesk:change_pickup", patron.pk, request.pk) in page.text
    client.post(url("phonedesk:change_pickup", patron.pk, request.pk), {"branch": other_branch.pk})
    request.refresh_from_db()
    assert request.pickup_branch == other_branch
    event = request.events.last()
    assert (event.reason, event.actor) == ("pickup_changed", user)


def test_the_staff_api_moves_a_request_within_the_librarians_scope(
    client, patron, branch, other_branch, third
):
    from emporter.patrons.models import Role, StaffRole
    from tests.test_api_staff import sign_in as staff_sign_in
    from tests.test_api_staff import staff_user

    user = staff_user("agnes", branch=branch)
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=other_branch)
    headers = staff_sign_in(client, "agnes")
    request = place(patron, "Par téléphone", branch, [branch])
    moved = client.post(
        f"/api/v1/staff/requests/{request.pk}/pickup",
        {"pickup_branch_id": other_branch.pk},
        content_type="application/json",
        headers=headers,
    )
    assert moved.status_code == 200 and moved.json()["pickup_branch"]["code"] == "CRX"
    outside = client.post(
        f"/api/v1/staff/requests/{request.pk}/pickup",
        {"pickup_branch_id": third.pk},
        content_type="application/json",
        headers=headers,
    )
    assert (outside.status_code, outside.json()["code"]) == (403, "forbidden")


def test_a_request_whose_copy_is_at_the_closed_library_is_moved_or_cancelled_before_anything_is_said(
    patron, branch, other_branch
):
    """Collected elsewhere, at a library still open: the request moves to a copy there
    if it can, else waits again, and only then is the patron told (once)."""
    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    third = make_branch(code="JMA", name="Jean Macé")
    only_here = place(patron, "Seul exemplaire", other_branch, [branch])
    movable = place(patron, "Deux exemplaires", other_branch, [branch, third])
    close(branch)
    assert tell_closed_pickups() == 0  # nothing to tell: their library is open
    assert picking.withdraw_closed_branches() == 2
    only_here.refresh_from_db()
    movable.refresh_from_db()
    assert (only_here.status, only_here.copy) == (Status.WAITING, None)  # back on the list
    assert (movable.status, movable.copy.branch) == (Status.PLACED, third)
    compose.compose_all(later())
    kinds = set(Notice.objects.exclude(kind=Kind.CONFIRMATION).values_list("kind", flat=True))
    assert kinds == {Kind.WAITING_AGAIN}
    assert Notice.objects.get(kind=Kind.WAITING_AGAIN).events.get().request == only_here


def test_at_a_closed_library_a_request_is_not_moved_to_a_copy_nobody_will_pull(patron, branch, other_branch):
    """Collected at the library that closed: a copy set aside elsewhere would sit there,
    pulled by nobody and kept from everyone, for the whole closure. It waits instead,
    with its place, and the patron is told once that their library closed."""
    request = place(patron, "Deux exemplaires", branch, [branch, other_branch])
    close(branch)
    assert tell_closed_pickups() == 0  # the withdraw sweep first
    assert picking.withdraw_closed_branches() == 1
    request.refresh_from_db()
    assert (request.status, request.copy) == (Status.WAITING, None)
    assert set(Copy.objects.filter(record=request.record).values_list("status", flat=True)) == {"on_shelf"}
    assert tell_closed_pickups() == 1
    compose.compose_all(later())
    kinds = list(Notice.objects.exclude(kind=Kind.CONFIRMATION).values_list("kind", flat=True))
    assert kinds == [Kind.PICKUP_CLOSED]
    # Choosing another library serves it from there.
    change_pickup(request=request, branch=other_branch)
    assert serve_waiting() == 1
    request.refresh_from_db()
    assert (request.status, request.copy.branch) == (Status.PLACED, other_branch)


def test_on_reopening_its_shelves_serve_the_waiting_list_before_any_newcomer(patron, branch, other_branch):
    """Not five minutes later (the sweep): a patron asking for the title the minute the
    library reopens must not take the copy the waiting request kept its place for."""
    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    first = place(patron, "Seul exemplaire", other_branch, [branch])
    close(branch)
    assert picking.withdraw_closed_branches() == 1
    reopen(branch)
    first.refresh_from_db()
    assert first.status == Status.PLACED
    newcomer = make_patron(branch, card="10000009", last_name="Zed")
    late, _ = place_request(patron=newcomer, record_id=first.record_id, pickup_branch=branch)
    assert late.status == Status.WAITING


def test_requests_waiting_on_a_closed_librarys_shelves_do_not_hold_up_the_sweep(patron, branch):
    """Hundreds of them would fill every batch of the oldest-first sweep: only requests a
    copy on an open shelf can serve are looked at."""
    closing = make_branch(code="GER", name="Gerland")
    stuck = place(patron, "A", branch, [closing])
    close(closing)
    picking.withdraw_closed_branches()
    record = make_record(title="B", copies=[branch])
    Copy.objects.filter(record=record).update(status=CopyStatus.MISSING)
    other = make_patron(branch, card="10000008", last_name="Autre")
    servable, _ = place_request(patron=other, record_id=record.pk, pickup_branch=branch)
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)  # found again, by an import
    assert serve_waiting(limit=1) == 1
    stuck.refresh_from_db()
    servable.refresh_from_db()
    assert (stuck.status, servable.status) == (Status.WAITING, Status.PLACED)


def test_the_sweep_is_not_starved_by_requests_their_rules_keep_from_other_shelves(
    patron, branch, other_branch
):
    """At a library that lends only its own copies, old requests wait for titles on other
    libraries' shelves: they are not even looked at, so a newer one is served."""
    for n in range(2):
        record = make_record(title=f"Ailleurs {n}", copies=[(other_branch, CopyStatus.ON_LOAN)])
        blocked = make_patron(branch, card=f"1000002{n}", last_name=f"Ancien {n}")
        place_request(patron=blocked, record_id=record.pk, pickup_branch=branch)
        Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)  # back, over there
    # Placed before the library's rules kept to its own copies (placement refuses them now).
    RequestPolicy.objects.create(branch=branch, allow_other_branches=False)
    record = make_record(title="Ici", copies=[(branch, CopyStatus.MISSING)])
    newer, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)  # found again here

    assert serve_waiting(limit=1) == 1
    newer.refresh_from_db()
    assert newer.status == Status.PLACED
    # The same rules for a child at another library do not hide its requests.
    child = make_patron(other_branch, card="10000030", category="child")
    record = make_record(title="Là-bas", copies=[(branch, CopyStatus.ON_LOAN)])
    theirs, _ = place_request(patron=child, record_id=record.pk, pickup_branch=other_branch)
    Copy.objects.filter(record=record).update(status=CopyStatus.ON_SHELF)
    assert serve_waiting(limit=1) == 1
    theirs.refresh_from_db()
    assert theirs.status == Status.PLACED


def test_a_copy_coming_back_skips_requests_nobody_can_collect_yet(patron, branch, other_branch):
    """The oldest request waits to be collected at a closed library: a returned copy goes
    to the next patron, who can collect it; the first keeps its place for the reopening."""
    closing = make_branch(code="GER", name="Gerland")
    record = make_record(title="C", copies=[closing, other_branch])
    away = Copy.objects.get(record=record, branch=other_branch)
    Copy.objects.filter(pk=away.pk).update(status=CopyStatus.ON_LOAN)
    first, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=closing)
    close(closing)
    picking.withdraw_closed_branches()
    second_patron = make_patron(branch, card="10000007", last_name="Second")
    second, _ = place_request(patron=second_patron, record_id=record.pk, pickup_branch=branch)
    away.refresh_from_db()
    with transaction.atomic():
        served = release_copy(copy=away)
    assert served == second
    first.refresh_from_db()
    assert first.status == Status.WAITING


def test_where_the_rules_allow_no_waiting_list_the_library_cancels_and_says_why(patron, branch, other_branch):
    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    RequestPolicy.objects.create(allow_waiting_list=False)
    only_there = place(patron, "Seul exemplaire", other_branch, [branch])
    close(branch)
    assert picking.withdraw_closed_branches() == 1
    only_there.refresh_from_db()
    assert only_there.status == Status.CANCELLED
    compose.compose_all(later())
    assert Notice.objects.filter(patron=patron, kind=Kind.CANCELLED).exists()


def test_a_request_at_the_library_that_closes_is_never_cancelled_for_it(patron, branch, other_branch):
    """The closure is the library's doing: even where the rules allow no waiting list, a
    request to be collected there waits (the patron may choose another library)."""
    RequestPolicy.objects.create(allow_waiting_list=False)
    request = place(patron, "Deux exemplaires", branch, [branch, other_branch])
    close(branch)
    assert picking.withdraw_closed_branches() == 1
    request.refresh_from_db()
    assert (request.status, request.copy) == (Status.WAITING, None)


def test_closing_keeps_the_place_of_whoever_asked_first(patron, branch, other_branch):
    """The only copy, set aside at a library that closes: its request goes back on the
    waiting list with its place, so when the library reopens the copy is its, not that of
    whoever joined the list later (before: it was cancelled, and the later one served)."""
    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    first = place(patron, "Seul exemplaire", other_branch, [branch])
    later_patron = make_patron(branch, card="10000005", last_name="Rémi")
    second, _ = place_request(patron=later_patron, record_id=first.record_id, pickup_branch=other_branch)
    assert second.status == Status.WAITING
    close(branch)
    assert picking.withdraw_closed_branches() == 1
    first.refresh_from_db()
    assert first.status == Status.WAITING
    compose.compose_all(later())
    told = Notice.objects.get(patron=patron, kind=Kind.WAITING_AGAIN)
    assert list(told.events.values_list("request", flat=True)) == [first.pk]
    assert serve_waiting() == 0  # nobody lends from a closed library
    reopen(branch)  # its shelves serve the waiting list, oldest first
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Status.PLACED, Status.WAITING)
    assert outbox.send_due(later()) >= 1
    told.refresh_from_db()
    assert (told.state, told.error_code) == (State.SKIPPED, "outdated")  # served meanwhile


def test_a_ready_email_waits_while_its_library_is_closed_and_goes_when_it_reopens(patron, branch):
    make_ready_requests(patron, branch, ["Prêt, mais fermé"])
    compose.compose_all(later(hours=4))
    ready = Notice.objects.get(kind=Kind.READY)
    close(branch)
    outbox.send_due(later(hours=4))
    ready.refresh_from_db()
    assert (ready.state, ready.attempts) == (State.PENDING, 0)
    reopen(branch)
    outbox.send_due(ready.next_attempt_at + datetime.timedelta(seconds=1))
    ready.refresh_from_db()
    assert ready.state == State.SENT
