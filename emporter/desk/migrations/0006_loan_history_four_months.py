"""A library's rules link a returned loan to its borrower for 120 days at most (the
CNIL's advice); a longer history is the patron's own choice (patrons/0011). Rules that
kept the history for ever (empty) or longer are set to 120 days, and said."""

import django.core.validators
from django.db import migrations, models


def at_most_four_months(apps, schema_editor):
    LoanPolicy = apps.get_model("desk", "LoanPolicy")
    longer = LoanPolicy.objects.filter(models.Q(anonymise_after_days__isnull=True) | models.Q(anonymise_after_days__gt=120))
    for rules in longer:
        kept = "for ever" if rules.anonymise_after_days is None else f"{rules.anonymise_after_days} days"
        print(f"\n  loan policy {rules.doc_type or '(default)'}: history kept {kept}, now 120 days", end="")
    longer.update(anonymise_after_days=120)


class Migration(migrations.Migration):

    dependencies = [
        ('desk', '0005_verbose_names'),
    ]

    operations = [
        migrations.RunPython(at_most_four_months, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='loanpolicy',
            name='anonymise_after_days',
            field=models.PositiveSmallIntegerField(default=0, help_text='0: as soon as the document is returned; 120 at most. Patrons who ask for their loan history on their account keep it.', validators=[django.core.validators.MaxValueValidator(120)], verbose_name='forget the borrower after (days)'),
        ),
        migrations.AddConstraint(
            model_name='loanpolicy',
            constraint=models.CheckConstraint(condition=models.Q(('anonymise_after_days__lte', 120)), name='loan_history_four_months_at_most', violation_error_message='A loan is forgotten 120 days after its return at the latest.'),
        ),
    ]
