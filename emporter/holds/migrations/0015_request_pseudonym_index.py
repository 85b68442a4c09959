"""An index on the requests' pseudonym, for erasures: built CONCURRENTLY on PostgreSQL,
so that requests go on being placed meanwhile, which is why this migration is not
atomic; run again after an interruption, it drops an index left invalid and builds it."""

from django.db import migrations, models

NAME = "request_pseudonym"
COLUMNS = "holds_request (patron_pseudonym)"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {NAME} ON {COLUMNS}")
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s",
            [NAME],
        )
        row = cursor.fetchone()
        if row and row[0]:  # left invalid by an interrupted build
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
        cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON {COLUMNS}")


def drop_index(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("holds", "0014_channel_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="request",
                    index=models.Index(fields=["patron_pseudonym"], name=NAME),
                ),
            ],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
