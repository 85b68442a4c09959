"""Found under load on gunicorn + PostgreSQL: 8 HTTP 500s on POST /staff/picking/lines/<id>/mark/
in four minutes, each the same second as the line's patron changing their pickup library
from the app (POST /api/v1/requests/<id>/pickup).

picking.services._locked_request locks the request with
``select_for_update(of=("self",)).select_related("patron", "pickup_branch")``: a join to
the pickup branch. When the request row it waits for is updated by the lock holder
(change_pickup writes a new pickup_branch_id), PostgreSQL re-checks the row against the
join with the branch row it had already read (READ COMMITTED's EvalPlanQual); the join no
longer matches and the row silently drops out: ``.first()`` is None. ``_live_request``
then does ``request.status`` on None (AttributeError: 500 on the picker's phone, copy in
hand); ``_next_in_line``, ``mark_not_found`` and ``receive`` would take the None for
"nobody holds this copy" instead.

The request is now locked alone, then read with its patron and branch.
"""

import threading

import pytest
from django.db import connection, transaction

from emporter.holds.models import Status
from emporter.holds.services import change_pickup, place_request
from emporter.picking import services as picking
from tests.conftest import backend_pid, make_branch, make_patron, make_record, wait_until_blocked

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("mark", ["found", "not_found"])
def test_a_pickup_change_committed_while_the_picker_waits_is_no_server_error(postgres, mark):
    here = make_branch()
    there = make_branch(code="CRX", name="Croix-Rousse")
    record = make_record(copies=[here])
    request, _ = place_request(patron=make_patron(here), record_id=record.pk, pickup_branch=here)
    line = picking.build_run(branch=here, kind="extra").lines.get()

    pid, go, outcome = [], threading.Event(), {}

    def picker():
        try:
            pid.append(backend_pid())
            go.wait(10)
            if mark == "found":
                outcome["result"] = picking.mark_found(line=line)
            else:
                outcome["result"] = picking.mark_not_found(line=line, cause="shelf")
        except Exception as error:  # noqa: BLE001
            outcome["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=picker)
    thread.start()
    with transaction.atomic():
        # The patron's app: the request is locked and its pickup library changed...
        change_pickup(request=request, branch=there)
        go.set()
        wait_until_blocked(pid)  # ...while the picker's mark waits for that request's lock
    thread.join(10)

    assert "error" not in outcome, repr(outcome.get("error"))
    request.refresh_from_db()
    assert request.pickup_branch_id == there.pk
    if mark == "found":
        # The copy was in the picker's hand: it serves the request, now bound for the new library.
        assert outcome["result"] is not None and outcome["result"].pk == request.pk
        assert request.status == Status.PLACED  # on its way to Croix-Rousse
