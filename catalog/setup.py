"""Services that prepare a machine for the catalog: the database and a dev superuser."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from django.contrib.auth import get_user_model
from django.db import transaction
from psycopg import sql

from catalog.exceptions import DatabaseUnavailable
from config.errors import first_line


def _server_label(db: Mapping[str, Any]) -> str:
    # Host, port and name only: never the password.
    return f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


def database_ensure_exists(*, db: Mapping[str, Any]) -> bool:
    """Create the database described by a Django DATABASES entry when it is missing;
    return True if it was created.

    Connects to the server's `postgres` maintenance database, the way `createdb` does.
    """
    params = {
        "dbname": "postgres",
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
        "connect_timeout": db.get("OPTIONS", {}).get("connect_timeout", 5),
        "autocommit": True,  # CREATE DATABASE cannot run inside a transaction
    }
    try:
        with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
            ).fetchone()
            if exists:
                return False
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
            except psycopg.errors.DuplicateDatabase:
                return False  # created concurrently by someone else: fine
            return True
    except psycopg.OperationalError as exc:
        reason = first_line(exc)
        raise DatabaseUnavailable(
            f"PostgreSQL at {_server_label(db)} is not reachable: {reason}"
        ) from exc
    except psycopg.Error as exc:
        raise DatabaseUnavailable(
            f"Could not create database {db['NAME']!r} at {_server_label(db)}: {exc}"
        ) from exc


@dataclass(frozen=True)
class SuperuserResult:
    username: str
    created: bool
    password_set: bool


@transaction.atomic
def superuser_ensure(
    *, username: str, email: str, password: str, overwrite_password: bool
) -> SuperuserResult:
    """Create a superuser when missing.

    An existing user keeps its password unless `overwrite_password` is set, so a password
    changed in the admin survives a rerun of `make run`.
    """
    user_model = get_user_model()
    user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
    if user is None:
        user_model.objects.create_superuser(username=username, email=email, password=password)
        return SuperuserResult(username=username, created=True, password_set=True)
    if overwrite_password:
        user.set_password(password)
        user.is_staff = user.is_superuser = user.is_active = True
        user.save()
    return SuperuserResult(username=username, created=False, password_set=overwrite_password)
