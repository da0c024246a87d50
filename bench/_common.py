"""Shared set-up for benchmarks: Django on a scratch database of its own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def setup_django(database: str, *, production: bool = False) -> None:
    """Point Django at `database` (same server as DATABASE_URL), create and migrate it.

    `production`: DEBUG off, as deployed; development mode re-scans static files on every
    request (WhiteNoise's autorefresh), which would swamp a page-speed measurement.
    """
    sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if production:
        os.environ["DJANGO_DEBUG"] = "0"
        os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-not-a-secret")
        os.environ["DJANGO_HTTPS"] = "0"  # the test client speaks plain HTTP
    else:
        os.environ.setdefault("DJANGO_DEBUG", "1")
    import environ

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/catalog")
    url = environ.Env.db_url_config(base)
    user = f"{url['USER']}{':' + url['PASSWORD'] if url.get('PASSWORD') else ''}"
    os.environ["DATABASE_URL"] = (
        f"postgres://{user}@{url['HOST'] or '127.0.0.1'}:{url['PORT'] or 5432}/{database}"
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from catalog.setup import database_ensure_exists

    database_ensure_exists(db=settings.DATABASES["default"])
    call_command("migrate", verbosity=0)
