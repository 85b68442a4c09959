"""Where each record has copies, and where one is on the shelf, kept on the record (PostgreSQL).

``catalogue_record.copy_branches`` and ``catalogue_record.shelf_branches`` hold the
sorted ids of the branches with a copy of the record, and with a copy on the shelf.
The search counts its branch facet and "available now" from them: reading them costs
nothing more than the record row the search reads anyway, where looking up the copies
of thousands of matched records in the copy index cost two thirds of a broad search.

The database keeps them right, whoever writes the copies (the ORM, guarded UPDATEs,
bulk_create, COPY): statement-level triggers on catalogue_copy recompute the summary of
the records whose copies were inserted, deleted, or changed status, branch or record.
The recomputation locks those records first, in id order, then reads their copies in a
new statement, so that two transactions changing copies of the same record at once
cannot leave a summary that misses one of the changes (READ COMMITTED gives each
statement its own snapshot: the second one reads after the first has committed).

Like search_vector they are not Django fields: the ORM never writes a stale value back.
SQLite has neither column: its search counts from the copies (catalogue/search.py).
"""

from django.db import migrations

POSTGRESQL = [
    "ALTER TABLE catalogue_record ADD COLUMN IF NOT EXISTS copy_branches bigint[] NOT NULL DEFAULT '{}'",
    "ALTER TABLE catalogue_record ADD COLUMN IF NOT EXISTS shelf_branches bigint[] NOT NULL DEFAULT '{}'",
    """
    CREATE OR REPLACE FUNCTION catalogue_refresh_availability(record_ids bigint[]) RETURNS void
      LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM 1 FROM catalogue_record WHERE id = ANY(record_ids) ORDER BY id FOR UPDATE;
      UPDATE catalogue_record r
         SET copy_branches = s.copy_branches, shelf_branches = s.shelf_branches
        FROM (
          SELECT ids.id,
                 coalesce(array_agg(DISTINCT c.branch_id ORDER BY c.branch_id)
                            FILTER (WHERE c.branch_id IS NOT NULL), '{}') AS copy_branches,
                 coalesce(array_agg(DISTINCT c.branch_id ORDER BY c.branch_id)
                            FILTER (WHERE c.status = 'on_shelf'), '{}') AS shelf_branches
            FROM (SELECT DISTINCT unnest(record_ids) AS id) AS ids
            LEFT JOIN catalogue_copy c ON c.record_id = ids.id
           GROUP BY ids.id
        ) AS s
       WHERE r.id = s.id
         AND (r.copy_branches, r.shelf_branches) IS DISTINCT FROM (s.copy_branches, s.shelf_branches);
    END $$
    """,
    # One function for the three triggers: PostgreSQL gives transition tables only to
    # triggers on a single event, and an UPDATE that changes none of the three columns
    # (a call number, a loan's due date) must cost no record lock.
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
           WHERE (o.status, o.branch_id, o.record_id) IS DISTINCT FROM (n.status, n.branch_id, n.record_id)
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
    CREATE OR REPLACE TRIGGER catalogue_copy_availability_insert AFTER INSERT ON catalogue_copy
      REFERENCING NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION catalogue_copy_availability()
    """,
    """
    CREATE OR REPLACE TRIGGER catalogue_copy_availability_update AFTER UPDATE ON catalogue_copy
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION catalogue_copy_availability()
    """,
    """
    CREATE OR REPLACE TRIGGER catalogue_copy_availability_delete AFTER DELETE ON catalogue_copy
      REFERENCING OLD TABLE AS old_rows
      FOR EACH STATEMENT EXECUTE FUNCTION catalogue_copy_availability()
    """,
    # Rows written before this migration, in one pass (no lock needed: the migration's
    # transaction holds the triggers' DDL locks on catalogue_copy until it commits).
    """
    UPDATE catalogue_record r
       SET copy_branches = s.copy_branches, shelf_branches = s.shelf_branches
      FROM (
        SELECT record_id,
               array_agg(DISTINCT branch_id ORDER BY branch_id) AS copy_branches,
               coalesce(array_agg(DISTINCT branch_id ORDER BY branch_id)
                          FILTER (WHERE status = 'on_shelf'), '{}') AS shelf_branches
          FROM catalogue_copy GROUP BY record_id
      ) AS s
     WHERE r.id = s.record_id
    """,
]

POSTGRESQL_REVERSE = [
    "DROP TRIGGER IF EXISTS catalogue_copy_availability_insert ON catalogue_copy",
    "DROP TRIGGER IF EXISTS catalogue_copy_availability_update ON catalogue_copy",
    "DROP TRIGGER IF EXISTS catalogue_copy_availability_delete ON catalogue_copy",
    "DROP FUNCTION IF EXISTS catalogue_copy_availability()",
    "DROP FUNCTION IF EXISTS catalogue_refresh_availability(bigint[])",
    "ALTER TABLE catalogue_record DROP COLUMN IF EXISTS shelf_branches",
    "ALTER TABLE catalogue_record DROP COLUMN IF EXISTS copy_branches",
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
    dependencies = [("catalogue", "0006_drop_duplicate_isbn_index")]
    operations = [migrations.RunPython(install, uninstall)]
