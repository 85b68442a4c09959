"""Where a copy can be *requested* from the shelf, not merely where it stands (PostgreSQL).

``shelf_branches`` (migration 0007) said where a record has a copy on the shelf. A copy
without a barcode, or in a location that is not requestable (reference and heritage
stacks), is on a shelf but no request can take it (holds.allocation): the search's
"available now" offered it, and the patron's request then waited for nothing. Now the
summary counts only the copies allocation would take (the branch's service mode is the
search's own business: it changes no copy and is checked when searching).

So the triggers also watch a copy's barcode and location, and a location switched to
or from requestable refreshes the records of its copies.
"""

import importlib

from django.db import migrations

REQUESTABLE = "c.status = 'on_shelf' AND c.barcode IS NOT NULL AND coalesce(l.requestable, TRUE)"

POSTGRESQL = [
    # Copy writes wait for this migration: until it commits, other sessions would still
    # run the old functions, and the backfill below would overwrite what they write.
    "LOCK TABLE catalogue_copy IN SHARE ROW EXCLUSIVE MODE",
    f"""
    CREATE OR REPLACE FUNCTION catalogue_refresh_availability(record_ids bigint[]) RETURNS void
      LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM 1 FROM catalogue_record WHERE id = ANY(record_ids) ORDER BY id FOR UPDATE;
      UPDATE catalogue_record r
         SET copy_branches = s.copy_branches, shelf_branches = s.shelf_branches
        FROM (
          SELECT ids.id,
                 coalesce(array_agg(DISTINCT c.branch_id ORDER BY c.branch_id)
                            FILTER (WHERE c.branch_id IS NOT NULL), '{{}}') AS copy_branches,
                 coalesce(array_agg(DISTINCT c.branch_id ORDER BY c.branch_id)
                            FILTER (WHERE {REQUESTABLE}), '{{}}') AS shelf_branches
            FROM (SELECT DISTINCT unnest(record_ids) AS id) AS ids
            LEFT JOIN catalogue_copy c ON c.record_id = ids.id
            LEFT JOIN network_location l ON l.id = c.location_id
           GROUP BY ids.id
        ) AS s
       WHERE r.id = s.id
         AND (r.copy_branches, r.shelf_branches) IS DISTINCT FROM (s.copy_branches, s.shelf_branches);
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION catalogue_copy_availability() RETURNS trigger
      LANGUAGE plpgsql AS $$
    DECLARE
      ids bigint[];
    BEGIN
      IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT record_id) INTO ids FROM new_rows;
      ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT record_id) INTO ids FROM old_rows;
      ELSE
        SELECT array_agg(DISTINCT changed.record_id) INTO ids FROM (
          SELECT o.record_id FROM old_rows o JOIN new_rows n ON n.id = o.id
           WHERE (o.status, o.branch_id, o.record_id, o.location_id, o.barcode IS NULL)
                 IS DISTINCT FROM (n.status, n.branch_id, n.record_id, n.location_id, n.barcode IS NULL)
          UNION ALL
          SELECT n.record_id FROM old_rows o JOIN new_rows n ON n.id = o.id
           WHERE o.record_id IS DISTINCT FROM n.record_id
        ) AS changed;
      END IF;
      IF ids IS NOT NULL THEN
        PERFORM catalogue_refresh_availability(ids);
      END IF;
      RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE FUNCTION network_location_requestable() RETURNS trigger
      LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM catalogue_refresh_availability(
        ARRAY(SELECT DISTINCT record_id FROM catalogue_copy WHERE location_id = NEW.id));
      RETURN NULL;
    END $$
    """,
    """
    CREATE OR REPLACE TRIGGER network_location_requestable_update
      AFTER UPDATE OF requestable ON network_location
      FOR EACH ROW WHEN (OLD.requestable IS DISTINCT FROM NEW.requestable)
      EXECUTE FUNCTION network_location_requestable()
    """,
    # Rows written before this migration, in one pass.
    f"""
    UPDATE catalogue_record r
       SET shelf_branches = s.shelf_branches
      FROM (
        SELECT c.record_id,
               coalesce(array_agg(DISTINCT c.branch_id ORDER BY c.branch_id)
                          FILTER (WHERE {REQUESTABLE}), '{{}}') AS shelf_branches
          FROM catalogue_copy c LEFT JOIN network_location l ON l.id = c.location_id
         GROUP BY c.record_id
      ) AS s
     WHERE r.id = s.record_id AND r.shelf_branches IS DISTINCT FROM s.shelf_branches
    """,
]

POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS network_location_requestable_update ON network_location",
    "DROP FUNCTION IF EXISTS network_location_requestable()",
]


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRESQL:
            schema_editor.execute(statement)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRESQL_REVERSE:
            schema_editor.execute(statement)
        # Migration 0007's two functions, as they were (the summary itself stays).
        previous = importlib.import_module("emporter.catalogue.migrations.0007_availability_summary")
        for statement in previous.POSTGRESQL[2:4]:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0010_sqlite_search_vocabulary"),
        ("network", "0001_initial"),
    ]
    operations = [migrations.RunPython(install, uninstall)]
