"""A booked pickup time the library will not be open at is cancelled by the sweep, and
the patron is told once, with another time to choose."""

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation

from emporter.curbside import services
from emporter.curbside.models import Appointment, PickupSettings
from emporter.desk.services import hand_over
from emporter.network.models import ClosedDay
from emporter.notices import compose, outbox
from emporter.notices.models import Kind, Notice, State
from tests.test_curbside import MONDAY, WEDNESDAY, at, ready_bag

THURSDAY = WEDNESDAY + datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def times(branch, settings):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    return PickupSettings.objects.create(branch=branch, slot_minutes=15, per_slot=2)


def booked_then_closed(patron, branch, *, language="en"):
    patron.language = language
    patron.save(update_fields=["language"])
    bag = ready_bag(patron, branch, ["Le Petit Prince"], until=THURSDAY)
    services.book(bag=bag, starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    ClosedDay.objects.create(branch=branch, date=WEDNESDAY, reason="grève")
    assert services.close_finished(now=at(MONDAY, 10)) == 1
    compose.compose_all(at(MONDAY, 10, 1))
    return bag


def emails_about_the_time():
    return [email for email in mail.outbox if "cr\u00e9neau" in email.subject or "time" in email.subject]


def time_cancelled():
    return Notice.objects.filter(kind=Kind.TIME_CANCELLED)


def test_the_patron_is_told_once_with_the_time_lost_and_another_to_choose(patron, branch):
    bag = booked_then_closed(patron, branch)
    assert services.close_finished(now=at(MONDAY, 10, 5)) == 0  # the next sweep adds nothing
    compose.compose_all(at(MONDAY, 10, 5))  # nor the next composer
    assert not Appointment.objects.filter(to_tell=True).exists()
    notice = time_cancelled().get()
    assert (notice.patron, notice.bag) == (patron, bag)
    outbox.send_due(at(MONDAY, 10, 5))
    (email,) = emails_about_the_time()
    assert email.subject == "Your pickup time is cancelled"
    assert "Wednesday 9 December, 11:00" in email.body
    assert f"{branch.name} will not be open then" in email.body
    assert "Le Petit Prince" in email.body and "Thursday 10 December 2026" in email.body
    with translation.override("en"):
        times_url = reverse("curbside:times", args=[bag.pk])
    assert times_url in email.body


def test_the_sweep_leaves_a_mark_that_the_composer_reads(patron, branch):
    """Curbside does not call the notices (imports point down the apps): its sweep marks
    the appointment, the composer tells the patron and takes the mark off, once."""
    bag = ready_bag(patron, branch, ["Le Petit Prince"], until=THURSDAY)
    services.book(bag=bag, starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    ClosedDay.objects.create(branch=branch, date=WEDNESDAY, reason="grève")
    services.close_finished(now=at(MONDAY, 10))
    assert not time_cancelled().exists()
    assert Appointment.objects.get(to_tell=True).bag == bag
    # A composer that finds the notice already made (another got there first) still
    # takes the mark off and makes no second one.
    compose.compose_all(at(MONDAY, 10, 1))
    Appointment.objects.update(to_tell=True)
    compose.compose_all(at(MONDAY, 10, 2))
    assert time_cancelled().count() == 1
    assert not Appointment.objects.filter(to_tell=True).exists()


def test_in_french(patron, branch):
    booked_then_closed(patron, branch, language="fr")
    outbox.send_due(at(MONDAY, 10, 5))
    (email,) = emails_about_the_time()
    assert email.subject == "Votre créneau de retrait est annulé"
    assert "mercredi 9 décembre, 11:00" in email.body


def test_a_booking_ended_for_other_reasons_is_not_told_as_cancelled_by_the_library(patron, branch):
    bag = ready_bag(patron, branch, ["Un"], until=THURSDAY)
    services.book(bag=bag, starts_at=at(WEDNESDAY, 11), now=at(MONDAY, 9))
    # Missed: the time went by and the patron did not come.
    assert services.close_finished(now=at(WEDNESDAY, 14)) == 1
    assert not time_cancelled().exists()


def test_not_sent_once_another_time_is_booked(patron, branch):
    bag = booked_then_closed(patron, branch)
    services.book(bag=bag, starts_at=at(THURSDAY, 11), now=at(MONDAY, 10, 1))
    outbox.send_due(at(MONDAY, 10, 2))
    assert time_cancelled().get().state == State.SKIPPED and not emails_about_the_time()


def test_not_sent_once_the_bag_is_collected(patron, branch):
    booked_then_closed(patron, branch)
    hand_over(patron=patron, branch=branch)
    outbox.send_due(at(MONDAY, 10, 2))
    assert time_cancelled().get().state == State.SKIPPED and not emails_about_the_time()
