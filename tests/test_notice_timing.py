"""When notices that can wait are written: not in the night."""

import datetime
from zoneinfo import ZoneInfo

from emporter.holds.models import Status
from emporter.holds.services import expire_overdue
from emporter.notices import compose
from emporter.notices.models import Kind, Notice
from tests.conftest import make_ready_requests

PARIS = ZoneInfo("Europe/Paris")


def expired_bag(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Oublié sur l’étagère"])
    day_after = request.hold_until + datetime.timedelta(days=1)
    assert expire_overdue(today=day_after) == 1
    request.refresh_from_db()
    assert request.status == Status.EXPIRED
    return day_after


def at(day, hour, minute=0):
    return datetime.datetime.combine(day, datetime.time(hour, minute), tzinfo=PARIS)


def test_a_bag_expired_at_midnight_is_told_in_the_morning_not_in_the_night(patron, branch):
    day = expired_bag(patron, branch)
    compose.compose_all(at(day, 0, 10))
    compose.compose_all(at(day, 8, 59))
    assert not Notice.objects.filter(kind=Kind.EXPIRED).exists()
    compose.compose_all(at(day, 9, 0))
    assert Notice.objects.filter(kind=Kind.EXPIRED, patron=patron).count() == 1
    compose.compose_all(at(day, 9, 15))  # and once
    assert Notice.objects.filter(kind=Kind.EXPIRED).count() == 1


def test_the_expired_email_of_one_document_is_in_the_singular(patron, branch, settings):
    from django.core import mail

    from emporter.notices import outbox

    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    day = expired_bag(patron, branch)
    compose.compose_all(at(day, 9, 0))
    outbox.send_due(at(day, 9, 1))
    (email,) = mail.outbox
    assert "Ce document n’a pas été retiré à temps\u00a0; il est retourné en rayon\u00a0:" in email.body
    assert "Vous pouvez le réserver à nouveau" in email.body
