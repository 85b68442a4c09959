from django.db import migrations
from django.db.models import F, OuterRef, Subquery


def align_deadlines(apps, schema_editor):
    """Bags filled before one bag had one deadline: the patron was told the bag's date
    (the latest), so that is when each ready document in it is now held until."""
    Request = apps.get_model("holds", "Request")
    Bag = apps.get_model("holds", "Bag")
    bag_deadline = Bag.objects.filter(pk=OuterRef("bag_id")).values("hold_until")[:1]
    Request.objects.filter(status="ready", bag__state="open", hold_until__lt=F("bag__hold_until")).update(
        hold_until=Subquery(bag_deadline)
    )


class Migration(migrations.Migration):
    dependencies = [("holds", "0004_request_patron_forgotten_after_return")]

    operations = [migrations.RunPython(align_deadlines, migrations.RunPython.noop)]
