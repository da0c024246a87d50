"""The shared cache's table (the API's rate-limit counters) when CACHES names a PostgreSQL
table, as it does by default: created by `migrate`, so that no deployment step is forgotten.
With Redis (CACHE_URL=redis://...) there is nothing to create."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # createcachetable skips caches that are not database caches, and tables that exist.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("vectors", "0003_synced_through")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
