"""``Copy.source_item``: the source's own id of an item (Koha's itemnumber), so that a
re-import finds a relabelled copy by it. Nullable, without a default: no table rewrite
on PostgreSQL, an ALTER TABLE ADD COLUMN on SQLite (no rebuild), and the old code's
inserts leave it empty. The next import of each source fills it (one UPDATE per copy
that has one, once)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0015_record_merged_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="copy",
            name="source_item",
            field=models.CharField(blank=True, editable=False, max_length=150, null=True),
        ),
    ]
