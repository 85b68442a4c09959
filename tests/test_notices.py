import datetime

import pytest
from django.utils import timezone

from emporter.holds.services import cancel_request, place_request
from emporter.notices import compose, outbox, sms
from emporter.notices.models import Kind, Notice, NoticeTemplate, State
from emporter.picking import services as picking
from tests.conftest import make_patron, make_record
from tests.smtp import SmtpServer


def later():
    """A moment safely after the grouping delay, taken when the test runs."""
    return timezone.now() + datetime.timedelta(minutes=5)


def pull_morning(branch, found: int, not_found: int):
    run = picking.build_run(branch=branch, kind="late")
    lines = list(picking.walking_order(run.lines.all()))
    for line in lines[:found]:
        picking.mark_found(line=line)
    for line in lines[found : found + not_found]:
        picking.mark_not_found(line=line, cause="shelf")


def requests_for(patron, branch, titles):
    return [
        place_request(
            patron=patron, record_id=make_record(title=t, copies=[branch]).pk, pickup_branch=branch
        )[0]
        for t in titles
    ]


TITLES = ["Élise et l'été", "Ça déménage", "Noël à Lyon", "Œuvres complètes", "Le Cœur cousu", "Introuvable"]


def test_five_ready_and_one_not_found_give_one_email_listing_all_six(smtp, patron, branch):
    requests_for(patron, branch, TITLES)
    pull_morning(branch, found=5, not_found=1)
    compose.compose_all(later())
    assert outbox.send_due(later()) == 2  # the confirmation, then the bag
    recipients, message = smtp.messages[-1]
    assert recipients == [patron.email]
    assert message["Subject"] == "Vos 5 documents vous attendent à Part-Dieu"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for body in (text, html):
        for title in TITLES[:5]:
            assert title.replace("'", "&#x27;" if body is html else "'") in body
        assert "Introuvable" in body and "pas pu trouver" in body
    assert f"<title>{message['Subject']}</title>" in html
    bag = patron.bags.get()
    assert bag.label in text
    assert bag.hold_until.strftime("%Y") in text
    assert Notice.objects.filter(patron=patron, kind=Kind.READY).count() == 1


def test_the_ready_email_says_which_documents_will_follow(smtp, patron, branch, other_branch):
    """One document here, another set aside at Croix-Rousse: ready now, the other to come."""
    here = requests_for(patron, branch, ["Ici"])[0]
    elsewhere, _ = place_request(
        patron=patron, record_id=make_record(title="Ailleurs", copies=[other_branch]).pk, pickup_branch=branch
    )
    assert elsewhere.copy.branch == other_branch
    run = picking.build_run(branch=branch, kind="late")
    picking.mark_found(line=run.lines.get(request=here))
    compose.compose_all(later())
    outbox.send_due(later())
    text = smtp.messages[-1][1].get_body(("plain",)).get_content()
    assert "Ici" in text and "Encore en route" in text and "Ailleurs" in text


def test_the_ready_email_does_not_say_a_waiting_list_document_is_on_its_way(smtp, patron, branch):
    here = requests_for(patron, branch, ["Ici"])[0]
    waiting, _ = place_request(
        patron=patron,
        record_id=make_record(title="Personne", copies=[(branch, "on_loan")]).pk,
        pickup_branch=branch,
    )
    assert waiting.status == "waiting"
    picking.mark_found(line=picking.build_run(branch=branch, kind="late").lines.get(request=here))
    compose.compose_all(later())
    outbox.send_due(later())
    message = smtp.messages[-1][1]
    for body in (message.get_body(("plain",)).get_content(), message.get_body(("html",)).get_content()):
        assert "Encore en route" not in body
        assert "Toujours en liste d’attente" in body and "Personne" in body


def test_a_childs_notice_is_written_in_the_guardians_language(smtp, branch):
    from tests.conftest import make_patron

    parent = make_patron(branch, card="40000001", language="en", email="parent@example.org")
    child = make_patron(branch, card="40000002", category="child", guardian=parent, email="", language="fr")
    place_request(
        patron=child, record_id=make_record(title="Album", copies=[branch]).pk, pickup_branch=branch
    )
    compose.compose_all(later())
    outbox.send_due(later())
    recipients, message = smtp.messages[-1]
    assert recipients == ["parent@example.org"]
    assert "Hello" in message.get_body(("plain",)).get_content()


def test_ready_email_waits_until_the_patrons_documents_are_all_pulled(smtp, patron, branch):
    requests_for(patron, branch, ["Un", "Deux"])
    run = picking.build_run(branch=branch, kind="late")
    picking.mark_found(line=run.lines.first())
    compose.compose_all(later())
    assert not Notice.objects.filter(kind=Kind.READY).exists()
    picking.mark_found(line=run.lines.get(status="pending"))
    compose.compose_all(later())
    notice = Notice.objects.get(kind=Kind.READY)
    assert notice.events.count() == 2


def test_the_ready_email_has_the_deadline_and_accents_right(smtp, branch):
    patron = make_patron(branch, first_name="Zoé", last_name="Lefèvre", card="20000001")
    requests_for(patron, branch, ["À la découverte"])
    pull_morning(branch, found=1, not_found=0)
    compose.compose_all(later())
    outbox.send_due(later())
    _, message = smtp.messages[-1]
    text = message.get_body(("plain",)).get_content()
    request = patron.requests.get()
    assert "Bonjour Zoé," in text
    assert "À la découverte" in text
    from django.utils import formats, translation

    with translation.override("fr"):
        deadline = formats.date_format(request.hold_until, "l j F Y")
    assert deadline in text
    assert message.get_content_charset() in (None, "utf-8")


def test_a_mail_server_that_is_down_delays_the_notice_and_it_is_sent_exactly_once(settings, patron, branch):
    server = SmtpServer()
    settings.MAILERS = server.mailers_setting()  # nothing listens yet: connection refused
    requests_for(patron, branch, ["Patience"])
    compose.compose_all(later())
    assert outbox.send_due(later()) == 0
    notice = Notice.objects.get()
    assert (notice.state, notice.attempts) == (State.PENDING, 1)
    assert notice.last_error
    assert outbox.send_due(later()) == 0  # not due again before its backoff
    server.start()
    try:
        server.recorder.refuse_next = 1  # back, but answers "try later" once
        retry_at = notice.next_attempt_at + datetime.timedelta(seconds=1)
        assert outbox.send_due(retry_at) == 0
        notice.refresh_from_db()
        assert (notice.state, notice.attempts) == (State.PENDING, 2)
        final = retry_at + datetime.timedelta(hours=1)
        assert outbox.send_due(final) == 1
        assert outbox.send_due(final + datetime.timedelta(days=1)) == 0
        assert len(server.messages) == 1
        notice.refresh_from_db()
        assert notice.state == State.SENT and notice.attempts == 3
    finally:
        server.stop()


def test_a_worker_dying_after_the_server_took_the_mail_does_not_send_it_twice(
    smtp, patron, branch, monkeypatch
):
    requests_for(patron, branch, ["Une fois"])
    compose.compose_all(later())
    real_record = outbox._record

    def crash(notice, state, **kw):
        if state == State.SENT:
            raise KeyboardInterrupt("worker killed")
        return real_record(notice, state, **kw)

    monkeypatch.setattr(outbox, "_record", crash)
    with pytest.raises(KeyboardInterrupt):
        outbox.send_due(later())
    monkeypatch.setattr(outbox, "_record", real_record)
    assert len(smtp.messages) == 1
    assert outbox.send_due(later() + datetime.timedelta(hours=1)) == 0
    assert outbox.recover_stale(later() + datetime.timedelta(hours=1)) == 1
    assert outbox.send_due(later() + datetime.timedelta(hours=2)) == 0
    assert len(smtp.messages) == 1
    assert Notice.objects.get().state == State.UNCERTAIN


def test_a_bad_address_fails_visibly_and_can_be_resent_after_correction(smtp, branch):
    patron = make_patron(branch, email="", card="20000002")
    requests_for(patron, branch, ["Adresse"])
    compose.compose_all(later())
    outbox.send_due(later())
    notice = Notice.objects.get()
    assert notice.state == State.FAILED and notice.error_code == "no_email"
    patron.email = "corrige@example.org"
    patron.save()
    assert outbox.resend(notice=notice)
    assert outbox.send_due(later()) == 1
    assert smtp.messages[-1][0] == ["corrige@example.org"]


def test_composing_twice_tells_the_patron_once(smtp, patron, branch):
    requests_for(patron, branch, ["Un", "Deux", "Trois"])
    assert compose.compose_all(later()) == 1
    assert compose.compose_all(later()) == 0
    assert Notice.objects.get().events.count() == 3


def test_a_basket_still_being_filled_is_not_confirmed_yet(patron, branch):
    requests_for(patron, branch, ["Un"])
    assert compose.compose_all(timezone.now()) == 0
    assert compose.compose_all(later()) == 1


def test_a_request_cancelled_before_the_confirmation_went_is_not_confirmed(smtp, patron, branch):
    kept, dropped = requests_for(patron, branch, ["Gardé", "Annulé aussitôt"])
    cancel_request(request=dropped)
    assert compose.compose_all(later()) == 1
    outbox.send_due(later())
    subject, text = smtp.messages[-1][1]["Subject"], smtp.messages[-1][1].get_body(("plain",)).get_content()
    assert "Gardé" in text and "Annulé aussitôt" not in text
    assert "2" not in subject  # "Votre réservation est enregistrée", not "Vos 2 réservations"
    # Nothing more comes of the cancelled one, however often the composer runs.
    assert compose.compose_all(later()) == 0


def test_staff_cancellation_tells_the_reason_but_a_patrons_own_does_not(smtp, patron, branch):
    mine, theirs = requests_for(patron, branch, ["Le mien", "Annulé par la bibliothèque"])
    compose.compose_all(later())
    cancel_request(request=mine)
    cancel_request(request=theirs, by_staff=True, reason="document abîmé")
    compose.compose_all(later())
    notice = Notice.objects.get(kind=Kind.CANCELLED)
    outbox.send_due(later())
    text = smtp.messages[-1][1].get_body(("plain",)).get_content()
    assert "document abîmé" in text and "Annulé par la bibliothèque" in text
    assert "Le mien" not in text
    assert notice.events.count() == 1


def test_sms_patrons_get_an_sms(patron, branch):
    patron.notice_channel = "sms"
    patron.phone = "06 12 34 56 78"
    patron.save()
    sms.outbox.clear()
    requests_for(patron, branch, ["Texto"])
    compose.compose_all(later())
    assert outbox.send_due(later()) == 1
    assert sms.outbox == [("06 12 34 56 78", "Votre réservation est enregistrée")]


def test_staff_wording_replaces_the_default(smtp, patron, branch):
    NoticeTemplate.objects.create(
        kind=Kind.CONFIRMATION,
        language="fr",
        subject="C'est noté, {{ patron.first_name }} !",
        body_text="{% for r in requests %}{{ r.record.title }}{% endfor %} arrive bientôt.",
    )
    requests_for(patron, branch, ["Perso"])
    compose.compose_all(later())
    outbox.send_due(later())
    message = smtp.messages[-1][1]
    assert message["Subject"] == "C'est noté, Camille !"
    assert "Perso arrive bientôt." in message.get_body(("plain",)).get_content()


def test_reminder_the_day_before_the_deadline(smtp, patron, branch):
    requests_for(patron, branch, ["Rappel"])
    pull_morning(branch, found=1, not_found=0)
    compose.compose_all(later())  # the "ready" email comes first
    bag = patron.bags.get()
    eve = datetime.datetime.combine(
        bag.hold_until - datetime.timedelta(days=1), datetime.time(10), tzinfo=timezone.get_current_timezone()
    )
    assert compose.compose_reminders(eve - datetime.timedelta(days=1)) == 0
    assert compose.compose_reminders(eve) == 1
    assert compose.compose_reminders(eve) == 0
    notice = Notice.objects.get(kind=Kind.REMINDER)
    outbox.send_one(notice.pk, now=eve)
    assert "Rappel" in smtp.messages[-1][1].get_body(("plain",)).get_content()


@pytest.mark.parametrize("kind", [k for k, _ in Kind.choices])
def test_every_notice_renders_in_french_and_english_without_mixing(kind, branch):
    from emporter.desk.models import Loan
    from emporter.holds.models import Bag, RequestEvent, Status
    from emporter.notices.models import NoticeEvent, NoticeLoan
    from emporter.notices.render import render

    rendered = {}
    for language in ("fr", "en"):
        patron = make_patron(branch, card=f"9{language}{kind}"[:30], language=language)
        request = requests_for(patron, branch, [f"Titre {language}"])[0]
        bag = Bag.objects.create(
            branch=branch, patron=patron, label=f"X{language}", hold_until=datetime.date(2026, 12, 4)
        )
        target = {
            "ready": Status.READY,
            "reminder": Status.READY,
            "time_cancelled": Status.READY,
            "not_found": Status.NOT_FOUND,
            "expired": Status.EXPIRED,
            "cancelled": Status.CANCELLED,
            "waiting_again": Status.WAITING,
        }.get(kind, Status.PLACED)
        type(request).objects.filter(pk=request.pk).update(status=target, bag=bag)
        notice = Notice.objects.create(patron=patron, kind=kind, dedupe_key=f"t:{kind}:{language}", bag=bag)
        event = RequestEvent.objects.create(request=request, to_status=target, note="motif")
        NoticeEvent.objects.create(notice=notice, event=event)
        if kind == Kind.RECEIPT:  # of loans, not of the request's events
            lent = Loan.objects.create(
                copy=request.copy, patron=patron, branch=branch, due_date=datetime.date(2026, 12, 28)
            )
            NoticeLoan.objects.create(notice=notice, loan=lent)
        if kind == Kind.SURPRISE_CANCELLED:  # of a surprise bag, which names no title
            from emporter.discovery.models import SurpriseRequest

            notice.surprise = SurpriseRequest.objects.create(
                patron=patron, asked_by=patron, pickup_branch=branch, how_many=2, status="cancelled"
            )
            notice.save(update_fields=["surprise"])
        rendered[language] = render(notice)
    fr, en = rendered["fr"], rendered["en"]
    assert fr.subject != en.subject
    if kind == Kind.SURPRISE_CANCELLED:
        assert f"{branch.name} ne prend plus de réservations" in fr.text and "2 documents" in en.text
    else:
        assert "Titre fr" in fr.text and "Titre en" in en.text
    english_lines = {
        line.strip() for line in en.text.splitlines() if len(line.strip()) > 25 and "Titre" not in line
    }
    french_lines = {line.strip() for line in fr.text.splitlines()}
    assert not english_lines & french_lines, english_lines & french_lines
    assert "Bonjour" in fr.text and "Hello" in en.text
    assert "<html" in fr.html and "Bonjour" in fr.html


def test_a_childs_notices_go_to_their_guardian_who_is_told_whose_they_are(smtp, branch):
    parent = make_patron(branch, card="20000001", first_name="Anaïs", email="anais@example.org")
    child = make_patron(branch, card="20000002", first_name="Célestin", email="", guardian=parent)
    requests_for(child, branch, ["Le Petit Prince"])
    compose.compose_all(later())
    assert outbox.send_due(later()) == 1
    notice = Notice.objects.get(patron=child)
    assert (notice.state, notice.sent_to) == (State.SENT, "anais@example.org")
    recipients, message = smtp.messages[-1]
    text = message.get_body(("plain",)).get_content()
    assert recipients == ["anais@example.org"]
    assert "Bonjour Anaïs" in text and "Célestin" in text and "Le Petit Prince" in text


def test_a_notice_with_no_address_anywhere_fails_visibly(smtp, branch):
    child = make_patron(branch, card="20000002", first_name="Célestin", email="")
    requests_for(child, branch, ["Le Petit Prince"])
    compose.compose_all(later())
    outbox.send_due(later())
    assert Notice.objects.get().state == State.FAILED and not smtp.messages


def test_an_english_patrons_email_links_to_the_english_pages(smtp, branch):
    english = make_patron(branch, card="20000005", first_name="Jane", language="en")
    requests_for(english, branch, ["Un"])
    compose.compose_all(later())
    outbox.send_due(later())
    text = smtp.messages[-1][1].get_body(("plain",)).get_content()
    assert "/en/account/" in text
    french = make_patron(branch, card="20000006", first_name="Jeanne")
    requests_for(french, branch, ["Deux"])
    compose.compose_all(later())
    outbox.send_due(later())
    text = smtp.messages[-1][1].get_body(("plain",)).get_content()
    assert "/account/" in text and "/en/" not in text


def test_a_note_written_for_a_childs_email_is_in_the_guardians_language(branch, other_branch):
    from emporter.network.models import ServiceMode
    from emporter.picking import services as picking_services
    from tests.conftest import make_patron

    other_branch.service_mode = ServiceMode.CLICK_COLLECT
    other_branch.save()
    parent = make_patron(branch, card="40000011", language="en", email="parent@example.org")
    child = make_patron(branch, card="40000012", category="child", guardian=parent, email="", language="fr")
    request, _ = place_request(
        patron=child, record_id=make_record(title="Album", copies=[branch]).pk, pickup_branch=other_branch
    )
    type(branch).objects.filter(pk=branch.pk).update(service_mode=ServiceMode.CLOSED)
    assert picking_services.withdraw_closed_branches() == 1
    assert request.events.last().note == "The library holding the copy you asked for is closed."
