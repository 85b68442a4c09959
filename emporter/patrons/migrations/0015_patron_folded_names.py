"""Each patron's last and first names folded (PostgreSQL): the admin's search for a name
of one or two letters ("Li", "Lê", "Bo": no trigram serves so short a word) compares the
whole folded name through these indexes, where it folded every patron's name. Built
while the application is in use (not atomic: run again after an interruption, an index
left invalid is built anew, as emporter.concurrent_index does). The expression must stay
the one admin_search.patrons_named writes. SQLite needs nothing: its patron tables are
small demo ones."""

from django.db import migrations

from emporter.concurrent_index import create_concurrently

INDEXES = {
    "patron_last_name_folded": "patrons_patron (emporter_fold(last_name))",
    "patron_first_name_folded": "patrons_patron (emporter_fold(first_name))",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, on in INDEXES.items():
        create_concurrently(schema_editor, name, on)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for name in INDEXES:
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("patrons", "0014_patron_email_refused"), ("catalogue", "0002_search")]

    operations = [migrations.RunPython(create, drop)]
