import datetime
import html

from django.contrib.auth import get_user_model
from django.utils import timezone, translation
from django.utils.html import escape

from emporter.dates import long_date
from emporter.holds.services import place_request
from emporter.notices import compose, outbox
from emporter.notices.models import Notice, State
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_patron, make_record


def later():
    """A moment safely after the grouping delay, taken when the test runs."""
    return timezone.now() + datetime.timedelta(minutes=5)


def staff_client(client, branch):
    """The branch's manager: the outbox shows patrons' addresses, it is not for every desk."""
    user = get_user_model().objects.create_user(username="responsable", password="x")
    StaffRole.objects.create(user=user, role=Role.BRANCH_MANAGER, branch=branch)
    client.force_login(user)
    return client


def test_staff_see_a_failed_notice_and_send_it_again(client, branch):
    patron = make_patron(branch, email="")
    place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    compose.compose_all(later())
    outbox.send_due(later())
    notice = Notice.objects.get()
    page = staff_client(client, branch).get("/staff/notices/?state=failed").content.decode()
    # In the reader's language (the staff pages are in French unless they choose English).
    with translation.override("fr"):
        error = escape(notice.error_message)
    assert error in page and patron.card_number in page
    assert "no_email" not in page
    client.post(f"/staff/notices/{notice.pk}/resend/")
    notice.refresh_from_db()
    assert notice.state == State.PENDING


def test_patrons_cannot_see_the_outbox(client, patron):
    client.force_login(patron.user)
    assert client.get("/staff/notices/").status_code == 403


def test_the_demo_mailbox_shows_what_the_file_sink_received(client, branch, settings, tmp_path):
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "OPTIONS": {"file_path": str(tmp_path)},
        }
    }
    patron = make_patron(branch)
    place_request(
        patron=patron,
        record_id=make_record(title="Boîte à lettres", copies=[branch]).pk,
        pickup_branch=branch,
    )
    compose.compose_all(later())
    assert outbox.send_due(later()) == 1
    page = staff_client(client, branch).get("/staff/notices/mailbox/").content.decode()
    assert "Votre réservation est enregistrée" in page and "Boîte à lettres" in page
    # When it was sent, in words and local time, not the raw header.
    assert "+0000" not in page
    assert long_date(timezone.localtime(), "l j F Y") in html.unescape(page)
