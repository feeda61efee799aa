from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("syncadmin", "0008_address_lines_and_cross_references"),
    ]

    operations = [
        migrations.AddField(
            model_name="synccursor",
            name="waiting",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
