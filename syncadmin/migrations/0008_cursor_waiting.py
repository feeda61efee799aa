from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("syncadmin", "0007_cursor_settled_rows"),
    ]

    operations = [
        migrations.AddField(
            model_name="synccursor",
            name="waiting",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
