"""What the network keeps about people, and for how long (emporter/privacy): requests that
became no loan, surprise bags and empty bags forget their patron after
REQUEST_HISTORY_DAYS; a patron erased at their request leaves nothing naming them; staff
look-ups of patrons are audited. The figures stay."""

import datetime
import logging

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.urls import reverse
from django.utils import timezone

from emporter.curbside.models import Appointment
from emporter.desk import services as desk
from emporter.desk.models import Loan, LoanPolicy
from emporter.discovery.models import SurpriseRequest, SurpriseStatus
from emporter.discovery.services import cancel_surprise_request, create_surprise_request
from emporter.errors import ServiceError
from emporter.holds.models import Bag, Request, Status
from emporter.holds.services import cancel_request, place_request
from emporter.notices.models import Notice
from emporter.patrons import throttle
from emporter.patrons.models import Patron, Role, SignInFailures, StaffRole
from emporter.privacy.services import erase_patron, forget_closed
from emporter.stats.selectors import Period, patrons, surprises
from tests.conftest import make_patron, make_ready_requests, make_record

LATER = datetime.timedelta(days=31)


def cancelled(patron, branch, title="Sortir de l'emprise"):
    request, _ = place_request(
        patron=patron, record_id=make_record(title, copies=[branch]).pk, pickup_branch=branch
    )
    return cancel_request(request=request, actor=patron.user)


def borrowed_and_returned(patron, branch, title="Vivre avec le VIH"):
    (request,) = make_ready_requests(patron, branch, [title])
    desk.hand_over(patron=patron, branch=branch)
    loan = desk.check_in(barcode=request.copy.barcode, branch=branch).loan
    loan.refresh_from_db()
    return loan


# Forgetting in time ---------------------------------------------------------------------


def test_a_request_that_became_no_loan_forgets_its_patron_after_the_history_days(patron, branch):
    old = cancelled(patron, branch)
    assert forget_closed() == 0  # a month later at most: the patron still sees it
    assert forget_closed(now=timezone.now() + LATER) == 1
    old.refresh_from_db()
    assert old.patron_id is None and old.status == Status.CANCELLED and old.patron_pseudonym


def test_a_collected_request_whose_loan_history_is_kept_stays_until_its_loan_is_forgotten(patron, branch):
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=60)
    loan = borrowed_and_returned(patron, branch)
    forget_closed(now=timezone.now() + LATER)
    assert Request.objects.get(pk=loan.request_id).patron_id == patron.pk  # the policy's 60 days


def test_a_returned_loans_bag_goes_with_its_last_request(patron, branch):
    # The closed bag named the borrower, closed at the hand-over's second: a join gave
    # the patron of an "anonymised" loan back.
    loan = borrowed_and_returned(patron, branch)
    assert loan.patron_id is None
    assert not Bag.objects.filter(patron=patron).exists()


def test_a_bag_with_a_pickup_time_goes_with_its_appointment(patron, branch):
    (request,) = make_ready_requests(patron, branch, ["Un"])
    Appointment.objects.create(bag=request.bag, state=Appointment.State.DONE)
    desk.hand_over(patron=patron, branch=branch)
    desk.check_in(barcode=request.copy.barcode, branch=branch)
    assert not Appointment.objects.exists() and not Bag.objects.exists()


def test_a_bag_keeps_while_a_request_in_it_still_names_its_patron(patron, branch):
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=60)
    borrowed_and_returned(patron, branch)
    assert Bag.objects.filter(patron=patron, state=Bag.State.CLOSED).exists()


def test_a_closed_surprise_bag_forgets_who_asked_their_age_and_tastes_but_still_counts(patron, branch):
    surprise = create_surprise_request(
        asked_by=patron, patron=patron, pickup_branch=branch, how_many=2, age=9, tastes="deuil", avoid="peur"
    )
    cancel_surprise_request(surprise=surprise)
    today = timezone.localdate()
    period = Period(today - datetime.timedelta(days=1), today + datetime.timedelta(days=1))
    before = surprises(period=period, branch_ids=[branch.pk])
    forget_closed(now=timezone.now() + LATER)
    surprise.refresh_from_db()
    assert (surprise.patron, surprise.asked_by, surprise.age, surprise.tastes, surprise.avoid) == (
        None,
        None,
        None,
        "",
        "",
    )
    assert surprises(period=period, branch_ids=[branch.pk]) == before


def test_an_open_surprise_bag_keeps_its_patron_in_the_database(patron, branch):
    surprise = create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=2)
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        SurpriseRequest.objects.filter(pk=surprise.pk).update(patron=None)
    assert SurpriseRequest.objects.get(pk=surprise.pk).status == SurpriseStatus.OPEN


def test_people_are_counted_the_same_once_forgotten(patron, branch):
    cancelled(patron, branch)
    today = timezone.localdate()
    period = Period(today - datetime.timedelta(days=1), today + datetime.timedelta(days=1))
    before = patrons(period=period, branch_ids=[branch.pk])
    forget_closed(now=timezone.now() + LATER)
    after = patrons(period=period, branch_ids=[branch.pk])
    assert (after.requests, after.patrons) == (before.requests, before.patrons) == (1, 1)


def test_the_history_days_are_between_a_week_and_four_months(settings):
    settings.REQUEST_HISTORY_DAYS = 365
    with pytest.raises(SystemCheckError, match="privacy.E001"):
        call_command("check")


def test_forgetting_runs_every_hour_in_the_scheduler():
    from emporter.jobs.schedule import jobs

    (job,) = [job for job in jobs() if job.name == "forget closed requests"]
    assert job.every_seconds == 3600 and job.run.__name__ == "forget_closed"


# Erasure at the patron's request --------------------------------------------------------


def test_a_patron_is_erased_and_nothing_names_them_any_longer(client, patron, branch):
    loan = borrowed_and_returned(patron, branch)
    old = cancelled(patron, branch, title="Autre")
    Notice.objects.create(patron=patron, kind="ready", dedupe_key="ready-1", sent_to=patron.email)
    throttle.pin_try(patron.card_number, "192.0.2.1")  # a try counted, from one address and anywhere
    client.force_login(patron.user)
    user_id, card = patron.user_id, patron.card_number
    assert SignInFailures.objects.filter(username__contains=card.lower()).count() == 2
    erase_patron(patron_id=patron.pk)
    assert not Patron.objects.filter(pk=patron.pk).exists()
    assert not get_user_model().objects.filter(pk=user_id).exists()
    assert not Notice.objects.exists() and not Bag.objects.exists()
    assert not SignInFailures.objects.filter(username__contains=card.lower()).exists()
    old.refresh_from_db()
    assert old.patron_id is None and Loan.objects.get(pk=loan.pk).patron_id is None
    assert client.get("/account/").status_code == 302  # the session names nobody


def test_erasure_forgets_loans_whatever_the_policy_keeps(patron, branch):
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=60)
    loan = borrowed_and_returned(patron, branch)
    erase_patron(patron_id=patron.pk)
    loan.refresh_from_db()
    assert (loan.patron_id, loan.anonymised, Request.objects.get(pk=loan.request_id).patron_id) == (
        None,
        True,
        None,
    )


@pytest.mark.parametrize("under_way", ["loan", "request", "surprise", "child"])
def test_a_patron_with_something_under_way_is_not_erased(patron, branch, under_way):
    if under_way == "loan":
        make_ready_requests(patron, branch, ["Chez moi"])
        desk.hand_over(patron=patron, branch=branch)
    elif under_way == "request":
        make_ready_requests(patron, branch, ["Prêt"])
    elif under_way == "surprise":
        create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=1)
    else:
        make_patron(branch, card="30000009", first_name="Léo", guardian=patron)
    with pytest.raises(ServiceError) as refused:
        erase_patron(patron_id=patron.pk)
    assert refused.value.code.startswith("erase_") and "Camille Martin" in refused.value.message
    assert Patron.objects.filter(pk=patron.pk).exists()


@pytest.fixture
def network_admin(client, db):
    client.force_login(get_user_model().objects.create_superuser(username="admin", password="x"))
    return client


def test_the_admins_delete_page_erases_and_its_history_does_not_say_who(network_admin, patron, branch):
    cancelled(patron, branch)
    url = reverse("admin:patrons_patron_delete", args=[patron.pk])
    page = network_admin.get(url).text
    assert "Camille Martin" in page and "Annuler" not in page.split("<form")[0]
    assert network_admin.post(url, {"post": "yes"}).status_code == 302
    assert not Patron.objects.filter(pk=patron.pk).exists()
    assert not LogEntry.objects.filter(object_repr__contains=patron.card_number).exists()
    assert LogEntry.objects.filter(object_repr="Abonné·e effacé·e à sa demande").exists()


def test_the_admins_delete_page_says_why_a_patron_cannot_be_erased_yet(network_admin, patron, branch):
    make_ready_requests(patron, branch, ["Prêt"])
    url = reverse("admin:patrons_patron_delete", args=[patron.pk])
    page = network_admin.get(url).text
    assert "ne peut pas encore être effacé" in page and "réservations en cours" in page
    assert "objets liés et protégés" not in page  # not framed as a deletion of related objects
    network_admin.post(url, {"post": "yes"})
    assert Patron.objects.filter(pk=patron.pk).exists()


# Who looked at whom ----------------------------------------------------------------------


def audit_lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "emporter.audit"]


def test_a_card_opened_at_the_door_is_audited(client, branch, patron, caplog):
    user = get_user_model().objects.create_user(username="door", password="x")
    StaffRole.objects.create(user=user, role=Role.DOOR_DESK, branch=branch)
    client.force_login(user)
    with caplog.at_level(logging.INFO, logger="emporter.audit"):
        client.get(reverse("desk:door", args=[branch.pk]), {"card": patron.card_number})
    assert audit_lines(caplog) == [f"door: {user.pk} opened patron {patron.pk} at {branch.code}"]


def test_patrons_searched_and_opened_in_the_admin_are_audited(network_admin, patron, caplog):
    with caplog.at_level(logging.INFO, logger="emporter.audit"):
        network_admin.get(reverse("admin:patrons_patron_changelist"), {"q": "Martin"})
        network_admin.get(reverse("admin:patrons_patron_change", args=[patron.pk]))
    lines = audit_lines(caplog)
    assert len(lines) == 2 and "'Martin'" in lines[0] and f"opened patron {patron.pk}" in lines[1]


# What the patron can see ------------------------------------------------------------------


def test_the_account_shows_what_the_library_holds_about_the_patron(client, patron, branch):
    patron.phone = "06 12 34 56 78"
    patron.card_expires = datetime.date(2030, 6, 30)
    patron.guardian = make_patron(branch, card="30000009", first_name="Léa", last_name="Durand")
    patron.save()
    client.force_login(patron.user)
    page = client.get("/account/").text
    details = page.split('id="details"')[1]
    held = (patron.email, "06 12 34 56 78", "30 juin 2030", "Léa Durand", "Courriel", "oubliée 30 jours")
    for shown in held:
        assert shown in details


def test_bags_emptied_before_this_release_go_in_batches(patron, branch):

    Bag.objects.bulk_create(
        Bag(branch=branch, patron=patron, label=f"X{n}", state=Bag.State.CLOSED) for n in range(5)
    )
    assert forget_closed(batch=2) == 2 and Bag.objects.count() == 3
    assert forget_closed(batch=2) == 2 and forget_closed(batch=2) == 1 and not Bag.objects.exists()


# The patron's choice for their loan history (Koha's patron privacy) ------------------------


def choose(client, patron, choice):
    client.force_login(patron.user)
    return client.post("/account/loan-history/", {"loan_history": choice})


def test_a_patron_who_keeps_their_history_sees_it_whatever_the_rules_forget(client, patron, branch):
    choose(client, patron, "keep")
    loan = borrowed_and_returned(patron, branch, title="Mémoires d’Hadrien")  # rules: forget at return
    assert loan.patron_id == patron.pk and not loan.anonymised
    desk.anonymise_returned(timezone.now() + datetime.timedelta(days=365))
    assert Loan.objects.get(pk=loan.pk).patron_id == patron.pk
    page = client.get("/account/").text
    assert "Mémoires d’Hadrien" in page.split('id="history"')[1]


def test_a_patron_who_asks_to_be_forgotten_is_at_return_whatever_the_rules_keep(client, patron, branch):
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=60)
    choose(client, patron, "forget")
    loan = borrowed_and_returned(patron, branch)
    assert loan.patron_id is None and loan.anonymised


def test_choosing_to_be_forgotten_forgets_the_history_kept_so_far(client, patron, branch):
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=60)
    loan = borrowed_and_returned(patron, branch)
    assert loan.patron_id == patron.pk
    response = choose(client, patron, "forget")
    assert response.status_code == 302 and response["Location"] == "/account/"  # the message at the top
    loan.refresh_from_db()
    assert loan.patron_id is None and Request.objects.get(pk=loan.request_id).patron_id is None


def test_back_to_the_librarys_rules_the_next_pass_forgets_what_they_would_have(client, patron, branch):
    choose(client, patron, "keep")
    loan = borrowed_and_returned(patron, branch)
    choose(client, patron, "library")
    assert desk.anonymise_returned() == 1
    assert Loan.objects.get(pk=loan.pk).patron_id is None


def test_the_librarys_rules_keep_a_loan_four_months_at_most(db):
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    with pytest.raises(ValidationError):
        LoanPolicy(doc_type="", anonymise_after_days=3650).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        LoanPolicy.objects.create(doc_type="", anonymise_after_days=121)


def test_expired_sessions_are_deleted_daily_by_the_scheduler(client, patron, settings):
    from django.contrib.sessions.models import Session

    from emporter.jobs.schedule import jobs
    from emporter.privacy.services import forget_expired_sessions_and_tasks

    client.force_login(patron.user)
    Session.objects.update(expire_date=timezone.now() - datetime.timedelta(minutes=1))
    forget_expired_sessions_and_tasks()
    assert not Session.objects.exists()
    (job,) = [job for job in jobs() if job.run is forget_expired_sessions_and_tasks]
    assert job.every_seconds == 86400


def test_finished_tasks_over_two_weeks_old_are_deleted_daily(settings, db):
    from django_tasks_db.models import DBTaskResult

    from emporter.privacy.services import forget_expired_sessions_and_tasks

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
    long_ago = timezone.now() - datetime.timedelta(days=15)
    common = {"args_kwargs": {"args": [], "kwargs": {}}, "task_path": "x.y", "backend_name": "default"}
    old = DBTaskResult.objects.create(status="SUCCESSFUL", finished_at=long_ago, run_after=long_ago, **common)
    new = DBTaskResult.objects.create(
        status="SUCCESSFUL", finished_at=timezone.now(), run_after=long_ago, **common
    )
    forget_expired_sessions_and_tasks()
    assert list(DBTaskResult.objects.values_list("pk", flat=True)) == [new.pk] and old.pk != new.pk


def test_an_open_bag_left_empty_does_not_stop_an_erasure(patron, branch):
    Bag.objects.create(branch=branch, patron=patron, label="Z001")  # open, nothing in it
    erase_patron(patron_id=patron.pk)
    assert not Patron.objects.filter(pk=patron.pk).exists() and not Bag.objects.exists()


def test_the_bulk_erasure_says_what_goes_or_why_not(network_admin, patron, branch):
    other = make_patron(branch, card="30000009", last_name="Moreau")
    make_ready_requests(other, branch, ["Prêt"])
    url = reverse("admin:patrons_patron_changelist")
    data = {"action": "delete_selected", "_selected_action": [patron.pk, other.pk]}
    page = network_admin.post(url, data).text
    assert "ne peuvent pas encore être effacés" in page and "Moreau" in page
    data["_selected_action"] = [patron.pk]
    page = network_admin.post(url, data).text
    assert "Effacer ces abonnés à leur demande" in page and "sans son nom" in page
    network_admin.post(url, data | {"post": "yes"})
    assert not Patron.objects.filter(pk=patron.pk).exists() and Patron.objects.filter(pk=other.pk).exists()


def test_the_bulk_erasure_counts_only_whom_it_erased(network_admin, patron, branch, monkeypatch):
    other = make_patron(branch, card="30000009", last_name="Moreau")
    make_ready_requests(other, branch, ["Prêt"])
    # Moreau placed their request after the confirmation page said both could go.
    import types

    from emporter.privacy import services as privacy

    page_saw = types.SimpleNamespace(why_not_erasable=lambda patron: "", erase_patron=privacy.erase_patron)
    monkeypatch.setattr("emporter.patrons.admin.privacy", page_saw)
    url = reverse("admin:patrons_patron_changelist")
    data = {"action": "delete_selected", "_selected_action": [patron.pk, other.pk], "post": "yes"}
    page = network_admin.post(url, data, follow=True).text
    assert "1 abonné effacé à sa demande." in page and "Moreau" in page
    assert "supprimé" not in page  # not Django's "2 abonnés supprimés"
    assert not Patron.objects.filter(pk=patron.pk).exists() and Patron.objects.filter(pk=other.pk).exists()


def test_a_patron_still_named_by_a_row_no_rule_forgets_is_kept_and_said(network_admin, branch, monkeypatch):
    other = make_patron(branch, card="30000009", last_name="Moreau")
    make_ready_requests(other, branch, ["Prêt"])
    monkeypatch.setattr("emporter.privacy.services.why_not_erasable", lambda patron: "")  # a gap in the rules
    url = reverse("admin:patrons_patron_changelist")
    data = {"action": "delete_selected", "_selected_action": [other.pk], "post": "yes"}
    page = network_admin.post(url, data, follow=True).text
    assert "est conservé·e\u00a0: encore cité·e par" in page  # words, not a server error
    assert Patron.objects.filter(pk=other.pk).exists()


def test_the_forget_choice_says_it_forgets_what_is_kept_so_far(client, patron):
    client.force_login(patron.user)
    page = client.get("/account/").text
    assert 'aria-describedby="history-forget"' in page and "oublié aussitôt, sans retour possible" in page
    assert "Chaque prêt est oublié dès son retour." in page  # the library's rules, in words


# The privacy notice and the patron's data to take away -------------------------------------


def test_the_privacy_page_says_the_durations_in_force_and_is_linked_from_every_page(client, db, settings):
    settings.REQUEST_HISTORY_DAYS = 45
    settings.EXPIRED_CARDS_ERASED_AFTER_DAYS = 365
    settings.PRIVACY_CONTACT = "dpo@bibliotheques.example.org"
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=14)
    page = client.get("/privacy/").text
    assert "45 jours après sa fin" in page and "14 jours après son retour" in page
    assert "365 jours après la fin de validité de votre carte" in page
    assert "dpo@bibliotheques.example.org" in page and "CNIL" in page
    assert 'href="/privacy/"' in client.get("/").text
    assert "Your data and your rights" in client.get("/en/privacy/").text


def test_a_patron_downloads_everything_kept_about_them(client, patron, branch):
    borrowed_and_returned(patron, branch, title="Mémoires d’Hadrien")  # forgotten at return
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=60)
    borrowed_and_returned(patron, branch, title="L’Œuvre au noir")  # kept 60 days
    create_surprise_request(asked_by=patron, patron=patron, pickup_branch=branch, how_many=2, tastes="mer")
    Notice.objects.create(patron=patron, kind="ready", dedupe_key="ready-1", sent_to=patron.email)
    client.force_login(patron.user)
    response = client.get("/privacy/my-data.json")
    assert response["Content-Disposition"].startswith('attachment; filename="emporter-10000001-')
    data = response.json()
    assert data["patron"]["email"] == patron.email and data["patron"]["loan_history"] == "library"
    assert [loan["title"] for loan in data["loans"]] == ["L’Œuvre au noir"]  # the other is forgotten
    assert [r["title"] for r in data["requests"]] == ["L’Œuvre au noir"]
    assert data["surprise_bags"][0]["tastes"] == "mer" and data["notices"][0]["sent_to"] == patron.email
    assert 'href="/privacy/my-data.json"' in client.get("/account/").text


def test_the_data_download_is_the_signed_in_patrons_only(client, patron):
    assert client.get("/privacy/my-data.json").status_code == 302  # to sign in
    client.force_login(get_user_model().objects.create_user(username="bib", password="x"))
    assert client.get("/privacy/my-data.json").status_code == 404  # a staff account has no card


# The same through the API (a patron's app) ------------------------------------------------


def api_headers(patron):
    from emporter.api.models import Scope
    from emporter.api.tokens import issue_token

    return {"Authorization": f"Bearer {issue_token(user=patron.user, scope=Scope.PATRON)[1]}"}


def test_an_app_chooses_the_loan_history_and_downloads_the_data(client, patron, branch):
    LoanPolicy.objects.create(doc_type="", anonymise_after_days=60)
    loan = borrowed_and_returned(patron, branch)
    headers = api_headers(patron)
    assert client.get("/api/v1/me", headers=headers).json()["loan_history"] == "library"
    data = client.get("/api/v1/me/data", headers=headers).json()
    assert data["patron"]["card_number"] == patron.card_number and len(data["loans"]) == 1
    answer = client.put(
        "/api/v1/me/loan-history",
        {"loan_history": "forget"},
        content_type="application/json",
        headers=headers,
    )
    assert answer.status_code == 200 and answer.json()["loan_history"] == "forget"
    assert Loan.objects.get(pk=loan.pk).patron_id is None  # what was kept, forgotten at once
    refused = client.put(
        "/api/v1/me/loan-history", {"loan_history": "never"}, content_type="application/json", headers=headers
    )
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_input"
    assert client.get("/api/v1/me/data").status_code == 401


# Cards long expired ------------------------------------------------------------------------


def test_cards_expired_long_ago_are_erased_when_the_network_says_so(patron, branch, settings):
    import datetime as dt

    from emporter.privacy.services import erase_expired_cards

    today = dt.date(2027, 6, 1)
    Patron.objects.filter(pk=patron.pk).update(card_expires=dt.date(2026, 1, 31))
    lent = make_patron(branch, card="30000009", last_name="Moreau")
    make_ready_requests(lent, branch, ["Chez moi"])
    desk.hand_over(patron=lent, branch=branch)  # a document at home, then the card expired
    Patron.objects.filter(pk=lent.pk).update(card_expires=dt.date(2026, 1, 31))
    recent = make_patron(branch, card="30000010", card_expires=dt.date(2026, 12, 31))
    assert erase_expired_cards(today=today) == 0  # off by default
    settings.EXPIRED_CARDS_ERASED_AFTER_DAYS = 365
    assert erase_expired_cards(today=today) == 1
    assert not Patron.objects.filter(pk=patron.pk).exists()
    assert Patron.objects.filter(pk__in=[lent.pk, recent.pk]).count() == 2  # under way; not a year yet
