from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

from tests.helpers import LoopbackHTTPServer
from tests.vectors.onnx_models import COLOURS, build_tiny_siglip
from tests.vectors.tiny_siglip import png
from vectors.client import get_qdrant_client
from vectors.collection import collection_ensure
from vectors.conf import Engine, qdrant_config
from vectors.embedders import get_embedder, reset_embedder
from vectors.sync import sync_pending

# Every test that takes `qdrant` (or `config`) runs twice: on Qdrant Edge, in a fresh folder,
# and on qdrant-client's local mode in memory, which stands in for a server's API here.
ENGINES_HERE = (Engine.EDGE, Engine.MEMORY)


@pytest.fixture(params=ENGINES_HERE, ids=str)
def qdrant_settings(request, settings, tmp_path):
    """A fresh Qdrant of each kind: changing settings.QDRANT drops the cached client."""
    path = str(tmp_path / "qdrant") if request.param is Engine.EDGE else ":memory:"
    settings.QDRANT = {**settings.QDRANT, "URL": "", "HOST": "", "PATH": path}
    return settings


@pytest.fixture
def qdrant(qdrant_settings):
    return get_qdrant_client()


@pytest.fixture
def config(qdrant_settings):
    return qdrant_config()


# A tiny FashionSigLIP for tests that search through the real model's code: both towers and
# the tokenizer built here (onnx_models.build_tiny_siglip; no weights can be downloaded),
# colour images served over loopback, and the settings that make get_embedder() load them.
DIM = 768


@pytest.fixture(scope="module")
def colour_images():
    routes = {f"/{name}.png": png(rgb) for name, rgb in COLOURS.items()}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = routes.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "image/png" if body else "text/plain")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    with LoopbackHTTPServer(Handler) as server:
        yield server.base


@pytest.fixture(scope="module")
def tiny_siglip_dir(tmp_path_factory):
    weights = np.random.default_rng(0).standard_normal((3, DIM)).astype(np.float32)
    return build_tiny_siglip(tmp_path_factory.mktemp("marqo-fashionSigLIP"), weights)


@pytest.fixture
def siglip(settings, tiny_siglip_dir):
    settings.VECTORS_EMBEDDER = "fashion-siglip"
    settings.VECTORS_MODEL_DIR = str(tiny_siglip_dir)
    # The images are on loopback; test_photo_urls_inside_our_network_are_refused turns it off.
    settings.VECTORS_IMAGE_ALLOW_PRIVATE = True
    reset_embedder()
    yield settings
    reset_embedder()


@pytest.fixture
def colour_catalog(siglip, qdrant, config, make_product, colour_images):
    """Two red products in shop-a at 30.00 EUR, two blue in shop-b at 80.00, synced."""
    collection_ensure(client=qdrant, config=config)
    for name, store, price in (("red", "shop-a", "30.00"), ("blue", "shop-b", "80.00")):
        for kind in ("dress", "shirt"):
            make_product(
                title=f"{name.title()} {kind}",
                store_id=store,
                price=price,
                image_url=f"{colour_images}/{name}.png",
            )
    report = sync_pending(client=qdrant, config=config, embedder=get_embedder())
    assert report.embedded == 4, report.failed
    return colour_images


# The four-product catalog that similar-products and words-search tests share.
@pytest.fixture
def catalog(qdrant, config, make_product):
    collection_ensure(client=qdrant, config=config)
    items = {
        "shirt": make_product(
            title="Blue linen shirt", description="Linen shirt, blue", price="40.00"
        ),
        "shirt2": make_product(
            title="White linen shirt",
            description="Linen shirt, white",
            price="60.00",
            store_id="shop-b",
        ),
        "shirt3": make_product(
            title="Linen shirt with pocket", description="Linen shirt", price="90.00"
        ),
        "boots": make_product(
            title="Leather boots", description="Brown leather boots", price="120.00"
        ),
    }
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    return items


@pytest.fixture
def rates_of_2024_06_28():
    """The ECB's reference rates of 2024-06-28 (tests/catalog/ingest/fixtures/SOURCES.md)."""
    from catalog.ingest.rates import load_exchange_rates
    from tests.helpers import INGEST_FIXTURES as FIXTURES

    load_exchange_rates(str(FIXTURES / "ecb_eurofxref_daily_2024-06-28.xml"))
