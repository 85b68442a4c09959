"""The words of the catalogue's titles and authors, for "did you mean" (PostgreSQL).

When a search finds nothing, each word of the query that the catalogue does not know is
replaced by the known word it most resembles (pg_trgm similarity on a table of a few
hundred thousand words, not on a million titles) and the search runs again: the
misspelt "labirinthe" becomes "labyrinthe", and the full-text index does the rest. This
is what catalogue_search_word is for: every word, folded (lower case, no accents), of
three letters or more, of any title, author or series ever catalogued.

Triggers keep it: a statement-level one on INSERT (COPY and bulk_create add a million
records in one pass), a row-level one on UPDATE OF the three columns (an edited title).
Words of deleted records stay: a stale suggestion finds nothing and the search then
falls back to look-alike titles, which is what it did before there was a dictionary.
"""

from django.db import migrations

WORDS = """
    SELECT DISTINCT word FROM {rows},
      regexp_split_to_table(emporter_fold(title || ' ' || responsibility || ' ' || series), '[^[:alnum:]]+') AS word
     WHERE length(word) >= 3
"""

POSTGRESQL = [
    "CREATE TABLE IF NOT EXISTS catalogue_search_word (word text PRIMARY KEY)",
    "CREATE INDEX IF NOT EXISTS catalogue_search_word_trgm ON catalogue_search_word USING gin (word gin_trgm_ops)",
    f"""
    CREATE OR REPLACE FUNCTION catalogue_record_words_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO catalogue_search_word (word) {WORDS.format(rows="new_rows")} ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION catalogue_record_words_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO catalogue_search_word (word)
        {WORDS.format(rows="(SELECT NEW.title, NEW.responsibility, NEW.series) AS new_row(title, responsibility, series)")}
        ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER catalogue_record_words_insert AFTER INSERT ON catalogue_record
      REFERENCING NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION catalogue_record_words_inserted()
    """,
    # Row-level: PostgreSQL allows a column list only without transition tables, and the
    # availability summary (migration 0007) updates records on every copy movement.
    """
    CREATE OR REPLACE TRIGGER catalogue_record_words_update
      AFTER UPDATE OF title, responsibility, series ON catalogue_record
      FOR EACH ROW EXECUTE FUNCTION catalogue_record_words_updated()
    """,
    f"INSERT INTO catalogue_search_word (word) {WORDS.format(rows='catalogue_record')} ON CONFLICT DO NOTHING",
]

POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS catalogue_record_words_update ON catalogue_record",
    "DROP TRIGGER IF EXISTS catalogue_record_words_insert ON catalogue_record",
    "DROP FUNCTION IF EXISTS catalogue_record_words_updated()",
    "DROP FUNCTION IF EXISTS catalogue_record_words_inserted()",
    "DROP TABLE IF EXISTS catalogue_search_word",
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRESQL:
            schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRESQL_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0007_availability_summary")]
    operations = [migrations.RunPython(install, uninstall)]
