"""Bounded change-log entries, and entries set aside after repeated failures.

One statement that touches a million products used to log one row holding a million ids:
the vector sync had to load it whole, and the admin's "waiting for the sync?" lookup
re-checked the whole array for every product on a page. The triggers now log at most
CHUNK ids per row, and this migration splits the rows already there the same way. They
watch exactly what a point holds (vectors/points.py: the embedding's inputs and the payload's
columns); a currency change alone, which 0002 logged, changes nothing in Qdrant.

`set_aside_at`: an entry the sync gave up on after repeated failures that were not Qdrant
being down (a product it cannot deliver, a bug). It is no longer claimed, so everything
behind it flows, and it stays for an operator to see and retry.

`catalog_product_sync_status(id)`: is this product waiting for the vector sync (the admin's
vector column)? NULL: no; 0: waiting; > 0: failed that many times and retrying; -1: set aside.
A function with `enable_seqscan` off, because the planner costs a scan of a small log as
cheap without counting its arrays: with a million ids in 1,000 rows it scanned them all for
every product on a page (0.6 s a page) instead of asking the GIN index (0.01 ms a product).
"""

from django.db import migrations, models

CHUNK = 1000  # ids per change-log row; the sync's batches are bounded by its own size too

LOG_TRIGGERS = f"""
CREATE OR REPLACE FUNCTION catalog_product_log_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'insert', true, array_agg(id)
    FROM (SELECT id, (row_number() OVER () - 1) / {CHUNK} AS chunk FROM new_rows) numbered
    GROUP BY chunk;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION catalog_product_log_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only what the vector index holds: the embedding's inputs and the payload.
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'update', embedding_inputs_changed, array_agg(id)
    FROM (
        SELECT id, embedding_inputs_changed,
               (row_number() OVER (PARTITION BY embedding_inputs_changed) - 1) / {CHUNK} AS chunk
        FROM (
            SELECT n.id,
                   (n.image_url, n.title, n.description)
                       IS DISTINCT FROM (o.image_url, o.title, o.description)
                       AS embedding_inputs_changed
            FROM new_rows n JOIN old_rows o ON o.id = n.id
            WHERE (n.image_url, n.title, n.description, n.price, n.store_id, n.created_at)
                  IS DISTINCT FROM
                  (o.image_url, o.title, o.description, o.price, o.store_id, o.created_at)
        ) changed
    ) numbered
    GROUP BY embedding_inputs_changed, chunk;
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

CREATE OR REPLACE FUNCTION catalog_product_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'delete', false, array_agg(id)
    FROM (SELECT id, (row_number() OVER () - 1) / {CHUNK} AS chunk FROM old_rows) numbered
    GROUP BY chunk;
    RETURN NULL;
END;
$$;

CREATE FUNCTION catalog_product_sync_status(product uuid) RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
SET enable_seqscan = off
AS $$
    SELECT CASE WHEN bool_or(c.set_aside_at IS NOT NULL) THEN -1 ELSE max(c.attempts) END
    FROM catalog_productchange c
    WHERE c.product_ids @> ARRAY[product]
$$;

WITH oversized AS (
    DELETE FROM catalog_productchange WHERE cardinality(product_ids) > {CHUNK} RETURNING *
)
INSERT INTO catalog_productchange
    (kind, needs_embedding, product_ids, changed_at, attempts, not_before, last_error)
SELECT o.kind, o.needs_embedding, array_agg(u.product_id ORDER BY u.n), o.changed_at,
       o.attempts, o.not_before, o.last_error
FROM oversized o, unnest(o.product_ids) WITH ORDINALITY AS u(product_id, n)
GROUP BY o.id, o.kind, o.needs_embedding, o.changed_at, o.attempts, o.not_before,
         o.last_error, (u.n - 1) / {CHUNK};
"""  # noqa: S608 - CHUNK is a constant

# Back to 0002's functions (one row per statement); split rows stay split, which is valid.
UNBOUNDED_LOG_TRIGGERS = """
DROP FUNCTION IF EXISTS catalog_product_sync_status(uuid);

CREATE OR REPLACE FUNCTION catalog_product_log_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'insert', true, array_agg(id) FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION catalog_product_log_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'update', embedding_inputs_changed, array_agg(id)
    FROM (
        SELECT n.id,
               (n.image_url, n.title, n.description)
                   IS DISTINCT FROM (o.image_url, o.title, o.description)
                   AS embedding_inputs_changed
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.image_url, n.title, n.description, n.price, n.currency, n.store_id, n.created_at)
              IS DISTINCT FROM
              (o.image_url, o.title, o.description, o.price, o.currency, o.store_id, o.created_at)
    ) changed
    GROUP BY embedding_inputs_changed;
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'delete', false, array_agg(o.id) FROM old_rows o
    WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id) HAVING count(*) > 0;
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'insert', true, array_agg(n.id) FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id) HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION catalog_product_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'delete', false, array_agg(id) FROM old_rows HAVING count(*) > 0;
    RETURN NULL;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_store_counts"),
    ]

    operations = [
        migrations.AddField(
            model_name="productchange",
            name="set_aside_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunSQL(sql=LOG_TRIGGERS, reverse_sql=UNBOUNDED_LOG_TRIGGERS),
    ]
