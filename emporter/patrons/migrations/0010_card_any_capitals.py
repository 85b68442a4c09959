"""A card number is unique in any capitals: "b0012" typed at sign-in is the card "B0012".

Stops with the list when two patrons' cards differ only by their capitals: which of the
two is the card's holder is for the library to say (renumber or merge them, then migrate
again); the unique index could not be built otherwise. The new index is built before the
old one is dropped, so the cards stay unique all along.
"""

import django.db.models.functions.text
from django.core.management.base import CommandError
from django.db import migrations, models
from django.db.models import Count
from django.db.models.functions import Upper


def refuse_cards_twice(apps, schema_editor):
    Patron = apps.get_model("patrons", "Patron")
    twice = (
        Patron.objects.annotate(card=Upper("card_number"))
        .values("card")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("card", flat=True)
    )
    cards = [
        " / ".join(Patron.objects.filter(card_number__iexact=card).values_list("card_number", flat=True))
        for card in twice[:50]
    ]
    if cards:
        # CommandError: migrate prints the message alone, not under a traceback.
        raise CommandError(
            "These patrons' card numbers differ only by their capitals; renumber or merge them "
            "(the admin's patron list finds them), then migrate again:\n  " + "\n  ".join(cards)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("patrons", "0009_lock_escalation"),
    ]

    operations = [
        migrations.RunPython(refuse_cards_twice, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="patron",
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Upper("card_number"),
                name="patron_card_any_capitals",
                violation_error_message="A patron already has this card number (in capitals or not).",
            ),
        ),
        migrations.AlterField(
            model_name="patron",
            name="card_number",
            field=models.CharField(max_length=30, verbose_name="card number"),
        ),
    ]
