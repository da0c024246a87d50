"""Delivering the change log as it comes, for months: the one loop behind `sync_vectors
--watch` (the worker beside a Qdrant server) and the web process's own sync thread (the
owner of an embedded store, vectors/background.py).

Each round delivers what is due, then looks for the changed products' duplicates. Qdrant or
PostgreSQL going away (a restart, an outage, another process holding the embedded store) is
waited out with a growing pause (config/backoff.py): the changes wait in PostgreSQL. What a
caller does with a round's report or a pause is its own: the command prints, the web
process logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import connections

from config.backoff import Backoff
from vectors.exceptions import DATABASE_AWAY, VectorStoreError

# Expected while a dependency is away: paused for, never raised. A database that answers
# with an error (unmigrated, say) is not away: the command stops on it.
OUTAGES = (VectorStoreError, *DATABASE_AWAY)
PAUSES = Backoff(first=1.0, most=60.0)


@dataclass
class DrainLoop:
    round: Callable[[], None]  # one round: deliver what is due, group duplicates, report
    interval: float  # seconds between rounds
    should_stop: Callable[[], bool]
    wait: Callable[[float], None]  # sleeps, returning early once should_stop() is true
    on_pause: Callable[[BaseException, float], None]  # an outage, and the pause it causes
    # Also survived (the web process's thread must outlive a bug in one round); the
    # command lets those end it.
    survive: tuple[type[BaseException], ...] = ()

    def run(self) -> None:
        failures = 0
        while not self.should_stop():
            try:
                self.round()
                failures, pause = 0, self.interval
            except (*OUTAGES, *self.survive) as exc:
                if isinstance(exc, DATABASE_AWAY):
                    # A connection the server dropped is unusable: open a new one next time.
                    connections.close_all()
                failures += 1
                pause = PAUSES.delay(failures)
                self.on_pause(exc, pause)
            self.wait(pause)
