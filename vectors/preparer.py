"""A second process that prepares the sync's next batches while this one writes the current.

In one process the sync takes turns: claim the batch, read its products, embed them (all
in Python and PostgreSQL), then write them to Qdrant (Qdrant Edge holds the GIL while it
writes, so a thread would not overlap them). A forked child does the first part for the
next batches on the other core while the parent writes batch N, and the PostgreSQL part
of finishing the batches written before it.

The parent asks for each batch (a fixed number of requests in flight, so the child never
claims more than that many batches ahead), handing over with the request what the child is
to do first (finishing a batch the parent wrote: vectors/sync.py), and answers come back
pickled through the pipe. The child keeps nothing of the parent's (config/forking.py): its
own database session, and it dies with the parent.
Failures travel as text: an outage of PostgreSQL is raised in the parent as one
(`OperationalError`), anything else as `PreparerFailed`.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from django.db import OperationalError

from config.errors import describe, first_line
from config.forking import die_with_parent, let_go_of_database_sockets, let_go_of_files_under
from vectors.conf import Engine, qdrant_config
from vectors.exceptions import DATABASE_AWAY

T = TypeVar("T")
_STOP = b"stop"  # a request is a pickle, which never reads so


class PreparerFailed(RuntimeError):
    """The preparing process failed (not an outage) or died."""


def available() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _serve(prepare: Callable[[Any], Any], connection, parent_end, parent_pid: int) -> None:
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
        while (request := connection.recv_bytes()) != _STOP:
            try:
                answer = ("ok", prepare(pickle.loads(request)))  # noqa: S301 - from our parent
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
    """`prepare(argument)` run in a forked child, once per `request(argument)`, in order;
    `receive()` returns the next result (or raises what it raised). Several requests may be
    in flight: a thread here takes each answer in as soon as it is sent, so that the child
    goes on to the next request instead of waiting, its answer half sent, until this
    process is done writing. Use as a context manager: leaving stops the child, first
    handing each result still on its way to `discard` (a claimed batch to give back)."""

    def __init__(self, prepare: Callable[[Any], T], *, discard: Callable[[T], None]):
        self._prepare = prepare
        self._discard = discard
        self._in_flight = 0
        self._answers: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._worker = None
        self._reader = None
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
        self._reader = threading.Thread(target=self._read, name="sync-preparer-reader")
        self._reader.start()
        return self

    def _read(self) -> None:
        # Reading a pipe releases the GIL: this takes the CPU only to hand each chunk on.
        try:
            while True:
                self._answers.put(self._connection.recv_bytes())
        except (EOFError, OSError):
            self._answers.put(None)  # the child is gone (stopped, or died)

    def request(self, argument: Any = None) -> None:
        self._connection.send_bytes(pickle.dumps(argument, protocol=pickle.HIGHEST_PROTOCOL))
        self._in_flight += 1

    def receive(self) -> T:
        data = self._answers.get()
        if data is None:
            self._in_flight = 0
            self._answers.put(None)  # for any later receive()
            self._worker.join(timeout=5)  # its pipe closes just before it is reaped
            raise PreparerFailed(f"the preparing process died (exit code {self._worker.exitcode})")
        self._in_flight -= 1
        kind, payload = pickle.loads(data)  # noqa: S301 - from our own child process
        if kind == "outage":
            raise OperationalError(payload)
        if kind == "error":
            raise PreparerFailed(f"preparing a batch failed: {payload}")
        return payload

    def __exit__(self, *exc_info: object) -> None:
        try:
            while self._in_flight:
                try:
                    result = self.receive()
                except (PreparerFailed, OperationalError):
                    continue
                self._discard(result)
            self._connection.send_bytes(_STOP)
        except (BrokenPipeError, OSError):
            pass
        finally:
            self._worker.join(timeout=5)
            if self._worker.is_alive():
                self._worker.terminate()
                self._worker.join(timeout=5)
            self._reader.join()  # ends at the child's end of the pipe closing
            self._connection.close()
