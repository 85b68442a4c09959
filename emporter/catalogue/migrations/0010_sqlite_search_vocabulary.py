"""SQLite: the FTS5 index's own list of words, for "did you mean" (catalogue/search.py).

PostgreSQL keeps a dictionary of title and author words (migration 0008); on SQLite the
``fts5vocab`` table reads the words straight out of the full-text index, so there is
nothing to keep up to date. The embedded demo gets its typo correction from it.
"""

from django.db import migrations


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(
            "CREATE VIRTUAL TABLE IF NOT EXISTS catalogue_record_fts_vocab"
            " USING fts5vocab(catalogue_record_fts, 'row')"
        )


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute("DROP TABLE IF EXISTS catalogue_record_fts_vocab")


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0009_record_fillfactor")]
    operations = [migrations.RunPython(install, uninstall)]
