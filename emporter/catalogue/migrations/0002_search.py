"""Full-text search, maintained by the database itself.

Every writer of catalogue_record (the ORM, the MARC importer's bulk_create and
bulk_update, the demo generator's COPY) keeps the search index right without calling
Python, because triggers do the work. Neither structure is a Django field: the ORM never
reads the tsvector (it would double the row size it fetches) and SQLite's FTS5 table is a
virtual table. See emporter/catalogue/search.py for the queries that use them.

Beware on SQLite: a later migration that makes Django *remake* catalogue_record (an
AlterField, for instance) drops these triggers with the old table. Such a migration must
end with ``RunPython(install_sqlite)`` from this module; tests/test_search.py would fail
otherwise.
"""

from django.db import migrations

POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # French stemming on unaccented words, so "etrangere" and "étrangère" meet.
    """
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'french_unaccent') THEN
        CREATE TEXT SEARCH CONFIGURATION french_unaccent (COPY = french);
        ALTER TEXT SEARCH CONFIGURATION french_unaccent
          ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem;
      END IF;
    END $$
    """,
    # unaccent() is only STABLE (its dictionary could change); an index needs IMMUTABLE.
    """
    CREATE OR REPLACE FUNCTION emporter_fold(text) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
      AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$
    """,
    """
    CREATE OR REPLACE FUNCTION emporter_json_text(jsonb) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE
      AS $$ SELECT coalesce(string_agg(x, ' '), '') FROM jsonb_array_elements_text(
              CASE jsonb_typeof($1) WHEN 'array' THEN $1 ELSE '[]'::jsonb END) AS x $$
    """,
    "ALTER TABLE catalogue_record ADD COLUMN IF NOT EXISTS search_vector tsvector",
    """
    CREATE OR REPLACE FUNCTION catalogue_record_search_update() RETURNS trigger
      LANGUAGE plpgsql AS $$
    BEGIN
      NEW.search_vector :=
        setweight(to_tsvector('public.french_unaccent', coalesce(NEW.title, '')), 'A') ||
        setweight(to_tsvector('public.french_unaccent',
                  coalesce(NEW.responsibility, '') || ' ' || coalesce(NEW.series, '')), 'B') ||
        setweight(to_tsvector('public.french_unaccent', emporter_json_text(NEW.subjects)), 'C') ||
        setweight(to_tsvector('public.french_unaccent',
                  coalesce(NEW.summary, '') || ' ' || coalesce(NEW.publisher, '')), 'D');
      RETURN NEW;
    END $$
    """,
    # UPDATE OF: a bulk_update of copy-unrelated fields (year, audience…) skips the work.
    """
    CREATE OR REPLACE TRIGGER catalogue_record_search
      BEFORE INSERT OR UPDATE OF title, responsibility, series, subjects, summary, publisher
      ON catalogue_record FOR EACH ROW EXECUTE FUNCTION catalogue_record_search_update()
    """,
    # Rows written before this migration.
    "UPDATE catalogue_record SET title = title",
    "CREATE INDEX IF NOT EXISTS catalogue_record_search ON catalogue_record USING gin (search_vector)",
    # Typo fallback: trigram similarity on the folded title and author.
    """
    CREATE INDEX IF NOT EXISTS catalogue_record_trgm ON catalogue_record
      USING gin (emporter_fold(title || ' ' || responsibility) gin_trgm_ops)
    """,
    # Prefix searches on identifiers typed by patrons and staff.
    "CREATE INDEX IF NOT EXISTS catalogue_record_isbn_prefix ON catalogue_record (isbn varchar_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS catalogue_record_ean ON catalogue_record (ean) WHERE ean <> ''",
    """
    CREATE INDEX IF NOT EXISTS catalogue_copy_call_number_prefix
      ON catalogue_copy (lower(call_number) text_pattern_ops)
    """,
]

POSTGRESQL_REVERSE = [
    "DROP INDEX IF EXISTS catalogue_copy_call_number_prefix",
    "DROP INDEX IF EXISTS catalogue_record_ean",
    "DROP INDEX IF EXISTS catalogue_record_isbn_prefix",
    "DROP INDEX IF EXISTS catalogue_record_trgm",
    "DROP TRIGGER IF EXISTS catalogue_record_search ON catalogue_record",
    "DROP FUNCTION IF EXISTS catalogue_record_search_update()",
    "ALTER TABLE catalogue_record DROP COLUMN IF EXISTS search_vector",
    "DROP FUNCTION IF EXISTS emporter_json_text(jsonb)",
    "DROP FUNCTION IF EXISTS emporter_fold(text)",
    "DROP TEXT SEARCH CONFIGURATION IF EXISTS french_unaccent",
]


# The FTS5 table keeps its own copy of the text (rowid = record id): subjects are JSON
# in catalogue_record and must be flattened, which an external-content table cannot do.
def _sqlite_values(row):
    return f"""{row}.id, {row}.title, {row}.responsibility || ' ' || {row}.series,
      (SELECT group_concat(value, ' ') FROM json_each({row}.subjects)),
      {row}.summary || ' ' || {row}.publisher"""


SQLITE_ROW = f"({_sqlite_values('new')})"

SQLITE = [
    """
    CREATE VIRTUAL TABLE IF NOT EXISTS catalogue_record_fts USING fts5(
      title, responsibility, subjects, summary, tokenize="unicode61 remove_diacritics 2")
    """,
    "DROP TRIGGER IF EXISTS catalogue_record_fts_insert",
    "DROP TRIGGER IF EXISTS catalogue_record_fts_update",
    "DROP TRIGGER IF EXISTS catalogue_record_fts_delete",
    f"""
    CREATE TRIGGER catalogue_record_fts_insert AFTER INSERT ON catalogue_record BEGIN
      INSERT INTO catalogue_record_fts (rowid, title, responsibility, subjects, summary)
      VALUES {SQLITE_ROW};
    END
    """,
    f"""
    CREATE TRIGGER catalogue_record_fts_update
      AFTER UPDATE OF title, responsibility, series, subjects, summary, publisher
      ON catalogue_record BEGIN
      DELETE FROM catalogue_record_fts WHERE rowid = old.id;
      INSERT INTO catalogue_record_fts (rowid, title, responsibility, subjects, summary)
      VALUES {SQLITE_ROW};
    END
    """,
    """
    CREATE TRIGGER catalogue_record_fts_delete AFTER DELETE ON catalogue_record BEGIN
      DELETE FROM catalogue_record_fts WHERE rowid = old.id;
    END
    """,
    "DELETE FROM catalogue_record_fts",
    f"""
    INSERT INTO catalogue_record_fts (rowid, title, responsibility, subjects, summary)
    SELECT {_sqlite_values("r")} FROM catalogue_record AS r
    """,
    "CREATE INDEX IF NOT EXISTS catalogue_copy_call_number_nocase ON catalogue_copy (call_number COLLATE NOCASE)",
]

SQLITE_REVERSE = [
    "DROP INDEX IF EXISTS catalogue_copy_call_number_nocase",
    "DROP TRIGGER IF EXISTS catalogue_record_fts_insert",
    "DROP TRIGGER IF EXISTS catalogue_record_fts_update",
    "DROP TRIGGER IF EXISTS catalogue_record_fts_delete",
    "DROP TABLE IF EXISTS catalogue_record_fts",
]


def _run(schema_editor, statements_by_vendor):
    for statement in statements_by_vendor.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement)


def install(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL, "sqlite": SQLITE})


def uninstall(apps, schema_editor):
    _run(schema_editor, {"postgresql": POSTGRESQL_REVERSE, "sqlite": SQLITE_REVERSE})


def install_sqlite(apps, schema_editor):
    _run(schema_editor, {"sqlite": SQLITE})


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
