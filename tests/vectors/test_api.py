"""The shop-front API's surface (vectors/api.py on django-ninja): its OpenAPI document, JSON
for every status, CORS for the shops' origins, and the per-client rate limit shared by every
web process."""

import subprocess
import sys
import uuid

import httpx
import pytest

from tests.helpers import answers, closed_port, start, stop, wait_until, worker_env
from vectors.collection import collection_ensure

pytestmark = pytest.mark.django_db

NOWHERE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def collection(qdrant, config):
    collection_ensure(client=qdrant, config=config)


def similar_path(product_id: str = NOWHERE) -> str:
    return f"/api/products/{product_id}/similar"


def test_the_openapi_document_describes_the_endpoints(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    document = response.json()
    operation = document["paths"]["/api/products/{product_id}/similar"]["get"]
    parameters = {parameter["name"] for parameter in operation["parameters"]}
    assert parameters == {
        "product_id",
        "limit",
        "store_id",
        "price_min",
        "price_max",
        "currency",
        "collapse",
        "per_store",
        "diversity",
    }
    assert {"200", "400", "404", "409", "429", "503"} <= set(operation["responses"])
    recommend = document["paths"]["/api/recommend"]["post"]
    body = recommend["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert {"200", "400", "429", "503"} <= set(recommend["responses"])
    assert {"positive", "negative", "strategy", "per_store", "collapse"} <= set(body["properties"])
    assert body["required"] == ["positive"]


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        (similar_path("not-a-uuid"), "get", 404),
        (similar_path(NOWHERE.upper()), "get", 404),  # parsed, and no such product
        (similar_path() + "/", "get", 404),
        ("/api/nothing-here", "get", 404),
        (similar_path(), "post", 405),
        (similar_path(), "delete", 405),
    ],
    ids=["malformed-id", "upper-case-id", "trailing-slash", "unknown", "post", "delete"],
)
def test_every_error_is_json(client, collection, path, method, status):
    response = getattr(client, method)(path)
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    assert isinstance(response.json()["error"], str)
    if status == 405:
        assert response["Allow"] == "GET"


def test_pages_outside_the_api_keep_django_s_own_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_cors_answers_the_shops_origins_only(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example.com"]
    preflight = client.options(
        similar_path(),
        headers={"Origin": "https://shop.example.com", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == "https://shop.example.com"
    shop = client.get(similar_path(), headers={"Origin": "https://shop.example.com"})
    assert shop["Access-Control-Allow-Origin"] == "https://shop.example.com"
    other = client.get(similar_path(), headers={"Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in other
    admin = client.get("/admin/login/", headers={"Origin": "https://shop.example.com"})
    assert "Access-Control-Allow-Origin" not in admin


def test_a_client_over_the_limit_gets_429_with_retry_after(client, settings, collection):
    settings.API_RATE_LIMIT = "3/m"
    statuses = [client.get(similar_path()).status_code for _ in range(3)]
    assert statuses == [404] * 3
    refused = client.get(similar_path())
    assert refused.status_code == 429
    assert refused.json() == {"error": "Too many requests."}
    assert 0 < int(refused["Retry-After"]) <= 60
    # Another address has its own count.
    assert client.get(similar_path(), REMOTE_ADDR="192.0.2.7").status_code == 404


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = closed_port()
    command = [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    return start(command, env), f"http://127.0.0.1:{port}"


@pytest.mark.django_db(transaction=True)
def test_the_limit_holds_across_web_processes(settings, tmp_path):
    """Two web processes, one client: the counts live in the cache they share (a PostgreSQL
    table by default), so the client's fifth request is refused by whichever it reaches."""
    servers = []
    try:
        for _ in range(2):
            env = worker_env(settings, tmp_path) | {
                "API_RATE_LIMIT": "4/m",
                "QDRANT_PATH": ":memory:",  # each its own: only the shared cache is shared
            }
            servers.append(start_server(env))
        for _, base in servers:
            wait_until(lambda base=base: answers(f"{base}/healthz"))
        product = str(uuid.uuid4())
        statuses = [
            httpx.get(f"{servers[k % 2][1]}{similar_path(product)}", timeout=10).status_code
            for k in range(5)
        ]
        assert statuses[:4] != [429] * 4 and 429 not in statuses[:4]
        assert statuses[4] == 429
    finally:
        for server, _ in servers:
            stop(server)


def redis_url() -> str:
    """This machine's Redis (every machine here runs one), on a database of its own."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return "redis://127.0.0.1:6379/13"


def test_with_redis_configured_the_counts_live_in_redis(client, settings, collection):
    import environ
    import redis

    url = redis_url()
    redis.Redis.from_url(url).flushdb()
    settings.CACHES = {"default": environ.Env.cache_url_config(url)}
    settings.API_RATE_LIMIT = "2/m"
    assert [client.get(similar_path()).status_code for _ in range(3)] == [404, 404, 429]
    assert any(b"throttle" in key for key in redis.Redis.from_url(url).scan_iter())
    redis.Redis.from_url(url).flushdb()


@pytest.mark.parametrize("rate", ["120/m", "10/s", "5000/hour", "", None])
def test_a_well_formed_rate_limit_passes_the_checks(settings, rate):
    from vectors.checks import check_api_rate_limit

    settings.API_RATE_LIMIT = rate
    assert check_api_rate_limit() == []


@pytest.mark.parametrize("rate", ["120", "abc", "0/m", "120/w", "12 0/m"])
def test_a_bad_rate_limit_is_a_system_check_error(settings, rate):
    from vectors.checks import check_api_rate_limit

    settings.API_RATE_LIMIT = rate
    (error,) = check_api_rate_limit()
    assert error.id == "vectors.E022"
    assert repr(rate) in error.msg
