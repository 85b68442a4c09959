"""The document type facet as a filter (emporter/catalogue/search.py): "voyage" among DVDs.

Without an index the database reads every record matching the words (40,000 for
"voyage" in a million) to keep the 1,200 DVDs; with one it intersects the two bitmaps
(full-text and type) first and reads only those. Records are written by imports and
the admin, never by requests or picking: no cost where writes are frequent.
Raw SQL, so that the index is not part of the model state that the Meta of Record
describes (as catalogue_copy_facets in 0003).
"""

from django.db import migrations

CREATE = "CREATE INDEX IF NOT EXISTS catalogue_record_doc_type ON catalogue_record (doc_type)"
DROP = "DROP INDEX IF EXISTS catalogue_record_doc_type"


class Migration(migrations.Migration):
    dependencies = [("catalogue", "0004_folded_title_index")]

    operations = [migrations.RunSQL(CREATE, DROP)]
