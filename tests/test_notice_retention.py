"""Notices are forgotten some time after they are done with, and forgetting them never
makes the composer tell a patron again; requests whose patron is forgotten are not told."""

import datetime
import threading
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.checks import run_checks
from django.db import connection, transaction
from django.utils import timezone

from emporter.desk import services as desk
from emporter.holds.continuity import set_mode
from emporter.holds.models import RequestEvent
from emporter.holds.services import expire_overdue, extend_after_reopening, place_request
from emporter.network.models import Branch, ServiceMode
from emporter.notices import compose, outbox
from emporter.notices.models import Kind, Notice, NoticeEvent, State
from emporter.notices.retention import MINIMUM_RETENTION, forget_old_notices, retention
from tests.conftest import backend_pid, make_patron, make_ready_requests, make_record, wait_until_blocked


@pytest.fixture(autouse=True)
def mailbox(settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}


def later(**delta):
    """A moment safely after the grouping delay (plus ``delta``), taken when the test runs."""
    return timezone.now() + datetime.timedelta(minutes=5) + datetime.timedelta(**delta)


def told(patron, branch, titles):
    """The patron is told their documents are ready (and their requests registered)."""
    make_ready_requests(patron, branch, titles)
    compose.compose_all(later())
    assert outbox.send_due(later()) == 2
    return Notice.objects.filter(patron=patron)


def test_a_notice_sent_long_ago_is_forgotten_with_its_links_to_the_events(patron, branch):
    notices = told(patron, branch, ["Un", "Deux"])
    events = RequestEvent.objects.count()
    assert forget_old_notices(later(days=29)) == 0
    assert forget_old_notices(later(days=31)) == 2
    assert not notices.exists() and not NoticeEvent.objects.exists()
    assert RequestEvent.objects.count() == events  # the requests' history is holds' business


@pytest.mark.parametrize("days", [30, 8])
def test_a_forgotten_notice_is_never_composed_again(settings, patron, branch, days):
    """Its events lost their link, but they stay told (``to_tell`` cleared)."""
    settings.NOTICE_RETENTION_DAYS = days
    told(patron, branch, ["Un", "Deux"])
    mail.outbox.clear()
    purge = later(days=days, hours=1)
    assert forget_old_notices(purge) == 2
    assert RequestEvent.objects.filter(notice_link__isnull=True, to_status="ready").count() == 2
    for now in (purge, purge + datetime.timedelta(days=1)):
        assert compose.compose_all(now) == 0
        assert outbox.send_due(now) == 0
    assert not Notice.objects.exists() and mail.outbox == []


def test_the_retention_cannot_be_shorter_than_a_week(settings, patron, branch):
    assert retention() == datetime.timedelta(days=30)
    settings.NOTICE_RETENTION_DAYS = 1
    (error,) = [e for e in run_checks() if e.id == "notices.E001"]
    assert "NOTICE_RETENTION_DAYS" in error.msg
    # Should the check be ignored, the minimum still holds.
    assert retention() == MINIMUM_RETENTION == datetime.timedelta(days=8)
    told(patron, branch, ["Un"])
    assert forget_old_notices(later(days=2)) == 0
    assert compose.compose_all(later(days=2)) == 0


def test_a_notice_dated_wrongly_keeps_the_links_the_composer_still_reads(patron, branch):
    """A machine whose clock was far behind stamped the notices: their events, recent,
    keep them (and their links) until the events themselves are old enough."""
    told(patron, branch, ["Un"])
    long_ago = later(days=-100)
    Notice.objects.update(created_at=long_ago, next_attempt_at=long_ago)
    assert forget_old_notices(later()) == 0
    assert compose.compose_all(later()) == 0
    assert forget_old_notices(later(days=31)) == 2


def test_notices_not_yet_done_with_are_never_forgotten(patron, branch):
    notices = told(patron, branch, ["Un"])
    ready, confirmation = notices.get(kind=Kind.READY), notices.get(kind=Kind.CONFIRMATION)
    long_ago = later(days=-100)
    # The mail server has been down for weeks (still retrying), a worker is sending right now.
    Notice.objects.filter(pk=ready.pk).update(state=State.PENDING, next_attempt_at=long_ago)
    Notice.objects.filter(pk=confirmation.pk).update(state=State.SENDING, next_attempt_at=long_ago)
    assert forget_old_notices(later(days=365)) == 0
    assert Notice.objects.count() == 2 and NoticeEvent.objects.count() == 2


@pytest.mark.parametrize("state", [State.FAILED, State.UNCERTAIN])
def test_failed_and_uncertain_notices_are_kept_for_staff_until_the_retention_is_over(patron, branch, state):
    notice = told(patron, branch, ["Un"]).get(kind=Kind.READY)
    Notice.objects.filter(pk=notice.pk).update(state=state)
    assert forget_old_notices(later(days=29)) == 0
    assert forget_old_notices(later(days=31)) == 2


def test_the_retention_counts_from_the_last_attempt(patron, branch):
    """Sent again by staff long after it was written: kept as long as a fresh one."""
    told(patron, branch, ["Un"])
    record = make_record(title="Deux", copies=[branch])
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    compose.compose_all(later())
    assert outbox.send_due(later()) == 1
    waiting = Notice.objects.filter(kind=Kind.CONFIRMATION).latest("pk")
    Notice.objects.filter(pk=waiting.pk).update(state=State.FAILED, error_code="no_email")
    assert outbox.resend(notice=waiting)  # still to pick: "we will write" still holds
    assert outbox.send_due(later(days=25)) == 1
    assert forget_old_notices(later(days=31)) == 2  # the other request's emails
    assert Notice.objects.get().pk == waiting.pk
    assert forget_old_notices(later(days=56)) == 1


def test_a_notice_delayed_by_a_stopped_scheduler_is_still_sent(patron, branch):
    make_ready_requests(patron, branch, ["Un"])
    assert compose.compose_all(later(days=3)) == 2
    assert outbox.send_due(later(days=3)) == 2


def test_a_scheduler_stopped_for_a_fortnight_delays_notices_and_drops_none(patron, branch):
    """However old, an event still to tell is told; what is over by then is not announced
    as if it were still true: the bag's deadline has gone, it is about to expire."""
    make_ready_requests(patron, branch, ["Un"])
    # At 10:00 a fortnight on, whatever the hour the test runs: an expired bag's email is
    # not written in the night (compose.DAYTIME), and the test ran at 00:05 once.
    day = timezone.localdate() + datetime.timedelta(days=14)
    fortnight = timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))
    assert compose.compose_all(fortnight) == 2  # registered, ready
    assert outbox.send_due(fortnight) == 1
    assert Notice.objects.get(kind=Kind.READY).error_code == "outdated"
    # The scheduler's expiry job runs next: the patron is told their bag went back.
    assert expire_overdue(today=timezone.localdate(fortnight)) == 1
    assert compose.compose_all(fortnight) == 1
    assert outbox.send_due(fortnight) == 1
    assert Notice.objects.filter(state=State.SENT).count() == 2
    assert sorted(Notice.objects.values_list("kind", flat=True)) == sorted(
        [Kind.CONFIRMATION, Kind.READY, Kind.EXPIRED]
    )


def test_a_ready_email_past_its_deadline_still_goes_while_the_library_is_closed(patron, branch):
    """A closed library's bags keep their documents past the deadline: the email waits for
    the reopening (outbox._waits_for_reopening), it is not outdated."""
    make_ready_requests(patron, branch, ["Un"])
    fortnight = later(days=14)
    closed = Branch.objects.filter(pk=branch.pk)
    set_mode(branches=closed, mode=ServiceMode.CLOSED, actor=None)
    compose.compose_all(fortnight)
    outbox.send_due(fortnight)
    assert Notice.objects.get(kind=Kind.READY).state == State.PENDING
    # Reopened: the bag gets its days back, and the email goes.
    set_mode(branches=closed, mode=ServiceMode.CLICK_COLLECT, actor=None)
    extend_after_reopening(branch=branch, today=timezone.localdate(fortnight))  # set_mode's, in 14 days
    assert outbox.send_due(fortnight + datetime.timedelta(hours=2)) == 1
    assert Notice.objects.get(kind=Kind.READY).state == State.SENT


def test_a_request_whose_borrower_is_forgotten_is_not_told_and_stops_nothing(patron, branch):
    """Collected and returned before the composer ran (forgotten at return, the default):
    its events have no one to tell; another patron's are told as usual."""
    (request,) = make_ready_requests(patron, branch, ["Privé"])
    desk.hand_over(patron=patron, branch=branch)
    desk.check_in(barcode=request.copy.barcode, branch=branch)
    request.refresh_from_db()
    assert request.patron_id is None
    other = make_patron(branch, card="20000002")
    record = make_record(title="Autre", copies=[branch])
    place_request(patron=other, record_id=record.pk, pickup_branch=branch)
    assert compose.compose_all(later()) == 1
    assert Notice.objects.get().patron == other
    assert not NoticeEvent.objects.filter(event__request=request).exists()


def test_a_sent_notice_stops_saying_what_a_forgotten_borrower_had(patron, branch):
    """Told their documents were ready, then collected and returned: forgotten at return,
    the notice keeps who was written to and when, not which documents; nothing is told
    again."""
    notices = told(patron, branch, ["Un", "Deux"])
    ready = notices.get(kind=Kind.READY)
    requests = [link.event.request for link in NoticeEvent.objects.filter(notice=ready)]
    desk.hand_over(patron=patron, branch=branch)
    for request in requests:
        desk.check_in(barcode=request.copy.barcode, branch=branch)
    assert NoticeEvent.objects.filter(notice=ready).exists()
    assert forget_old_notices(later()) == 0  # no notice deleted: only their links
    assert not NoticeEvent.objects.filter(event__request__in=requests).exists()
    assert Notice.objects.filter(pk=ready.pk).exists()
    assert compose.compose_all(later(minutes=1)) == 0 and outbox.send_due(later(minutes=1)) == 0


@pytest.mark.django_db(transaction=True)
def test_a_notice_sent_again_while_the_outbox_is_being_forgotten_is_not_lost(postgres, branch, patron):
    """Staff send a failed notice again just as the purge picks it: it is pending again,
    so it must stay (never dropped)."""
    notice = told(patron, branch, ["Un"]).get(kind=Kind.READY)
    Notice.objects.filter(pk=notice.pk).update(state=State.FAILED)
    purger_pid, forgotten = [], []

    def purge():
        purger_pid.append(backend_pid())
        forgotten.append(forget_old_notices(later(days=31)))
        connection.close()

    with transaction.atomic():
        assert outbox.resend(notice=notice)
        thread = threading.Thread(target=purge)
        thread.start()
        wait_until_blocked(purger_pid)
    thread.join(30)
    assert forgotten == [1]  # the confirmation
    assert Notice.objects.get().state == State.PENDING
    assert Notice.objects.get().events.count() == 1


def test_the_composer_reads_only_what_is_left_to_tell(patron, branch):
    """Told events, events no notice is made of, and those of forgotten borrowers leave
    the composer's reading list (the partial index on to_tell), so that each pass reads
    the last minutes' events, not the week's history."""
    from emporter.holds.models import RequestEvent
    from emporter.holds.services import cancel_request, place_request
    from emporter.notices import compose
    from tests.conftest import make_record

    kept = place_request(
        patron=patron, record_id=make_record(title="Gardé", copies=[branch]).pk, pickup_branch=branch
    )[0]
    dropped = place_request(
        patron=patron, record_id=make_record(title="Annulé", copies=[branch]).pk, pickup_branch=branch
    )[0]
    now = timezone.now()
    compose.compose_all(now)  # still within the basket's grouping delay: nothing told yet
    assert RequestEvent.objects.filter(to_tell=True).count() == 2
    cancel_request(request=dropped)  # by the patron: no notice is made of it
    later = now + datetime.timedelta(minutes=5)
    compose.compose_all(later)
    assert not RequestEvent.objects.filter(to_tell=True).exists()
    (notice,) = Notice.objects.all()
    assert list(notice.events.values_list("request_id", flat=True)) == [kept.pk]


def test_an_event_told_by_the_previous_composer_does_not_block_the_next_notices(patron, branch):
    """During a deploy the old composer links events without clearing to_tell: they must
    be set aside, not grouped again (their unique link would fail every later notice)."""
    from emporter.holds.models import RequestEvent
    from emporter.holds.services import place_request
    from emporter.notices import compose
    from tests.conftest import make_record

    first = place_request(
        patron=patron, record_id=make_record(title="Un", copies=[branch]).pk, pickup_branch=branch
    )[0]
    old = Notice.objects.create(patron=patron, kind=Kind.CONFIRMATION, dedupe_key="old-composer")
    NoticeEvent.objects.create(notice=old, event=first.events.get())  # to_tell left true
    second = place_request(
        patron=patron, record_id=make_record(title="Deux", copies=[branch]).pk, pickup_branch=branch
    )[0]
    assert compose.compose_all(timezone.now() + datetime.timedelta(minutes=5)) == 1
    new = Notice.objects.exclude(pk=old.pk).get()
    assert list(new.events.values_list("request_id", flat=True)) == [second.pk]
    assert not RequestEvent.objects.filter(to_tell=True).exists()


@pytest.mark.django_db(transaction=True)
def test_the_to_tell_migration_can_be_run_again():
    """An interrupted migrate is finished by running it again: each step is idempotent."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("emporter.holds.migrations.0009_requestevent_to_tell")
    with connection.schema_editor(atomic=False) as editor:
        migration.add_column(apps, editor)
        migration.mark_untold(apps, editor)
        migration.create_index(apps, editor)


def test_upgrading_across_the_to_tell_migration_tells_only_last_weeks_untold_events(patron, branch):
    """The column starts true for every row on SQLite, false on PostgreSQL: either way,
    the months of history behind it are not told again once the migration has run."""
    import importlib

    from django.apps import apps

    from emporter.holds.models import RequestEvent
    from emporter.holds.services import place_request
    from tests.conftest import make_record

    old, _ = place_request(
        patron=patron, record_id=make_record(title="Ancien", copies=[branch]).pk, pickup_branch=branch
    )
    new, _ = place_request(
        patron=patron, record_id=make_record(title="Récent", copies=[branch]).pk, pickup_branch=branch
    )
    RequestEvent.objects.filter(request=old).update(at=timezone.now() - datetime.timedelta(days=90))
    RequestEvent.objects.update(to_tell=connection.vendor != "postgresql")  # as the column was added
    migration = importlib.import_module("emporter.holds.migrations.0009_requestevent_to_tell")
    migration.mark_untold(apps, SimpleNamespace(connection=connection))  # it reads the vendor only
    assert list(RequestEvent.objects.filter(to_tell=True).values_list("request", flat=True)) == [new.pk]
    assert compose.compose_all(later()) == 1
    assert list(Notice.objects.get().events.values_list("request", flat=True)) == [new.pk]
