"""Run the reading side of an import in a separate process, a few batches ahead.

Parsing, validating and encoding a batch costs about as much CPU as PostgreSQL spends
storing it. In one process they would take turns (and a thread would fight the main one
for the GIL); in a forked child, the next batches are prepared on the other core while the
parent talks to PostgreSQL. Batches travel back pickled through a pipe.

The child must never outlive the parent, nor keep anything of its (config/forking.py: a
session kept alive by the child's copy of the parent's socket would hold the store's import
lock, and the next import of that store would wait forever). It also closes its copy of the
pipe's reading end, so that writing to a dead parent fails instead of blocking.

Where fork is not available, the same runs in a thread: correct, only slower.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

from catalog.exceptions import WorkerCrashed
from config.forking import die_with_parent, let_go_of_database_sockets

_DONE = b""


def _encode(kind: str, payload: Any) -> bytes:
    try:
        return pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return pickle.dumps(("error", WorkerCrashed(repr(payload))))


def _child(produce: Callable[[], Iterator[Any]], connection, parent_end, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    parent_end.close()
    let_go_of_database_sockets()
    # Ctrl-C reaches the whole process group: the parent decides, the child just stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The parent may have its own SIGTERM handler (import_products does); the child is
    # ended by terminate() and must just go.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        for item in produce():
            connection.send_bytes(_encode("item", item))
        connection.send_bytes(_DONE)
    except BrokenPipeError:
        pass  # the parent stopped listening
    except BaseException as exc:  # handed to the parent, which raises it
        with contextlib.suppress(BrokenPipeError):
            connection.send_bytes(_encode("error", exc))
    finally:
        connection.close()


def _in_process(produce: Callable[[], Iterator[Any]]) -> Iterator[Any]:
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_child, args=(produce, sender, receiver, os.getpid()), daemon=True
    )
    worker.start()
    sender.close()
    try:
        while True:
            try:
                data = receiver.recv_bytes()
            except EOFError:
                raise WorkerCrashed(
                    f"the reader process died (exit code {worker.exitcode})"
                ) from None
            if data == _DONE:
                return
            kind, payload = pickle.loads(data)  # noqa: S301 - from our own child process
            if kind == "error":
                raise payload
            yield payload
    finally:
        receiver.close()
        if worker.is_alive():
            worker.terminate()
        worker.join(timeout=5)


def _in_thread(produce: Callable[[], Iterator[Any]], depth: int = 2) -> Iterator[Any]:
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                ahead.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in produce():
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the parent, which raises it
            put(("error", exc))

    worker = threading.Thread(target=work, name="import-reader", daemon=True)
    worker.start()
    try:
        while True:
            kind, payload = ahead.get()
            if kind == "done":
                return
            if kind == "error":
                raise payload
            yield payload
    finally:
        stop.set()
        worker.join(timeout=5)


def in_background(produce: Callable[[], Iterator[Any]]) -> Iterator[Any]:
    """Yield what `produce()` yields, computed ahead by a worker. What the worker raises is
    raised here, in order; stopping early stops the worker."""
    if "fork" in multiprocessing.get_all_start_methods():
        return _in_process(produce)
    return _in_thread(produce)
