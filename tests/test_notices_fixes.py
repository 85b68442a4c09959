"""Notices: one "ready" email per bag, sent the morning the documents are pulled;
staff wording that cannot stop the outbox; error texts staff can read in their
language; an outbox each member of staff sees only as far as their role reaches."""

import datetime

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone, translation

from emporter.holds.services import place_request
from emporter.notices import compose, outbox
from emporter.notices.models import Kind, Notice, NoticeTemplate, State
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from emporter.picking.models import PickRun
from tests.conftest import make_branch, make_patron, make_record


@pytest.fixture(autouse=True)
def mailbox(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def later(**delta):
    """A moment safely after the grouping delay (plus ``delta``), taken when the test runs."""
    return timezone.now() + datetime.timedelta(minutes=5) + datetime.timedelta(**delta)


def request_at(patron, pickup, title, copy_at=None):
    record = make_record(title=title, copies=[copy_at or pickup])
    return place_request(patron=patron, record_id=record.pk, pickup_branch=pickup)[0]


def pull(branch, *, found=(), not_found=()):
    """Build a list at ``branch`` and mark the lines of these requests; the rest stay pending."""
    run = picking.build_run(branch=branch, kind="late")
    for line in run.lines.all():
        if line.request_id in {r.pk for r in found}:
            picking.mark_found(line=line)
        elif line.request_id in {r.pk for r in not_found}:
            picking.mark_not_found(line=line, cause="shelf")
    return run


def ready_notices(patron):
    return Notice.objects.filter(patron=patron, kind=Kind.READY)


# A. An unfinished pick list does not hold the "ready" email back.


def test_a_document_left_on_another_branchs_list_holds_back_the_ready_email_only_for_a_while(
    patron, branch, other_branch
):
    one, two = request_at(patron, branch, "Un"), request_at(patron, branch, "Deux")
    far = request_at(patron, branch, "Loin", copy_at=other_branch)
    pull(other_branch)  # on Croix-Rousse's list, never marked
    pull(branch, found=[one, two])
    # Its picker may not find it: that would be said in the same email (the seed's).
    compose.compose_all(later())
    assert not ready_notices(patron).exists()
    compose.compose_all(later() + compose.PULL_WAIT)
    notice = ready_notices(patron).get()
    assert {e.request_id for e in notice.events.all()} == {one.pk, two.pk}
    assert far.pick_lines.get().status == "pending"


def test_a_line_left_pending_on_an_earlier_list_does_not_hold_back_the_ready_email(patron, branch):
    one, two, forgotten = (request_at(patron, branch, t) for t in ("Un", "Deux", "Oublié"))
    run = pull(branch, found=[one, two])
    # Monday's list: its last line was never marked.
    monday = PickRun.objects.create(
        branch=branch, run_date=run.run_date - datetime.timedelta(days=1), kind="late", cutoff=run.cutoff
    )
    forgotten.pick_lines.update(run=monday)
    compose.compose_all(later())
    assert ready_notices(patron).get().events.count() == 2


def test_a_line_pending_on_todays_list_holds_the_email_back_only_for_a_while(patron, branch):
    one, two = request_at(patron, branch, "Un"), request_at(patron, branch, "Deux")
    run = pull(branch, found=[one])
    compose.compose_all(later())
    assert not ready_notices(patron).exists()  # the picker is still on the shelves
    compose.compose_all(later() + compose.PULL_WAIT)
    first = ready_notices(patron).get()
    assert first.events.get().request_id == one.pk
    # The straggler is found in the afternoon: its own email, for the same bag.
    picking.mark_found(line=run.lines.get(request=two))
    compose.compose_all(later() + compose.PULL_WAIT)
    second = ready_notices(patron).exclude(pk=first.pk).get()
    assert second.events.get().request_id == two.pk and second.bag_id == first.bag_id


def test_the_wait_never_outlasts_the_hold(patron, branch):
    assert datetime.timedelta(days=1) > compose.PULL_WAIT  # a bag is held one open day at least
    one, _two = request_at(patron, branch, "Un"), request_at(patron, branch, "Deux")
    pull(branch, found=[one])
    bag = patron.bags.get()
    eve = datetime.datetime.combine(bag.hold_until, datetime.time(8), tzinfo=timezone.get_current_timezone())
    compose.compose_all(eve)
    assert ready_notices(patron).exists()


# B. One "ready" email per bag.


def test_documents_ready_at_two_branches_give_one_email_per_bag(patron, branch, other_branch):
    here = request_at(patron, branch, "Ici")
    there = request_at(patron, other_branch, "Là-bas")
    lost = request_at(patron, other_branch, "Perdu")
    pull(branch, found=[here])
    pull(other_branch, found=[there], not_found=[lost])
    assert compose.compose_all(later()) == 4  # a confirmation per library, and an email per bag
    assert compose.compose_all(later()) == 0
    by_branch = {n.bag.branch_id: n for n in ready_notices(patron)}
    assert set(by_branch) == {branch.pk, other_branch.pk}
    assert {e.request_id for e in by_branch[branch.pk].events.all()} == {here.pk}
    assert {e.request_id for e in by_branch[other_branch.pk].events.all()} == {there.pk, lost.pk}
    assert outbox.send_due(later()) == 4
    subjects = {m.subject for m in mail.outbox}
    assert {"Votre document vous attend à Part-Dieu", "Votre document vous attend à Croix-Rousse"} <= subjects
    croix_rousse = next(m for m in mail.outbox if "Croix-Rousse" in m.subject)
    assert "Perdu" in croix_rousse.body and "Ici" not in croix_rousse.body
    assert patron.bags.get(branch=other_branch).label in croix_rousse.body


def test_what_could_not_be_found_for_one_branch_is_told_with_that_branch(patron, branch, other_branch):
    lost_here = request_at(patron, branch, "Perdu ici")
    lost_there = request_at(patron, other_branch, "Perdu là-bas")
    pull(branch, not_found=[lost_here])
    pull(other_branch, not_found=[lost_there])
    compose.compose_all(later())
    notices = Notice.objects.filter(patron=patron, kind=Kind.NOT_FOUND)
    assert sorted(n.events.get().request.pickup_branch_id for n in notices) == sorted(
        [branch.pk, other_branch.pk]
    )


def test_cancellations_at_two_branches_are_told_per_branch(patron, branch, other_branch):
    from emporter.holds.services import cancel_request

    here, there = request_at(patron, branch, "Ici"), request_at(patron, other_branch, "Là-bas")
    compose.compose_all(later())
    for request in (here, there):
        cancel_request(request=request, by_staff=True, reason="document abîmé")
    compose.compose_all(later())
    outbox.send_due(later())
    cancelled = [m for m in mail.outbox if "annul" in m.subject]
    assert len(cancelled) == 2
    assert {("Ici" in m.body, "Part-Dieu" in m.body, "Croix-Rousse" in m.body) for m in cancelled} == {
        (True, True, False),
        (False, False, True),
    }


# C. Staff wording with a mistake neither passes the admin nor stops the outbox.


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser(username="root", password="x", email="r@example.org")
    client.force_login(user)
    return client


def template_form(**fields):
    return {
        "kind": "ready",
        "language": "fr",
        "subject": "Prêt",
        "body_text": "Bonjour",
        "body_html": "",
    } | fields


@pytest.mark.parametrize(
    "field, wording",
    [
        ("body_text", "{% for r in ready %}{{ r.record.title }}{% endfo %}"),
        ("subject", "{{ patron.first_name|nosuchfilter }}"),
        ("body_html", "{% url 'no-such-page' %}"),
        ("body_text", "{% for r in ready %}{% include 'notices/email/no_such_part.txt' %}{% endfor %}"),
    ],
)
def test_the_admin_refuses_wording_that_cannot_be_rendered(admin_client, field, wording):
    response = admin_client.post("/admin/notices/noticetemplate/add/", template_form(**{field: wording}))
    assert response.status_code == 200
    assert not NoticeTemplate.objects.exists()
    errors = response.context["adminform"].form.errors
    assert field in errors, errors


def test_the_admin_accepts_wording_that_uses_every_variable(admin_client):
    wording = (
        "{% load i18n %}{{ patron.first_name }} : {% for r in ready %}{{ r.record.title }} {% endfor %}"
        "{% for r in not_found %}{{ r.record.title }}{% endfor %}"
        " {{ bag.label }} {{ hold_until|date:'l j F' }}"
        " {{ branch.name }} {% for day, spans in hours %}{{ day }}{% endfor %} {{ site_url }}"
        " {% for e in notice.events.all %}{{ e.note }}{% endfor %}"
    )
    response = admin_client.post(
        "/admin/notices/noticetemplate/add/", template_form(body_text=wording, body_html=f"<p>{wording}</p>")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert NoticeTemplate.objects.get().body_text == wording


def test_a_broken_staff_wording_already_saved_falls_back_to_the_built_in_one(patron, branch):
    NoticeTemplate.objects.create(kind=Kind.CONFIRMATION, language="fr", subject="{% if %}", body_text="x")
    other = make_patron(branch, card="20000009")
    request_at(patron, branch, "Premier")
    request_at(other, branch, "Second")
    compose.compose_all(later())
    assert outbox.send_due(later()) == 2  # the batch goes on, and both patrons are told
    assert {m.subject for m in mail.outbox} == {"Votre réservation est enregistrée"}
    for notice in Notice.objects.all():
        assert notice.state == State.SENT and notice.error_code == "template_fallback"
        assert "if" in notice.last_error


def test_a_notice_that_cannot_be_written_fails_visibly_without_stopping_the_batch(
    patron, branch, monkeypatch
):
    from emporter.notices import render

    other = make_patron(branch, card="20000010")
    request_at(patron, branch, "Premier")
    request_at(other, branch, "Second")
    compose.compose_all(later())
    real = render.render

    def broken_for_camille(notice):
        if notice.patron_id == patron.pk:
            raise ValueError("gabarit cassé")
        return real(notice)

    monkeypatch.setattr(render, "render", broken_for_camille)
    assert outbox.send_due(later()) == 1
    failed = Notice.objects.get(patron=patron)
    assert (failed.state, failed.error_code) == (State.FAILED, "render_failed")
    assert "gabarit cassé" in failed.last_error
    assert outbox.recover_stale(later(hours=1)) == 0  # nothing left "being sent"
    assert Notice.objects.get(patron=other).state == State.SENT


# D. Errors are stored as codes and read in the reader's language.


def test_errors_are_stored_as_codes_and_shown_in_the_readers_language(branch):
    patron = make_patron(branch, email="", card="20000011")
    request_at(patron, branch, "Sans adresse")
    compose.compose_all(later())
    outbox.send_due(later())
    notice = Notice.objects.get()
    assert (notice.state, notice.error_code, notice.last_error) == (State.FAILED, "no_email", "")
    with translation.override("en"):
        assert notice.error_message == "No email address: correct it on the patron's record, then send again."
    with translation.override("fr"):
        assert notice.error_message == translation.gettext(
            "No email address: correct it on the patron's record, then send again."
        )


def test_a_stale_send_is_stored_as_a_code(patron, branch):
    request_at(patron, branch, "Un")
    compose.compose_all(later())
    notice = Notice.objects.get()
    Notice.objects.filter(pk=notice.pk).update(
        state=State.SENDING,
        next_attempt_at=later(),
        message_started_at=later(),  # it had begun to go
    )
    assert outbox.recover_stale(later(hours=1)) == 1
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.UNCERTAIN, "worker_stopped")
    with translation.override("en"):
        assert notice.error_message.startswith("The worker stopped while sending")


def test_the_admin_list_shows_errors_in_the_readers_language(admin_client, branch):
    patron = make_patron(branch, email="", card="20000012")
    request_at(patron, branch, "Sans adresse")
    compose.compose_all(later())
    outbox.send_due(later())
    page = admin_client.get("/en/admin/notices/notice/", HTTP_ACCEPT_LANGUAGE="en").text
    assert "No email address: correct it on the patron&#x27;s record" in page


def test_rows_written_before_the_codes_are_still_displayed(patron, db):
    old = Notice.objects.create(
        patron=patron, kind=Kind.READY, dedupe_key="old", last_error="550 'no such user'"
    )
    assert old.error_message == "550 'no such user'"


def test_the_migration_turns_old_english_texts_into_codes(patron):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("emporter.notices.migrations.0002_notice_error_code")
    rows = {
        "no email address": ("no_email", ""),
        "no phone number": ("no_phone", ""),
        "worker stopped while sending; check before resending": ("worker_stopped", ""),
        "gave up after 12 attempts: ConnectionRefusedError(111)": ("gave_up", "ConnectionRefusedError(111)"),
        "550 'no such user'": ("", "550 'no such user'"),
    }
    for n, text in enumerate(rows):
        Notice.objects.create(patron=patron, kind=Kind.READY, dedupe_key=f"old:{n}", last_error=text)
    migration.codes_from_english(apps, None)
    got = {(n.error_code, n.last_error) for n in Notice.objects.all()}
    assert got == set(rows.values())


# E. The outbox is for managers, and a branch's manager sees their branch.


def staff(client, role, branch=None, name="staff"):
    user = get_user_model().objects.create_user(username=name, password="x")
    StaffRole.objects.create(user=user, role=role, branch=branch)
    client.force_login(user)
    return client


@pytest.fixture
def two_patrons_notices(branch, other_branch):
    """A failed notice for a patron of each branch, each collecting at their own."""
    mine = make_patron(branch, card="30000001", last_name="Dupont", email="")
    theirs = make_patron(other_branch, card="30000002", last_name="Durand", email="")
    request_at(mine, branch, "Ici")
    request_at(theirs, other_branch, "Là-bas")
    compose.compose_all(later())
    outbox.send_due(later())
    return Notice.objects.get(patron=mine), Notice.objects.get(patron=theirs)


@pytest.mark.parametrize("role", [Role.PICKER, Role.DOOR_DESK, Role.PHONE_DESK])
def test_pickers_and_desk_staff_do_not_read_patrons_notices(client, branch, role, two_patrons_notices):
    mine, _ = two_patrons_notices
    staff(client, role, branch)
    assert client.get("/staff/notices/").status_code == 403
    assert client.post(f"/staff/notices/{mine.pk}/resend/").status_code == 403
    assert client.get("/staff/notices/mailbox/").status_code == 403
    mine.refresh_from_db()
    assert mine.state == State.FAILED


def test_a_branch_manager_sees_and_resends_only_their_branchs_notices(client, branch, two_patrons_notices):
    mine, theirs = two_patrons_notices
    staff(client, Role.BRANCH_MANAGER, branch)
    page = client.get("/staff/notices/").content.decode()
    assert mine.patron.card_number in page and theirs.patron.card_number not in page
    assert theirs.patron.card_number not in client.get("/staff/notices/?q=Durand").content.decode()
    assert client.post(f"/staff/notices/{theirs.pk}/resend/").status_code == 404
    client.post(f"/staff/notices/{mine.pk}/resend/")
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.state, theirs.state) == (State.PENDING, State.FAILED)


def test_a_branch_manager_sees_the_notices_of_documents_collected_at_their_branch(
    client, branch, other_branch
):
    visitor = make_patron(other_branch, card="30000003")
    here = request_at(visitor, branch, "De passage")
    pull(branch, found=[here])
    compose.compose_all(later())
    assert Notice.objects.filter(patron=visitor).count() == 2
    assert visitor.card_number in staff(client, Role.BRANCH_MANAGER, branch).get("/staff/notices/").text
    third = make_branch(code="VAI", name="Vaise")
    assert (
        visitor.card_number
        not in staff(client, Role.BRANCH_MANAGER, third, "vai").get("/staff/notices/").text
    )


def test_a_network_administrator_sees_every_notice(client, two_patrons_notices):
    mine, theirs = two_patrons_notices
    staff(client, Role.NETWORK_ADMIN)
    page = client.get("/staff/notices/").content.decode()
    assert mine.patron.card_number in page and theirs.patron.card_number in page


def test_the_demo_mailbox_shows_a_branch_manager_only_their_branchs_mail(
    client, branch, other_branch, settings, tmp_path
):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(tmp_path)},
        }
    }
    request_at(make_patron(branch, card="30000004"), branch, "Courrier ici")
    request_at(make_patron(other_branch, card="30000005"), other_branch, "Courrier ailleurs")
    compose.compose_all(later())
    assert outbox.send_due(later()) == 2
    page = staff(client, Role.BRANCH_MANAGER, branch).get("/staff/notices/mailbox/").content.decode()
    assert "Courrier ici" in page and "Courrier ailleurs" not in page


def test_the_wording_admin_shows_what_is_sent_now_and_the_variables(admin_client):
    """A librarian writing new wording starts from the built-in one, and sees what a
    template may use."""
    page = admin_client.get("/en/admin/notices/noticetemplate/add/").content.decode()
    assert "Your library had to cancel this request" in page  # the built-in cancellation wording
    assert "{{ greeting_name }}" in page
    template = NoticeTemplate.objects.create(kind=Kind.READY, language="fr", subject="Prêt", body_text="x")
    page = admin_client.get(f"/en/admin/notices/noticetemplate/{template.pk}/change/").content.decode()
    assert "{{ hold_until" in page  # the ready wording, as written
    assert "Your library had to cancel this request" not in page  # that kind's only


def test_the_deploy_check_warns_that_text_messages_go_to_the_log(settings):
    from emporter.notices.checks import sms_are_really_sent

    settings.DEBUG = False
    settings.SMS_PROVIDER = "emporter.notices.sms.ConsoleProvider"
    assert [w.id for w in sms_are_really_sent()] == ["notices.W001"]
    settings.SMS_PROVIDER = "somewhere.RealProvider"
    assert sms_are_really_sent() == []
    settings.DEBUG, settings.SMS_PROVIDER = True, "emporter.notices.sms.ConsoleProvider"
    assert sms_are_really_sent() == []  # the demo


def _at(day: datetime.date, hour: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=timezone.get_current_timezone())


def _ready_bag(patron, branch):
    from tests.test_notices import pull_morning, requests_for

    requests_for(patron, branch, ["Rappel"])
    pull_morning(branch, found=1, not_found=0)
    return patron.bags.get()


def _told_ready(now=None):
    """The composer's pass that writes the "ready" email (a reminder never goes before it)."""
    compose.compose_outcomes(now or timezone.now() + datetime.timedelta(minutes=5))


def test_a_reminder_missed_the_day_before_goes_on_the_last_day(patron, branch):
    bag = _ready_bag(patron, branch)
    _told_ready()
    # The scheduler was down all the eve: the morning of the deadline still reminds, once.
    assert compose.compose_reminders(_at(bag.hold_until, 10)) == 1
    assert compose.compose_reminders(_at(bag.hold_until, 11)) == 0
    assert compose.compose_reminders(_at(bag.hold_until + datetime.timedelta(days=1), 10)) == 0


def test_a_one_day_hold_is_not_reminded_the_morning_it_was_told_ready(patron, branch):
    bag = _ready_bag(patron, branch)
    eve = bag.hold_until - datetime.timedelta(days=1)
    ready_at = _at(eve, 9)
    compose.compose_outcomes(ready_at)
    assert Notice.objects.filter(kind=Kind.READY).update(created_at=ready_at) == 1
    assert compose.compose_reminders(_at(eve, 10)) == 0  # the "ready" email just went
    assert compose.compose_reminders(_at(bag.hold_until, 10)) == 1  # its last day


def test_no_reminder_goes_before_the_ready_email_it_follows(patron, branch):
    from emporter.holds.models import Bag, Request
    from tests.test_notices import requests_for

    requests_for(patron, branch, ["Un", "Deux"])
    run = picking.build_run(branch=branch, kind="late")
    picking.mark_found(line=run.lines.order_by("pk").first())  # the other is still to pull
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    Bag.objects.update(hold_until=tomorrow)  # a one-day hold
    Request.objects.filter(status="ready").update(hold_until=tomorrow)
    assert compose.compose_reminders(_at(timezone.localdate(), 10)) == 0  # the "ready" email waits


def test_a_request_told_ready_before_its_confirmation_went_is_not_confirmed(patron, branch):
    from tests.test_notices import later, requests_for

    (here,) = requests_for(patron, branch, ["Tout de suite"])
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get(request=here))
    # The composer's pass within the basket's grouping delay: the "ready" email is written.
    assert compose.compose_all(timezone.now()) == 1
    (elsewhere,) = requests_for(patron, branch, ["Plus tard"])  # the same basket, a moment later
    compose.compose_all(later())
    confirmation = Notice.objects.get(kind=Kind.CONFIRMATION)
    # Only what is still to come: "Tout de suite" has had its "ready" email.
    assert [e.request_id for e in confirmation.events.all()] == [elsewhere.pk]


@pytest.mark.parametrize("days_left, says", [(0, "jusqu’à aujourd’hui"), (1, "jusqu’à demain")])
def test_a_reminder_written_on_the_last_day_says_today_not_tomorrow(patron, branch, days_left, says):
    from emporter.holds.models import Request
    from emporter.notices.render import render

    bag = _ready_bag(patron, branch)
    last_day = timezone.localdate() + datetime.timedelta(days=days_left)
    type(bag).objects.filter(pk=bag.pk).update(hold_until=last_day)
    Request.objects.filter(bag=bag).update(hold_until=last_day)
    bag.refresh_from_db()
    notice = Notice.objects.create(patron=patron, kind=Kind.REMINDER, bag=bag, dedupe_key="reminder:test")
    rendered = render(notice)
    assert says in rendered.text and says in rendered.html
    assert ("demain" in rendered.text) == (days_left == 1)
