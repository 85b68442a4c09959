"""RequestEvent.to_tell: what the notices' composer still has to look at.

Written for a live PostgreSQL database with millions of events, while the previous
version of the code still runs (migrate comes first at a deploy):
- the column is added with a constant default (no table rewrite) that is false at once,
  then true for new rows: an insert by the old code never fails on it;
- only the last week's events without a notice are marked (what the composer read until
  now), after the default is set, so rows written meanwhile are covered too;
- the partial index is built CONCURRENTLY (writers are not blocked), which is why this
  migration is not atomic. Every step can be run again: an interrupted migrate is
  finished by running migrate again (an index left invalid by a failed build is dropped
  and built anew).
"""

import datetime

from django.db import migrations, models
from django.db.models import Q
from django.utils import timezone

WINDOW = datetime.timedelta(days=7)  # notices.compose.COMPOSE_WINDOW when this was written


def add_column(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE holds_requestevent ADD COLUMN IF NOT EXISTS to_tell boolean NOT NULL DEFAULT false"
        )
        schema_editor.execute("ALTER TABLE holds_requestevent ALTER COLUMN to_tell SET DEFAULT true")
        return
    with connection.cursor() as cursor:
        columns = {c.name for c in connection.introspection.get_table_description(cursor, "holds_requestevent")}
    if "to_tell" not in columns:
        schema_editor.execute("ALTER TABLE holds_requestevent ADD COLUMN to_tell bool NOT NULL DEFAULT 1")


def drop_column(apps, schema_editor):
    schema_editor.execute("ALTER TABLE holds_requestevent DROP COLUMN to_tell")


def mark_untold(apps, schema_editor):
    RequestEvent = apps.get_model("holds", "RequestEvent")
    untold = Q(at__gte=timezone.now() - WINDOW, notice_link__isnull=True, request__patron__isnull=False)
    RequestEvent.objects.filter(untold).update(to_tell=True)
    if schema_editor.connection.vendor != "postgresql":
        # SQLite added the column true for every row: the history is not to be told
        # (its notices may be long forgotten, and the composer now reads every row
        # still to tell). PostgreSQL's rows started false.
        RequestEvent.objects.filter(to_tell=True).exclude(untold).update(to_tell=False)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS event_to_tell ON holds_requestevent (at) WHERE to_tell")
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = 'event_to_tell'"
        )
        row = cursor.fetchone()
    if row and row[0]:  # left invalid by an interrupted build
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS event_to_tell")
    schema_editor.execute(
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS event_to_tell ON holds_requestevent (at) WHERE to_tell"
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
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="requestevent",
                    name="to_tell",
                    field=models.BooleanField(db_default=True, default=True, editable=False),
                )
            ],
            database_operations=[migrations.RunPython(add_column, drop_column)],
        ),
        migrations.RunPython(mark_untold, migrations.RunPython.noop),
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
