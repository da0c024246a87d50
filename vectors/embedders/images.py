"""Fetching and preparing product images for the vision model.

Shops' images come over the network, so every fetch has a timeout, a size limit (checked
while streaming, not after) and a content-type check; a bad image is the product's failure,
never the batch's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import httpx
import numpy as np
from PIL import Image, UnidentifiedImageError

from vectors.embedders.base import EmbedFailure

SIDE = 224
MEAN = STD = 0.5


@dataclass(frozen=True)
class FetchLimits:
    timeout: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000  # a decompression bomb is refused before decoding


def fetch_image(client: httpx.Client, url: str, limits: FetchLimits) -> bytes | EmbedFailure:
    if not url:
        return EmbedFailure("no image URL")
    try:
        with client.stream("GET", url, timeout=limits.timeout) as response:
            if response.status_code != 200:
                return EmbedFailure(f"image answered HTTP {response.status_code}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            if not content_type.startswith("image/"):
                return EmbedFailure(f"not an image (Content-Type {content_type or 'missing'})")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limits.max_bytes:
                return EmbedFailure(f"image larger than {limits.max_bytes} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limits.max_bytes:
                    return EmbedFailure(f"image larger than {limits.max_bytes} bytes")
            return bytes(body)
    except httpx.HTTPError as exc:
        return EmbedFailure(f"image fetch failed: {type(exc).__name__}")


def to_pixels(data: bytes, limits: FetchLimits) -> np.ndarray | EmbedFailure:
    """RGB (transparency composited onto white), squashed to 224x224 with bicubic
    resampling, scaled to [0, 1] and normalised with mean and std 0.5: CHW float32."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > limits.max_pixels:
                return EmbedFailure(f"image of {image.width}x{image.height} pixels is too large")
            image.load()
            rgb = _on_white(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        return EmbedFailure(f"image cannot be decoded: {type(exc).__name__}")
    resized = rgb.resize((SIDE, SIDE), Image.Resampling.BICUBIC)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    return ((array - MEAN) / STD).transpose(2, 0, 1)


def _on_white(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
