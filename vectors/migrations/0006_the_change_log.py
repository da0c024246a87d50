"""The change log becomes the vectors app's: the sync's work queue, its triggers declared once
(vectors/change_log.py, with django-pgtrigger) and the admin's status function.

On a database an earlier version migrated (catalog's migrations 0002-0013 kept the log), the
table is taken over as it is, queued rows included, in this migration's transaction: the old
triggers go, the table, its sequence, key and index are renamed, and `kind` (which nothing
read) is dropped; the new triggers then log every write. Reversing gives the table back to
catalog with the triggers the earlier layout had, rows included.
"""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
import django.db.models.functions.datetime
import pgtrigger.compiler
import pgtrigger.migrations
from django.db import migrations, models

from vectors import change_log

OLD_TABLE = "catalog_productchange"
RENAMES = """
ALTER TABLE {old} RENAME TO {new};
ALTER SEQUENCE {old}_id_seq RENAME TO {new}_id_seq;
ALTER TABLE {new} RENAME CONSTRAINT {old}_pkey TO {new}_pkey;
ALTER TABLE {new} RENAME CONSTRAINT {old}_attempts_check TO {new}_attempts_check;
ALTER INDEX {old_index} RENAME TO {new_index};
"""


def _move_content_type(schema_editor, *, source: str, target: str) -> None:
    """The model's content type (and so its permissions) moves with it."""
    if "django_content_type" in schema_editor.connection.introspection.table_names():
        schema_editor.execute(
            "UPDATE django_content_type SET app_label = %s "
            "WHERE app_label = %s AND model = 'productchange' AND NOT EXISTS "
            "(SELECT 1 FROM django_content_type WHERE app_label = %s AND model = 'productchange')",
            [target, source, target],
        )


EARLIER_TRIGGERS = """
DROP TRIGGER IF EXISTS catalog_product_log_insert ON catalog_product;
DROP TRIGGER IF EXISTS catalog_product_log_update ON catalog_product;
DROP TRIGGER IF EXISTS catalog_product_log_delete ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_log_insert(), catalog_product_log_update(),
    catalog_product_log_delete(), catalog_product_sync_status(uuid);
"""


def take_over_or_create(apps, schema_editor):
    schema_editor.execute(EARLIER_TRIGGERS)
    if OLD_TABLE not in schema_editor.connection.introspection.table_names():
        schema_editor.create_model(apps.get_model("vectors", "ProductChange"))
        return
    schema_editor.execute(
        "ALTER TABLE catalog_productchange DROP COLUMN kind;"
        + RENAMES.format(
            old=OLD_TABLE,
            new=change_log.LOG_TABLE,
            old_index="catalog_change_products_gin",
            new_index="vectors_change_products_gin",
        )
    )
    _move_content_type(schema_editor, source="catalog", target="vectors")


def give_back(apps, schema_editor):
    schema_editor.execute(
        RENAMES.format(
            old=change_log.LOG_TABLE,
            new=OLD_TABLE,
            old_index="vectors_change_products_gin",
            new_index="catalog_change_products_gin",
        )
        # Every earlier row said insert, update or delete; nothing ever read which.
        + "ALTER TABLE catalog_productchange ADD COLUMN kind varchar(6) NOT NULL DEFAULT 'update';"
        + change_log.plain_triggers_sql(table=OLD_TABLE, prefix="catalog_product")
        + change_log.sync_status_sql(name="catalog_product_sync_status", table=OLD_TABLE)
        # django-pgtrigger's helper, installed with the first of its triggers (the project's
        # only ones, removed just before this) and left behind by their removal.
        + "DROP FUNCTION IF EXISTS public._pgtrigger_should_ignore(name);"
    )
    _move_content_type(schema_editor, source="vectors", target="catalog")


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0001_squashed_0013_the_catalog"),
        ("vectors", "0005_duplicates"),
    ]

    operations = [
        migrations.CreateModel(
            name="WatchedProduct",
            fields=[],
            options={
                "proxy": True,
                "indexes": [],
                "constraints": [],
            },
            bases=("catalog.product",),
        ),
        # The model is the vectors app's from here on; its table is either taken over from
        # catalog (an existing database, rows and all) or created.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ProductChange",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
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
                            models.DateTimeField(
                                db_default=django.db.models.functions.datetime.Now()
                            ),
                        ),
                        ("attempts", models.PositiveSmallIntegerField(db_default=0, default=0)),
                        ("not_before", models.DateTimeField(blank=True, null=True)),
                        ("last_error", models.TextField(blank=True, db_default="", default="")),
                        ("set_aside_at", models.DateTimeField(blank=True, null=True)),
                        ("lease", models.UUIDField(blank=True, null=True)),
                        ("leased_until", models.DateTimeField(blank=True, null=True)),
                        (
                            "leased_by",
                            models.CharField(blank=True, db_default="", default="", max_length=300),
                        ),
                    ],
                    options={
                        "ordering": ["id"],
                        "indexes": [
                            django.contrib.postgres.indexes.GinIndex(
                                fields=["product_ids"], name="vectors_change_products_gin"
                            )
                        ],
                    },
                ),
            ]
        ),
        migrations.RunPython(take_over_or_create, give_back),
        migrations.RunSQL(
            sql=change_log.sync_status_sql(),
            reverse_sql=f"DROP FUNCTION IF EXISTS {change_log.SYNC_STATUS_FUNCTION}(uuid)",
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="watchedproduct",
            trigger=pgtrigger.compiler.Trigger(
                name="log_inserts",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n    INSERT INTO vectors_productchange (needs_embedding, product_ids)\n    SELECT true, array_agg(id ORDER BY position)\n    FROM (SELECT id, row_number() OVER () AS position FROM (SELECT id FROM new_rows) ids) numbered\n    GROUP BY (position - 1) / 1000\n    ORDER BY (position - 1) / 1000;\n    RETURN NULL;",
                    hash="3c87ca46d9952a0cdc684592d985fbc34c07a048",
                    level="STATEMENT",
                    operation="INSERT",
                    pgid="pgtrigger_log_inserts_74bc2",
                    referencing="REFERENCING NEW TABLE AS new_rows ",
                    table="catalog_product",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="watchedproduct",
            trigger=pgtrigger.compiler.Trigger(
                name="log_updates",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n    INSERT INTO vectors_productchange (needs_embedding, product_ids)\n    SELECT embedding_inputs_changed, array_agg(id ORDER BY position)\n    FROM (\n        SELECT id, embedding_inputs_changed, position,\n               (row_number() OVER (PARTITION BY embedding_inputs_changed ORDER BY position) - 1)\n                   / 1000 AS chunk\n        FROM (\n            SELECT n.id, n.position,\n                   (n.image_url, n.title, n.description) IS DISTINCT FROM (o.image_url, o.title, o.description)\n                       AS embedding_inputs_changed\n            FROM (SELECT *, row_number() OVER () AS position FROM new_rows) n\n            JOIN old_rows o ON o.id = n.id\n            WHERE (n.image_url, n.title, n.description, n.store_id, n.price, n.currency, n.created_at) IS DISTINCT FROM (o.image_url, o.title, o.description, o.store_id, o.price, o.currency, o.created_at)\n        ) changed\n    ) numbered\n    GROUP BY embedding_inputs_changed, chunk\n    ORDER BY min(position);\n    INSERT INTO vectors_productchange (needs_embedding, product_ids)\n    SELECT false, array_agg(id ORDER BY position)\n    FROM (SELECT id, row_number() OVER () AS position FROM (SELECT id FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id)) ids) numbered\n    GROUP BY (position - 1) / 1000\n    ORDER BY (position - 1) / 1000;\n    INSERT INTO vectors_productchange (needs_embedding, product_ids)\n    SELECT true, array_agg(id ORDER BY position)\n    FROM (SELECT id, row_number() OVER () AS position FROM (SELECT id FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id)) ids) numbered\n    GROUP BY (position - 1) / 1000\n    ORDER BY (position - 1) / 1000;\n    RETURN NULL;",
                    hash="f72fc390bc0f73a4615992da3b8588684373fca5",
                    level="STATEMENT",
                    operation="UPDATE",
                    pgid="pgtrigger_log_updates_ba466",
                    referencing="REFERENCING OLD TABLE AS old_rows  NEW TABLE AS new_rows ",
                    table="catalog_product",
                    when="AFTER",
                ),
            ),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name="watchedproduct",
            trigger=pgtrigger.compiler.Trigger(
                name="log_deletes",
                sql=pgtrigger.compiler.UpsertTriggerSql(
                    func="\n    INSERT INTO vectors_productchange (needs_embedding, product_ids)\n    SELECT false, array_agg(id ORDER BY position)\n    FROM (SELECT id, row_number() OVER () AS position FROM (SELECT id FROM old_rows) ids) numbered\n    GROUP BY (position - 1) / 1000\n    ORDER BY (position - 1) / 1000;\n    RETURN NULL;",
                    hash="d4d8f65ab775f90ce467352d170a7c0642729bef",
                    level="STATEMENT",
                    operation="DELETE",
                    pgid="pgtrigger_log_deletes_8cb87",
                    referencing="REFERENCING OLD TABLE AS old_rows ",
                    table="catalog_product",
                    when="AFTER",
                ),
            ),
        ),
    ]
