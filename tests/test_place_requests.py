import pytest

from emporter.catalogue.models import CopyStatus
from emporter.errors import ServiceError
from emporter.holds.models import Channel, Request, RequestEvent, RequestPolicy, Status
from emporter.holds.services import cancel_request, place_request, place_requests
from emporter.network.models import ServiceMode
from tests.conftest import make_patron, make_record


def place(patron, record, branch, **kw):
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=branch, **kw)
    return request


def test_a_copy_at_the_pickup_branch_is_set_aside_at_once(patron, branch, other_branch):
    record = make_record(copies=[other_branch, branch])
    request = place(patron, record, branch)
    assert request.status == Status.PLACED
    assert request.copy.branch == branch
    request.copy.refresh_from_db()
    assert request.copy.status == CopyStatus.SET_ASIDE
    event = RequestEvent.objects.get(request=request)
    assert (event.from_status, event.to_status, event.reason) == ("", "placed", "online")


def test_a_copy_elsewhere_is_used_when_the_policy_allows(patron, branch, other_branch):
    record = make_record(copies=[other_branch])
    assert place(patron, record, branch).copy.branch == other_branch


def test_no_copy_elsewhere_when_the_policy_forbids_it(patron, branch, other_branch):
    RequestPolicy.objects.create(allow_other_branches=False, allow_waiting_list=False)
    record = make_record(copies=[other_branch, (branch, CopyStatus.ON_LOAN)])
    with pytest.raises(ServiceError) as error:
        place(patron, record, branch)
    assert error.value.code == "nothing_available"
    # None of its own at all: a waiting list there would never move (Koha refuses it).
    record = make_record(title="Ailleurs", copies=[other_branch])
    with pytest.raises(ServiceError) as error:
        place(patron, record, branch)
    assert error.value.code == "none_of_its_own"


def test_ninth_request_is_refused_with_limit_reached_in_french(patron, branch):
    for n in range(8):
        place(patron, make_record(title=f"Livre {n}", copies=[branch]), branch)
    with pytest.raises(ServiceError) as error:
        place(patron, make_record(title="Le neuvième", copies=[branch]), branch)
    assert error.value.code == "limit_reached"
    assert error.value.http_status == 409
    assert error.value.message == "Vous avez déjà 8 réservations en cours, le maximum autorisé."


def test_fourth_dvd_is_refused_when_three_are_allowed(patron, branch):
    RequestPolicy.objects.create(type_limits={"dvd": 3})
    for n in range(3):
        place(patron, make_record(title=f"Film {n}", doc_type="dvd", copies=[branch]), branch)
    place(patron, make_record(title="Un livre", copies=[branch]), branch)
    with pytest.raises(ServiceError) as error:
        place(patron, make_record(title="Film 4", doc_type="dvd", copies=[branch]), branch)
    assert error.value.code == "type_limit_reached"
    assert "DVD" in error.value.message


def test_branch_override_beats_the_network_default(patron, branch, other_branch):
    RequestPolicy.objects.create(max_active=8)
    RequestPolicy.objects.create(branch=branch, max_active=1)
    place(patron, make_record(title="Un", copies=[branch]), branch)
    with pytest.raises(ServiceError) as error:
        place(patron, make_record(title="Deux", copies=[branch]), branch)
    assert error.value.code == "limit_reached"
    # The limit is the patron's (their home library's rules), wherever they collect.
    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    with pytest.raises(ServiceError) as error:
        place(patron, make_record(title="Trois", copies=[other_branch]), other_branch)
    assert error.value.code == "limit_reached"
    visitor = make_patron(other_branch, card="10000099")  # the network default binds them
    place(visitor, make_record(title="Quatre", copies=[branch]), branch)
    place(visitor, make_record(title="Cinq", copies=[branch]), branch)


def test_same_title_twice_is_refused(patron, branch):
    record = make_record(copies=[branch, branch])
    place(patron, record, branch)
    with pytest.raises(ServiceError) as error:
        place(patron, record, branch)
    assert error.value.code == "already_requested"


def test_type_not_requestable(patron, branch):
    RequestPolicy.objects.create(requestable_types=["book", "dvd"])
    with pytest.raises(ServiceError) as error:
        place(patron, make_record(doc_type="periodical", copies=[branch]), branch)
    assert error.value.code == "type_not_requestable"


def test_reference_location_is_not_requestable(patron, branch):
    from tests.conftest import make_department, make_location

    reference = make_location(make_department(branch), code="ref", requestable=False)
    record = make_record(copies=[branch])
    record.copies.update(location=reference)
    RequestPolicy.objects.create(allow_waiting_list=False)
    with pytest.raises(ServiceError) as error:
        place(patron, record, branch)
    assert error.value.code == "nothing_to_lend"


def test_a_title_no_copy_could_ever_serve_joins_no_waiting_list(patron, branch):
    from tests.conftest import make_department, make_location

    reference = make_location(make_department(branch), code="ref", requestable=False)
    on_site = make_record(title="Dictionnaire", copies=[branch])
    on_site.copies.update(location=reference)
    gone = make_record(title="Retiré", copies=[(branch, "withdrawn")])
    for record in (on_site, gone):  # the waiting list is allowed by default: it would never move
        with pytest.raises(ServiceError) as error:
            place(patron, record, branch)
        assert error.value.code == "nothing_to_lend"
    with pytest.raises(ServiceError) as error:  # none at all yet: on order, said apart
        place(patron, make_record(title="Commandé"), branch)
    assert error.value.code == "no_copy"
    for n, status in enumerate(["on_loan", "missing"]):  # it will come back, or may turn up
        lent = make_record(title=f"Prêté {n}", copies=[(branch, status)])
        assert place(patron, lent, branch).status == "waiting"


def test_branch_not_in_click_and_collect_mode_refuses(patron, branch):
    branch.service_mode = ServiceMode.OPEN
    branch.save()
    with pytest.raises(ServiceError) as error:
        place(patron, make_record(copies=[branch]), branch)
    assert error.value.code == "branch_not_accepting"


def test_blocked_patron_is_refused(branch):
    patron = make_patron(branch, blocked_reason="documents en retard")
    with pytest.raises(ServiceError) as error:
        place(patron, make_record(copies=[branch]), branch)
    assert error.value.code == "patron_blocked"


def test_a_basket_goes_through_except_what_cannot_be_requested(patron, branch):
    RequestPolicy.objects.create(allow_waiting_list=False)
    good = make_record(title="Disponible", copies=[branch])
    gone = make_record(title="Emprunté", copies=[(branch, "on_loan")])
    also_good = make_record(title="Aussi", copies=[branch])
    outcomes = place_requests(
        patron=patron, record_ids=[good.pk, gone.pk, also_good.pk, good.pk], pickup_branch=branch
    )
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error.code == "nothing_available"
    assert Request.objects.filter(patron=patron).count() == 2


def test_no_copy_on_the_shelf_joins_the_waiting_list(patron, branch):
    record = make_record(copies=[(branch, "on_loan")])
    request = place(patron, record, branch)
    assert request.status == Status.WAITING and request.copy is None


def test_replayed_idempotency_key_returns_the_same_request(patron, branch):
    record = make_record(copies=[branch, branch])
    first, replayed_first = place_request(
        patron=patron, record_id=record.pk, pickup_branch=branch, idempotency_key="k1"
    )
    second, replayed_second = place_request(
        patron=patron, record_id=record.pk, pickup_branch=branch, idempotency_key="k1"
    )
    assert first.pk == second.pk
    assert (replayed_first, replayed_second) == (False, True)
    assert Request.objects.count() == 1


def test_cancelling_gives_the_copy_to_the_next_waiting_request(patron, branch):
    record = make_record(copies=[branch])
    first = place(patron, record, branch)
    second_patron = make_patron(branch, card="10000002")
    waiting = place(second_patron, record, branch)
    assert waiting.status == Status.WAITING
    cancel_request(request=first, actor=None, reason="changed my mind")
    waiting.refresh_from_db()
    assert waiting.status == Status.PLACED
    assert waiting.copy_id == first.copy_id
    assert list(waiting.events.values_list("from_status", "to_status", "reason")) == [
        ("", "waiting", "online"),
        ("waiting", "placed", "copy_freed"),
    ]


def test_cancelling_with_nobody_waiting_puts_the_copy_back(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch)
    cancel_request(request=request)
    request.copy.refresh_from_db()
    assert request.copy.status == CopyStatus.ON_SHELF
    with pytest.raises(ServiceError) as error:
        cancel_request(request=request)
    assert error.value.code == "not_cancellable"


def test_phone_channel_is_recorded(patron, branch):
    request = place(patron, make_record(copies=[branch]), branch, channel=Channel.PHONE)
    assert request.channel == "phone"


def test_a_copy_back_on_the_shelf_without_a_return_serves_the_waiting_list(patron, branch):
    """An import or an edit puts it back; the scheduled sweep gives it to the oldest request."""
    from emporter.holds.services import serve_waiting

    record = make_record(copies=[(branch, "on_loan")])
    first = place(patron, record, branch)
    second = place(make_patron(branch, card="20000002"), record, branch)
    assert serve_waiting() == 0  # nothing on a shelf yet
    record.copies.update(status=CopyStatus.ON_SHELF)  # as the library system's import does
    assert serve_waiting() == 1
    first.refresh_from_db(), second.refresh_from_db()
    assert (first.status, second.status) == (Status.PLACED, Status.WAITING)
    assert first.copy == record.copies.get() and first.copy.status == CopyStatus.SET_ASIDE
    assert first.events.filter(reason="copy_freed").exists()
    assert serve_waiting() == 0
