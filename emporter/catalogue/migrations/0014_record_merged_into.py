"""``Record.merged_into``: a record whose last copies a re-import moved to another one
(merged or renumbered in the library system), so that its requests follow them
(holds.merges). A nullable column without a default or a constraint: no table rewrite,
no scan, and the old code's inserts leave it empty. On SQLite it is an ALTER TABLE ADD
COLUMN: the table is not rebuilt, its full-text triggers stay."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalogue", "0013_copy_places_protected"),
    ]

    operations = [
        migrations.AddField(
            model_name="record",
            name="merged_into",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="catalogue.record",
                verbose_name="merged into",
            ),
        ),
    ]
