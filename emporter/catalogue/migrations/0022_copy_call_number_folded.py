"""Call numbers looked up folded ("r ech" finds "R ÉCH"): an index on
emporter_fold(call_number) on either engine (catalogue.search._call_number_match).

PostgreSQL builds it while the libraries go on working (emporter.concurrent_index, so
the migration is not atomic), with text_pattern_ops for LIKE 'prefix%'. SQLite indexes
the same expression, its emporter_fold() being the Python function every connection of
the application registers (emporter.folding): a tool that opens the database file on
its own and writes copies must register it too. Like 0002's NOCASE index, Django does
not know this index: a later migration that makes Django remake catalogue_copy on
SQLite must create it again (``create`` below).
"""

from django.db import migrations

from emporter.concurrent_index import create_concurrently

NAME = "catalogue_copy_call_number_folded"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        create_concurrently(schema_editor, NAME, "catalogue_copy (emporter_fold(call_number) text_pattern_ops)")
    else:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {NAME} ON catalogue_copy (emporter_fold(call_number))")


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalogue", "0021_copy_branch_created"),
    ]

    operations = [migrations.RunPython(create, drop)]
