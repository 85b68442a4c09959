"""Exact title lookup for search (PostgreSQL): "La nuit" typed whole finds the record
titled "La Nuit" even when the words also match thousands of others (see SAMPLE in
emporter/catalogue/search.py). A hash index: equality is all it serves, and it has no
limit on the length of the title it indexes (a B-tree entry has one).
"""

from django.db import migrations

CREATE = (
    "CREATE INDEX IF NOT EXISTS catalogue_record_folded_title ON catalogue_record "
    "USING hash (emporter_fold(title))"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalogue_record_folded_title")


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0003_copy_facets_index")]

    operations = [migrations.RunPython(forwards, backwards)]
