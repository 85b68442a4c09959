"""Notices as the twenty-eighth session's review found them: after a mail outage a bag
filled in two steps gets one "ready" email, not two alike; a confirmation held back by
mail trouble registers only what is still requested; and a "no copy left" of the night
waits for the morning's documents still on the list, to go in their email."""

import datetime

import pytest
from django.utils import timezone

from emporter.catalogue.models import Copy, CopyStatus
from emporter.holds.models import RequestEvent, Status
from emporter.holds.services import (
    cancel_request,
    close_waiting_without_copies,
    place_request,
    set_copy_status,
)
from emporter.notices import compose, outbox
from emporter.notices.models import Kind, Notice, State
from emporter.picking import services as picking
from tests.conftest import make_record
from tests.mailscript import Script
from tests.test_notices_s12 import later, scripted_mail  # noqa: F401 (scripted_mail: an autouse fixture)


def server_down(message):
    raise ConnectionRefusedError(111, "Connection refused")


def placed(patron, branch, *titles):
    return [
        place_request(
            patron=patron, record_id=make_record(title=t, copies=[branch]).pk, pickup_branch=branch
        )[0]
        for t in titles
    ]


def test_after_an_outage_a_bag_filled_in_two_steps_gets_one_ready_email_not_two(patron, branch):
    one, two = placed(patron, branch, "Le Horla", "Bel-Ami")
    run = picking.build_run(branch=branch, kind="late")
    picking.mark_found(line=run.lines.get(request=one))
    compose.compose_all(later() + compose.PULL_WAIT)
    first = Notice.objects.get(patron=patron, kind=Kind.READY)
    Script.fail = server_down
    for minute in range(0, 30, 3):
        outbox.send_due(later(minutes=minute) + compose.PULL_WAIT)
    first.refresh_from_db()
    assert (first.state, first.error_code) == (State.PENDING, "retrying")
    # The straggler is found while the mail server is still down.
    picking.mark_found(line=run.lines.get(request=two))
    compose.compose_all(later(minutes=40) + compose.PULL_WAIT)
    assert Notice.objects.filter(patron=patron, kind=Kind.READY).count() == 2
    Script.fail = None

    for minute in range(0, 120, 5):
        outbox.send_due(later(minutes=50 + minute) + compose.PULL_WAIT)

    (mail,) = [m for m in Script.sent if m.to == [patron.email] and "attend" in m.subject]
    assert "Le Horla" in mail.body and "Bel-Ami" in mail.body
    first.refresh_from_db()
    assert (first.state, first.error_code) == (State.SKIPPED, "outdated_untold")


def test_without_an_outage_a_document_found_later_has_its_own_ready_email(patron, branch):
    """The first email went at once; the second, hours later, tells what came since."""
    one, two = placed(patron, branch, "Le Horla", "Bel-Ami")
    run = picking.build_run(branch=branch, kind="late")
    picking.mark_found(line=run.lines.get(request=one))
    compose.compose_all(later() + compose.PULL_WAIT)
    outbox.send_due(later() + compose.PULL_WAIT)
    picking.mark_found(line=run.lines.get(request=two))
    compose.compose_all(later(minutes=40) + compose.PULL_WAIT)
    outbox.send_due(later(minutes=45) + compose.PULL_WAIT)
    ready = [m for m in Script.sent if m.to == [patron.email] and "attend" in m.subject]
    assert len(ready) == 2


def test_a_confirmation_held_by_mail_trouble_does_not_register_a_request_cancelled_since(patron, branch):
    kept, dropped = placed(patron, branch, "Gardé", "Abandonné")
    compose.compose_all(later())
    notice = Notice.objects.get(patron=patron, kind=Kind.CONFIRMATION)
    Script.fail = server_down
    outbox.send_due(later())
    notice.refresh_from_db()
    assert (notice.state, notice.error_code) == (State.PENDING, "retrying")
    cancel_request(request=dropped)
    Script.fail = None

    outbox.send_due(later(hours=2))

    (mail,) = [m for m in Script.sent if m.to == [patron.email]]
    assert "Gardé" in mail.body and "Abandonné" not in mail.body
    assert "2" not in mail.subject  # "Votre demande est enregistrée", not "Vos 2 demandes"


def test_a_night_no_copy_left_waits_for_the_morning_documents_still_on_the_list(patron, branch):
    today = timezone.localdate()
    tz = timezone.get_current_timezone()

    def at(hour, minute=0):
        return datetime.datetime.combine(today, datetime.time(hour, minute), tzinfo=tz)

    (on_the_list,) = placed(patron, branch, "Sur la liste")
    run = picking.build_run(branch=branch, kind="late")
    # Waiting for a copy written off: the night sweep closes it, "no copy left".
    lost = place_request(
        patron=patron,
        record_id=make_record(title="Pilonné", copies=[(branch, CopyStatus.MISSING)]).pk,
        pickup_branch=branch,
    )[0]
    assert lost.status == Status.WAITING
    copy = lost.record.copies.get()
    set_copy_status(copy_id=copy.pk, seen=CopyStatus.MISSING, status=CopyStatus.WITHDRAWN)
    Copy.objects.filter(pk=copy.pk).update(updated_at=timezone.now() - datetime.timedelta(days=2))
    assert close_waiting_without_copies() == 1
    RequestEvent.objects.filter(request=lost, reason="no_copy_left").update(at=at(3))
    RequestEvent.objects.filter(from_status="").update(at=at(2))  # the confirmations, long told
    compose.compose_all(at(2, 30))
    # 9:01: the morning's list still has the patron's other document to pull.
    assert run.lines.get(request=on_the_list).status == "pending"
    compose.compose_all(at(9, 1))
    assert not Notice.objects.filter(patron=patron, kind=Kind.NOT_FOUND).exists()

    # 9:30: found; the patron's one email says what is ready and what could not be found.
    picking.mark_found(line=run.lines.get(request=on_the_list))
    compose.compose_all(max(at(9, 31), timezone.now() + datetime.timedelta(minutes=1)))

    outcomes = Notice.objects.filter(patron=patron, kind__in=[Kind.READY, Kind.NOT_FOUND])
    assert [n.kind for n in outcomes] == [Kind.READY]
    assert {e.request_id for e in outcomes.get().events.all()} == {on_the_list.pk, lost.pk}


def test_a_night_no_copy_left_alone_is_told_in_the_morning(patron, branch):
    """Nothing else on a list: its "not found" goes once the day has begun."""
    today = timezone.localdate()
    tz = timezone.get_current_timezone()
    lost = place_request(
        patron=patron,
        record_id=make_record(title="Pilonné", copies=[(branch, CopyStatus.MISSING)]).pk,
        pickup_branch=branch,
    )[0]
    copy = lost.record.copies.get()
    set_copy_status(copy_id=copy.pk, seen=CopyStatus.MISSING, status=CopyStatus.WITHDRAWN)
    Copy.objects.filter(pk=copy.pk).update(updated_at=timezone.now() - datetime.timedelta(days=2))
    assert close_waiting_without_copies() == 1
    three = datetime.datetime.combine(today, datetime.time(3), tzinfo=tz)
    RequestEvent.objects.filter(request=lost, reason="no_copy_left").update(at=three)
    RequestEvent.objects.filter(from_status="").update(at=three - datetime.timedelta(hours=1))

    compose.compose_all(datetime.datetime.combine(today, datetime.time(9, 1), tzinfo=tz))

    assert Notice.objects.filter(patron=patron, kind=Kind.NOT_FOUND).count() == 1


def test_a_database_error_while_writing_an_email_delays_it_and_loses_nothing(patron, branch, monkeypatch):
    """A connection dropped (a failover) is not the notice's fault: failed, it would wait
    for staff to send it again; pending, the next pass sends it."""
    from django.db import OperationalError

    from emporter.notices import render

    placed(patron, branch, "Premier")
    compose.compose_all(later())
    real = render.render

    def database_gone(notice):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(render, "render", database_gone)
    with pytest.raises(OperationalError):
        outbox.send_due(later())
    notice = Notice.objects.get(patron=patron)
    assert (notice.state, notice.attempts) == (State.PENDING, 0)

    monkeypatch.setattr(render, "render", real)
    assert outbox.send_due(later(minutes=1)) == 1
    assert len([m for m in Script.sent if m.to == [patron.email]]) == 1
