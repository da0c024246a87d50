"""Which external ids a feed has already shown, in 8 bytes an id.

Counting repeated ids across a million-product feed means remembering every id. A Python set
of them costs ~60 bytes an entry (and a set of strings far more); this keeps 64-bit hashes in
sorted numpy runs that merge like a binary counter (an LSM tree in miniature): ~8 bytes an id,
O(log n) runs to search, O(n log n) work in all. A hash collision (odds ~1e-8 at a million ids)
would only count one id as repeated and make its batch look it up, which is harmless.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


class SeenIds:
    def __init__(self) -> None:
        self._runs: list[np.ndarray] = []  # sorted, unique, largest first

    def __len__(self) -> int:
        return sum(len(run) for run in self._runs)

    def add(self, ids: Iterable[str]) -> int:
        """Remember `ids` (distinct among themselves); return how many were seen before."""
        hashes = np.fromiter((hash(i) for i in ids), dtype=np.int64)
        if hashes.size == 0:
            return 0
        seen_before = np.zeros(hashes.size, dtype=bool)
        for run in self._runs:
            positions = np.searchsorted(run, hashes)
            positions[positions == run.size] = run.size - 1
            seen_before |= run[positions] == hashes
        new = np.unique(hashes[~seen_before])
        while self._runs and self._runs[-1].size <= new.size:
            new = np.union1d(self._runs.pop(), new)
        if new.size:
            self._runs.append(new)
        return int(seen_before.sum())
