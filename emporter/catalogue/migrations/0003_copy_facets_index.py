"""A covering index for the search facets (emporter/catalogue/search.py).

Counting, for every matched record, its copies per branch and those on the shelf reads
only (record_id, status, branch_id): with them all in one index PostgreSQL answers from
the index alone (an index-only scan), never touching the copy rows. Raw SQL, so that the
index is not part of the model state that the Meta of Copy describes.
"""

from django.db import migrations

CREATE = "CREATE INDEX IF NOT EXISTS catalogue_copy_facets ON catalogue_copy (record_id, status, branch_id)"
DROP = "DROP INDEX IF EXISTS catalogue_copy_facets"


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0002_search")]

    operations = [migrations.RunSQL(CREATE, DROP)]
