"""Preparing product images for the vision model: decoded, RGB on white, 224x224.

A bad image is the product's failure, never the batch's: `to_pixels` never raises.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from vectors.embedders.base import EmbedFailure

SIDE = 224
MEAN = STD = 0.5


def to_pixels(data: bytes, *, max_pixels: int, draft: bool = True) -> np.ndarray | EmbedFailure:
    """RGB (transparency composited onto white), squashed to 224x224 with bicubic
    resampling, scaled to [0, 1] and normalised with mean and std 0.5: CHW float32.

    `draft`: let a JPEG decode at a reduced scale (1/2, 1/4, 1/8 by its DCT) that still
    leaves at least 224 pixels a side; several times less work for an 800-1200 px photo,
    and embeddings within a cosine of 0.999 of a full decode (bench/embed.py measures it).
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > max_pixels:
                return EmbedFailure(f"image of {image.width}x{image.height} pixels is too large")
            if draft and image.format == "JPEG":
                image.draft("RGB", (SIDE, SIDE))
            image.load()
            rgb = _on_white(image)
        resized = rgb.resize((SIDE, SIDE), Image.Resampling.BICUBIC)
    except Image.DecompressionBombError:  # Pillow's own limit, met before ours
        return EmbedFailure("image is too large to decode (a decompression bomb)")
    except Exception as exc:  # Pillow raises many kinds for broken data
        return EmbedFailure(f"image cannot be decoded: {type(exc).__name__}")
    array = np.asarray(resized, dtype=np.float32) / 255.0
    return ((array - MEAN) / STD).transpose(2, 0, 1)


def _on_white(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
