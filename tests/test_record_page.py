import pytest

from emporter.catalogue.models import Copy, CopyStatus, Record
from tests.conftest import make_department, make_location


@pytest.fixture
def record(branch, other_branch):
    record = Record.objects.create(
        source_key="test:1",
        title="La Femme étrangère",
        responsibility="Marguerite Durand",
        publisher="Gallimard",
        year=1998,
        isbn="9782070368228",
        language="fre",
        subjects=["Exil", "Roman"],
        summary="Une femme arrive dans une ville inconnue.",
    )
    romans = make_location(make_department(branch))
    Copy.objects.create(record=record, branch=branch, barcode="B1", call_number="R DUR", location=romans)
    Copy.objects.create(
        record=record, branch=branch, barcode="B2", call_number="R DUR A", status=CopyStatus.ON_LOAN
    )
    Copy.objects.create(record=record, branch=other_branch, barcode="C1", call_number="RP DUR")
    Copy.objects.create(
        record=record, branch=other_branch, barcode="C2", call_number="RP DUR B", status=CopyStatus.MISSING
    )
    return record


def test_record_page_shows_every_field(client, record):
    page = client.get(f"/catalogue/record/{record.pk}/").content.decode()
    for text in ("La Femme étrangère", "Marguerite Durand", "Gallimard", "1998", "9782070368228", "Exil"):
        assert text in page
    assert "Français" in page
    assert "Une femme arrive" in page


def test_record_page_groups_copies_per_branch_with_availability(client, record, branch, other_branch):
    branch.is_central = True
    branch.save(update_fields=["is_central"])
    response = client.get(f"/catalogue/record/{record.pk}/")
    page = response.content.decode()
    assert response["Content-Language"] == "fr"
    assert "2 exemplaires disponibles" in page
    # Central library first, then by name; each branch with its own count.
    assert [b["branch"] for b in response.context["branches"]] == [branch, other_branch]
    assert [b["available"] for b in response.context["branches"]] == [1, 1]
    for call_number in ("R DUR A", "RP DUR B"):
        assert call_number in page
    assert "Introuvable" in page or "Manquant" in page
    assert "Romans" in page


def test_record_page_in_english(client, record):
    page = client.get(f"/en/catalogue/record/{record.pk}/").content.decode()
    assert "2 copies available" in page
    assert "On loan" in page


def test_record_page_leaves_room_for_actions(client, record):
    assert 'id="record-actions"' in client.get(f"/catalogue/record/{record.pk}/").content.decode()


def test_unknown_record_is_not_found(client, db):
    assert client.get("/catalogue/record/999999/").status_code == 404


def test_a_result_line_adds_its_record_to_the_basket_and_comes_back_to_it(client, record):
    Record.objects.create(source_key="test:2", title="La Femme sans exemplaire")
    page = client.get("/catalogue/?q=femme").content.decode()
    # One button per requestable result, naming its record for screen readers.
    assert page.count('class="add-to-basket"') == 1
    assert f'action="/basket/add/{record.pk}/"' in page
    assert "(La Femme étrangère)</span>" in page

    response = client.post(f"/basket/add/{record.pk}/", {"next": f"/catalogue/?q=femme#hit-{record.pk}"})
    assert response.status_code == 302
    assert response["Location"] == f"/catalogue/?q=femme#hit-{record.pk}"
    page = client.get("/catalogue/?q=femme").content.decode()
    assert f'id="hit-{record.pk}"' in page
    assert "Dans votre panier" in page
    assert 'class="add-to-basket"' not in page


def test_a_closed_librarys_copies_are_not_counted_available(client, record, branch, other_branch):
    other_branch.service_mode = "closed"
    other_branch.save(update_fields=["service_mode"])
    response = client.get(f"/catalogue/record/{record.pk}/")
    page = response.content.decode()
    # As the results say: only Part-Dieu's copy on the shelf can be had.
    assert "1 exemplaire disponible" in page
    assert {b["branch"]: b["available"] for b in response.context["branches"]} == {branch: 1, other_branch: 0}
    assert "Fermée : ne prête pas en ce moment" in page.replace("\u00a0", " ")


def test_a_copy_in_a_reference_collection_is_on_site_only(client, record, branch):
    Copy.objects.filter(barcode="B1").update(
        location=make_location(make_department(branch, code="ref"), code="ref", requestable=False)
    )
    page = client.get(f"/catalogue/record/{record.pk}/").content.decode()
    assert "1 exemplaire disponible" in page  # the other library's
    assert "à consulter sur place" in page


def test_a_title_to_consult_on_site_only_has_no_basket_button(client, branch):
    from tests.conftest import make_department, make_location, make_record

    reference = make_location(make_department(branch), code="ref", requestable=False)
    record = make_record(title="Grand Larousse", copies=[branch])
    record.copies.update(location=reference)
    page = client.get(f"/en/catalogue/record/{record.pk}/").content.decode()
    assert "To consult on site only: no copy is lent." in page
    assert "Add to my basket" not in page
