"""A second process that prepares the sync's next batch while this one writes the current.

In one process the sync takes turns: claim the batch, read its products, embed them (all
in Python and PostgreSQL), then write them to Qdrant (Qdrant Edge holds the GIL while it
writes, so a thread would not overlap them). A forked child does the first part for batch
N + 1 on the other core while the parent writes batch N.

The parent asks for each batch (one request in flight, so the child never claims more than
one batch ahead), and answers come back pickled through the pipe. The child keeps nothing of
the parent's (config/forking.py): its own database session, and it dies with the parent.
Failures travel as text: an outage of PostgreSQL is raised in the parent as one
(`OperationalError`), anything else as `PreparerFailed`.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import OperationalError

from config.errors import describe, first_line
from config.forking import die_with_parent, let_go_of_database_sockets, let_go_of_files_under
from vectors.conf import Engine, qdrant_config
from vectors.exceptions import DATABASE_AWAY

T = TypeVar("T")
_PREPARE, _STOP = b"prepare", b"stop"


class PreparerFailed(RuntimeError):
    """The preparing process failed (not an outage) or died."""


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _serve(prepare: Callable[[], Any], connection, parent_end, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    parent_end.close()
    let_go_of_database_sockets(reconnect=True)
    # The child never touches Qdrant; its copies of the embedded store's files would keep
    # the store's lock held while the parent reopens the store after an index build.
    config = qdrant_config()
    if config.engine is Engine.EDGE:
        let_go_of_files_under(config.path)
    # Ctrl-C reaches the whole process group: the parent decides, the child just stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        while connection.recv_bytes() == _PREPARE:
            try:
                answer = ("ok", prepare())
            except DATABASE_AWAY as exc:
                answer = ("outage", first_line(exc))
            except Exception as exc:
                answer = ("error", describe(exc))
            connection.send_bytes(pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))
    except (EOFError, BrokenPipeError):
        pass  # the parent is gone or done
    finally:
        connection.close()


class Preparer(Generic[T]):
    """`prepare()` run in a forked child, once per `request()`; `receive()` returns its
    result (or raises what it raised). Use as a context manager: leaving stops the child,
    first handing a result still on its way to `discard` (a claimed batch to give back)."""

    def __init__(self, prepare: Callable[[], T], *, discard: Callable[[T], None]):
        self._prepare = prepare
        self._discard = discard
        self._in_flight = False
        self._worker = None
        self._connection = None

    def __enter__(self) -> Preparer[T]:
        context = multiprocessing.get_context("fork")
        self._connection, child_end = context.Pipe(duplex=True)
        self._worker = context.Process(
            target=_serve,
            args=(self._prepare, child_end, self._connection, os.getpid()),
            name="sync-preparer",
            daemon=True,
        )
        self._worker.start()
        child_end.close()
        return self

    def request(self) -> None:
        self._connection.send_bytes(_PREPARE)
        self._in_flight = True

    def receive(self) -> T:
        try:
            data = self._connection.recv_bytes()
        except (EOFError, OSError):
            self._in_flight = False
            self._worker.join(timeout=5)  # its pipe closes just before it is reaped
            raise PreparerFailed(
                f"the preparing process died (exit code {self._worker.exitcode})"
            ) from None
        self._in_flight = False
        kind, payload = pickle.loads(data)  # noqa: S301 - from our own child process
        if kind == "outage":
            raise OperationalError(payload)
        if kind == "error":
            raise PreparerFailed(f"preparing a batch failed: {payload}")
        return payload

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._in_flight:
                try:
                    result = self.receive()
                except (PreparerFailed, OperationalError):
                    result = None
                if result is not None:
                    self._discard(result)
            self._connection.send_bytes(_STOP)
        except (BrokenPipeError, OSError):
            pass
        finally:
            self._connection.close()
            self._worker.join(timeout=5)
            if self._worker.is_alive():
                self._worker.terminate()
                self._worker.join(timeout=5)
