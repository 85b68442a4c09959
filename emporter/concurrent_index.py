"""Building an index on a big table while the application goes on writing to it.

On PostgreSQL the index is built CONCURRENTLY (writers are not blocked while it reads
the table), so the migration holding it is not atomic; run again after an interruption,
it drops an index left invalid and builds it anew. SQLite builds it plainly. Django's
state gets the model's index. (holds/0009 and holds/0012 spell the same steps out.)
"""

from django.db import migrations


def add_index_concurrently(model_name: str, index, on: str) -> migrations.SeparateDatabaseAndState:
    """The operation adding ``index`` (a models.Index, named) to ``model_name``'s state, and
    to the database as ``CREATE INDEX … ON {on}`` ("table (columns)")."""
    name = index.name

    def create(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")
            return
        create_concurrently(schema_editor, name, on)

    def drop(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")

    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AddIndex(model_name=model_name, index=index)],
        database_operations=[migrations.RunPython(create, drop)],
    )


def create_concurrently(schema_editor, name: str, on: str) -> None:
    """``CREATE INDEX CONCURRENTLY {name} ON {on}`` on PostgreSQL, in a migration that is
    not atomic; an index an interrupted build left invalid is dropped and built anew."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s",
            [name],
        )
        row = cursor.fetchone()
        if row and row[0]:  # left invalid by an interrupted build
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {on}")
