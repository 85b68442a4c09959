"""Forgotten loans by their return, for the hourly pass that blurs the latest (built while
the desks go on lending: emporter.concurrent_index, not atomic)."""

from django.db import migrations, models

from emporter.concurrent_index import add_index_concurrently


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("desk", "0008_loan_renewed_once"),
    ]

    operations = [
        add_index_concurrently(
            "loan",
            models.Index(
                fields=["returned_at"], condition=models.Q(anonymised=True), name="loan_returned_forgotten"
            ),
            on="desk_loan (returned_at) WHERE anonymised",
        ),
    ]
