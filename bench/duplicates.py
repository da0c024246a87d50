"""Duplicate grouping on catalogs with known answers: how well each threshold
groups the same product sold by several shops, and keeps apart the same garment in another
colour, for the hashing stand-in and for the tests' tiny image model.

    python bench/duplicates.py [--thresholds 0.80,0.85,...]

Two test catalogs, each product's true group known:

- **Photos** (the tiny test model, tests/vectors/onnx_models.py, through FashionSigLIP's own
  image preparation): seven real photographs (tests/vectors/fixtures/photos, SOURCES.md),
  each sold by five shops as shops publish a packshot: the original, re-encoded as JPEG at
  quality 50, resized to 60 %, cropped by 5 % on every side, and set on a white margin of 8 %.
  The same photo with its hues turned by a third of the wheel is the same garment in another
  colour: a different product.
- **Words** (the hashing stand-in): WooCommerce's own sample products (the titles of
  plugins/woocommerce/sample-data/sample_products.csv, woocommerce/woocommerce), each listed
  by four shops as shops retitle what they resell: as published, in capitals, with an en dash
  and the shop's name, with the colour first. Colour variants ("V-Neck T-Shirt - Red" and
  "- Blue") are different products.

For each threshold: products linked at or above it, grouped as the catalog groups them (the
products links reach), and the pairs of those groups compared with the true ones: precision
(grouped pairs that are truly one product) and recall (true pairs grouped). Last line: the
default threshold's figures for each embedder.

The real model's threshold is chosen the same way on a shop's own data (README, "Duplicates").
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from itertools import combinations
from pathlib import Path

import numpy as np
from _common import PROJECT_DIR
from PIL import Image

sys.path.insert(0, str(PROJECT_DIR))

PHOTOS = PROJECT_DIR / "tests" / "vectors" / "fixtures" / "photos"
# WooCommerce's sample products (sample_products.csv): title, colour variants' titles.
SAMPLE_PRODUCTS = [
    "Hoodie with Logo",
    "T-Shirt",
    "Beanie",
    "Belt",
    "Cap",
    "Sunglasses",
    "Hoodie with Pocket",
    "Hoodie with Zipper",
    "Long Sleeve Tee",
    "Polo",
    "T-Shirt with Logo",
    "Beanie with Logo",
    "V-Neck T-Shirt - Red",
    "V-Neck T-Shirt - Green",
    "V-Neck T-Shirt - Blue",
    "Hoodie - Red, No",
    "Hoodie - Green, No",
    "Hoodie - Blue, No",
]
SHORT_DESCRIPTION = "This is a simple product."  # sample_products.csv's own
EN_DASH = " \u2013 "
DEFAULT_GRID = (0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995)


def packshots(image: Image.Image) -> list[bytes]:
    """One photo as five shops publish it."""
    width, height = image.size

    def jpeg(picture: Image.Image, quality: int = 90) -> bytes:
        out = io.BytesIO()
        picture.convert("RGB").save(out, "JPEG", quality=quality)
        return out.getvalue()

    cut_w, cut_h = width // 20, height // 20
    margin = max(width, height) * 8 // 100
    framed = Image.new("RGB", (width + 2 * margin, height + 2 * margin), "white")
    framed.paste(image, (margin, margin))
    return [
        jpeg(image),
        jpeg(image, quality=50),
        jpeg(image.resize((width * 6 // 10, height * 6 // 10), Image.Resampling.LANCZOS)),
        jpeg(image.crop((cut_w, cut_h, width - cut_w, height - cut_h))),
        jpeg(framed),
    ]


def other_colour(image: Image.Image) -> bytes:
    hue, saturation, value = image.convert("HSV").split()
    turned = hue.point(lambda h: (h + 85) % 256)
    out = io.BytesIO()
    Image.merge("HSV", (turned, saturation, value)).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


def photo_catalog() -> tuple[np.ndarray, list[str]]:
    """The photo catalog's vectors (the tiny model) and each product's true group."""
    sys.path.insert(0, str(PROJECT_DIR / "tests" / "vectors"))
    from onnx_models import build_tiny_siglip

    from vectors.embedders.siglip import FashionSiglipEmbedder

    weights = np.random.default_rng(0).standard_normal((3, 768)).astype(np.float32)
    folder = Path(tempfile.mkdtemp(prefix="tiny-siglip-"))
    embedder = FashionSiglipEmbedder(model_dir=str(build_tiny_siglip(folder, weights)))
    vectors, truth = [], []
    for path in sorted(PHOTOS.iterdir()):
        image = Image.open(path).convert("RGB")
        for shot in packshots(image):
            vectors.append(embedder.embed_image(shot).vector)
            truth.append(path.stem)
        vectors.append(embedder.embed_image(other_colour(image)).vector)
        truth.append(f"{path.stem} in another colour")
    return np.array(vectors), truth


def relisted(title: str, shop: str) -> str:
    """A title as four shops relist it."""
    if shop == "a":
        return title
    if shop == "b":
        return title.upper()
    if shop == "c":
        return f"{title.replace(' - ', EN_DASH)}{EN_DASH}Shop C"
    base, _, colour = title.partition(" - ")
    return f"{colour} {base}" if colour else title


def words_catalog() -> tuple[np.ndarray, list[str]]:
    from vectors.embedders.base import ProductInput
    from vectors.embedders.hashing import HashingTextEmbedder

    embedder = HashingTextEmbedder(dimension=768)
    products, truth = [], []
    for number, title in enumerate(SAMPLE_PRODUCTS):
        for shop in "abcd":
            products.append(
                ProductInput(
                    id=f"{number}-{shop}",
                    title=relisted(title, shop),
                    description=SHORT_DESCRIPTION,
                    image_url="",
                )
            )
            truth.append(title)
    return np.array(embedder.embed(products)), truth


def grouped(vectors: np.ndarray, threshold: float) -> list[int]:
    """Each product's group as the catalog forms them: linked at or above `threshold`, the
    products links reach together (union-find)."""
    parent = list(range(len(vectors)))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    scores = vectors @ vectors.T
    for a, b in zip(*np.nonzero(np.triu(scores >= threshold, k=1)), strict=True):
        parent[root(a)] = root(b)
    return [root(node) for node in range(len(vectors))]


def pair_scores(groups: list[int], truth: list[str]) -> tuple[float, float]:
    found = {(a, b) for a, b in combinations(range(len(groups)), 2) if groups[a] == groups[b]}
    true = {(a, b) for a, b in combinations(range(len(truth)), 2) if truth[a] == truth[b]}
    precision = len(found & true) / len(found) if found else 1.0
    recall = len(found & true) / len(true) if true else 1.0
    return precision, recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", default=",".join(map(str, DEFAULT_GRID)))
    args = parser.parse_args()
    grid = [float(value) for value in args.thresholds.split(",")]

    # Settings only (the embedders read them); no database.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    from vectors.duplicates import DEFAULT_THRESHOLDS

    figures = {}
    for name, build in (("hashing", words_catalog), ("tiny image model", photo_catalog)):
        vectors, truth = build()
        products, groups = len(truth), len(set(truth))
        print(f"{name}: {products} products, {groups} true groups")
        default = DEFAULT_THRESHOLDS["hashing" if name == "hashing" else "fashion-siglip"]
        for threshold in sorted({*grid, default}):
            precision, recall = pair_scores(grouped(vectors, threshold), truth)
            mark = "  (default)" if threshold == default else ""
            print(
                f"  threshold {threshold:.3f}: precision {precision:.3f}, recall {recall:.3f}{mark}"
            )
            if threshold == default:
                figures[name] = (default, precision, recall)
    print(
        "; ".join(
            f"{name} at {t:.2f}: precision {p:.3f}, recall {r:.3f}"
            for name, (t, p, r) in figures.items()
        )
    )


if __name__ == "__main__":
    main()
