"""A keyed household placement locks the card holder's row, then the child's; a surprise
bag asked for the same child locks the child's row, then inserts a row naming the
guardian (asked_by: a KEY SHARE lock on the guardian's row). With a full lock on the
holder, the two waited for each other and PostgreSQL killed one (deadlock detected)."""

import threading

import pytest
from django.db import connection

from emporter.discovery import services as discovery
from emporter.holds import services
from tests.conftest import backend_pid, make_branch, make_patron, make_record, wait_until_blocked


@pytest.mark.django_db(transaction=True)
def test_a_keyed_basket_and_a_surprise_bag_for_one_child_do_not_deadlock(postgres, monkeypatch):
    branch = make_branch()
    guardian = make_patron(branch, card="30000001")
    child, _sibling = (make_patron(branch, card=f"3000001{n}", guardian=guardian) for n in range(2))
    ids = [make_record(title="T0", copies=[branch]).pk]

    child_locked, go_on = threading.Event(), threading.Event()
    original = discovery.remaining_allowance

    def slow_allowance(**kw):  # the surprise bag holds the child's row here
        child_locked.set()
        go_on.wait(20)
        return original(**kw)

    monkeypatch.setattr(discovery, "remaining_allowance", slow_allowance)
    placer_pid, results = [], {}

    def surprise():
        try:
            results["surprise"] = discovery.create_surprise_request(
                asked_by=guardian, patron=child, pickup_branch=branch, how_many=1
            )
        except Exception as error:
            results["surprise"] = error
        finally:
            connection.close()

    def place():
        try:
            placer_pid.append(backend_pid())
            results["place"] = services.place_requests(
                patron=child,
                record_ids=ids,
                pickup_branch=branch,
                actor=guardian.user,
                idempotency_key="k1",
                theirs=True,
            )
        except Exception as error:
            results["place"] = error
        finally:
            connection.close()

    a = threading.Thread(target=surprise)
    a.start()
    assert child_locked.wait(20)
    b = threading.Thread(target=place)
    b.start()
    wait_until_blocked(placer_pid)  # holder locked, waiting for the child's row
    go_on.set()
    a.join(30)
    b.join(30)
    errors = {k: v for k, v in results.items() if isinstance(v, Exception)}
    assert not errors, errors
