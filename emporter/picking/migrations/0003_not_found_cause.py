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
    "derrière les BD"; words matching no label stay as they are (details alone)."""
    PickLine = apps.get_model("picking", "PickLine")
    for cause, labels in LABELS.items():
        pattern = re.compile(rf"^(?:{'|'.join(map(re.escape, labels))})(?:\s*:\s*(?P<details>.*))?$", re.S)
        # One update per distinct text: a day's lists repeat the same few reasons.
        texts = (
            PickLine.objects.filter(cause="", reason__regex=r"^(" + "|".join(labels) + ")")
            .values_list("reason", flat=True)
            .distinct()
        )
        for text in list(texts):
            found = pattern.match(text)
            if found:
                details = (found.group("details") or "").strip()
                PickLine.objects.filter(cause="", reason=text).update(cause=cause, reason=details)


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
