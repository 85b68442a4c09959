"""The copies by their source's item id (a relabelled copy found at re-import), built
while imports and requests go on (emporter.concurrent_index: not atomic)."""

from django.db import migrations, models

from emporter.concurrent_index import add_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalogue", "0016_copy_source_item"),
    ]

    operations = [
        add_index_concurrently(
            "copy",
            models.Index(
                fields=["source_item"], condition=models.Q(source_item__isnull=False), name="copy_source_item"
            ),
            on="catalogue_copy (source_item) WHERE source_item IS NOT NULL",
        ),
    ]
