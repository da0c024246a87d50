"""Embedders: products in, L2-normalised float32 vectors of the collection's size out.

`get_embedder()` returns the one chosen by VECTORS_EMBEDDER:
- "hashing" (default): a deterministic text embedder (feature hashing of title and
  description). A development stand-in that needs no model weights, so the demo and the
  tests have meaningful neighbours. It is NOT a substitute for the image model.
- "fashion-siglip": Marqo FashionSigLIP's vision model through ONNX Runtime, from
  VECTORS_MODEL_DIR (requirements-vision.txt).
"""

from __future__ import annotations

import threading
from functools import lru_cache

from vectors.embedders.base import Embedder, EmbedFailure, ProductInput
from vectors.exceptions import EmbedderUnavailable

__all__ = ["EmbedFailure", "Embedder", "ProductInput", "get_embedder", "needs_image"]

EMBEDDERS = ("hashing", "fashion-siglip")
# Those that embed a product's image: a product without one gets no point (and is not
# "missing" to reconcile). By name, so that the admin can tell without loading a model.
IMAGE_EMBEDDERS = ("fashion-siglip",)


def needs_image(name: str) -> bool:
    return name in IMAGE_EMBEDDERS


@lru_cache(maxsize=1)
def _build(name: str, dimension: int, options: tuple) -> Embedder:
    if name == "hashing":
        from vectors.embedders.hashing import HashingTextEmbedder

        return HashingTextEmbedder(dimension=dimension)
    if name == "fashion-siglip":
        from vectors.embedders.fetch import FetchLimits
        from vectors.embedders.siglip import FashionSiglipEmbedder

        model_dir, precision, providers, threads, batch, timeout, allow_private = options
        return FashionSiglipEmbedder(
            model_dir=model_dir,
            precision=precision,
            limits=FetchLimits(timeout=timeout, allow_private=allow_private),
            providers=providers,
            threads=threads,
            batch=batch,
        )
    raise ValueError(f"Unknown VECTORS_EMBEDDER {name!r}; use one of {', '.join(EMBEDDERS)}.")


# Web threads asking for the embedder at once on a process's first searches build it once.
_building = threading.Lock()


def get_embedder() -> Embedder:
    from django.conf import settings

    from vectors.conf import qdrant_config

    options = (
        settings.VECTORS_MODEL_DIR,
        settings.VECTORS_MODEL_PRECISION,
        tuple(settings.VECTORS_ONNX_PROVIDERS),
        settings.VECTORS_ONNX_THREADS,
        settings.VECTORS_EMBED_BATCH,
        settings.VECTORS_IMAGE_TIMEOUT,
        settings.VECTORS_IMAGE_ALLOW_PRIVATE,
    )
    try:
        with _building:
            return _build(settings.VECTORS_EMBEDDER, qdrant_config().vector_size, options)
    except (ValueError, OSError, ImportError) as exc:
        # One error for every caller: commands print it as one line, checks as E007.
        raise EmbedderUnavailable(str(exc)) from exc


def reset_embedder() -> None:
    _build.cache_clear()
