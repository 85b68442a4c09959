import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from emporter import pdf as shared_pdf
from emporter.catalogue.callnumber import sort_key
from emporter.holds.models import Bag, Request
from emporter.holds.services import place_request
from emporter.patrons.models import Role, StaffRole
from emporter.picking import pdf
from emporter.picking import services as picking
from tests.conftest import make_department, make_location, make_patron, make_record


@pytest.fixture
def picker_client(client, branch):
    user = get_user_model().objects.create_user(username="picker", password="x")
    StaffRole.objects.create(user=user, role=Role.PICKER, branch=branch)
    client.force_login(user)
    return client


def place(patron, record, pickup):
    request, _ = place_request(patron=patron, record_id=record.pk, pickup_branch=pickup)
    Request.objects.filter(pk=request.pk).update(placed_at=timezone.now() - datetime.timedelta(days=1))
    request.refresh_from_db()
    return request


def pdf_text(response) -> str:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_pick_list_pdf_has_accented_titles_and_call_numbers(picker_client, patron, branch):
    youth = make_department(branch, code="jeunesse", name="Jeunesse", order=1)
    tales = make_location(youth, code="contes", name="Contes", hint="Cotes 398.2, bac n° 3")
    record = make_record(title="Œuvres complètes, tome 2", copies=[branch], responsibility="Hélène Cœur")
    record.copies.update(
        location=tales, department=youth, call_number="J 398.2 CŒU", call_number_key=sort_key("J")
    )
    place(patron, record, branch)
    run = picking.build_run(branch=branch)
    text = pdf_text(picker_client.get(reverse("picking:run_pdf", args=[run.pk])))
    assert "Œuvres complètes, tome 2" in text
    assert "J 398.2 CŒU" in text
    assert "bac n° 3" in text
    assert "Jeunesse" in text


def test_the_pick_list_pdf_puts_each_department_on_its_own_page(picker_client, patron, branch):
    for order, name in enumerate(["Jeunesse", "Adultes", "Musique"]):
        department = make_department(branch, code=name.lower(), name=name, order=order)
        record = make_record(title=f"Livre {name}", copies=[branch])
        record.copies.update(department=department, location=make_location(department))
        place(patron, record, branch)
    run = picking.build_run(branch=branch)
    response = picker_client.get(reverse("picking:run_pdf", args=[run.pk]))
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages]
    assert len(pages) == 3
    assert ["Livre Jeunesse" in pages[0], "Livre Adultes" in pages[1], "Livre Musique" in pages[2]] == [
        True
    ] * 3


def ready_bag(patron, branch, titles):
    for title in titles:
        place(patron, make_record(title=title, copies=[branch]), branch)
    run = picking.build_run(branch=branch, kind="late")
    for line in run.lines.all():
        picking.mark_found(line=line)
    return Bag.objects.get(patron=patron, branch=branch)


def test_bag_labels_show_the_label_the_count_and_the_deadline_in_french(picker_client, patron, branch):
    bag = ready_bag(patron, branch, ["Un", "Deux"])
    text = pdf_text(picker_client.get(reverse("picking:labels_pdf", args=[branch.pk]), {"name": "full"}))
    assert bag.label in text
    assert "Camille Martin" in text
    assert ": 2" in text
    weekdays = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]
    months = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août"]
    months += ["septembre", "octobre", "novembre", "décembre"]
    day = bag.hold_until
    assert f"{weekdays[day.weekday()]} {day.day} {months[day.month - 1]} {day.year}" in text.lower()


def test_bag_labels_follow_the_branchs_choice_of_name(picker_client, patron, branch):
    ready_bag(patron, branch, ["Un"])
    assert branch.label_name_style == "short"  # bags wait in a public hall
    text = pdf_text(picker_client.get(reverse("picking:labels_pdf", args=[branch.pk])))
    assert "Camille M." in text and "Martin" not in text
    branch.label_name_style = "card"
    branch.save()
    text = pdf_text(picker_client.get(reverse("picking:labels_pdf", args=[branch.pk])))
    assert "0001" in text and "Camille" not in text


@pytest.mark.parametrize(
    "style, shown, hidden",
    [("short", "Camille M.", "Martin"), ("card", "0001", "Camille")],
)
def test_bag_labels_can_hide_the_patrons_name(picker_client, patron, branch, style, shown, hidden):
    ready_bag(patron, branch, ["Un"])
    text = pdf_text(picker_client.get(reverse("picking:labels_pdf", args=[branch.pk]), {"name": style}))
    assert shown in text
    assert hidden not in text


def test_eight_bag_labels_per_page(picker_client, branch):
    for n in range(9):
        ready_bag(make_patron(branch, card=f"2000000{n}", last_name=f"Nom{n}"), branch, [f"Livre {n}"])
    response = picker_client.get(reverse("picking:labels_pdf", args=[branch.pk]))
    assert len(PdfReader(io.BytesIO(response.content)).pages) == 2


def test_labels_default_to_bags_filled_today(picker_client, patron, branch):
    bag = ready_bag(patron, branch, ["Hier"])
    Request.objects.filter(bag=bag).update(ready_at=timezone.now() - datetime.timedelta(days=2))
    url = reverse("picking:labels_pdf", args=[branch.pk])
    assert bag.label not in pdf_text(picker_client.get(url))
    assert bag.label in pdf_text(picker_client.get(url, {"all": "1"}))


def test_the_vendored_font_is_used_when_the_system_has_none(monkeypatch, tmp_path, patron, branch):
    monkeypatch.setattr(shared_pdf, "FONT_DIRS", [tmp_path, shared_pdf.FONT_DIRS[-1]])
    assert shared_pdf.font_path("DejaVuSansCondensed.ttf").parent == shared_pdf.FONT_DIRS[-1]
    bag = ready_bag(patron, branch, ["Un"])
    bag.documents = 1
    body = pdf.bag_labels(branch=branch, bags=[bag], name_style="full")
    assert "Camille Martin" in PdfReader(io.BytesIO(body)).pages[0].extract_text()


def test_a_long_title_is_cut_to_its_column_and_the_call_number_kept(picker_client, patron, branch):
    long_title = "Histoire générale des voyages " * 5
    record = make_record(title=long_title, copies=[branch])
    record.copies.update(call_number="910.4 HIS", call_number_key=sort_key("910.4 HIS"))
    place(patron, record, branch)
    run = picking.build_run(branch=branch)
    text = pdf_text(picker_client.get(reverse("picking:run_pdf", args=[run.pk])))
    assert "910.4 HIS" in text
    assert "Histoire générale des voyages" in text
    assert long_title.strip() not in text and "…" in text


def test_each_pick_list_page_is_signed_with_its_own_department(picker_client, branch):
    # Jeunesse takes two pages: its second page, then each later department, must be
    # signed with their own name (fpdf2 draws a footer when the next page starts).
    sizes = {"Jeunesse": 36, "Arts et Loisirs": 1, "Musique": 1}
    patrons = [make_patron(branch, card=f"2000000{n}") for n in range(6)]
    turn = 0
    for order, (name, size) in enumerate(sizes.items()):
        department = make_department(branch, code=f"d{order}", name=name, order=order)
        location = make_location(department)
        for n in range(size):
            record = make_record(title=f"{name} {n}", copies=[branch])
            record.copies.update(department=department, location=location)
            place(patrons[turn % len(patrons)], record, branch)
            turn += 1
    run = picking.build_run(branch=branch)
    response = picker_client.get(reverse("picking:run_pdf", args=[run.pk]))
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(response.content)).pages]
    expected = ["Jeunesse", "Jeunesse", "Arts et Loisirs", "Musique"]
    assert len(pages) == len(expected)
    for number, (text, name) in enumerate(zip(pages, expected, strict=True), start=1):
        footer = text.strip().splitlines()[-1]
        assert footer.endswith(f" · {name} · {number}"), (number, footer)
