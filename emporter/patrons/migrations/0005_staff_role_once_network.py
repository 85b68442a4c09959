from django.db import migrations, models


def drop_repeated_network_roles(apps, schema_editor):
    """Before the constraint: a network-wide role given twice to one user keeps its first
    row (two NULL branches were never equal to the old constraint)."""
    StaffRole = apps.get_model("patrons", "StaffRole")
    seen, repeated = set(), []
    for pk, user_id, role in (
        StaffRole.objects.filter(branch__isnull=True).order_by("pk").values_list("pk", "user_id", "role")
    ):
        if (user_id, role) in seen:
            repeated.append(pk)
        seen.add((user_id, role))
    StaffRole.objects.filter(pk__in=repeated).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("patrons", "0004_admin_labels"),
    ]

    operations = [
        migrations.RunPython(drop_repeated_network_roles, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="staffrole",
            constraint=models.UniqueConstraint(
                condition=models.Q(("branch__isnull", True)),
                fields=("user", "role"),
                name="staff_role_once_network",
                violation_error_message="This user already has this role for the whole network.",
            ),
        ),
    ]
