"""Subject words in "did you mean" (PostgreSQL): "arboriculure" becomes "arboriculture".

catalogue_search_word (migration 0008) held the words of titles, authors and series
only, so a misspelt subject word was never corrected. Its triggers now add the words of
the subjects too, and the words of the records already catalogued are added here, BATCH
ids at a time, each batch its own transaction (the migration is not atomic): it only
reads the records, and locks none: 0.9 s for 100,000 seeded records (PostgreSQL 15),
so about 10 s for a million. The trigger on UPDATE is replaced (a moment's lock of the table),
then the words are added: a record written meanwhile adds its own.
"""

from django.db import migrations

BATCH = 50_000

TEXT = "title || ' ' || responsibility || ' ' || series || ' ' || emporter_json_text(subjects)"
WORDS = f"""
    SELECT DISTINCT word FROM {{rows}},
      regexp_split_to_table(emporter_fold({TEXT}), '[^[:alnum:]]+') AS word
     WHERE length(word) >= 3
"""
ROW = (
    "(SELECT NEW.title, NEW.responsibility, NEW.series, NEW.subjects)"
    " AS new_row(title, responsibility, series, subjects)"
)

POSTGRESQL = [
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
      INSERT INTO catalogue_search_word (word) {WORDS.format(rows=ROW)} ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER catalogue_record_words_update
      AFTER UPDATE OF title, responsibility, series, subjects ON catalogue_record
      FOR EACH ROW EXECUTE FUNCTION catalogue_record_words_updated()
    """,
]

SUBJECT_WORDS = """
    INSERT INTO catalogue_search_word (word)
    SELECT DISTINCT word FROM (SELECT subjects FROM catalogue_record WHERE id >= %s AND id < %s) AS r,
      regexp_split_to_table(emporter_fold(emporter_json_text(r.subjects)), '[^[:alnum:]]+') AS word
     WHERE length(word) >= 3
    ON CONFLICT DO NOTHING
"""

# 0008's triggers; the subject words stay (a stale suggestion finds nothing, as 0008 says).
OLD_WORDS = WORDS.replace(" || ' ' || emporter_json_text(subjects)", "")
OLD_ROW = "(SELECT NEW.title, NEW.responsibility, NEW.series) AS new_row(title, responsibility, series)"
POSTGRESQL_REVERSE = [
    f"""
    CREATE OR REPLACE FUNCTION catalogue_record_words_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO catalogue_search_word (word) {OLD_WORDS.format(rows="new_rows")} ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$
    """,
    f"""
    CREATE OR REPLACE FUNCTION catalogue_record_words_updated() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO catalogue_search_word (word) {OLD_WORDS.format(rows=OLD_ROW)} ON CONFLICT DO NOTHING;
      RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER catalogue_record_words_update
      AFTER UPDATE OF title, responsibility, series ON catalogue_record
      FOR EACH ROW EXECUTE FUNCTION catalogue_record_words_updated()
    """,
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in POSTGRESQL:
        schema_editor.execute(statement)
    add_subject_words(schema_editor.connection)


def add_subject_words(connection) -> None:
    """The words of the catalogued records' subjects, BATCH ids at a time."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id), max(id) FROM catalogue_record")
        low, high = cursor.fetchone()
        for start in range(low or 0, (high or -1) + 1, BATCH):
            cursor.execute(SUBJECT_WORDS, [start, start + BATCH])


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRESQL_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("catalogue", "0019_title_key_index")]

    operations = [migrations.RunPython(install, uninstall)]
