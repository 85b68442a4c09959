"""A librarian's day, without a browser (the scan boxes themselves are in
tests/browser/test_scan_boxes_s12.py):

1. The pick list's scan answer says a copy whose request was cancelled meanwhile is to
   go back on the shelf as a warning, not as a success like a copy to bag.
2. The phone desk's "Collect elsewhere" never offers the library the request is already
   to be collected at (and is not shown when no other is left), and a stale form that
   asks for that library says so instead of claiming a change.
"""

import re

from django.contrib.messages import constants as levels

from emporter.holds.models import Channel, Request
from emporter.holds.services import cancel_request, place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from tests.conftest import make_branch, make_patron, make_record
from tests.test_phone_desk import desk, make_staff, patron_url  # noqa: F401 (fixture)
from tests.test_staff_ui_fixes import staff

# 1. Picking: a cancelled request's copy is a warning -----------------------------------------


def a_list(branch, titles):
    patron = make_patron(branch, card="20690010")
    requests = [
        place_request(
            patron=patron, record_id=make_record(title=t, copies=[branch]).pk, pickup_branch=branch
        )[0]
        for t in titles
    ]
    return picking.build_run(branch=branch, kind="late"), requests


def scan(client, run, barcode):
    return client.post(
        f"/staff/picking/runs/{run.pk}/scan/", {"barcode": barcode}, HTTP_ACCEPT="application/json"
    )


def test_the_scan_answer_for_a_cancelled_request_is_a_warning_not_a_success(client, branch):
    run, (kept, cancelled) = a_list(branch, ["Gardé", "Annulé"])
    client.force_login(staff("rayon", Role.PICKER, branch))
    found = scan(client, run, kept.copy.barcode).json()
    cancel_request(request=cancelled)  # the patron, from their phone, while the list is out
    put_back = scan(client, run, cancelled.copy.barcode).json()
    assert (found["ok"], found["level"]) == (True, "success")
    # Taken (the line is done, the count goes down), but nothing goes into a bag.
    assert (put_back["ok"], put_back["level"]) == (True, "warning")
    assert "rayon" in put_back["message"] and put_back["left"] == 0
    assert put_back["line"] == run.lines.get(request=cancelled).pk


def test_a_refused_scan_answers_the_error_level(client, branch):
    run, _ = a_list(branch, ["Seul"])
    client.force_login(staff("rayon", Role.PICKER, branch))
    refused = scan(client, run, "99999")
    assert refused.status_code >= 400
    assert (refused.json()["ok"], refused.json()["level"]) == (False, "error")


def test_without_javascript_the_cancelled_request_is_still_a_warning(client, branch):
    run, (kept, cancelled) = a_list(branch, ["Gardé", "Annulé"])
    client.force_login(staff("rayon", Role.PICKER, branch))
    cancel_request(request=cancelled)
    response = client.post(
        f"/staff/picking/runs/{run.pk}/scan/", {"barcode": cancelled.copy.barcode}, follow=True
    )
    assert [m.level for m in response.context["messages"]] == [levels.WARNING]


# 2. Phone desk: "Collect elsewhere" -----------------------------------------------------------


def collect_elsewhere_options(page: str, hold) -> list[str] | None:
    """The libraries the request's "Collect elsewhere" control offers; None without one."""
    form = re.search(rf'action="[^"]*/requests/{hold.pk}/pickup/".*?</form>', page, re.S)
    # (the first option, "Choose a library", chooses nothing: one click moves no request)
    return re.findall(r'<option value="\d+"[^>]*>([^<]*)</option>', form.group(0)) if form else None


def test_collect_elsewhere_is_not_offered_with_only_the_current_library(desk, branch):  # noqa: F811
    make_branch(code="VAI", name="Vaise")  # another library of the network, not in scope
    patron = make_patron(branch)
    hold, _ = place_request(
        patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch, channel=Channel.PHONE
    )
    page = desk.get(patron_url(patron)).content.decode()
    assert collect_elsewhere_options(page, hold) is None
    assert f"/requests/{hold.pk}/cancel/" in page  # the request is still the librarian's to cancel


def test_collect_elsewhere_offers_the_other_libraries_only(client, branch, other_branch):
    user = make_staff(branch=branch)
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=other_branch)
    client.force_login(user)
    patron = make_patron(branch)
    hold, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    page = client.get(patron_url(patron)).content.decode()
    assert collect_elsewhere_options(page, hold) == [other_branch.name]
    assert '<option value="" selected disabled>Choisissez une bibliothèque</option>' in page


def test_collect_elsewhere_to_the_same_library_does_not_claim_a_change(desk, branch):  # noqa: F811
    patron = make_patron(branch)
    hold, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    # A form drawn before the request was moved here: its choice is where it already is.
    response = desk.post(
        patron_url(patron, f"requests/{hold.pk}/pickup/"), {"branch": branch.pk}, follow=True
    )
    said = [(m.level, str(m)) for m in response.context["messages"]]
    assert said == [
        (levels.INFO, f"«\u00a0{hold.record.title}\u00a0» est déjà à retirer à {branch.name}.")
    ], said
    assert Request.objects.get(pk=hold.pk).pickup_branch == branch
    assert not hold.events.filter(reason="pickup_changed").exists()
