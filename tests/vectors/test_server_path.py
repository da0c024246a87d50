"""The code paths only a Qdrant server takes, against the REST stand-in (see qdrant_standin)."""

from io import StringIO

import pytest
from django.core.checks import Warning
from django.core.management import CommandError, call_command

from tests.vectors.qdrant_standin import QdrantStandIn
from vectors.checks import check_qdrant_collection
from vectors.client import get_qdrant_client
from vectors.exceptions import VectorStoreError, VectorStoreUnavailable

INDEX_REQUESTS = {
    "product_id": "uuid",
    "store_id": {"type": "keyword", "is_tenant": True},
    "price_key": "float",
    "created_at": {"type": "datetime", "enable_hnsw": False},
}


@pytest.fixture
def server(settings):
    with QdrantStandIn() as standin:
        settings.QDRANT = {"URL": standin.url, "API_KEY": "key-abc", "TIMEOUT": "5"}
        yield standin


def ensure(*args: str) -> str:
    out = StringIO()
    call_command("ensure_qdrant_collection", *args, stdout=out)
    return out.getvalue()


def index_requests(server: QdrantStandIn) -> dict:
    return {
        body["field_name"]: body["field_schema"]
        for method, path, body in server.requests
        if method == "PUT" and path.split("?")[0].endswith("/index")
    }


def test_creates_the_collection_with_the_spec_and_requests_every_payload_index(server):
    output = ensure()
    assert output.splitlines() == [
        f"Created collection 'products' (alias of 'products_v1') in Qdrant at {server.url} "
        "(768-dim cosine, 0 points).",
        "Added payload indexes: product_id, store_id, price_key, created_at.",
    ]
    created = server.collections["products_v1"]
    assert created["vectors"] == {"size": 768, "distance": "Cosine"}
    assert created["on_disk_payload"] is True
    assert server.aliases == {"products": "products_v1"}
    assert index_requests(server) == INDEX_REQUESTS


def test_a_second_run_requests_nothing_more(server):
    ensure()
    server.requests.clear()
    assert ensure().startswith("Verified collection 'products'")
    assert index_requests(server) == {}
    assert [method for method, *_ in server.requests] == ["GET", "GET"]


def test_large_deployment_options_are_passed_on_creation(server, settings):
    settings.QDRANT = settings.QDRANT | {
        "SHARD_NUMBER": "6",
        "REPLICATION_FACTOR": "2",
        "WRITE_CONSISTENCY_FACTOR": "2",
        "ON_DISK_VECTORS": "true",
        "QUANTIZATION": "int8",
    }
    ensure()
    created = server.collections["products_v1"]
    assert created["vectors"] == {"size": 768, "distance": "Cosine", "on_disk": True}
    assert (created["shard_number"], created["replication_factor"]) == (6, 2)
    assert created["write_consistency_factor"] == 2
    assert created["quantization_config"] == {"scalar": {"type": "int8", "always_ram": True}}
    assert "matches the settings" in ensure("--check")


def test_missing_payload_indexes_are_reported_then_added(server):
    ensure()
    del server.collections["products_v1"]["payload_schema"]["price_key"]
    with pytest.raises(CommandError, match="payload index price_key: missing"):
        ensure("--check")
    assert check_qdrant_collection() == [
        Warning(
            "Qdrant collection 'products' lacks payload indexes: price_key.",
            hint="Run manage.py ensure_qdrant_collection.",
            id="vectors.W016",
        )
    ]
    server.requests.clear()
    assert "Added payload indexes: price_key." in ensure()
    assert index_requests(server) == {"price_key": "float"}


def test_options_fixed_at_creation_are_reported_not_changed(server):
    ensure()
    server.collections["products_v1"]["on_disk_payload"] = False
    output = ensure()
    assert (
        "Differs from the settings (left as is): on_disk_payload: expected True, found False"
        in (output)
    )
    assert check_qdrant_collection() == [
        Warning(
            "Qdrant collection 'products': on_disk_payload: expected True, found False.",
            hint="Options other than size and distance only apply when a collection is created; "
            "recreate it to change them.",
            id="vectors.W014",
        )
    ]


def test_the_api_key_is_sent_as_a_header(server):
    ensure()
    client = get_qdrant_client()
    assert client.get_aliases().aliases[0].alias_name == "products"


@pytest.mark.parametrize(
    ("status", "error_type", "message"),
    [
        (401, VectorStoreUnavailable, "refused the request (401): check QDRANT_API_KEY."),
        (403, VectorStoreUnavailable, "refused the request (403): check QDRANT_API_KEY."),
        (500, VectorStoreUnavailable, "answered 500: boom"),
        (503, VectorStoreUnavailable, "answered 503: boom"),
        (400, VectorStoreError, "rejected the request (400): boom"),
    ],
)
def test_http_errors_become_vector_store_errors(server, status, error_type, message):
    server.fail_with = (status, "boom")
    with pytest.raises(error_type) as excinfo:
        get_qdrant_client().get_aliases()
    assert str(excinfo.value) == f"Qdrant at {server.url} {message}"
    assert "key-abc" not in str(excinfo.value)
