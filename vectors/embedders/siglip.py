"""Marqo FashionSigLIP's vision tower through ONNX Runtime.

The model folder (VECTORS_MODEL_DIR) holds the ONNX export of the vision model published
with Marqo/marqo-fashionSigLIP; the first of MODEL_FILES found is used. Its input is a
batch of 3x224x224 images normalised with mean and std 0.5 (see images.py), its output one
embedding per image, L2-normalised here.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from vectors.embedders.base import EmbedFailure, ProductInput, l2_normalise
from vectors.embedders.images import SIDE, FetchLimits, fetch_image, to_pixels

MODEL_FILES = ("onnx/vision_model.onnx", "vision_model.onnx", "onnx/model.onnx", "model.onnx")
BATCH = 16
FETCH_THREADS = 8


class ModelNotFound(OSError):
    pass


def find_model(model_dir: str) -> Path:
    folder = Path(model_dir)
    for name in MODEL_FILES:
        if (folder / name).is_file():
            return folder / name
    raise ModelNotFound(
        f"No ONNX vision model in {folder} (looked for {', '.join(MODEL_FILES)}). Download "
        "Marqo/marqo-fashionSigLIP's ONNX export there, or set VECTORS_MODEL_DIR."
    )


class FashionSiglipEmbedder:
    name = "fashion-siglip"

    def __init__(self, *, model_dir: str, limits: FetchLimits | None = None):
        import onnxruntime

        path = find_model(model_dir)
        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        dummy = np.zeros((1, 3, SIDE, SIDE), dtype=np.float32)
        self.dimension = int(self._run(dummy).shape[-1])
        self.limits = limits or FetchLimits()

    def _run(self, batch: np.ndarray) -> np.ndarray:
        output = self.session.run([self.output_name], {self.input_name: batch})[0]
        if output.ndim != 2:
            raise ValueError(f"expected one embedding per image, got shape {output.shape}")
        return output

    def _prepare(self, client: httpx.Client, product: ProductInput) -> np.ndarray | EmbedFailure:
        data = fetch_image(client, product.image_url, self.limits)
        if isinstance(data, EmbedFailure):
            return data
        return to_pixels(data, self.limits)

    def embed(self, products: Sequence[ProductInput]) -> list[np.ndarray | EmbedFailure]:
        with (
            httpx.Client(
                follow_redirects=True, headers={"User-Agent": "fashion-catalog/1.0"}
            ) as client,
            ThreadPoolExecutor(FETCH_THREADS) as pool,
        ):
            prepared = list(pool.map(lambda p: self._prepare(client, p), products))
        results: list[np.ndarray | EmbedFailure] = list(prepared)
        ready = [i for i, item in enumerate(prepared) if not isinstance(item, EmbedFailure)]
        for start in range(0, len(ready), BATCH):
            indexes = ready[start : start + BATCH]
            vectors = l2_normalise(self._run(np.stack([prepared[i] for i in indexes])))
            for i, vector in zip(indexes, vectors, strict=True):
                results[i] = vector
        return results
