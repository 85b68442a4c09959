"""The title typed whole, however it is typed (PostgreSQL): "l etranger", "L’ÉTRANGER" and
"Étranger" are all "L'Étranger".

0004 looked the typed title up folded (lower case, no accents), so "l etranger" missed
"L'Étranger" and the record came after every other title with the word. The title key
(``emporter_title_key``) keeps the folded title's letters and digits, one space between
words, without a leading article; catalogue/search.py compares the query's key with the
titles', in this hash index, built while the catalogue is in use (not atomic: run again,
it drops an index an interruption left invalid and builds it anew, as
emporter.concurrent_index does): 0.7 s for 100,000 records, so about 8 s for a million.
0004's index stays while the previous release may still be running; a later release
drops it.
"""

from django.db import migrations

from emporter.concurrent_index import create_concurrently

FUNCTION = r"""
    CREATE OR REPLACE FUNCTION emporter_title_key(text) RETURNS text
      LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
      AS $$ SELECT regexp_replace(trim(regexp_replace(emporter_fold($1), '[^[:alnum:]]+', ' ', 'g')),
                                  '^(l|le|la|les|un|une|des|the|a|an) ', '') $$
"""
INDEX = "catalogue_record_title_key"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FUNCTION)
    create_concurrently(schema_editor, INDEX, "catalogue_record USING hash (emporter_title_key(title))")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
        schema_editor.execute("DROP FUNCTION IF EXISTS emporter_title_key(text)")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("catalogue", "0018_search_text")]

    operations = [migrations.RunPython(create, drop)]
