"""Records left without copies are found in the admin and deleted in one action, unless
a patron asked for them."""

from django.urls import reverse

from emporter.catalogue.models import Record
from emporter.holds.models import Request, Status
from tests.conftest import make_record


def test_records_without_copies_are_found_and_deleted_unless_requested(admin_client, patron, branch):
    kept = make_record(title="Avec exemplaire", copies=[branch])
    orphan = make_record(title="Orpheline", copies=[])
    asked = make_record(title="Demandée", copies=[])  # its copies gone from the source since
    Request.objects.create(patron=patron, record=asked, pickup_branch=branch, status=Status.WAITING)

    url = reverse("admin:catalogue_record_changelist")
    listed = admin_client.get(url, {"copies": "none"}).text
    assert "Orpheline" in listed and "Demandée" in listed and "Avec exemplaire" not in listed

    chosen = [kept.pk, orphan.pk, asked.pk]
    done = admin_client.post(
        url, {"action": "delete_without_copies", "_selected_action": chosen}, follow=True
    ).text
    assert set(Record.objects.values_list("title", flat=True)) == {"Avec exemplaire", "Demandée"}
    assert "1 notice supprimée." in done and "2 conservées" in done
