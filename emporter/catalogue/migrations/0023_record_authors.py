"""The name headings a record is filed under (``Record.authors``): its author links
search by them, and the author field finds a record by them (weight B of PostgreSQL's
vector, the responsibility column of SQLite's full-text table), so "Boutmy Émile" finds
the record whose title page says "par E. Boutmy", and a performer's link finds the
records they play on.

The column is added by ALTER TABLE on both engines rather than by Django's AddField: on
SQLite a NOT NULL column makes Django rebuild catalogue_record, which would drop the
full-text triggers kept there (catalogue/0018); on PostgreSQL a constant default adds it
without rewriting the table. Each record gets its headings at its next import; the
triggers are replaced here (on PostgreSQL also those adding the words of "did you mean",
catalogue/0020), the rows already indexed are left as they are (their headings are
empty until then). A later migration that makes Django remake catalogue_record on
SQLite must end with ``RunPython(install_sqlite)`` from this module."""

import importlib

from django.db import migrations, models

search_0002 = importlib.import_module("emporter.catalogue.migrations.0002_search")
search_0018 = importlib.import_module("emporter.catalogue.migrations.0018_search_text")
words_0020 = importlib.import_module("emporter.catalogue.migrations.0020_subject_words")

# ALTER TABLE waits for every transaction reading the table: behind a long import it
# would hold up every search queued after it. Better to fail and be run again.
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '10s'"
ADD_COLUMN = "ALTER TABLE catalogue_record ADD COLUMN authors text NOT NULL DEFAULT ''"
DROP_COLUMN = "ALTER TABLE catalogue_record DROP COLUMN authors"

POSTGRESQL = [
    """
    CREATE OR REPLACE FUNCTION catalogue_record_search_update() RETURNS trigger
      LANGUAGE plpgsql AS $$
    BEGIN
      NEW.search_vector := catalogue_record_vector(
        NEW.title, NEW.responsibility || E'\\n' || NEW.authors, NEW.series, NEW.subjects,
        NEW.summary, NEW.publisher);
      RETURN NEW;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER catalogue_record_search
      BEFORE INSERT OR UPDATE OF title, responsibility, authors, series, subjects, summary, publisher
      ON catalogue_record FOR EACH ROW EXECUTE FUNCTION catalogue_record_search_update()
    """,
    # 0020's words of "did you mean", with the headings' ("Jason Moren" → "moran").
    *(
        statement.replace("responsibility || ' ' || series", "responsibility || ' ' || authors || ' ' || series")
        .replace("NEW.responsibility, NEW.series", "NEW.responsibility, NEW.authors, NEW.series")
        .replace("new_row(title, responsibility, series", "new_row(title, responsibility, authors, series")
        .replace("UPDATE OF title, responsibility, series", "UPDATE OF title, responsibility, authors, series")
        for statement in words_0020.POSTGRESQL
    ),
]

POSTGRESQL_REVERSE = [
    """
    CREATE OR REPLACE TRIGGER catalogue_record_search
      BEFORE INSERT OR UPDATE OF title, responsibility, series, subjects, summary, publisher
      ON catalogue_record FOR EACH ROW EXECUTE FUNCTION catalogue_record_search_update()
    """,
    *search_0018.POSTGRESQL[2:],  # 0018's trigger function, without the headings
    *words_0020.POSTGRESQL,
]


def _sqlite_values(row: str) -> str:
    subjects = f"(SELECT group_concat(value, ' ') FROM json_each({row}.subjects))"
    columns = [
        f"{row}.title",
        f"{row}.responsibility || ' ' || {row}.authors || ' ' || {row}.series",
        subjects,
        f"{row}.summary || ' ' || {row}.publisher",
    ]
    return f"{row}.id, " + ", ".join(map(search_0018._ligatures, columns))


def _sqlite_statements(values) -> list[str]:
    # 0018's triggers, whose UPDATE OF names the headings too.
    return [
        statement.replace("UPDATE OF title, responsibility, series,", "UPDATE OF title, responsibility, authors, series,")
        for statement in search_0018._sqlite(values)
    ]


def add_column(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(LOCK_TIMEOUT)
    schema_editor.execute(ADD_COLUMN)


def drop_column(apps, schema_editor):
    schema_editor.execute(DROP_COLUMN)


def install_sqlite(apps, schema_editor):
    """0002's full-text table and triggers, with this migration's triggers."""
    if schema_editor.connection.vendor != "sqlite":
        return
    search_0002.install_sqlite(apps, schema_editor)
    for statement in _sqlite_statements(_sqlite_values):
        schema_editor.execute(statement)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        statements = POSTGRESQL
    else:
        statements = _sqlite_statements(_sqlite_values)
    for statement in statements:
        schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        statements = POSTGRESQL_REVERSE
    else:
        statements = search_0018._sqlite(search_0018._sqlite_values)
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0022_copy_call_number_folded"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="record",
                    name="authors",
                    field=models.TextField(
                        blank=True,
                        db_default="",
                        default="",
                        help_text="Name headings, one per line, main entry first, as the library system files them.",
                        verbose_name="authors",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(add_column, drop_column)],
        ),
        # Back: the triggers first (they name the column), then the column.
        migrations.RunPython(forward, backward),
    ]
