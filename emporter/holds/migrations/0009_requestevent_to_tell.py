"""RequestEvent.to_tell: what the notices' composer still has to look at.

Written for a live PostgreSQL database with millions of events: the column is added
with a constant default (no rewrite), only the last week's untold events are marked
(what the composer read until now), and the partial index is built CONCURRENTLY (no
lock on writers), which is why this migration is not atomic.
"""

import datetime

from django.db import migrations, models
from django.db.models import Q
from django.utils import timezone

WINDOW = datetime.timedelta(days=7)  # notices.compose.COMPOSE_WINDOW when this was written


def mark_untold(apps, schema_editor):
    RequestEvent = apps.get_model("holds", "RequestEvent")
    RequestEvent.objects.filter(
        at__gte=timezone.now() - WINDOW, notice_link__isnull=True, request__patron__isnull=False
    ).update(to_tell=True)


def create_index(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    schema_editor.execute(
        f"CREATE INDEX {concurrently}IF NOT EXISTS event_to_tell ON holds_requestevent (at) WHERE to_tell"
    )


def drop_index(apps, schema_editor):
    schema_editor.execute("DROP INDEX IF EXISTS event_to_tell")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("holds", "0008_request_idempotency_fingerprint"),
        ("notices", "0004_pickup_closed"),
    ]

    operations = [
        # Existing rows: false, as a constant (PostgreSQL stores it without rewriting).
        migrations.AddField(
            model_name="requestevent",
            name="to_tell",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(mark_untold, migrations.RunPython.noop),
        # New rows: true, whoever writes them (the ORM, bulk inserts, COPY).
        migrations.AlterField(
            model_name="requestevent",
            name="to_tell",
            field=models.BooleanField(db_default=True, default=True, editable=False),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="requestevent",
                    index=models.Index(condition=Q(to_tell=True), fields=["at"], name="event_to_tell"),
                )
            ],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
