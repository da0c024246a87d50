"""The project's one retry delay: exponential, capped, optionally jittered.

Every retry here waits by it: the shop client between attempts, sync_vectors between
attempts and while watching, the web process's sync loop, and a change-log row's next try
(`not_before`). The loops themselves differ (a stop flag to honour, a Retry-After to obey, a
delay stored in a row for whichever worker comes next), which is why they are not handed to
a retry library that drives the call itself; the formula is the part they share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    first: float  # seconds after the first failure
    most: float  # the cap
    jitter: bool = False  # a random 50-100 % of the delay: clients of one server spread out

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` failures in a row (1 or more)."""
        # The exponent is capped so that a very long outage cannot overflow the float.
        delay = min(self.most, self.first * 2 ** min(max(failures, 1) - 1, 62))
        return delay * (0.5 + random.random() / 2) if self.jitter else delay  # noqa: S311
