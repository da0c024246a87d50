"""The process holding a change-log lease: a sync restarted after a crash on the same host
takes its dead predecessor's rows at once instead of waiting out the lease."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0009_change_log_in_statement_order"),
    ]

    operations = [
        migrations.AddField(
            model_name="productchange",
            name="leased_by",
            field=models.CharField(blank=True, db_default="", default="", max_length=300),
        ),
    ]
