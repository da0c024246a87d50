#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import InterfaceError, OperationalError, ProgrammingError

    from config.errors import first_line

    # Expected failures get one line and exit 1, not a traceback.
    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"Configuration error: {exc}\n")
        sys.exit(1)
    except (OperationalError, InterfaceError) as exc:
        # Connection failures name host and port; psycopg never puts the password in them.
        sys.stderr.write(f"Database unavailable: {first_line(exc)}\n")
        sys.exit(1)
    except ProgrammingError as exc:
        # 42P01 undefined_table: a database this version has not migrated yet.
        if getattr(exc.__cause__, "sqlstate", None) != "42P01":
            raise
        sys.stderr.write(f"Database not migrated ({first_line(exc)}): run manage.py migrate\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
