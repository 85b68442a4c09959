import re

from django.db import migrations, models

# The words the pick page stored before the cause was kept apart, in either language.
LABELS = {
    "shelf": ("Not on the shelf", "Pas en rayon"),
    "damaged": ("Damaged", "Abîmé"),
    "other": ("Other", "Autre"),
}


def split_reasons(apps, schema_editor):
    """"Pas en rayon : derrière les BD" becomes the cause "shelf" and the details
    "derrière les BD"; words matching no label stay as they are (details alone).

    One pass over the lines whose reason starts with a label, written back in batches:
    "Other" always comes with the picker's own words, so nearly every such reason is a
    text of its own (one UPDATE per distinct text took minutes on a large table)."""
    PickLine = apps.get_model("picking", "PickLine")
    labels = {label: cause for cause, words in LABELS.items() for label in words}
    pattern = re.compile(
        rf"^(?P<label>{'|'.join(map(re.escape, labels))})(?:\s*:\s*(?P<details>.*))?$", re.S
    )
    candidates = PickLine.objects.filter(cause="", reason__regex=r"^(" + "|".join(labels) + ")")
    after = 0
    while rows := list(candidates.filter(pk__gt=after).order_by("pk").values_list("pk", "reason")[:2000]):
        after = rows[-1][0]
        batch = []
        for pk, reason in rows:
            if found := pattern.match(reason):
                details = (found.group("details") or "").strip()
                batch.append(PickLine(pk=pk, cause=labels[found.group("label")], reason=details))
        PickLine.objects.bulk_update(batch, ["cause", "reason"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("picking", "0002_one_pending_line_per_request"),
    ]

    operations = [
        migrations.AddField(
            model_name="pickline",
            name="cause",
            field=models.CharField(
                blank=True,
                choices=[("shelf", "Not on the shelf"), ("damaged", "Damaged"), ("other", "Other")],
                db_default="",
                max_length=10,
                verbose_name="reason",
            ),
        ),
        migrations.AlterField(
            model_name="pickline",
            name="reason",
            field=models.CharField(blank=True, max_length=200, verbose_name="details"),
        ),
        migrations.RunPython(split_reasons, migrations.RunPython.noop),
    ]
