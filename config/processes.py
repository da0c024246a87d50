"""Is that process still running? For holders of an embedded store's lock and of change-log
leases, which name their process so that others can tell a live holder from a dead one."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any


def alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def _stat_after_name(pid: int) -> list[str] | None:
    """/proc/<pid>/stat's fields after the command name (field 3 first), or None where
    there is no such file (another system, or the process has ended). The name (field 2)
    may hold spaces and parentheses, hence rsplit on the last one."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()


def start_time(pid: int) -> str:
    """When process `pid` started, in clock ticks after boot (Linux's /proc; '' elsewhere):
    tells the process that took something from a later one that got the same pid."""
    fields = _stat_after_name(pid)
    return fields[19] if fields else ""  # field 22


def parent_of(pid: int) -> int | None:
    """Process `pid`'s parent (Linux's /proc; None elsewhere or when it has ended)."""
    fields = _stat_after_name(pid)
    return int(fields[1]) if fields else None  # field 4


def this_process() -> str:
    """This process, as `holder_is_gone` reads it: host, pid, start time."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{start_time(pid)}"


def holder_is_gone(holder: str) -> bool:
    """True only when `holder` (from this_process) ran on this host and has ended: a process
    on another host, or one that cannot be told, counts as alive."""
    host, _, rest = holder.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if not alive(pid):
        return True
    return bool(started) and start_time(pid) not in ("", started)
