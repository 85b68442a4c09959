"""A request is on one list at a time (pending lines only), instead of once per copy
for ever: a request moved back to a copy that was once not found is pulled again."""

from django.db import migrations, models
from django.db.models import Max


def close_extra_pending_lines(apps, schema_editor):
    """Should a request have two pending lines, keep the newest: the other is stale."""
    PickLine = apps.get_model("picking", "PickLine")
    pending = PickLine.objects.filter(status="pending")
    doubled = pending.values("request_id").annotate(n=models.Count("pk"), newest=Max("pk")).filter(n__gt=1)
    for row in doubled:
        pending.filter(request_id=row["request_id"]).exclude(pk=row["newest"]).update(status="cancelled")


class Migration(migrations.Migration):
    dependencies = [
        ("picking", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="pickline",
            name="pick_line_once_per_request_copy",
        ),
        migrations.AlterField(
            model_name="pickline",
            name="status",
            field=models.CharField(
                choices=[
                    ("pending", "To pull"),
                    ("found", "Found"),
                    ("not_found", "Not found"),
                    ("cancelled", "No longer needed"),
                    ("carried", "Moved to a later list"),
                ],
                default="pending",
                max_length=10,
            ),
        ),
        migrations.RunPython(close_extra_pending_lines, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="pickline",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "pending")), fields=("request",), name="one_pending_line_per_request"
            ),
        ),
    ]
