"""The admin as network administrators use it: request rules it cannot save broken, a
service mode it does not switch behind the continuity page's back, constraint errors
and labels in words (and in French), an Emporter header."""

import datetime
import html

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import translation

from emporter.catalogue.models import Copy, DocType
from emporter.holds.admin import RequestPolicyAdmin
from emporter.holds.models import Request, RequestPolicy
from emporter.holds.services import place_request
from emporter.network.admin import BranchAdmin
from emporter.network.models import Branch, ClosedDay, OpeningHours, ServiceMode
from tests.conftest import make_record


def en(name, *args):
    with translation.override("en"):
        return reverse(name, args=args)


def fr(name, *args):
    with translation.override("fr"):
        return reverse(name, args=args)


def policy_form(**fields):
    return {
        "branch": "",
        "category": "",
        "max_active": "",
        "type_limits": "null",
        "requestable_types": "null",
        "hold_days": "",
        "allow_other_branches": "unknown",
        "allow_waiting_list": "unknown",
    } | fields


def page_text(response) -> str:
    return html.unescape(response.content.decode())


# -- (1) request rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, expected",
    [
        # Every DVD request crashed on it (a string compared with a count).
        (
            {"type_limits": '{"dvd": "trois"}'},
            'The limit for “dvd” must be a whole number, 0 or more (not "trois")',
        ),
        ({"type_limits": '{"dvd": -1}'}, "The limit for “dvd” must be a whole number, 0 or more (not -1)"),
        ({"type_limits": '{"dvd": 2.5}'}, "The limit for “dvd” must be a whole number, 0 or more (not 2.5)"),
        (
            {"type_limits": '{"dvd": true}'},
            "The limit for “dvd” must be a whole number, 0 or more (not true)",
        ),
        # Silently never matched: the codes are lower case.
        ({"type_limits": '{"DVD": 3}'}, "“DVD” is not a document type code"),
        ({"type_limits": "[3]"}, 'Write the limits as {"code": number}'),
        # A string was checked letter by letter ("d" in "dvd").
        ({"requestable_types": '"dvd"'}, "Write the requestable types as a list"),
        ({"requestable_types": '["book", "Livre"]'}, "“Livre” is not a document type code"),
    ],
)
def test_the_admin_refuses_a_rule_the_services_could_not_read(admin_client, fields, expected):
    response = admin_client.post(en("admin:holds_requestpolicy_add"), policy_form(**fields))
    assert response.status_code == 200  # the form again, with its errors
    text = page_text(response)
    assert expected in text
    if "limit for" not in expected:  # a wrong code or shape: the message names the valid codes
        assert ", ".join(DocType.values) in text
    assert not RequestPolicy.objects.exists()


def test_a_well_formed_rule_is_saved_and_applies(admin_client, branch, patron):
    from emporter.holds import policy

    response = admin_client.post(
        en("admin:holds_requestpolicy_add"),
        policy_form(
            type_limits='{"dvd": 0}', requestable_types='["book", "dvd"]', allow_waiting_list="false"
        ),
    )
    assert response.status_code == 302, page_text(response)[:3000]
    rules = policy.resolve(branch=branch)
    assert (rules.type_limits, rules.requestable_types) == ({"dvd": 0}, ["book", "dvd"])
    assert (rules.allow_waiting_list, rules.allow_other_branches) == (False, True)  # unset: default


def test_the_model_itself_refuses_the_bad_values(db):
    with pytest.raises(ValidationError) as refused:
        RequestPolicy(type_limits={"dvd": "3", "Blu-ray": 1}, requestable_types="dvd").full_clean()
    assert set(refused.value.message_dict) == {"type_limits", "requestable_types"}
    assert len(refused.value.message_dict["type_limits"]) == 2
    RequestPolicy(type_limits={}, requestable_types=[]).full_clean()  # empty: no limit, every type


def test_the_rule_form_says_as_the_network_rule_not_unknown(admin_client):
    text = page_text(admin_client.get(en("admin:holds_requestpolicy_add")))
    assert text.count(">As the network rule</option>") == 2
    assert "Unknown" not in text
    assert "or 5 when the network sets none" in text  # hold days
    assert "or 8 when the network sets none" in text  # maximum active requests


def test_the_rule_list_shows_what_applies_for_the_network_rule(admin_client, branch):
    RequestPolicy.objects.create(max_active=8, type_limits={"dvd": 3})
    RequestPolicy.objects.create(branch=branch, hold_days=3)
    text = page_text(admin_client.get(en("admin:holds_requestpolicy_changelist")))
    assert "default (5)" in text  # the network's hold days: unset, so Policy's 5
    assert "default (Yes)" in text
    assert "dvd: 3" in text
    assert "inherited" in text  # the branch's unset fields
    assert "Whole network / all patron categories" in text
    assert f"{branch.name} / all patron categories" in text


def test_a_second_network_rule_for_a_category_is_refused_in_words(admin_client):
    RequestPolicy.objects.create(category="child", max_active=4)
    response = admin_client.post(en("admin:holds_requestpolicy_add"), policy_form(category="child"))
    assert "The whole network already has a rule for this patron category." in page_text(response)
    assert "policy_once_per_network" not in page_text(response)
    assert RequestPolicy.objects.count() == 1


# -- (2) the service mode is switched on the service-modes page only -------------------------


def test_the_branch_list_does_not_switch_modes(admin_client, branch):
    assert BranchAdmin.list_editable == ()  # Django's default: nothing editable in the list
    text = page_text(admin_client.get(en("admin:network_branch_changelist")))
    assert 'name="form-0-service_mode"' not in text
    assert "Click and collect" in text  # still shown


def test_a_new_branch_still_chooses_its_mode(admin_client):
    text = page_text(admin_client.get(en("admin:network_branch_add")))
    assert 'name="service_mode"' in text


def test_the_branch_form_links_to_the_service_modes_page(admin_client, branch):
    text = page_text(admin_client.get(en("admin:network_branch_change", branch.pk)))
    assert 'name="service_mode"' not in text
    assert f'<a href="{en("network:modes")}">change it on the service modes page' in text


# -- (3) constraints in words; the network's closed days once each ---------------------------


def test_a_network_closed_day_cannot_be_added_twice(admin_client):
    day = datetime.date(2031, 7, 14)
    ClosedDay.objects.create(branch=None, date=day, reason="Fête nationale")
    response = admin_client.post(en("admin:network_closedday_add"), {"branch": "", "date": "2031-07-14"})
    text = page_text(response)
    assert "The whole network is already closed on this day." in text
    assert "closed_day_once" not in text
    assert ClosedDay.objects.filter(date=day).count() == 1


def test_the_database_refuses_a_repeated_network_closed_day_too(db):
    day = datetime.date(2031, 7, 14)
    ClosedDay.objects.create(branch=None, date=day)
    with pytest.raises(IntegrityError), transaction.atomic():
        ClosedDay.objects.create(branch=None, date=day)


def test_a_branch_may_close_on_a_day_the_network_also_closes(db, branch, other_branch):
    day = datetime.date(2031, 7, 14)
    ClosedDay.objects.create(branch=None, date=day)
    ClosedDay(branch=branch, date=day).full_clean()
    ClosedDay.objects.create(branch=branch, date=day)
    ClosedDay.objects.create(branch=other_branch, date=day)
    with (
        translation.override("en"),
        pytest.raises(ValidationError, match="This library already has this closed"),
    ):
        ClosedDay(branch=branch, date=day).full_clean()


def test_the_closed_days_list_says_whole_network(admin_client, branch):
    ClosedDay.objects.create(branch=None, date=datetime.date(2031, 12, 25), reason="Noël")
    ClosedDay.objects.create(branch=branch, date=datetime.date(2031, 12, 26), reason="Inventaire")
    text = page_text(admin_client.get(en("admin:network_closedday_changelist")))
    assert "Whole network" in text and branch.name in text


def test_opening_hours_backwards_are_refused_in_words(db, branch):
    hours = OpeningHours(branch=branch, weekday=0, opens=datetime.time(18), closes=datetime.time(9))
    with (
        translation.override("en"),
        pytest.raises(ValidationError, match="opening time must be before the closing"),
    ):
        hours.full_clean()


# -- (4, 5) labels in French, the header ------------------------------------------------------


def test_the_admin_is_named_for_emporter(admin_client):
    text = page_text(admin_client.get(en("admin:index")))
    assert "Emporter administration" in text and "Network settings" in text
    assert "Django administration" not in text


def test_filters_and_columns_name_the_library_in_french(admin_client, branch, other_branch):
    make_record(title="Un film", copies=[branch, other_branch], doc_type="dvd")
    assert Copy.objects.exists()
    text = page_text(admin_client.get(fr("admin:catalogue_copy_changelist")))
    assert "Par bibliothèque" in " ".join(text.split())
    assert "Par branch" not in " ".join(text.split())
    assert ">Branch<" not in text


def test_the_rule_form_reads_in_french(admin_client):
    """Needs the French catalogue with this change's strings (compiled .mo)."""
    text = page_text(admin_client.get(fr("admin:holds_requestpolicy_add")))
    assert ">Comme la règle du réseau</option>" in text
    assert "Inconnu" not in text
    assert "Administration d’Emporter" in text
    response = admin_client.post(fr("admin:holds_requestpolicy_add"), policy_form(type_limits='{"DVD": 3}'))
    assert "«\u00a0DVD\u00a0» n’est pas un code de type de document" in page_text(response)
    with translation.override("fr"):
        assert str(RequestPolicy(category="child")) == "Tout le réseau / Enfant"
        assert str(RequestPolicy()) == "Tout le réseau / toutes catégories d’abonné·es"


def test_closing_a_branch_stays_on_the_service_modes_page(admin_client, branch):
    """The page the admin points to is there for a superuser and still asks first."""
    assert admin_client.get(en("network:modes")).status_code == 200
    asked = admin_client.post(en("network:switch_branch", branch.pk), {"mode": ServiceMode.CLOSED})
    assert asked.status_code == 200
    assert Branch.objects.get(pk=branch.pk).service_mode == ServiceMode.CLICK_COLLECT


def test_the_policy_admin_keeps_its_columns_valid():
    # Each column reads a real field (a renamed one would break the list for everyone).
    names = {f.name for f in RequestPolicy._meta.get_fields()}
    for column in RequestPolicyAdmin.list_display[1:]:
        assert column.__name__.removesuffix("_shown") in names


def test_appointments_are_not_added_in_the_admin(admin_client):
    # Every field is read-only there: the form used to save one without a bag (error 500).
    assert admin_client.get(en("admin:curbside_appointment_add")).status_code == 403
    assert admin_client.get(en("admin:curbside_appointment_changelist")).status_code == 200


def test_a_network_wide_role_is_given_once(db, branch):
    """As for closed days, NULL branches never collided in the old constraint."""
    from django.contrib.auth import get_user_model

    from emporter.patrons.models import Role, StaffRole

    user = get_user_model().objects.create_user(username="nadia", password="x")
    StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)  # another role: fine
    with pytest.raises(IntegrityError), transaction.atomic():
        StaffRole.objects.create(user=user, role=Role.NETWORK_ADMIN)
    with translation.override("fr"), pytest.raises(ValidationError, match="déjà ce rôle pour tout le réseau"):
        StaffRole(user=user, role=Role.NETWORK_ADMIN).validate_constraints()


def test_the_admins_change_links_read_modifier_in_french(admin_client, db):
    # A report column's "Change" (compared with the previous period) has its own context.
    page = page_text(admin_client.get(fr("admin:index")))
    assert "Modifier" in page
    assert "Évolution" not in page


def test_requests_are_read_only_in_the_admin(admin_client, patron, branch):
    request, _ = place_request(patron=patron, record_id=make_record(copies=[branch]).pk, pickup_branch=branch)
    # Added here, a request would hold no copy and block the document for everyone.
    assert admin_client.get(en("admin:holds_request_add")).status_code == 403
    page = admin_client.get(en("admin:holds_request_change", request.pk))
    assert page.status_code == 200 and 'name="_save"' not in page.text
    moved = admin_client.post(en("admin:holds_request_change", request.pk), {"pickup_branch": branch.pk})
    assert moved.status_code == 403
    assert admin_client.post(en("admin:holds_request_delete", request.pk), {"post": "yes"}).status_code == 403
    assert Request.objects.filter(pk=request.pk, status=request.status).exists()


def test_sign_in_failures_say_what_they_count_and_unlock_a_card_everywhere(admin_client, patron):
    from emporter.patrons import throttle
    from emporter.patrons.models import SignInFailures

    for _ in range(throttle.PIN_MAX_FAILURES):
        throttle.pin_try(patron.card_number, "203.0.113.7")
        SignInFailures.objects.update(locked_until=None)  # the pauses waited out
    page = admin_client.get(en("admin:patrons_signinfailures_changelist")).text
    assert "Card, from one address" in page and "Card, from anywhere" in page and "203.0.113.7" in page
    pair = SignInFailures.objects.get(username__endswith="203.0.113.7")
    admin_client.post(
        en("admin:patrons_signinfailures_changelist"),
        {"action": "unlock", "_selected_action": [pair.pk]},
    )
    assert not SignInFailures.objects.exists()  # the card's count from anywhere went with it


def test_a_request_and_its_events_read_in_words(patron, branch):
    from emporter.holds.models import RequestEvent

    request, _ = place_request(
        patron=patron, record_id=make_record(title="Lisible", copies=[branch]).pk, pickup_branch=branch
    )
    with translation.override("fr"):
        label = str(request.get_status_display())
        assert label != "placed" and str(request).endswith(f"({label})")
        assert str(RequestEvent.objects.get(request=request)).endswith(f"∅ → {label}")


def test_unlocking_a_staff_name_clears_it_from_every_address(admin_client):
    from emporter.patrons import throttle
    from emporter.patrons.models import SignInFailures

    for address in ("203.0.113.7", "198.51.100.2"):
        throttle.failed("rayon", address)
    names = SignInFailures.objects.exclude(username__startswith="!staff ")  # not the addresses' counts
    assert names.count() == 3  # two addresses, and the name from anywhere
    one = SignInFailures.objects.get(username="rayon 203.0.113.7")
    admin_client.post(
        en("admin:patrons_signinfailures_changelist"), {"action": "unlock", "_selected_action": [one.pk]}
    )
    assert not names.exists()


def test_a_requests_events_say_why_in_words(admin_client, patron, branch):
    request, _ = place_request(
        patron=patron, record_id=make_record(copies=[branch, branch]).pk, pickup_branch=branch
    )
    from emporter.picking import services as picking

    picking.mark_not_found(line=picking.build_run(branch=branch, kind="late").lines.get(), reason="absent")
    page = admin_client.get(en("admin:holds_request_change", request.pk)).text
    assert "moved to another copy" in page and "Online" in page
    assert "retarget" not in page


def test_the_admin_titles_read_right_in_french_whatever_the_names_first_letter(admin_client, branch):
    # Django's own French gives "Modification de exemplaire": this project words it.
    copy = make_record(copies=[branch]).copies.get()
    page = admin_client.get(reverse("admin:catalogue_copy_change", args=[copy.pk])).text
    assert "Modification\u00a0: exemplaire" in page and "Modification de exemplaire" not in page
    assert "Ajout\u00a0: exemplaire" in admin_client.get(reverse("admin:catalogue_copy_add")).text


def test_the_task_backends_admin_is_in_french(admin_client):
    page = admin_client.get(reverse("admin:index")).text
    assert "Tâches de fond" in page and "Tasks Database Backend" not in page
    listing = admin_client.get(reverse("admin:django_tasks_database_dbtaskresult_changelist")).text
    assert "Sélectionnez l’objet tâche à afficher" in listing
