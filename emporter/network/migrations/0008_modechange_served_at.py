"""When a reopening's waiting lists were served (``ModeChange.served_at``): the reopening
is told only then. A nullable column (no table rewrite); the changes already written
count as served, so a reopening still to be told at the upgrade is told at once."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("network", "0007_mode_asked_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="modechange",
            name="served_at",
            field=models.DateTimeField(blank=True, editable=False, null=True, verbose_name="served at"),
        ),
        migrations.RunSQL(
            "UPDATE network_modechange SET served_at = changed_at", reverse_sql=migrations.RunSQL.noop
        ),
    ]
