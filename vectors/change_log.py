"""The change log's triggers: the one definition of what gets logged, and how.

Statement-level triggers with transition tables on catalog_product: each INSERT, UPDATE or
DELETE statement logs its products' ids into the change log (vectors.ProductChange), in the
writer's own transaction, MAX_IDS a row in the order the statement wrote them, so a mass
UPDATE reaches Qdrant in the order its points are stored. An UPDATE is logged only when it
changed a column a point holds (vectors/points.py: the embedding's inputs and the payload's
columns), flagged `needs_embedding` when an embedding input changed.

Declared with django-pgtrigger on `WatchedProduct`, a proxy of the product model in this app,
so that the triggers' migrations are generated here from this definition and catalog knows
nothing of the vector index. The SQL is built when pgtrigger compiles a trigger (migrations),
not at import: vectors/points.py imports the Qdrant client, which no process should load
just to start.
"""

from __future__ import annotations

import pgtrigger

MAX_IDS = 1000  # product ids per change-log row: bounds what the sync claims at once
LOG_TABLE = "vectors_productchange"


def log_ids(ids: str, needs_embedding: str, *, table: str = LOG_TABLE) -> str:
    """Log the ids `ids` (a query with an `id` column) yields, in its order, MAX_IDS a row."""
    return f"""
    INSERT INTO {table} (needs_embedding, product_ids)
    SELECT {needs_embedding}, array_agg(id ORDER BY position)
    FROM (SELECT id, row_number() OVER () AS position FROM ({ids}) ids) numbered
    GROUP BY (position - 1) / {MAX_IDS}
    ORDER BY (position - 1) / {MAX_IDS};"""  # noqa: S608 - built from constants


def log_updates(*, table: str = LOG_TABLE) -> str:
    from vectors.points import EMBEDDING_COLUMNS, PAYLOAD_COLUMNS

    watched = [c for c in dict.fromkeys((*EMBEDDING_COLUMNS, *PAYLOAD_COLUMNS)) if c != "id"]

    def row(alias: str, columns) -> str:
        return "(" + ", ".join(f"{alias}.{column}" for column in columns) + ")"

    # An UPDATE of the primary key itself: the old id is gone, the new one is new.
    gone = "SELECT id FROM old_rows o WHERE NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.id = o.id)"
    new = "SELECT id FROM new_rows n WHERE NOT EXISTS (SELECT 1 FROM old_rows o WHERE o.id = n.id)"
    changed = f"""
    INSERT INTO {table} (needs_embedding, product_ids)
    SELECT embedding_inputs_changed, array_agg(id ORDER BY position)
    FROM (
        SELECT id, embedding_inputs_changed, position,
               (row_number() OVER (PARTITION BY embedding_inputs_changed ORDER BY position) - 1)
                   / {MAX_IDS} AS chunk
        FROM (
            SELECT n.id, n.position,
                   {row("n", EMBEDDING_COLUMNS)} IS DISTINCT FROM {row("o", EMBEDDING_COLUMNS)}
                       AS embedding_inputs_changed
            FROM (SELECT *, row_number() OVER () AS position FROM new_rows) n
            JOIN old_rows o ON o.id = n.id
            WHERE {row("n", watched)} IS DISTINCT FROM {row("o", watched)}
        ) changed
    ) numbered
    GROUP BY embedding_inputs_changed, chunk
    ORDER BY min(position);"""  # noqa: S608 - built from constants
    return changed + log_ids(gone, "false", table=table) + log_ids(new, "true", table=table)


class ChangeLogTrigger(pgtrigger.Trigger):
    """A statement-level AFTER trigger whose body, `body(table)` logging into `table`, is
    built when it is compiled."""

    level = pgtrigger.Statement
    when = pgtrigger.After

    def __init__(self, *, body, **kwargs):
        super().__init__(**kwargs)
        self.body = body

    def get_func(self, model) -> str:
        return f"{self.body(LOG_TABLE)}\n    RETURN NULL;"


TRIGGERS = [
    ChangeLogTrigger(
        name="log_inserts",
        operation=pgtrigger.Insert,
        referencing=pgtrigger.Referencing(new="new_rows"),
        body=lambda table: log_ids("SELECT id FROM new_rows", "true", table=table),
    ),
    ChangeLogTrigger(
        name="log_updates",
        operation=pgtrigger.Update,
        referencing=pgtrigger.Referencing(old="old_rows", new="new_rows"),
        body=lambda table: log_updates(table=table),
    ),
    ChangeLogTrigger(
        name="log_deletes",
        operation=pgtrigger.Delete,
        referencing=pgtrigger.Referencing(old="old_rows"),
        body=lambda table: log_ids("SELECT id FROM old_rows", "false", table=table),
    ),
]

# "Is this product waiting for the vector sync?" for the admin's status column: NULL no;
# 0 waiting; > 0 failed that many times and retrying; -1 set aside. A function with
# enable_seqscan off, because the planner costs a scan of a small log as cheap without
# counting its arrays: with a million ids in 1,000 rows it scanned them all for every
# product on a page instead of asking the GIN index.
SYNC_STATUS_FUNCTION = "vectors_product_sync_status"


def sync_status_sql(*, name: str = SYNC_STATUS_FUNCTION, table: str = LOG_TABLE) -> str:
    return f"""
    CREATE OR REPLACE FUNCTION {name}(product uuid) RETURNS integer
    LANGUAGE sql STABLE PARALLEL SAFE
    SET enable_seqscan = off
    AS $$
        SELECT CASE WHEN bool_or(c.set_aside_at IS NOT NULL) THEN -1 ELSE max(c.attempts) END
        FROM {table} c
        WHERE c.product_ids @> ARRAY[product]
    $$;"""  # noqa: S608 - built from constants


def plain_triggers_sql(*, table: str, prefix: str) -> str:
    """The same triggers as plain functions named `{prefix}_log_insert` etc. writing to
    `table`: the layout before the log was the vectors app's, for reversing its move."""
    statements = []
    for trigger in TRIGGERS:
        operation = str(trigger.operation)
        name = f"{prefix}_log_{operation.lower()}"
        statements.append(f"""
    CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN{trigger.body(table)}
        RETURN NULL;
    END;
    $$;
    CREATE TRIGGER {name} AFTER {operation} ON catalog_product {trigger.referencing}
        FOR EACH STATEMENT EXECUTE FUNCTION {name}();""")
    return "\n".join(statements)
