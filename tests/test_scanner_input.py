"""What a scanner sends is read as the code it scanned: a stray control character (a
scanner's suffix, a NUL that PostgreSQL refuses) neither hides the copy or the card nor
turns into a server error."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from emporter.holds.models import Status
from emporter.holds.services import place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import services as picking
from tests.conftest import make_record


@pytest.fixture
def staff_client(client, branch):
    user = get_user_model().objects.create_user(username="staff", password="x")
    for role in (Role.PICKER, Role.DOOR_DESK):
        StaffRole.objects.create(user=user, role=role, branch=branch)
    client.force_login(user)
    return client


def url(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


@pytest.mark.parametrize("suffix", ["\x00", "\x1d", "\x04\r\n"])
def test_a_scanned_copy_with_a_stray_control_character_is_found(staff_client, patron, branch, suffix):
    request, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    run = picking.build_run(branch=branch, kind="late")
    response = staff_client.post(url("picking:scan", run.pk), {"barcode": request.copy.barcode + suffix})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == Status.READY


def test_a_card_with_a_nul_opens_the_patron_at_the_door(staff_client, patron, branch):
    page = staff_client.get(url("desk:door", branch.pk), {"card": patron.card_number + "\x00"})
    assert page.status_code == 200
    assert patron.last_name in page.content.decode()


def test_a_nul_at_the_transfer_receive_scan_says_no_such_copy(staff_client, branch):
    page = staff_client.post(url("picking:receive", branch.pk), {"barcode": "NOPE\x00"})
    assert page.status_code < 500 and "NOPE" in page.content.decode()
