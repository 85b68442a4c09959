"""An index on a library's copies by arrival, for its new arrivals (the library's page,
the discover page of a signed-in patron): they read every copy of the library, 200,000
at the central one (250-380 ms a page), to find the few of the last weeks. Built while
the catalogue is in use (emporter.concurrent_index: not atomic)."""

from django.db import migrations, models

from emporter.concurrent_index import add_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("catalogue", "0020_subject_words"),
    ]

    operations = [
        add_index_concurrently(
            "copy",
            models.Index(fields=["branch", "created_at"], name="copy_branch_created"),
            on="catalogue_copy (branch_id, created_at)",
        ),
    ]
