"""A development stand-in for the image model: feature hashing of a product's text.

Words and word pairs of the title (counted twice) and description are hashed into the
collection's dimension with a stable hash and a sign bit, then L2-normalised: products that
share words point the same way, so "similar products" is meaningful offline. It knows nothing
of images; never use it as a substitute for FashionSigLIP in production.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Sequence

import numpy as np

from vectors.embedders.base import EmbedFailure, ProductInput, QueryEmbedding, l2_normalise

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
TITLE_WEIGHT = 2.0
# Words of a query it takes, as FashionSigLIP's text tower takes 64 tokens: the rest is cut,
# and the answer says so.
QUERY_WORDS = 64
SLOT_CACHE_SIZE = 1 << 18


def _features(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    return words + [f"{a} {b}" for a, b in itertools.pairwise(words)]


class HashingTextEmbedder:
    name = "hashing"
    fork_safe = True  # pure Python and numpy

    def __init__(self, *, dimension: int):
        self.dimension = dimension
        # A shop's vocabulary repeats: each word's slot is hashed once (bounded, for months).
        self._slot = functools.lru_cache(maxsize=SLOT_CACHE_SIZE)(self._hash_slot)

    def _hash_slot(self, feature: str) -> int:
        """The feature's slot, signed: +(slot + 1) or -(slot + 1)."""
        digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        slot = digest % self.dimension + 1
        return slot if digest >> 63 else -slot

    def _signed_slots(self, product: ProductInput) -> tuple[list[int], list[float]]:
        slots, weights = [], []
        for text, weight in ((product.title, TITLE_WEIGHT), (product.description, 1.0)):
            features = _features(text)
            slots += [self._slot(feature) for feature in features]
            weights += [weight] * len(features)
        return slots, weights

    def embed(self, products: Sequence[ProductInput]) -> list[np.ndarray | EmbedFailure]:
        """All products at once: the weighted signs scattered into one matrix (np.add.at
        adds in feature order, as one vector at a time would), then normalised by rows."""
        rows, slots, weights, failures = [], [], [], {}
        for row, product in enumerate(products):
            product_slots, product_weights = self._signed_slots(product)
            if not product_slots:
                failures[row] = EmbedFailure("no words in title or description")
            rows += [row] * len(product_slots)
            slots += product_slots
            weights += product_weights
        matrix = np.zeros((len(products), self.dimension), dtype=np.float32)
        if slots:
            signed = np.asarray(slots, dtype=np.int64)
            values = np.asarray(weights, dtype=np.float32) * np.sign(signed).astype(np.float32)
            np.add.at(matrix, (np.asarray(rows), np.abs(signed) - 1), values)
        vectors = l2_normalise(matrix)
        return [failures.get(row, vectors[row]) for row in range(len(products))]

    def embed_text(self, text: str) -> QueryEmbedding:
        """A shopper's words in the products' space: the same hashed features, so that a
        query shares the direction of the products whose title and description have its
        words. Raises ValueError for text without a word."""
        words = _WORD.findall(text)
        if not words:
            raise ValueError("the query has no words")
        kept = " ".join(words[:QUERY_WORDS])
        (vector,) = self.embed([ProductInput(id="", title="", description=kept, image_url="")])
        return QueryEmbedding(vector=vector, truncated=len(words) > QUERY_WORDS)
