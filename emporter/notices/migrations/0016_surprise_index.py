"""The notices' surprise bag, indexed where there is one, built while notices go on
being written (emporter.concurrent_index: not atomic)."""

from django.db import migrations, models

from emporter.concurrent_index import add_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("notices", "0015_surprise_cancelled"),
    ]

    operations = [
        add_index_concurrently(
            "notice",
            models.Index(
                fields=["surprise"], name="notice_surprise", condition=models.Q(surprise__isnull=False)
            ),
            on="notices_notice (surprise_id) WHERE surprise_id IS NOT NULL",
        ),
    ]
