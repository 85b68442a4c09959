"""The library system's id of a patron (``source_id``, Koha's borrowernumber), and when an
import last wrote them (``imported_at``): ``--expire-missing`` now ends only the cards of
patrons an import brought, not those made in the admin.

Every patron here before this migration counts as imported, at the migration's time:
which of them an import brought is not known, and the import ended them all until now.
The column is added with that time as its default and the default dropped at once: on
PostgreSQL (11+) a default that is not volatile is kept once for the rows already there,
so no row is written and no lock held beyond the moment (SQLite copies its small table).
Nothing else writes the time: a patron made from now on has none until an import writes
them.
"""

from django.db import migrations, models
from django.db.models.functions import Now


class Migration(migrations.Migration):
    dependencies = [
        ("patrons", "0012_email_any_capitals"),
    ]

    operations = [
        migrations.AddField(
            model_name="patron",
            name="imported_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, db_default=Now(), verbose_name="last written by an import"
            ),
        ),
        migrations.AlterField(
            model_name="patron",
            name="imported_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="last written by an import"
            ),
        ),
        migrations.AddField(
            model_name="patron",
            name="source_id",
            field=models.CharField(
                blank=True, db_default="", default="", max_length=40, verbose_name="id in the library system"
            ),
        ),
        migrations.AddConstraint(
            model_name="patron",
            constraint=models.UniqueConstraint(
                condition=models.Q(("source_id", ""), _negated=True),
                fields=("source_id",),
                name="patron_source_id_once",
                violation_error_message="A patron already has this id in the library system.",
            ),
        ),
    ]
