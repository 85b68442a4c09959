"""Loans anonymised before their collected requests were forgotten with them (holds 0004):
forget those requests now, as holds.services.forget_patrons does for every loan since.

Frozen here (migrations must not follow later changes of the services): the request
loses its patron, bag and basket key; the patron's own user is no longer its placer nor
the actor of its events; the pseudonym, kept for the statistics, is given first.
"""

from django.db import migrations
from django.db.models import F
from django.utils.crypto import salted_hmac

BATCH = 1000
ACTIVE = ("waiting", "placed", "ready")


def pseudonym(patron_id):
    # As holds.models.patron_pseudonym, frozen.
    return salted_hmac("emporter.holds.patron_pseudonym", str(patron_id), algorithm="sha256").hexdigest()[:32]


def forget(apps, schema_editor):
    Request = apps.get_model("holds", "Request")
    RequestEvent = apps.get_model("holds", "RequestEvent")
    behind_anonymised = Request.objects.filter(loan__anonymised=True, patron__isnull=False).exclude(
        status__in=ACTIVE
    )
    while ids := list(behind_anonymised.values_list("pk", flat=True)[:BATCH]):
        requests = Request.objects.filter(pk__in=ids)
        for patron_id in set(requests.filter(patron_pseudonym="").values_list("patron_id", flat=True)):
            requests.filter(patron_id=patron_id).update(patron_pseudonym=pseudonym(patron_id))
        RequestEvent.objects.filter(
            request__in=requests, actor__isnull=False, actor_id=F("request__patron__user_id")
        ).update(actor=None)
        requests.filter(placed_by_id=F("patron__user_id")).update(placed_by=None)
        requests.update(patron=None, bag=None, idempotency_key=None)


class Migration(migrations.Migration):
    dependencies = [
        ("desk", "0003_loan_returned_branch"),
        ("holds", "0006_request_pseudonym_db_default"),
    ]
    operations = [migrations.RunPython(forget, migrations.RunPython.noop)]
