"""Our image preparation against SigLIP's reference image processor (transformers'
SiglipImageProcessorPil: 224x224 without crop, bicubic, rescale, mean and std 0.5) on real
photographs (fixtures/photos, see fixtures/SOURCES.md), and the one place we differ on
purpose: JPEG draft decoding, whose difference is measured here and stated in the README."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vectors.embedders.images import to_pixels

PHOTOS = Path(__file__).parent / "fixtures" / "photos"
MAX_PIXELS = 40_000_000


@pytest.fixture(scope="module")
def reference():
    from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

    processor = SiglipImageProcessorPil()
    assert processor.size == {"height": 224, "width": 224}
    assert list(processor.image_mean) == [0.5] * 3 and list(processor.image_std) == [0.5] * 3

    def pixels(path: Path) -> np.ndarray:
        with Image.open(path) as image:
            return processor(images=image, return_tensors="np")["pixel_values"][0]

    return pixels


@pytest.mark.parametrize("name", ["chelsea.png", "rocket.jpg", "astronaut.jpg"])
def test_full_decoding_gives_the_reference_pixels(reference, name):
    ours = to_pixels((PHOTOS / name).read_bytes(), max_pixels=MAX_PIXELS, draft=False)
    expected = reference(PHOTOS / name)
    assert ours.shape == expected.shape == (3, 224, 224) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, expected, atol=1e-6)


def test_draft_decoding_differs_from_the_reference_by_little(reference):
    """A 512-pixel JPEG is decoded at half scale (256 pixels, still above 224): pixels
    differ from a full decode by 0.010 on average (of a range of 2, about 1.3 levels of
    255), 0.24 at most, with a cosine of 0.9995 between the two pictures."""
    path = PHOTOS / "astronaut.jpg"
    ours = to_pixels(path.read_bytes(), max_pixels=MAX_PIXELS, draft=True)
    expected = reference(path)
    difference = np.abs(ours - expected)
    cosine = float(ours.ravel() @ expected.ravel()) / float(
        np.linalg.norm(ours) * np.linalg.norm(expected)
    )
    assert 0 < difference.mean() < 0.02
    assert difference.max() < 0.35
    assert cosine > 0.999


def test_draft_decoding_leaves_smaller_photos_alone(reference):
    """Half of 427 pixels would be below 224: the rocket is decoded in full."""
    path = PHOTOS / "rocket.jpg"
    ours = to_pixels(path.read_bytes(), max_pixels=MAX_PIXELS, draft=True)
    np.testing.assert_allclose(ours, reference(path), atol=1e-6)
