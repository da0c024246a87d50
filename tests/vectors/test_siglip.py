"""The FashionSigLIP embedder end to end, on a small ONNX model built here (the real
weights cannot be downloaded on the test machines) with the real model's input and output
shapes, and on real image bytes served over loopback."""

import io
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from PIL import Image

from tests.helpers import LoopbackHTTPServer
from tests.vectors.onnx_models import build_vision_model
from vectors.embedders import EmbedFailure, ProductInput
from vectors.embedders.fetch import FetchLimits
from vectors.embedders.siglip import FashionSiglipEmbedder
from vectors.exceptions import ModelNotFound

DIM = 768


@pytest.fixture(scope="module")
def weights():
    return np.random.default_rng(0).standard_normal((3, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, weights):
    folder = tmp_path_factory.mktemp("marqo-fashionSigLIP")
    build_vision_model(folder, weights)
    return folder


def png(colour, mode="RGB", size=(40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png(side: int) -> bytes:
    """Random pixels do not compress: about 3 bytes a pixel."""
    pixels = np.random.default_rng(1).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(colour) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (300, 500), colour).save(buffer, format="JPEG", quality=100)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def images():
    routes = {
        "/red.png": (200, "image/png", png((255, 0, 0))),
        "/red.jpg": (200, "image/jpeg", jpeg((250, 5, 5))),
        "/blue.png": (200, "image/png", png((0, 0, 255))),
        "/white.png": (200, "image/png", png((255, 255, 255))),
        "/clear.png": (200, "image/png", png((0, 0, 0, 0), mode="RGBA")),
        "/page.html": (200, "text/html", b"<html></html>"),
        "/broken.png": (200, "image/png", b"not really a png"),
        "/huge.png": (200, "image/png", noise_png(400)),
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, content_type, body = routes.get(self.path, (404, "text/plain", b"nope"))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    with LoopbackHTTPServer(Handler) as server:
        yield server.base


@pytest.fixture
def embedder(model_dir):
    return FashionSiglipEmbedder(
        model_dir=str(model_dir),
        # The images are served on loopback: private addresses allowed (test_image_fetch.py
        # tests the refusal).
        limits=FetchLimits(timeout=5, max_bytes=200_000, allow_private=True),
    )


def product(url):
    return ProductInput(id="p", title="t", description="", image_url=url)


def expected(weights, rgb):
    pixel = (np.asarray(rgb, dtype=np.float32) / 255 - 0.5) / 0.5
    vector = pixel @ weights
    return vector / np.linalg.norm(vector)


def test_dimension_comes_from_the_model(embedder):
    assert embedder.dimension == DIM


def test_images_are_embedded_as_the_model_sees_them(embedder, images, weights):
    red, blue, white = embedder.embed(
        [
            product(f"{images}/red.png"),
            product(f"{images}/blue.png"),
            product(f"{images}/white.png"),
        ]
    )
    for vector, colour in ((red, (255, 0, 0)), (blue, (0, 0, 255)), (white, (255, 255, 255))):
        assert vector.dtype == np.float32 and vector.shape == (DIM,)
        assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(vector, expected(weights, colour), atol=1e-4)


def test_similar_images_are_near(embedder, images):
    red_png, red_jpg, blue = embedder.embed(
        [product(f"{images}/red.png"), product(f"{images}/red.jpg"), product(f"{images}/blue.png")]
    )
    assert float(red_png @ red_jpg) > 0.99
    assert float(red_png @ blue) < float(red_png @ red_jpg)


def test_transparency_goes_onto_white(embedder, images):
    clear, white = embedder.embed([product(f"{images}/clear.png"), product(f"{images}/white.png")])
    np.testing.assert_allclose(clear, white, atol=1e-5)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "no image URL"),
        ("/missing.png", "image answered HTTP 404"),
        ("/page.html", "not an image (Content-Type text/html)"),
        ("/broken.png", "image cannot be decoded: UnidentifiedImageError"),
        ("/huge.png", "image larger than 200000 bytes"),
    ],
)
def test_bad_images_fail_alone(embedder, images, path, reason):
    url = f"{images}{path}" if path else ""
    bad, good = embedder.embed([product(url), product(f"{images}/red.png")])
    assert bad.reason == reason
    assert not isinstance(good, EmbedFailure)


def test_an_unreachable_host_is_a_failure_not_a_crash(embedder):
    from tests.helpers import closed_port

    [result] = embedder.embed([product(f"http://127.0.0.1:{closed_port()}/a.png")])
    assert result.reason.startswith("image fetch failed: ConnectError")


def test_a_missing_model_says_where_it_looked(tmp_path):
    with pytest.raises(ModelNotFound, match="No ONNX vision model in"):
        FashionSiglipEmbedder(model_dir=str(tmp_path))


@pytest.mark.parametrize("output", ["image_embeds", "pooler_output"])
def test_the_embedding_is_the_output_by_name_not_by_position(tmp_path, weights, output):
    """Exports list last_hidden_state first: taking the first output would embed the wrong
    tensor (here the pooled colours, 3 wide)."""
    build_vision_model(tmp_path, weights, output=output, first="last_hidden_state")
    embedder = FashionSiglipEmbedder(model_dir=str(tmp_path))
    assert embedder.output_name == output
    assert embedder.dimension == DIM


def test_a_model_whose_embedding_cannot_be_told_is_refused(tmp_path, weights):
    build_vision_model(tmp_path, weights, output="features", first="last_hidden_state")
    with pytest.raises(ModelNotFound, match="none of them image_embeds or pooler_output"):
        FashionSiglipEmbedder(model_dir=str(tmp_path))
