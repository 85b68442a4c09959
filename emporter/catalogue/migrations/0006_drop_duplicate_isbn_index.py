"""Drop an ISBN prefix index that duplicates the one Django makes for ``db_index`` on a
CharField (``…_like``, varchar_pattern_ops): two identical indexes only slow imports."""

from django.db import migrations


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS catalogue_record_isbn_prefix")


def recreate(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS catalogue_record_isbn_prefix ON catalogue_record (isbn varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0005_record_doc_type_index")]
    operations = [migrations.RunPython(drop, recreate)]
