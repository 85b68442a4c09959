"""The text the search indexes, read as a patron types it.

PostgreSQL: the default parser reads "1914-1918" as 1914 and the signed integer -1918,
"J.K. Rowling" as the file name "j.k", "Web 2.0" as the number 2.0 and
"www.gallimard.fr" as one host name. A query holds only words (catalogue/search.py),
so no query ever found them. The indexed text now has a space after a dot, slash or @
between letters or digits, and none of its hyphens before a digit
(``emporter_search_text``); one function, ``catalogue_record_vector``, computes the
vector for the trigger and for the records already indexed.

Those records are recomputed here, in batches of BATCH ids, each its own transaction
(the migration is not atomic), and only those whose text has such a dot, slash, @ or
hyphen (a few percent of a catalogue): each batch locks those rows in id order, as
imports do, for a tenth of a second or so. Searches and imports go on meanwhile; the trigger is
replaced first, so a record written during the migration is indexed the new way.
Measured on 100,000 seeded records (PostgreSQL 15, shared_buffers 2 GB): reading them
all costs 0.3 s, and rewriting the vector of every one of them would cost 14 s; the
2.4 % that needed it took 0.6 s in all. A million records with 5 % to rewrite: about
10 s. Interrupted, it runs again from the start and rewrites only what is still stale.

SQLite: FTS5's tokenizer splits on every sign already, but keeps œ and æ whole
("cœur" never met "coeur"): its triggers now write them as two letters, and the
embedded catalogue's index is rebuilt. A later migration that makes Django remake
catalogue_record must end with ``RunPython(install_sqlite)`` from the newest migration
that replaces these triggers (catalogue/0023 now; this module's and 0002's would bring
back older ones).
"""

import importlib

from django.db import migrations

search_0002 = importlib.import_module("emporter.catalogue.migrations.0002_search")

BATCH = 20_000

POSTGRESQL = [
    # No hyphen before a digit (-1918 is no word a patron types); a space after a dot,
    # slash or @ between letters or digits: "J. K.", "2. 0", "AC/ DC", "www. gallimard. fr".
    r"""
    CREATE OR REPLACE FUNCTION emporter_search_text(text) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
      AS $$ SELECT regexp_replace(regexp_replace($1, '-(?=[0-9])', ' ', 'g'),
                                  '(?<=[[:alnum:]])([./@])(?=[[:alnum:]])', '\1 ', 'g') $$
    """,
    """
    CREATE OR REPLACE FUNCTION catalogue_record_vector(
        title text, responsibility text, series text, subjects jsonb, summary text, publisher text)
      RETURNS tsvector LANGUAGE sql IMMUTABLE PARALLEL SAFE
      AS $$ SELECT
        setweight(to_tsvector('public.french_unaccent', emporter_search_text(coalesce(title, ''))), 'A') ||
        setweight(to_tsvector('public.french_unaccent', emporter_search_text(
                  coalesce(responsibility, '') || ' ' || coalesce(series, ''))), 'B') ||
        setweight(to_tsvector('public.french_unaccent',
                  emporter_search_text(emporter_json_text(subjects))), 'C') ||
        setweight(to_tsvector('public.french_unaccent', emporter_search_text(
                  coalesce(summary, '') || ' ' || coalesce(publisher, ''))), 'D') $$
    """,
    """
    CREATE OR REPLACE FUNCTION catalogue_record_search_update() RETURNS trigger
      LANGUAGE plpgsql AS $$
    BEGIN
      NEW.search_vector := catalogue_record_vector(
        NEW.title, NEW.responsibility, NEW.series, NEW.subjects, NEW.summary, NEW.publisher);
      RETURN NEW;
    END $$
    """,
]

VECTOR = "catalogue_record_vector(r.title, r.responsibility, r.series, r.subjects, r.summary, r.publisher)"

# The records whose vector the new text may change; the vector is computed from the row
# as it is once locked (an UPDATE recomputes it on the newest version), never from an
# older read.
RECOMPUTE = f"""
    UPDATE catalogue_record r SET search_vector = {VECTOR}
      FROM (SELECT id FROM catalogue_record
             WHERE id >= %s AND id < %s
               AND concat_ws(' ', title, responsibility, series, subjects::text, summary, publisher)
                   ~ '-[0-9]|[[:alnum:]][./@][[:alnum:]]'
             ORDER BY id FOR UPDATE) AS stale
     WHERE r.id = stale.id AND r.search_vector IS DISTINCT FROM {VECTOR}
"""

# Back to 0002's trigger; the vectors written meanwhile still find what they found.
POSTGRESQL_REVERSE = [
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
    "DROP FUNCTION IF EXISTS catalogue_record_vector(text, text, text, jsonb, text, text)",
    "DROP FUNCTION IF EXISTS emporter_search_text(text)",
]


def _ligatures(sql: str) -> str:
    """``sql`` with œ and æ written as two letters, in either case."""
    for one, two in (("œ", "oe"), ("Œ", "OE"), ("æ", "ae"), ("Æ", "AE")):
        sql = f"replace({sql}, '{one}', '{two}')"
    return sql


def _sqlite_values(row: str) -> str:
    subjects = f"(SELECT group_concat(value, ' ') FROM json_each({row}.subjects))"
    columns = [
        f"{row}.title",
        f"{row}.responsibility || ' ' || {row}.series",
        subjects,
        f"{row}.summary || ' ' || {row}.publisher",
    ]
    return f"{row}.id, " + ", ".join(map(_ligatures, columns))


def _sqlite(values) -> list[str]:
    """0002's triggers and filling of the FTS5 table, with the given row values."""
    row = f"({values('new')})"
    return [
        "DROP TRIGGER IF EXISTS catalogue_record_fts_insert",
        "DROP TRIGGER IF EXISTS catalogue_record_fts_update",
        f"""
        CREATE TRIGGER catalogue_record_fts_insert AFTER INSERT ON catalogue_record BEGIN
          INSERT INTO catalogue_record_fts (rowid, title, responsibility, subjects, summary) VALUES {row};
        END
        """,
        f"""
        CREATE TRIGGER catalogue_record_fts_update
          AFTER UPDATE OF title, responsibility, series, subjects, summary, publisher
          ON catalogue_record BEGIN
          DELETE FROM catalogue_record_fts WHERE rowid = old.id;
          INSERT INTO catalogue_record_fts (rowid, title, responsibility, subjects, summary) VALUES {row};
        END
        """,
        "DELETE FROM catalogue_record_fts",
        f"""
        INSERT INTO catalogue_record_fts (rowid, title, responsibility, subjects, summary)
        SELECT {values("r")} FROM catalogue_record AS r
        """,
    ]


def install_sqlite(apps, schema_editor):
    """0002's full-text table and triggers, with this migration's triggers."""
    if schema_editor.connection.vendor != "sqlite":
        return
    search_0002.install_sqlite(apps, schema_editor)
    for statement in _sqlite(_sqlite_values):
        schema_editor.execute(statement)


def uninstall_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in _sqlite(search_0002._sqlite_values):
            schema_editor.execute(statement)


def install_postgresql(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in POSTGRESQL:
        schema_editor.execute(statement)
    recompute_vectors(schema_editor.connection)


def recompute_vectors(connection) -> int:
    """Recompute the stale vectors, BATCH ids at a time; how many were rewritten."""
    rewritten = 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM catalogue_record")
        low, high = cursor.fetchone()
        for start in range(low or 0, (high or -1) + 1, BATCH):
            cursor.execute(RECOMPUTE, [start, start + BATCH])
            rewritten += cursor.rowcount
    return rewritten


def uninstall_postgresql(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRESQL_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    # Each batch commits on its own: one statement over every record would hold its rows
    # for the whole migration.
    atomic = False

    dependencies = [("catalogue", "0017_copy_source_item_index")]

    operations = [
        migrations.RunPython(install_postgresql, uninstall_postgresql),
        migrations.RunPython(install_sqlite, uninstall_sqlite),
    ]
