"""A development stand-in for the image model: feature hashing of a product's text.

Words and word pairs of the title (counted twice) and description are hashed into the
collection's dimension with a stable hash and a sign bit, then L2-normalised: products that
share words point the same way, so "similar products" is meaningful offline. It knows nothing
of images; never use it as a substitute for FashionSigLIP in production.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np

from vectors.embedders.base import EmbedFailure, ProductInput, l2_normalise

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
TITLE_WEIGHT = 2.0


def _features(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


class HashingTextEmbedder:
    name = "hashing"

    def __init__(self, *, dimension: int):
        self.dimension = dimension

    def _slot(self, feature: str) -> tuple[int, float]:
        digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        return digest % self.dimension, (1.0 if digest >> 63 else -1.0)

    def embed_one(self, product: ProductInput) -> np.ndarray | EmbedFailure:
        vector = np.zeros(self.dimension, dtype=np.float32)
        weighted = [(f, TITLE_WEIGHT) for f in _features(product.title)]
        weighted += [(f, 1.0) for f in _features(product.description)]
        if not weighted:
            return EmbedFailure("no words in title or description")
        for feature, weight in weighted:
            slot, sign = self._slot(feature)
            vector[slot] += sign * weight
        return l2_normalise(vector)

    def embed(self, products: Sequence[ProductInput]) -> list[np.ndarray | EmbedFailure]:
        return [self.embed_one(product) for product in products]
