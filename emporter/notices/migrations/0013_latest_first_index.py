"""An index for the notices latest first (the outbox, the admin list), built while
sending goes on (emporter.concurrent_index: not atomic)."""

from django.db import migrations, models

from emporter.concurrent_index import add_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("notices", "0012_notice_language"),
    ]

    operations = [
        add_index_concurrently(
            "notice",
            models.Index(fields=["-created_at", "-id"], name="notice_latest_first"),
            on="notices_notice (created_at DESC, id DESC)",
        ),
    ]
