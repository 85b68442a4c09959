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

    On PostgreSQL one UPDATE per cause, in SQL: "Other" always comes with the picker's
    own words, so nearly every such reason is a text of its own, and writing them back
    from Python took minutes per hundred thousand lines, the table locked all along."""
    if schema_editor is not None and schema_editor.connection.vendor == "postgresql":
        _split_in_sql(schema_editor)
        return
    PickLine = apps.get_model("picking", "PickLine")
    labels = {label: cause for cause, words in LABELS.items() for label in words}
    pattern = re.compile(
        rf"^(?P<label>{'|'.join(map(re.escape, labels))})(?:\s*:\s*(?P<details>.*))?$", re.S
    )
    candidates = PickLine.objects.filter(cause="", reason__regex=r"^(" + "|".join(labels) + ")")
    for pk, reason in list(candidates.values_list("pk", "reason")):
        if found := pattern.match(reason):
            details = (found.group("details") or "").strip()
            PickLine.objects.filter(pk=pk).update(cause=labels[found.group("label")], reason=details)


# Spaces, the no-break one French puts before a colon included.
SPACE = "[[:space:]\u00a0]*"


def _split_in_sql(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for cause, words in LABELS.items():
            label = "(" + "|".join(re.escape(w) for w in words) + ")"
            cursor.execute(
                "UPDATE picking_pickline SET cause = %s,"
                " reason = btrim(regexp_replace(reason, %s, ''), %s)"
                " WHERE cause = '' AND reason ~ %s",
                [cause, f"^{label}({SPACE}:)?{SPACE}", " \u00a0", f"^{label}({SPACE}:.*)?$"],
            )


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
