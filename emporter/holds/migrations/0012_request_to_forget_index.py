"""The partial index through which privacy.services.forget_closed finds the few requests
to forget (closed without a loan, still naming their patron).

Built CONCURRENTLY on PostgreSQL (request writes are not blocked while it reads the
table), hence not atomic, as holds/0009; run again after an interruption, an index left
invalid is dropped and built anew. Django's state gets the same index as the model's.
"""

from django.db import migrations, models

NAME = "request_to_forget"
COLUMNS = "(closed_at, created_at) WHERE patron_id IS NOT NULL AND status IN ('not_found', 'cancelled', 'expired')"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {NAME} ON holds_request {COLUMNS}")
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [NAME],
        )
        row = cursor.fetchone()
    if row and row[0]:  # left invalid by an interrupted build
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NAME}")
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {NAME} ON holds_request {COLUMNS}")


def drop_index(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("holds", "0011_admin_readable_statuses"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create_index, drop_index)],
            state_operations=[
                migrations.AddIndex(
                    model_name="request",
                    index=models.Index(
                        condition=models.Q(
                            ("patron__isnull", False), ("status__in", ("not_found", "cancelled", "expired"))
                        ),
                        fields=["closed_at", "created_at"],
                        name=NAME,
                    ),
                ),
            ],
        ),
    ]
