from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notices", "0011_receipts"),
    ]

    operations = [
        migrations.AddField(
            model_name="notice",
            name="language",
            field=models.CharField(blank=True, db_default="", default="", max_length=5, verbose_name="language"),
        ),
    ]
