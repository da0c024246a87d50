"""Helpers for showing errors, shared by both apps and manage.py: standard library only, so
that manage.py can use it before Django is set up."""

from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (psycopg's and qdrant-client's run over several
    lines; the first says what happened), or its type's name when it has none."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def describe(exc: BaseException, *, limit: int = 300) -> str:
    """`Type: first line`, cut to `limit` characters: a reason stored or shown for a failure
    whose kind matters (a bug, an unexpected library error)."""
    return f"{type(exc).__name__}: {first_line(exc)}"[:limit]
