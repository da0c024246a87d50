"""Marqo FashionSigLIP through ONNX Runtime: its vision tower for products and a shopper's
photo, its text tower (text.py, loaded on the first words search) for a shopper's words.

The model folder (VECTORS_MODEL_DIR) holds the ONNX export published with
Marqo/marqo-fashionSigLIP (`manage.py download_model`), in the precision
VECTORS_MODEL_PRECISION names (model_files.py). The vision tower's input is a batch of
3x224x224 images normalised with mean and std 0.5 (see images.py), its output one embedding
per image, L2-normalised here.

Pipelined: a pool of threads fetches and decodes images (fetch.py: safe and bounded) while
the calling thread runs the model on every `batch` images as soon as they are ready (ONNX
Runtime and Pillow's decoders release the GIL), so on a CPU the model is never idle once the
first batch is in, and on a GPU the fetching keeps up as far as the pool allows. A model
error is narrowed down to the images that cause it: each is that product's failure.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np

from config.errors import describe
from vectors.embedders.base import EmbedFailure, ProductInput, QueryEmbedding, l2_normalise
from vectors.embedders.fetch import FetchLimits, ImageFetcher
from vectors.embedders.images import SIDE, to_pixels
from vectors.embedders.model_files import vision_candidates
from vectors.embedders.onnx_tower import open_tower
from vectors.embedders.text import LazyTextTower
from vectors.exceptions import ModelNotFound

FETCH_THREADS = 16  # images fetched and decoded at once, overall (fetch.PER_HOST per host)


# The embedding's output, by the names exports give it: transformers' SigLIP export calls it
# image_embeds (its vision-only model, pooler_output); never chosen by position, since
# exports list last_hidden_state first.
IMAGE_OUTPUTS = ("image_embeds", "pooler_output")


def find_model(model_dir: str, precision: str = "fp32") -> Path:
    folder = Path(model_dir)
    candidates = vision_candidates(precision)
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    raise ModelNotFound(
        f"No ONNX vision model in {folder} (looked for {', '.join(candidates)}): run "
        "`manage.py download_model`, or set VECTORS_MODEL_DIR."
    )


class FashionSiglipEmbedder:
    name = "fashion-siglip"
    # Its ONNX Runtime session's threads would not survive a fork; next to the model's own
    # cost, the sync's Python and Qdrant writes are small anyway.
    fork_safe = False

    def __init__(
        self,
        *,
        model_dir: str,
        precision: str = "fp32",
        limits: FetchLimits | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int = 0,
        batch: int = 16,
        draft: bool = True,
    ):
        tower = open_tower(
            find_model(model_dir, precision), IMAGE_OUTPUTS, providers=providers, threads=threads
        )
        self.session = tower.session
        self.input_name = tower.input_name
        self.output_name = tower.output_name
        # A half-precision export takes float16 pixels.
        self.input_type = np.float16 if tower.input_type == "tensor(float16)" else np.float32
        self.text = LazyTextTower(
            model_dir, precision=precision, providers=providers, threads=threads
        )
        dummy = np.zeros((1, 3, SIDE, SIDE), dtype=np.float32)
        self.dimension = int(self._run(dummy).shape[-1])
        self.limits = limits or FetchLimits()
        self.batch = max(1, batch)
        self.draft = draft
        self.fetcher = ImageFetcher(self.limits)
        self.pool = ThreadPoolExecutor(FETCH_THREADS, thread_name_prefix="image-fetch")
        # Seconds spent per stage (fetch and decode summed over the pool's threads), for
        # bench/embed.py and whoever tunes a worker.
        self.seconds: Counter = Counter()
        self._seconds_lock = threading.Lock()

    def _count(self, stage: str, started: float) -> float:
        now = time.perf_counter()
        with self._seconds_lock:
            self.seconds[stage] += now - started
        return now

    def _run(self, batch: np.ndarray) -> np.ndarray:
        batch = batch.astype(self.input_type, copy=False)
        output = self.session.run([self.output_name], {self.input_name: batch})[0]
        if output.ndim != 2 or output.shape[0] != batch.shape[0]:
            raise ValueError(f"expected one embedding per image, got shape {output.shape}")
        return output

    def prepare(self, product: ProductInput) -> np.ndarray | EmbedFailure:
        """Fetch and decode one product's image. Never raises."""
        started = time.perf_counter()
        data = self.fetcher.fetch(product.image_url)
        started = self._count("fetch", started)
        if isinstance(data, EmbedFailure):
            return data
        pixels = to_pixels(data, max_pixels=self.limits.max_pixels, draft=self.draft)
        self._count("decode", started)
        return pixels

    def embed_text(self, text: str) -> QueryEmbedding:
        """A shopper's words, by the text tower. Raises ValueError for words with nothing
        left to search for, ModelNotFound when the text tower's files are missing."""
        return self.text.get().embed(text)

    def fetch_image(self, url: str) -> bytes:
        """A shopper's photo at `url`, through the same guarded fetcher as products' images
        (never an address inside our network). Raises ValueError saying why it could not."""
        data = self.fetcher.fetch(url)
        if isinstance(data, EmbedFailure):
            raise ValueError(data.reason)
        return data

    def embed_image(self, data: bytes) -> QueryEmbedding:
        """A shopper's photo, prepared as product images are. Raises ValueError naming what
        is wrong with it (not an image, too many pixels, a decompression bomb)."""
        pixels = to_pixels(data, max_pixels=self.limits.max_pixels, draft=self.draft)
        if isinstance(pixels, EmbedFailure):
            raise ValueError(pixels.reason)
        vector = l2_normalise(self._run(pixels[np.newaxis]).astype(np.float32))[0]
        return QueryEmbedding(vector=vector)

    def embed(self, products: Sequence[ProductInput]) -> list[np.ndarray | EmbedFailure]:
        results: list[np.ndarray | EmbedFailure | None] = [None] * len(products)
        futures = {self.pool.submit(self.prepare, p): i for i, p in enumerate(products)}
        ready: list[tuple[int, np.ndarray]] = []
        for future in as_completed(futures):
            item = future.result()
            if isinstance(item, EmbedFailure):
                results[futures[future]] = item
                continue
            ready.append((futures[future], item))
            if len(ready) >= self.batch:
                self._infer(ready, results)
                ready = []
        if ready:
            self._infer(ready, results)
        return results

    def _infer(self, ready: list[tuple[int, np.ndarray]], results: list) -> None:
        started = time.perf_counter()
        try:
            batch = np.stack([pixels for _, pixels in ready])
            vectors = l2_normalise(self._run(batch).astype(np.float32))
        except Exception as exc:  # narrowed down to the images that cause it
            if len(ready) == 1:
                results[ready[0][0]] = EmbedFailure(f"model failed: {describe(exc, limit=200)}")
                return
            for one in ready:
                self._infer([one], results)
            return
        self._count("inference", started)
        for (index, _), vector in zip(ready, vectors, strict=True):
            results[index] = vector
