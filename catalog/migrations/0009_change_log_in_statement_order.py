"""The change log in the order each statement wrote its rows.

The sync delivers the log in id order. 0006's triggers chunked a statement's ids through a
hash aggregate (and the update trigger through a hash join and a partitioned window), so the
chunks, and the ids within them, came out in no particular order. A mass UPDATE (every price
at once) then reached Qdrant in an order unrelated to where the points are stored, and the
embedded engine copied each of its segments on write again and again instead of emptying one
after another. Each id now carries its position in the statement's transition table, which
orders both the ids within a row and the rows (their ids are drawn in that order).
"""

import importlib
import re

from django.db import migrations

CHUNK = 1000  # as 0006

ORDERED_LOG_TRIGGERS = f"""
CREATE OR REPLACE FUNCTION catalog_product_log_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'insert', true, array_agg(id ORDER BY position)
    FROM (SELECT id, row_number() OVER () AS position FROM new_rows) numbered
    GROUP BY (position - 1) / {CHUNK}
    ORDER BY (position - 1) / {CHUNK};
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION catalog_product_log_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only what the vector index holds: the embedding's inputs and the payload.
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'update', embedding_inputs_changed, array_agg(id ORDER BY position)
    FROM (
        SELECT id, embedding_inputs_changed, position,
               (row_number() OVER (PARTITION BY embedding_inputs_changed ORDER BY position) - 1)
                   / {CHUNK} AS chunk
        FROM (
            SELECT n.id, n.position,
                   (n.image_url, n.title, n.description)
                       IS DISTINCT FROM (o.image_url, o.title, o.description)
                       AS embedding_inputs_changed
            FROM (SELECT *, row_number() OVER () AS position FROM new_rows) n
            JOIN old_rows o ON o.id = n.id
            WHERE (n.image_url, n.title, n.description, n.price, n.store_id, n.created_at)
                  IS DISTINCT FROM
                  (o.image_url, o.title, o.description, o.price, o.store_id, o.created_at)
        ) changed
    ) numbered
    GROUP BY embedding_inputs_changed, chunk
    ORDER BY min(position);
    -- An UPDATE of the primary key itself: the old id is gone, the new one is new.
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'delete', false, array_agg(id)
    FROM (
        SELECT o.id, (row_number() OVER () - 1) / {CHUNK} AS chunk FROM old_rows o
        WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id)
    ) numbered
    GROUP BY chunk;
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'insert', true, array_agg(id)
    FROM (
        SELECT n.id, (row_number() OVER () - 1) / {CHUNK} AS chunk FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id)
    ) numbered
    GROUP BY chunk;
    RETURN NULL;
END;
$$;
"""  # noqa: S608 - CHUNK is a constant

# Back to 0006's two functions, taken from its SQL (which also creates other things), by
# name: a module name starting with a digit cannot be imported with `import`.
PREVIOUS_FUNCTIONS = "\n".join(
    re.findall(
        r"CREATE OR REPLACE FUNCTION catalog_product_log_(?:insert|update)\(\).*?\n\$\$;",
        importlib.import_module("catalog.migrations.0006_bounded_change_log").LOG_TRIGGERS,
        flags=re.DOTALL,
    )
)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0008_external_id_first"),
    ]

    operations = [
        migrations.RunSQL(sql=ORDERED_LOG_TRIGGERS, reverse_sql=PREVIOUS_FUNCTIONS),
    ]
