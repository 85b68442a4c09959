"""An index for the notices latest first (the outbox, the admin list): built CONCURRENTLY
on PostgreSQL, so that sending goes on meanwhile, which is why this migration is not
atomic; run again after an interruption, it drops an index left invalid and builds it."""

from django.db import migrations, models

NAME = "notice_latest_first"
COLUMNS = "notices_notice (created_at DESC, id DESC)"


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
        ("notices", "0012_notice_language"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="notice",
                    index=models.Index(fields=["-created_at", "-id"], name=NAME),
                ),
            ],
            database_operations=[migrations.RunPython(create_index, drop_index)],
        ),
    ]
