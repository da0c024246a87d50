"""A database this version has not migrated (an upgrade without `migrate`): commands say
so in one line instead of a traceback."""

import psycopg
import pytest

from tests.helpers import run_manage


@pytest.fixture
def half_migrated(settings, tmp_path):
    """A scratch database with the catalog's tables but not the vectors app's."""
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_unmigrated"
    admin = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{name}"
    env = {"DJANGO_DEBUG": "1", "DATABASE_URL": url, "QDRANT_PATH": str(tmp_path / "q")}
    try:
        assert run_manage("migrate", "catalog", env=env, timeout=120).returncode == 0
        assert run_manage("ensure_qdrant_collection", env=env).returncode == 0
        yield env
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_sync_on_an_unmigrated_database_says_to_migrate(half_migrated):
    result = run_manage("sync_vectors", env=half_migrated)
    assert result.returncode == 1
    assert result.stderr == (
        'Database not migrated (relation "vectors_productchange" does not exist): '
        "run manage.py migrate\n"
    )
