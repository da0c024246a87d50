"""The duplicate-check queue's order, indexed.

The duplicate checks are claimed oldest first, a batch at a time: this index keeps that from
sorting the whole queue (a million rows after a reindex) for every batch.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("vectors", "0006_the_change_log"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="duplicatecheck",
            index=models.Index(
                fields=["queued_at", "product_id"], name="duplicatecheck_queue_order"
            ),
        ),
    ]
