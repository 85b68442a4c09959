"""Room in each page of catalogue_record for its availability summary to change in place.

Every copy leaving or reaching a shelf rewrites its record's summary (migration 0007).
With full pages that new row version lands elsewhere and every index of the table —
the full-text and trigram GIN indexes among them — gets an entry for it. With free
space in the page, PostgreSQL makes it a heap-only (HOT) update: no index is touched,
as no indexed column changed. Pages written from now on keep 15 % free; older ones
gain room as VACUUM reclaims the old versions.
"""

from django.db import migrations


def set_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE catalogue_record SET (fillfactor = 85)")


def reset_fillfactor(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE catalogue_record RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0008_search_words")]
    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
