"""A currency change is logged: price filters compare prices in one currency, so the
point's payload holds the product's currency (vectors/points.py), and a change to it must
reach Qdrant like a price change. 0009's update trigger, with currency among the payload
columns it watches."""

import importlib

from django.db import migrations

# A module name starting with a digit cannot be imported with `import`.
PREVIOUS = importlib.import_module("catalog.migrations.0009_change_log_in_statement_order")
WATCHED = "n.price, n.store_id, n.created_at)"
WATCHED_OLD = "o.price, o.store_id, o.created_at)"
if WATCHED not in PREVIOUS.ORDERED_LOG_TRIGGERS or WATCHED_OLD not in PREVIOUS.ORDERED_LOG_TRIGGERS:
    raise RuntimeError("0009's update trigger no longer reads as this migration expects")
WITH_CURRENCY = PREVIOUS.ORDERED_LOG_TRIGGERS.replace(
    WATCHED, "n.price, n.currency, n.store_id, n.created_at)"
).replace(WATCHED_OLD, "o.price, o.currency, o.store_id, o.created_at)")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0011_product_no_image_index"),
    ]

    operations = [
        migrations.RunSQL(sql=WITH_CURRENCY, reverse_sql=PREVIOUS.ORDERED_LOG_TRIGGERS),
    ]
