"""A web process takes its PostgreSQL connections from a pool (settings.DATABASE_POOL).

Only web processes: their request threads come and go by the dozen, and each would otherwise
open a connection of its own. A command has one connection, opened once; through a pool it
would wait DATABASE_POOL_TIMEOUT when PostgreSQL is down and only say that it waited, and a
forked helper (the sync's preparer, the import's reader) would inherit a pool whose worker
threads did not survive the fork.
"""

from __future__ import annotations


def pool_web_connections() -> None:
    """Turn the pool on for this process, before it serves (config/wsgi.py, asgi.py)."""
    from django.conf import settings
    from django.db import connections

    if not settings.DATABASE_POOL:
        return
    # runserver has already used a plain connection (its migrations check): closed first,
    # since a pooled wrapper would hand it back to a pool it never came from.
    connections.close_all()
    for alias in connections:
        options = connections.settings[alias]
        if options["ENGINE"] != "django.db.backends.postgresql":
            continue
        # Every wrapper of this alias, in every thread, reads this one dictionary.
        options["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not
        options.setdefault("OPTIONS", {})["pool"] = dict(settings.DATABASE_POOL)
