import uuid

import psycopg
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from catalog.exceptions import DatabaseUnavailable
from catalog.setup import database_ensure_exists
from tests.helpers import closed_port, run_manage


@pytest.fixture
def scratch_database():
    db = dict(settings.DATABASES["default"], NAME=f"catalog_scratch_{uuid.uuid4().hex[:8]}")
    yield db
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname="postgres",
        password=db["PASSWORD"] or None,
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}"')


def test_ensure_database_creates_once_then_reports_existing(scratch_database):
    assert database_ensure_exists(db=scratch_database) is True
    assert database_ensure_exists(db=scratch_database) is False


def test_unreachable_server_is_a_one_line_error_without_the_password():
    port = closed_port()
    db = dict(settings.DATABASES["default"], PORT=port, PASSWORD="s3cret-pw")
    with pytest.raises(DatabaseUnavailable) as excinfo:
        database_ensure_exists(db=db)
    message = str(excinfo.value)
    assert f"127.0.0.1:{port}" in message
    assert "s3cret-pw" not in message
    assert "\n" not in message


def test_ensure_database_command_fails_cleanly_when_postgres_is_down():
    port = closed_port()
    result = run_manage(
        "ensure_database",
        env={
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": f"postgres://postgres:s3cret-pw@127.0.0.1:{port}/catalog",
        },
    )
    assert result.returncode == 1
    assert result.stderr.startswith(f"CommandError: PostgreSQL at 127.0.0.1:{port}/catalog")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert "s3cret-pw" not in result.stdout + result.stderr


@pytest.mark.django_db
def test_ensure_superuser_creates_the_dev_user_once(settings, monkeypatch):
    settings.DEBUG = True
    for name in ("USERNAME", "EMAIL", "PASSWORD"):
        monkeypatch.delenv(f"DJANGO_SUPERUSER_{name}", raising=False)
    from io import StringIO

    out = StringIO()
    call_command("ensure_superuser", stdout=out)
    assert "Superuser 'admin' created (password: admin)." in out.getvalue()
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.is_staff and user.check_password("admin")

    user.set_password("changed-in-admin")
    user.save()
    out = StringIO()
    call_command("ensure_superuser", stdout=out)
    assert "exists" in out.getvalue()
    assert get_user_model().objects.get(username="admin").check_password("changed-in-admin")


@pytest.mark.django_db
def test_ensure_superuser_uses_the_environment(settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "ops")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-ops-password")
    call_command("ensure_superuser", verbosity=0)
    call_command("ensure_superuser", verbosity=0)
    user = get_user_model().objects.get(username="ops")
    assert user.is_superuser and user.check_password("a-long-ops-password")


@pytest.mark.django_db
def test_ensure_superuser_refuses_the_dev_password_outside_debug(settings, monkeypatch):
    settings.DEBUG = False
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="Set DJANGO_SUPERUSER_PASSWORD"):
        call_command("ensure_superuser")
    assert not get_user_model().objects.exists()
