"""The address the mail server refused as unknown (``Patron.email_refused``): its emails
then fail at once, until the address changes. A constant db_default: the column is added
without rewriting the table, and the old code's inserts, until the restart, give it ''.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('patrons', '0013_patron_source_id'),
    ]

    operations = [
        migrations.AddField(
            model_name='patron',
            name='email_refused',
            field=models.CharField(blank=True, db_default='', default='', editable=False, max_length=254, verbose_name='email address refused'),
        ),
    ]
