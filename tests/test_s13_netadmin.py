"""A network administrator's first weeks (the thirteenth session's review by a Koha
administrator): what the admin and the imports accepted that hurt later."""

import datetime
import html

from django.urls import reverse
from django.utils import timezone, translation

from emporter.catalogue.csv_import import import_copies
from emporter.catalogue.models import CopyStatus
from emporter.curbside.models import PickupSettings
from emporter.curbside.selectors import slot_times
from emporter.desk.models import LoanPolicy
from emporter.holds.models import RequestPolicy
from emporter.network.models import OpeningHours
from emporter.patrons.models import Patron, Role, StaffRole
from tests.conftest import make_patron, make_ready_requests, make_record


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def text(response) -> str:
    return html.unescape(response.content.decode())


def test_a_new_pin_is_given_to_one_patron_at_a_time(admin_client, branch):
    patrons = [make_patron(branch, card=f"2069{n:09d}") for n in range(3)]
    before = {p.pk: p.user.password for p in patrons}
    changelist = en("admin:patrons_patron_changelist")
    page = admin_client.post(
        changelist, {"action": "reset_pin", "_selected_action": [p.pk for p in patrons]}, follow=True
    )
    assert "Choose one patron to give a new PIN to" in text(page)
    assert all(p.user.password == before[p.pk] for p in Patron.objects.select_related("user"))
    one = admin_client.post(
        changelist, {"action": "reset_pin", "_selected_action": [patrons[0].pk]}, follow=True
    )
    assert f"New PIN for {patrons[0].card_number}" in text(one)
    patrons[0].user.refresh_from_db()
    assert patrons[0].user.password != before[patrons[0].pk]


def test_an_inventory_of_barcodes_and_statuses_updates_the_copies_it_names(tmp_path, branch):
    copy = make_record(title="Piano legends", copies=[branch]).copies.get()
    path = tmp_path / "inventaire.csv"
    path.write_text(f"barcode;status\n{copy.barcode};missing\nNOPE;missing\n", encoding="utf-8")
    report = import_copies(path)
    assert [(p.code, p.barcode) for p in report.problems] == [("unknown_barcode", "NOPE")]
    assert (report.created, report.updated) == (0, 1)
    copy.refresh_from_db()
    assert copy.status == CopyStatus.MISSING and copy.call_number  # nothing else touched


def test_a_file_with_a_record_column_still_says_a_row_without_one(tmp_path, branch):
    copy = make_record(title="Piano legends", copies=[branch]).copies.get()
    path = tmp_path / "copies.csv"
    path.write_text(f"barcode;record;status\n{copy.barcode};;missing\n", encoding="utf-8")
    report = import_copies(path)
    assert [p.code for p in report.problems] == ["no_record"]


def test_an_empty_call_number_cell_keeps_a_held_copys_call_number(tmp_path, branch, patron):
    from emporter.holds.services import place_request

    record = make_record(title="Autumn", copies=[branch, branch])
    held, free = record.copies.order_by("pk")
    place_request(patron=patron, record_id=record.pk, pickup_branch=branch)
    held.refresh_from_db()
    assert held.status == CopyStatus.SET_ASIDE
    path = tmp_path / "copies.csv"
    rows = "".join(f"{c.barcode};{record.source_key};\n" for c in (held, free))
    path.write_text("barcode;record;call_number\n" + rows, encoding="utf-8")
    import_copies(path)
    before = held.call_number
    held.refresh_from_db()
    assert held.call_number == before != ""  # on a pick list: the picker looks for it by it
    free.refresh_from_db()
    assert free.call_number == ""  # an empty cell of a column the file has clears it


def test_rules_of_zero_days_are_refused_by_the_admin_and_the_database(admin_client):
    form = {
        "branch": "",
        "category": "",
        "max_active": "",
        "type_limits": "null",
        "requestable_types": "null",
        "hold_days": "0",
        "allow_other_branches": "unknown",
        "allow_waiting_list": "unknown",
    }
    assert admin_client.post(en("admin:holds_requestpolicy_add"), form).status_code == 200
    assert not RequestPolicy.objects.exists()
    loan = {"doc_type": "", "loan_days": "0", "max_renewals": "1", "anonymise_after_days": "0"}
    assert admin_client.post(en("admin:desk_loanpolicy_add"), loan).status_code == 200
    assert not LoanPolicy.objects.filter(loan_days=0).exists()


def test_the_database_refuses_a_zero_day_rule_written_around_the_admin(db):
    import pytest
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        RequestPolicy.objects.create(hold_days=0)
    with pytest.raises(IntegrityError), transaction.atomic():
        LoanPolicy.objects.create(doc_type="dvd", loan_days=0)


def test_the_staff_role_form_lists_staff_accounts_only(admin_client, branch, django_user_model):
    make_patron(branch, card="2069000000001")
    django_user_model.objects.create_user(username="bibliothecaire", password="x" * 16)
    page = text(admin_client.get(en("admin:patrons_staffrole_add")))
    assert "2069000000001" not in page and "bibliothecaire" in page


def test_overlapping_opening_hours_are_refused_and_never_offer_a_time_twice(admin_client, branch, patron):
    (request,) = make_ready_requests(patron, branch, ["Autumn"])
    PickupSettings.objects.create(branch=branch, slot_minutes=30, per_slot=3)
    # Saved before the admin refused it (9:00-20:00 beside 10:00-19:00 on an open
    # weekday, within the bag's five open days): each time is still offered once.
    OpeningHours.objects.create(
        branch=branch, weekday=branch.hours.first().weekday, opens=datetime.time(9), closes=datetime.time(20)
    )
    times = slot_times(bag=request.bag, settings=branch.pickup_settings, now=timezone.now())
    assert times and len(times) == len(set(times)) and times == sorted(times)
    # The branch form refuses two intervals of one day that overlap.
    hours = list(branch.hours.order_by("pk"))
    form = {
        "code": branch.code,
        "name": branch.name,
        "hours-TOTAL_FORMS": str(len(hours)),
        "hours-INITIAL_FORMS": str(len(hours)),
    }
    for n, h in enumerate(hours):
        form |= {
            f"hours-{n}-id": h.pk,
            f"hours-{n}-branch": branch.pk,
            f"hours-{n}-weekday": h.weekday,
            f"hours-{n}-opens": h.opens.strftime("%H:%M"),
            f"hours-{n}-closes": h.closes.strftime("%H:%M"),
        }
    page = admin_client.get(en("admin:network_branch_change", branch.pk))
    assert page.status_code == 200
    for formset in page.context["inline_admin_formsets"]:
        prefix = formset.formset.prefix
        if prefix != "hours":
            form |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    for field in page.context["adminform"].form.fields:
        value = page.context["adminform"].form.initial.get(field)
        if field not in form and value is not None and not isinstance(value, list | dict):
            form[field] = value
    response = admin_client.post(en("admin:network_branch_change", branch.pk), form)
    assert "Two opening intervals overlap (" in text(response)


def test_closing_the_whole_network_says_what_it_does(client, branch, patron, django_user_model):
    make_ready_requests(patron, branch, ["Autumn", "Piano legends", "Left handed complement"])
    user = django_user_model.objects.create_user(username="netadmin", password="x" * 16)
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    client.force_login(user)
    whole = text(client.post(en("network:switch_network"), {"mode": "closed"}))
    assert "3 requests are to be collected in these libraries" in whole and "another library" not in whole
    assert OpeningHours.objects.exists()  # nothing switched yet
    from emporter.network.models import Branch, ServiceMode

    assert Branch.objects.get(pk=branch.pk).service_mode != ServiceMode.CLOSED
