"""The few records emptied by a merge at the source, found without reading the others
(holds.merges, every minute), built while imports and requests go on
(emporter.concurrent_index: not atomic)."""

from django.db import migrations, models

from emporter.concurrent_index import add_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalogue", "0014_record_merged_into"),
    ]

    operations = [
        add_index_concurrently(
            "record",
            models.Index(fields=["merged_into"], condition=models.Q(merged_into__isnull=False), name="record_merged"),
            on="catalogue_record (merged_into_id) WHERE merged_into_id IS NOT NULL",
        ),
    ]
