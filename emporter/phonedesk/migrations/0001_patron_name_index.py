"""An index for the phone desk's name look-up, which must answer in milliseconds while
the caller waits: "helene dup" matches "Hélène Dupré" through emporter_fold() (unaccent +
lower, from catalogue 0002) and pg_trgm, so LIKE '%word%' is an index scan, not a pass
over every card holder. The expression must stay identical to NAME in patrons/search.py.
SQLite needs nothing: its patron tables are small demo ones."""

from django.db import migrations

POSTGRESQL = """
    CREATE INDEX IF NOT EXISTS phonedesk_patron_name_trgm ON patrons_patron
      USING gin (emporter_fold(first_name || ' ' || last_name) gin_trgm_ops)
"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRESQL)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS phonedesk_patron_name_trgm")


class Migration(migrations.Migration):
    dependencies = [("patrons", "0001_initial"), ("catalogue", "0002_search")]

    operations = [migrations.RunPython(install, uninstall)]
