"""catalog_store: each store's product count, kept exact by statement-level triggers.

Filled once from the products already there; from then on every INSERT, DELETE, UPDATE of
store_id and TRUNCATE adjusts it, in the writer's own transaction.
"""

from django.db import migrations, models

STORE_COUNT_TRIGGERS = """
CREATE FUNCTION catalog_store_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_store AS s (store_id, product_count)
    SELECT store_id, count(*) FROM new_rows GROUP BY store_id
    ON CONFLICT (store_id) DO UPDATE SET product_count = s.product_count + EXCLUDED.product_count;
    RETURN NULL;
END;
$$;

CREATE FUNCTION catalog_store_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_store s SET product_count = s.product_count - gone.n
    FROM (SELECT store_id, count(*) AS n FROM old_rows GROUP BY store_id) gone
    WHERE s.store_id = gone.store_id;
    DELETE FROM catalog_store WHERE product_count <= 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION catalog_store_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only products that moved to another store (or changed id) change the counts.
    INSERT INTO catalog_store AS s (store_id, product_count)
    SELECT store_id, sum(n) FROM (
        SELECT store_id, -count(*) AS n FROM old_rows o
        WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id AND n.store_id = o.store_id)
        GROUP BY store_id
        UNION ALL
        SELECT store_id, count(*) AS n FROM new_rows n
        WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id AND o.store_id = n.store_id)
        GROUP BY store_id
    ) moves
    GROUP BY store_id
    ON CONFLICT (store_id) DO UPDATE SET product_count = s.product_count + EXCLUDED.product_count;
    DELETE FROM catalog_store WHERE product_count <= 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION catalog_store_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM catalog_store;
    RETURN NULL;
END;
$$;

CREATE TRIGGER catalog_store_count_insert AFTER INSERT ON catalog_product
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_store_count_insert();
CREATE TRIGGER catalog_store_count_delete AFTER DELETE ON catalog_product
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_store_count_delete();
CREATE TRIGGER catalog_store_count_update AFTER UPDATE ON catalog_product
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_store_count_update();
CREATE TRIGGER catalog_store_count_truncate AFTER TRUNCATE ON catalog_product
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_store_count_truncate();

INSERT INTO catalog_store (store_id, product_count)
SELECT store_id, count(*) FROM catalog_product GROUP BY store_id;
"""

DROP_STORE_COUNT_TRIGGERS = """
DROP TRIGGER IF EXISTS catalog_store_count_insert ON catalog_product;
DROP TRIGGER IF EXISTS catalog_store_count_delete ON catalog_product;
DROP TRIGGER IF EXISTS catalog_store_count_update ON catalog_product;
DROP TRIGGER IF EXISTS catalog_store_count_truncate ON catalog_product;
DROP FUNCTION IF EXISTS catalog_store_count_insert();
DROP FUNCTION IF EXISTS catalog_store_count_delete();
DROP FUNCTION IF EXISTS catalog_store_count_update();
DROP FUNCTION IF EXISTS catalog_store_count_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_admin_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="Store",
            fields=[
                ("store_id", models.CharField(max_length=100, primary_key=True, serialize=False)),
                ("product_count", models.BigIntegerField()),
            ],
            options={
                "ordering": ["store_id"],
            },
        ),
        migrations.RunSQL(sql=STORE_COUNT_TRIGGERS, reverse_sql=DROP_STORE_COUNT_TRIGGERS),
    ]
