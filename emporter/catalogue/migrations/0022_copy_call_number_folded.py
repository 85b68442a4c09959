"""Call numbers looked up folded on PostgreSQL ("r ech" finds "R ÉCH", as on SQLite): an
index on emporter_fold(call_number), built while the libraries go on working
(emporter.concurrent_index, not atomic). SQLite folds through its NOCASE index
(catalogue.search._call_number_match): nothing to build there."""

from django.db import migrations

from emporter.concurrent_index import create_concurrently

NAME = "catalogue_copy_call_number_folded"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        create_concurrently(schema_editor, NAME, "catalogue_copy (emporter_fold(call_number) text_pattern_ops)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalogue", "0021_copy_branch_created"),
    ]

    operations = [migrations.RunPython(create, drop)]
