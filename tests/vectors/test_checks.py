import numpy as np
import pytest
from django.core.checks import Error, Warning

from tests.helpers import closed_port
from tests.vectors.helpers import add_points, create_alias, make_collection
from tests.vectors.onnx_models import build_vision_model
from vectors.checks import (
    check_embedder_dimension,
    check_embedder_setting,
    check_qdrant_collection,
    check_qdrant_settings,
)
from vectors.client import get_qdrant_client
from vectors.collection import collection_ensure
from vectors.embedders import get_embedder, reset_embedder

ENSURE_HINT = "Run manage.py ensure_qdrant_collection."


def test_valid_settings_pass(qdrant_settings):
    assert check_qdrant_settings() == []


def test_settings_errors_name_the_variable_with_a_hint(settings):
    settings.QDRANT = {"VECTOR_SIZE": "-3", "DISTANCE": "l2", "URL": "qdrant:6333", "PATH": "/q"}
    assert check_qdrant_settings() == [
        Error(
            "QDRANT_URL must be an http:// or https:// URL with a host, such as "
            "http://localhost:6333.",
            hint="Set QDRANT_URL (http://localhost:6333) or QDRANT_HOST with QDRANT_PORT, "
            "not both.",
            id="vectors.E003",
        ),
        Error(
            "QDRANT_PATH (embedded Qdrant) is set together with a server (QDRANT_URL); "
            "set only one.",
            hint="Unset QDRANT_PATH to use the server, or unset QDRANT_URL/QDRANT_HOST to run "
            "Qdrant embedded.",
            id="vectors.E004",
        ),
        Error(
            "QDRANT_DISTANCE must be one of cosine, dot, euclid, manhattan, not 'l2'.",
            hint="Set QDRANT_DISTANCE to cosine, dot, euclid or manhattan.",
            id="vectors.E002",
        ),
        Error(
            "QDRANT_VECTOR_SIZE must be an integer from 1 to 65536, not '-3'.",
            hint="Set QDRANT_VECTOR_SIZE to the embedding model's dimension (768 for Marqo "
            "FashionSigLIP).",
            id="vectors.E001",
        ),
    ]


def test_live_check_skips_when_settings_are_invalid(settings):
    settings.QDRANT = {"VECTOR_SIZE": "big"}
    assert check_qdrant_collection() == []


def test_live_check_passes_on_an_ensured_collection(qdrant, config):
    collection_ensure(client=qdrant, config=config)
    assert check_qdrant_collection() == []


def errors(messages):
    """The errors only: a collection made by hand also lacks what ensure adds (warnings)."""
    return [message for message in messages if message.is_serious()]


def test_live_check_reports_a_missing_collection(qdrant, config):
    assert check_qdrant_collection() == [
        Error(
            f"Qdrant collection 'products' does not exist in {config.label}.",
            hint=ENSURE_HINT,
            id="vectors.E011",
        )
    ]


def test_live_check_reports_a_size_mismatch_through_an_alias(qdrant):
    make_collection(qdrant, "products_2025", size=512)
    create_alias(qdrant, "products", "products_2025")
    assert errors(check_qdrant_collection()) == [
        Error(
            "Qdrant collection 'products' holds 512-dimensional vectors; QDRANT_VECTOR_SIZE "
            "is 768.",
            hint="Use a collection of the right size: manage.py ensure_qdrant_collection "
            "--recreate (deletes its points), or fix QDRANT_VECTOR_SIZE.",
            id="vectors.E012",
        )
    ]


def test_live_check_reports_a_distance_mismatch(qdrant):
    make_collection(qdrant, "products", distance="Dot")
    add_points(qdrant, "products", 3)
    assert errors(check_qdrant_collection()) == [
        Error(
            "Qdrant collection 'products': distance: expected Cosine, found Dot.",
            hint="Use a collection with the configured distance: manage.py "
            "ensure_qdrant_collection --recreate (deletes its points), or fix QDRANT_DISTANCE.",
            id="vectors.E013",
        )
    ]


def test_live_check_reports_an_unreachable_server(settings):
    port = closed_port()
    settings.QDRANT = {"URL": f"http://127.0.0.1:{port}", "API_KEY": "k-123", "CHECK_TIMEOUT": "2"}
    messages = check_qdrant_collection()
    assert messages == [
        Error(
            f"Qdrant at http://127.0.0.1:{port} is unreachable: [Errno 111] Connection refused",
            hint="Start Qdrant (docker compose up -d qdrant) or fix QDRANT_URL / QDRANT_HOST / "
            "QDRANT_API_KEY.",
            id="vectors.E010",
        )
    ]
    assert get_qdrant_client(probe=True).config.check_timeout == 2


def test_an_unknown_embedder_is_an_error(settings):
    settings.VECTORS_EMBEDDER = "clip"
    assert check_embedder_setting() == [
        Error(
            "VECTORS_EMBEDDER must be one of hashing, fashion-siglip, not 'clip'.",
            hint="Use hashing for development, fashion-siglip (with VECTORS_MODEL_DIR) in "
            "production.",
            id="vectors.E006",
        )
    ]


@pytest.fixture
def fresh_embedder():
    reset_embedder()
    yield
    reset_embedder()


def test_the_embedder_must_fit_the_collection(settings, tmp_path, qdrant_settings, fresh_embedder):
    build_vision_model(tmp_path, np.ones((3, 512), dtype=np.float32))
    settings.VECTORS_EMBEDDER = "fashion-siglip"
    settings.VECTORS_MODEL_DIR = str(tmp_path)
    assert check_embedder_dimension() == [
        Error(
            "The fashion-siglip embedder makes 512-dimensional vectors; QDRANT_VECTOR_SIZE is 768.",
            hint="Set QDRANT_VECTOR_SIZE to the model's dimension and re-index "
            "(manage.py reindex_vectors), or use the matching model.",
            id="vectors.E008",
        )
    ]
    reset_embedder()
    settings.QDRANT = settings.QDRANT | {"VECTOR_SIZE": "512"}
    assert check_embedder_dimension() == []


def test_a_missing_model_is_reported(settings, tmp_path, qdrant_settings, fresh_embedder):
    settings.VECTORS_EMBEDDER = "fashion-siglip"
    settings.VECTORS_MODEL_DIR = str(tmp_path)
    [error] = check_embedder_dimension()
    assert error.id == "vectors.E007"
    assert error.msg.startswith(
        f"The fashion-siglip embedder cannot be loaded: No ONNX vision model in {tmp_path}"
    )


def test_the_hashing_embedder_always_fits(qdrant_settings, fresh_embedder):
    assert check_embedder_dimension() == []


def test_a_requested_onnx_provider_that_is_missing_is_reported(settings):
    import onnxruntime

    from vectors.checks import check_onnx_providers

    settings.VECTORS_EMBEDDER = "fashion-siglip"
    settings.VECTORS_ONNX_PROVIDERS = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    available = ", ".join(sorted(onnxruntime.get_available_providers()))
    assert "CUDAExecutionProvider" not in available  # no GPU build on the test machines
    assert check_onnx_providers() == [
        Warning(
            "VECTORS_ONNX_PROVIDERS asks for CUDAExecutionProvider, which this ONNX Runtime "
            f"does not have (it has {available}).",
            hint="Install the matching build (onnxruntime-gpu for CUDAExecutionProvider) "
            "or remove the provider from VECTORS_ONNX_PROVIDERS.",
            id="vectors.W017",
        )
    ]
    settings.VECTORS_ONNX_PROVIDERS = ["CPUExecutionProvider"]
    assert check_onnx_providers() == []


def test_onnx_settings_reach_the_session(settings, tmp_path, qdrant_settings, fresh_embedder):
    build_vision_model(tmp_path, np.ones((3, 768), dtype=np.float32))
    settings.VECTORS_EMBEDDER = "fashion-siglip"
    settings.VECTORS_MODEL_DIR = str(tmp_path)
    settings.VECTORS_ONNX_THREADS = 1
    settings.VECTORS_EMBED_BATCH = 7
    embedder = get_embedder()
    assert embedder.session.get_providers() == ["CPUExecutionProvider"]
    assert embedder.session.get_session_options().intra_op_num_threads == 1
    assert embedder.batch == 7
