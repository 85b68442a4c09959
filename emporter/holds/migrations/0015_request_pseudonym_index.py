"""An index on the requests' pseudonym, for erasures, built while requests go on being
placed (emporter.concurrent_index: not atomic)."""

from django.db import migrations, models

from emporter.concurrent_index import add_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("holds", "0014_channel_app"),
    ]

    operations = [
        add_index_concurrently(
            "request",
            models.Index(fields=["patron_pseudonym"], name="request_pseudonym"),
            on="holds_request (patron_pseudonym)",
        ),
    ]
