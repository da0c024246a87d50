"""Making a forked child safe to leave running beside its parent (both apps fork one: the
import's reader, the vector sync's preparer).

A forked child holds a copy of every socket the parent had open, the parent's PostgreSQL
connection included. If the parent is killed mid-transaction and the child lives on with
that socket, the server never sees the client go: the session stays "idle in transaction"
with its locks. So a child (1) points its copies of the parent's database sockets at
/dev/null, and (2) asks Linux to kill it when the parent dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)


def let_go_of_database_sockets(*, reconnect: bool = False) -> None:
    """Point this process's copies of the parent's database sockets at /dev/null: a copy
    kept open would keep the parent's session (and its locks) alive after the parent dies.
    Closing them the ordinary way would end the parent's session, hence dup2 rather than
    close(). `reconnect`: forget those connections, so that the child's first query opens a
    session of its own."""
    from django.db import connections

    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for wrapper in connections.all(initialized_only=True):
            raw = wrapper.connection
            if raw is not None:
                with contextlib.suppress(Exception):
                    os.dup2(devnull, raw.fileno())
                if reconnect:
                    # Whatever the parent's state (a transaction, a savepoint), the child
                    # starts afresh: the old session object talks to /dev/null now.
                    wrapper.connection = None
                    wrapper.in_atomic_block = False
                    wrapper.savepoint_ids = []
                    wrapper.needs_rollback = False
                    wrapper.closed_in_transaction = False
                    wrapper.run_commit_hooks_on_set_autocommit_on = False
                    wrapper.run_on_commit = []
    finally:
        os.close(devnull)


def let_go_of_files_under(directory: str) -> None:
    """Point this process's copies of the parent's open files under `directory` at /dev/null.
    A lock taken with flock() belongs to the open file, which a fork shares: while the child
    keeps its copy, the parent cannot close and take the lock again (an embedded Qdrant
    store's write-ahead log, reopened after each index build). Linux (/proc); elsewhere
    nothing is done."""
    fd_dir = "/proc/self/fd"
    if not os.path.isdir(fd_dir):
        return
    root = os.path.join(os.path.realpath(directory), "")
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for name in os.listdir(fd_dir):
            try:
                target = os.readlink(os.path.join(fd_dir, name))
            except OSError:
                continue  # closed meanwhile (listdir's own descriptor)
            if target.startswith(root):
                with contextlib.suppress(OSError):
                    os.dup2(devnull, int(name))
    finally:
        os.close(devnull)
