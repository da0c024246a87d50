from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class ProductInput:
    """What an embedder may look at."""

    id: str
    title: str
    description: str
    image_url: str


@dataclass(frozen=True)
class EmbedFailure:
    """A product that could not be embedded this time (its image would not load, say).

    `retry`: False when trying again cannot help until the product itself changes (it has
    no image URL): the sync then waits for its next change instead of a timer."""

    reason: str
    retry: bool = True


@dataclass(frozen=True)
class QueryEmbedding:
    """A shopper's query (words, a photo) in the collection's space; `truncated` when the
    model took only the first part of the words."""

    vector: np.ndarray
    truncated: bool = False


class Embedder(Protocol):
    name: str
    dimension: int
    # True when the embedder works in a forked child of the process that built it: the sync
    # then embeds in a second process while this one writes (vectors.preparer). An ONNX
    # Runtime session does not (its thread pool stays behind in the parent).
    fork_safe: bool

    def embed(self, products: Sequence[ProductInput]) -> list[np.ndarray | EmbedFailure]:
        """One L2-normalised float32 vector (or a failure) per product, in order."""

        # Embedders that can embed a shopper's words have `embed_text(text) -> QueryEmbedding`
        # (vectors/query.py asks with getattr, so that one without it is a clear 409).
        ...


def l2_normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)
