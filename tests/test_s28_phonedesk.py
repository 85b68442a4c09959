"""The phone desk as the twenty-eighth session's review found it: an old confirmation
sent again after its request was cancelled answers instead of failing, another
library's desk may cancel a caller's request at a closed library as it may move it, and
a call's basket lets go of what can never be placed, as the patron's basket does."""

from emporter.holds.continuity import set_mode
from emporter.holds.models import Request, Status
from emporter.holds.services import cancel_request, place_request
from emporter.network.models import Branch, ServiceMode
from emporter.phonedesk import basket
from emporter.picking.services import withdraw_closed_branches
from tests.conftest import make_patron, make_record
from tests.test_api_staff import V1, post, sign_in, staff_user
from tests.test_phone_desk import add_all, confirm_form, make_staff, patron_url
from tests.test_s15_double_submits import en


def test_a_confirmation_sent_again_after_its_waiting_request_was_cancelled_says_so(client, branch, patron):
    client.force_login(make_staff(branch=branch))
    add_all(client, patron, [make_record(title="Tout prêté", copies=[(branch, "on_loan")])])
    form = confirm_form(client, patron)
    client.post(patron_url(patron, "confirm/"), form)
    hold = Request.objects.get(patron=patron)
    assert hold.status == Status.WAITING
    cancel_request(request=hold, reason="Changé d'avis")

    with_english = client.post(en("phonedesk:confirm", patron.pk), form, follow=True)

    assert with_english.status_code == 200
    assert "Already placed by this same confirmation. Its request is now: Cancelled." in with_english.text


def test_a_confirmation_sent_again_after_its_set_aside_request_was_cancelled_says_so(client, branch, patron):
    client.force_login(make_staff(branch=branch))
    add_all(client, patron, [make_record(title="En rayon", copies=[branch])])
    form = confirm_form(client, patron)
    client.post(patron_url(patron, "confirm/"), form)
    cancel_request(request=Request.objects.get(patron=patron, status=Status.PLACED))

    page = client.post(en("phonedesk:confirm", patron.pk), form, follow=True)

    assert "Its request is now: Cancelled." in page.text and "Set aside" not in page.text


def closed_pickup_request(branch):
    """A caller's request waiting at ``branch``, which has since closed."""
    caller = make_patron(branch)
    record = make_record(title="Appel", copies=[(branch, "on_loan")])
    request, _ = place_request(patron=caller, record_id=record.pk, pickup_branch=branch)
    set_mode(branches=Branch.objects.filter(pk=branch.pk), mode=ServiceMode.CLOSED, actor=None)
    withdraw_closed_branches()
    return caller, request


def test_another_librarys_phone_desk_cancels_a_request_at_a_closed_library(client, branch, other_branch):
    caller, request = closed_pickup_request(branch)
    client.force_login(make_staff(branch=other_branch))
    assert f"/requests/{request.pk}/cancel/" in client.get(patron_url(caller)).text  # the form is shown

    client.post(
        patron_url(caller, f"requests/{request.pk}/cancel/"), {"reason": "Ne viendra pas", "asked": "1"}
    )

    request.refresh_from_db()
    assert request.status == Status.CANCELLED


def test_another_librarys_desk_still_may_not_cancel_a_request_at_an_open_library(
    client, branch, other_branch
):
    caller = make_patron(branch)
    record = make_record(title="Appel", copies=[(branch, "on_loan")])
    request, _ = place_request(patron=caller, record_id=record.pk, pickup_branch=branch)
    client.force_login(make_staff(branch=other_branch))
    assert f"/requests/{request.pk}/cancel/" not in client.get(patron_url(caller)).text

    client.post(
        patron_url(caller, f"requests/{request.pk}/cancel/"), {"reason": "Ne viendra pas", "asked": "1"}
    )

    request.refresh_from_db()
    assert request.status == Status.WAITING


def test_the_staff_api_cancels_a_request_at_a_closed_library_from_another_desk(client, branch, other_branch):
    _, request = closed_pickup_request(branch)
    staff_user("agnes", branch=other_branch)
    headers = sign_in(client, "agnes")

    response = post(client, f"{V1}/staff/requests/{request.pk}/cancel", {"reason": "Appel"}, headers)

    assert response.status_code == 200 and response.json()["status"] == "cancelled"


def test_a_calls_basket_lets_go_of_a_title_requested_meanwhile(client, branch, patron):
    client.force_login(make_staff(branch=branch))
    mine = make_record(title="Déjà demandé", copies=[branch, branch])
    add_all(client, patron, [mine])
    place_request(patron=patron, record_id=mine.pk, pickup_branch=branch)  # online, meanwhile

    client.post(patron_url(patron, "confirm/"), confirm_form(client, patron))

    assert basket.ids(client.session, patron.pk) == []
