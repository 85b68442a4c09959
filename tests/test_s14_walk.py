"""Findings of the fourteenth session's Chromium walk (English and French, keyboard,
screen-reader structure): a confirmation per pickup library, one id per error, and the
language of what staff read (notices sent in the patron's language, PDFs)."""

import datetime
import re
from collections import Counter

from django.contrib.auth import get_user_model
from django.core import mail
from django.utils import timezone, translation

from emporter.holds.services import place_request
from emporter.notices import compose, outbox, render
from emporter.notices.models import Kind, Notice
from emporter.patrons.models import Role, StaffRole
from tests.conftest import make_record


def later():
    return timezone.now() + datetime.timedelta(minutes=5)


def test_two_libraries_placed_for_within_a_minute_give_one_confirmation_each(patron, branch, other_branch):
    place_request(
        patron=patron, record_id=make_record(title="Au bonheur", copies=[branch]).pk, pickup_branch=branch
    )
    place_request(
        patron=patron,
        record_id=make_record(title="Bonjour tristesse", copies=[other_branch]).pk,
        pickup_branch=other_branch,
    )
    assert compose.compose_all(later()) == 2
    by_library = {}
    for notice in Notice.objects.filter(kind=Kind.CONFIRMATION):
        text = render.render(notice).text
        by_library[text.count(branch.name), text.count(other_branch.name)] = text
    assert set(by_library) == {(1, 0), (0, 1)}  # each names its own library, once (the footer)
    assert "Au bonheur" in by_library[1, 0] and "Bonjour tristesse" in by_library[0, 1]


def test_a_refused_surprise_form_repeats_no_id(client, patron, branch):
    client.force_login(patron.user)
    response = client.post(
        "/en/discover/surprise/", {"for_whom": patron.pk, "how_many": "", "pickup_branch": branch.pk}
    )
    html = response.content.decode()
    assert 'aria-invalid="true"' in html  # refused, as intended
    counts = Counter(re.findall(r'\sid="([^"]+)"', html))
    assert [name for name, n in counts.items() if n > 1] == []


def test_a_sent_notice_says_its_language_to_the_mail_client_and_on_the_outbox(
    client, patron, branch, settings
):
    settings.MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
    patron.language = "fr"
    patron.save(update_fields=["language"])
    place_request(patron=patron, record_id=make_record(title="Un", copies=[branch]).pk, pickup_branch=branch)
    compose.compose_all(later())
    outbox.send_due(later())
    (message,) = mail.outbox
    assert message.extra_headers["Content-Language"] == "fr"
    notice = Notice.objects.get()
    assert notice.language == "fr" and "réservation" in notice.subject
    manager = get_user_model().objects.create_user(username="resp", password="x")
    StaffRole.objects.create(user=manager, role=Role.BRANCH_MANAGER, branch=branch)
    client.force_login(manager)
    html = client.get("/en/staff/notices/").content.decode()
    assert re.search(r'lang="fr"[^>]*>\s*' + re.escape(notice.subject), html)


def test_pick_list_and_bag_label_pdfs_say_their_language(branch):
    from types import SimpleNamespace

    from emporter.picking import pdf

    with translation.override("en"):
        run = SimpleNamespace(branch=branch, run_date=timezone.localdate())
        assert b"/Lang (en)" in pdf.pick_list(run=run, sections=[])
        assert b"/Lang (en)" in pdf.bag_labels(branch=branch, bags=[], name_style="full")


def test_a_phone_desk_cancellation_without_a_reason_is_said_at_the_reason_field(client, branch):
    from tests.conftest import make_patron

    user = get_user_model().objects.create_user(username="tel", password="x")
    StaffRole.objects.create(user=user, role=Role.PHONE_DESK, branch=branch)
    client.force_login(user)
    caller = make_patron(branch, card="20000001")
    hold, _ = place_request(
        patron=caller, record_id=make_record(title="Le Horla", copies=[branch]).pk, pickup_branch=branch
    )
    cancel = f"/en/staff/phone/patrons/{caller.pk}/requests/{hold.pk}/cancel/"
    response = client.post(cancel, {"reason": "   ", "asked": "1"}, follow=True)
    html = response.content.decode()
    field = re.search(rf'<input id="reason-{hold.pk}"[^>]*>', html).group(0)
    assert 'aria-invalid="true"' in field and "autofocus" in field
    described = re.search(r'aria-describedby="([^"]+)"', field).group(1)
    said = "Say why the request is cancelled: “Le Horla” is still requested."
    assert re.search(rf'id="{described}">{said}', html)
    assert html.count("autofocus") == 1
    hold.refresh_from_db()
    assert hold.is_active
    again = client.get(f"/en/staff/phone/patrons/{caller.pk}/").content.decode()
    assert 'aria-invalid="true"' not in again  # said once


def test_a_notice_written_by_the_old_code_after_the_migration_gets_no_language(branch):
    """Between `migrate` and the restart the old scheduler writes notices without the
    language column (notices/0012): its database default takes them, where the insert
    failed and the old composer took it for another composer's (nothing sent)."""
    from django.db import connection

    from tests.conftest import make_patron

    patron = make_patron(branch)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO notices_notice (patron_id, kind, channel, state, dedupe_key, note,"
            " attempts, error_code, last_error, sent_to, subject, message_id, created_at)"
            " VALUES (%s, 'confirmation', 'email', 'pending', 'old-code-1', '', 0, '', '', '', '', '', %s)",
            [patron.pk, timezone.now()],
        )
    assert Notice.objects.get(dedupe_key="old-code-1").language == ""
