"""PINs sent all at once (PostgreSQL, real threads): the count holds, and the right PIN
takes its turn rather than being refused."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection
from django.test import RequestFactory

from emporter.errors import ServiceError
from emporter.patrons import services, throttle
from tests.conftest import make_patron

pytestmark = pytest.mark.django_db(transaction=True)


def test_pins_sent_at_once_are_checked_no_more_than_the_limit(postgres, branch, monkeypatch):
    patron = make_patron(branch, card="20000001", pin="9731")
    checked, answers = [], []
    real = services.authenticate

    def slow_check(*args, **kwargs):  # a PIN's hash costs a few hundred ms in production
        checked.append(kwargs["password"])
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "authenticate", slow_check)

    def guess(pin: str):
        try:
            request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.9")
            services.authenticate_patron(request=request, card_number=patron.card_number, pin=pin)
            answers.append("signed in")
        except ServiceError as error:
            answers.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess, args=(f"{1000 + n}",)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # Three checked, the third starting a pause; the others refused during it, unchecked.
    assert len(checked) == throttle.PIN_SLOW_AFTER
    assert "signed in" not in answers and Counter(answers)["login_slowed"] == 20 - throttle.PIN_SLOW_AFTER + 1


def test_the_right_pin_sent_several_times_at_once_signs_in_every_time(postgres, branch, monkeypatch):
    # A double tap, an app retrying, the web and the app: they take turns on the card's
    # counts. Counted all at once before any was checked, the fourth was told to wait 30 s.
    patron = make_patron(branch, card="20000002", pin="9731")
    answers = []
    real = services.authenticate

    def slow_check(*args, **kwargs):
        time.sleep(0.2)
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "authenticate", slow_check)

    def sign_in():
        try:
            request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.10")
            services.authenticate_patron(request=request, card_number=patron.card_number, pin="9731")
            answers.append("signed in")
        except ServiceError as error:
            answers.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=sign_in) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == ["signed in"] * 6


def test_a_wrong_pin_during_the_clean_up_of_old_counts_does_not_deadlock(postgres, branch, monkeypatch):
    import datetime

    from django.utils import timezone

    from emporter.patrons import pins
    from emporter.patrons.models import SignInFailures

    make_patron(branch, card="50000001", pin="7391")
    ip = "203.0.113.9"
    for key in [throttle._card_address_key(ip, timezone.now()), f"!pin 50000001 {ip}", "!pin 50000001"]:
        SignInFailures.objects.create(username=key, failures=1)
    SignInFailures.objects.update(updated_at=timezone.now() - datetime.timedelta(days=2))
    in_check, errors = threading.Event(), []
    real = pins.check_password

    def slow(pin, encoded, **kwargs):
        in_check.set()
        time.sleep(1.0)  # the clean-up runs meanwhile
        return real(pin, encoded, **kwargs)

    monkeypatch.setattr(pins, "check_password", slow)

    def run(step):
        try:
            step()
        except ServiceError:
            pass
        except Exception as error:  # noqa: BLE001 (a deadlock, whatever its class)
            errors.append(f"{type(error).__name__}: {error}")
        finally:
            connection.close()

    request = RequestFactory().post("/", REMOTE_ADDR=ip)

    def wrong_pin():
        services.authenticate_patron(request=request, card_number="50000001", pin="0")

    sign_in = threading.Thread(target=run, args=(wrong_pin,))
    sign_in.start()
    assert in_check.wait(10)
    clean_up = threading.Thread(target=run, args=(throttle.forget_old,))
    clean_up.start()
    sign_in.join(30), clean_up.join(30)
    assert not errors
