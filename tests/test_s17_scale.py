"""Patron pages and the API at a network's size (seventeenth session's scale review, on
1,000,000 records and 250,000 requests): what they read must not grow with everyone's
history (PostgreSQL plans, history laid down in bulk, as tests/test_history_growth.py
does), and a web process's first page does not wait for the PDF library."""

import datetime
import subprocess
import sys

from django.conf import settings
from django.db import connection
from django.db.models.signals import post_init
from django.utils import timezone

from emporter.discovery import selectors
from emporter.holds.models import Request, RequestEvent
from emporter.holds.services import place_request
from emporter.privacy.selectors import data_of
from tests.conftest import make_record
from tests.test_api import V1, sign_in
from tests.test_history_growth import _plans, _rows_read


def _others_requests(request, count: int) -> None:
    """``count`` collected requests like ``request``, each of another patron (made in bulk)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,"
            " is_active, date_joined) SELECT '!', false, 'other' || g, '', '', '', false, true, now()"
            " FROM generate_series(1, %s) g",
            [count],
        )
        cursor.execute(
            "INSERT INTO patrons_patron (user_id, card_number, first_name, last_name, email, phone,"
            " phone_digits, home_branch_id, language, category, notice_channel, blocked_reason, loan_history,"
            " source_id)"
            " SELECT u.id, u.username, '', '', '', '', '', %s, 'fr', 'adult', 'email', '', 'library', ''"
            " FROM auth_user u WHERE u.username LIKE 'other%%'",
            [request.pickup_branch_id],
        )
        columns = [f.column for f in Request._meta.concrete_fields if f.name not in ("id", "patron")]
        values = [{"status": "'collected'", "idempotency_key": "NULL"}.get(c, f'r."{c}"') for c in columns]
        cursor.execute(
            f"INSERT INTO holds_request (patron_id, {', '.join(columns)})"
            f" SELECT p.id, {', '.join(values)} FROM holds_request r, patrons_patron p"
            " WHERE r.id = %s AND p.card_number LIKE 'other%%'",
            [request.pk],
        )
        cursor.execute("ANALYZE holds_request; ANALYZE patrons_patron")


def test_my_requests_in_the_api_read_the_households_requests_not_everyones(postgres, client, patron, branch):
    # api/requests.py:252 filters with patrons.models.of_household: an OR across the join to
    # patrons_patron, which no index serves. At 250,000 requests: 480-680 ms a call.
    mine, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    _others_requests(mine, 20_000)
    headers = sign_in(client)

    plans = _plans(lambda: client.get(f"{V1}/requests", headers=headers))
    assert _rows_read(plans, "holds_request") < 1_000
    plans = _plans(lambda: client.get(f"{V1}/loans", headers=headers))
    assert _rows_read(plans, "patrons_patron") < 1_000


def test_new_arrivals_at_a_library_read_its_new_copies_not_its_whole_shelves(postgres, branch):
    # discovery/selectors.py new_arrivals(branch=…): the discover page of a signed-in patron and
    # every library page. At 193,000 copies in a library: 200-380 ms (a bitmap scan of
    # copy_branch_status, every copy of the branch filtered on created_at).
    record = make_record(title="Ancien", copies=[branch])
    old = timezone.now() - datetime.timedelta(days=400)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO catalogue_copy (record_id, barcode, call_number, call_number_key, branch_id,"
            " doc_type, status, source_codes, created_at, updated_at)"
            " SELECT %s, 'OLD' || g, 'R', 'r', %s, 'book', 'on_shelf', '{}', %s, %s"
            " FROM generate_series(1, 30000) g",
            [record.pk, branch.pk, old, old],
        )
        cursor.execute("UPDATE catalogue_record SET created_at = %s", [old])
        cursor.execute("ANALYZE catalogue_copy; ANALYZE catalogue_record")
    make_record(title="Nouveau", copies=[branch])

    plans = _plans(lambda: selectors.new_arrivals(branch=branch))
    assert [t.record.title for t in selectors.new_arrivals(branch=branch)] == ["Nouveau"]
    assert _rows_read(plans, "catalogue_copy") < 1_000


def test_my_data_does_not_load_every_event_to_find_the_few_staff_notes(patron, branch):
    # privacy/selectors.py:36 prefetches every event of every request, to keep those with a
    # note: a patron with a five-year history (2,000 loans) waits ~0.9 s for 70,000 model rows.
    request, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    RequestEvent.objects.bulk_create(
        RequestEvent(request=request, from_status="placed", to_status="placed", reason="reminder", note="")
        for _ in range(50)
    )
    RequestEvent.objects.create(request=request, from_status="placed", to_status="placed", note="Appelé")
    made = []

    def count(sender, instance, **kwargs):
        made.append(instance)

    post_init.connect(count, sender=RequestEvent)
    try:
        data = data_of(patron)
    finally:
        post_init.disconnect(count, sender=RequestEvent)
    assert data["requests"][0]["staff_notes"] == ["Appelé"]
    assert len(made) <= 5


def test_a_patrons_first_page_after_a_restart_does_not_import_the_pdf_library(tmp_path):
    # The first request of each web process imports every URLconf; desk/urls.py → desk/views.py
    # → picking/pdf.py imports fpdf (0.55 s alone): 0.7-2.3 s for the first patron page.
    code = (
        "import django, sys; django.setup();"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "print('fpdf' in sys.modules)"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "emporter.settings",
        "EMPORTER_DATA_DIR": str(tmp_path),
        "PATH": "/usr/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "False", out.stderr[-2000:]
