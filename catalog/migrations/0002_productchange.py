"""The product change log and the triggers that fill it (see ProductChange).

Statement-level triggers with transition tables: each INSERT, UPDATE or DELETE statement on
catalog_product adds at most a couple of rows, whatever the number of products it touched.
"""

import django.contrib.postgres.fields
import django.db.models.functions.datetime
from django.db import migrations, models

LOG_TRIGGERS = """
CREATE FUNCTION catalog_product_log_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'insert', true, array_agg(id) FROM new_rows HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION catalog_product_log_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only what the vector index holds: the embedding's inputs and the payload.
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
    -- An UPDATE of the primary key itself: the old id is gone, the new one is new.
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'delete', false, array_agg(o.id) FROM old_rows o
    WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id) HAVING count(*) > 0;
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'insert', true, array_agg(n.id) FROM new_rows n
    WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id) HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE FUNCTION catalog_product_log_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO catalog_productchange (kind, needs_embedding, product_ids)
    SELECT 'delete', false, array_agg(id) FROM old_rows HAVING count(*) > 0;
    RETURN NULL;
END;
$$;

CREATE TRIGGER catalog_product_log_insert AFTER INSERT ON catalog_product
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_log_insert();
CREATE TRIGGER catalog_product_log_update AFTER UPDATE ON catalog_product
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_log_update();
CREATE TRIGGER catalog_product_log_delete AFTER DELETE ON catalog_product
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION catalog_product_log_delete();
"""

DROP_LOG_TRIGGERS = """
DROP TRIGGER IF EXISTS catalog_product_log_insert ON catalog_product;
DROP TRIGGER IF EXISTS catalog_product_log_update ON catalog_product;
DROP TRIGGER IF EXISTS catalog_product_log_delete ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_log_insert();
DROP FUNCTION IF EXISTS catalog_product_log_update();
DROP FUNCTION IF EXISTS catalog_product_log_delete();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProductChange",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("insert", "Insert"), ("update", "Update"), ("delete", "Delete")],
                        max_length=6,
                    ),
                ),
                ("needs_embedding", models.BooleanField()),
                (
                    "product_ids",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.UUIDField(), size=None
                    ),
                ),
                (
                    "changed_at",
                    models.DateTimeField(db_default=django.db.models.functions.datetime.Now()),
                ),
            ],
            options={
                "ordering": ["id"],
            },
        ),
        migrations.RunSQL(sql=LOG_TRIGGERS, reverse_sql=DROP_LOG_TRIGGERS),
    ]
