"""Searching by a shopper's photo (POST /api/search/image) and by words through the real
model's code: FashionSigLIP's loading, tokenizer and preprocessing on tiny ONNX towers built
here (the real weights cannot be downloaded), products' images and query photos served over
loopback."""

import io
import time

import pytest

from config.arrival import queued_for
from tests.vectors.tiny_siglip import png
from vectors.collection import collection_ensure
from vectors.embedders import reset_embedder
from vectors.query import model_slots

pytestmark = pytest.mark.django_db
URL = "/api/search/image"


def titles(answer) -> list[str]:
    return [item["title"] for item in answer.json()["results"]]


def upload(client, data: bytes, **fields):
    return client.post(URL, {"image": io.BytesIO(data), **fields})


def test_a_photo_finds_the_products_that_look_like_it(client, colour_catalog):
    answer = upload(client, png((250, 10, 10), size=(300, 400)))
    assert answer.status_code == 200, answer.content
    assert set(titles(answer)[:2]) == {"Red dress", "Red shirt"}
    assert answer.json()["results"][0]["score"] > 0.99
    assert "truncated" not in answer.json()


def test_filters_come_as_form_fields_or_in_the_query_string(client, colour_catalog):
    assert set(titles(upload(client, png((255, 0, 0)), store_id="shop-b"))) == {
        "Blue dress",
        "Blue shirt",
    }
    in_query = client.post(f"{URL}?limit=1", {"image": io.BytesIO(png((0, 0, 255)))})
    assert titles(in_query) == titles(in_query)[:1] and titles(in_query)[0].startswith("Blue")
    priced = upload(client, png((255, 0, 0)), price_max="50", currency="EUR")
    assert set(titles(priced)) == {"Red dress", "Red shirt"}
    no_currency = upload(client, png((255, 0, 0)), price_max="50")
    assert no_currency.status_code == 400 and list(no_currency.json()["fields"]) == ["__all__"]


def test_a_photo_at_an_address_is_fetched_safely(client, colour_catalog, settings):
    answer = client.post(
        URL, {"image_url": f"{colour_catalog}/blue.png"}, content_type="application/json"
    )
    assert answer.status_code == 200, answer.content
    assert set(titles(answer)[:2]) == {"Blue dress", "Blue shirt"}

    missing = client.post(
        URL, {"image_url": f"{colour_catalog}/nope.png"}, content_type="application/json"
    )
    assert missing.status_code == 400
    assert missing.json()["fields"]["image_url"][0]["message"] == "image answered HTTP 404"


def test_photo_urls_inside_our_network_are_refused(client, colour_catalog, settings):
    settings.VECTORS_IMAGE_ALLOW_PRIVATE = False
    reset_embedder()
    answer = client.post(
        URL, {"image_url": f"{colour_catalog}/red.png"}, content_type="application/json"
    )
    assert answer.status_code == 400
    assert "a loopback address" in answer.json()["fields"]["image_url"][0]["message"]


def test_words_are_embedded_by_the_text_tower(client, colour_catalog):
    answer = client.get("/api/search", {"q": "A RED dress!"})
    assert answer.status_code == 200, answer.content
    assert set(titles(answer)[:2]) == {"Red dress", "Red shirt"}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a but not really", "image cannot be decoded: UnidentifiedImageError"),
        (png((255, 0, 0), size=(8000, 6000)), "image of 8000x6000 pixels is too large"),
    ],
    ids=["not-an-image", "too-many-pixels"],
)
def test_a_bad_photo_is_a_400_saying_what_is_wrong(client, colour_catalog, data, message):
    answer = upload(client, data)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid parameters",
        "fields": {"image": [{"message": message, "code": "invalid"}]},
    }


def test_a_body_over_the_limit_is_a_413_before_it_is_read(client, colour_catalog):
    answer = upload(client, b"\0" * (10 * 1024 * 1024 + 1))
    assert answer.status_code == 413
    assert answer.json() == {"error": "the photo must be at most 10 MB"}


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": {"limit": "3"}}, 400),  # multipart without a photo
        ({"data": b"<xml/>", "content_type": "application/xml"}, 415),
        ({"data": b"{not json", "content_type": "application/json"}, 400),
        ({"data": {"image_url": "file:///etc/passwd"}, "content_type": "application/json"}, 400),
    ],
    ids=["no-image", "xml", "broken-json", "not-http"],
)
def test_requests_that_are_not_a_photo_search_are_refused_in_json(
    client, colour_catalog, kwargs, status
):
    answer = client.post(URL, **kwargs)
    assert answer.status_code == status
    assert answer["Content-Type"].startswith("application/json")
    assert "error" in answer.json()


def test_an_uploaded_photo_never_touches_the_disk(client, colour_catalog, settings, monkeypatch):
    import django.core.files.uploadedfile as uploaded

    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10  # Django would spool anything larger to a file

    def refuse(*args, **kwargs):
        raise AssertionError("the photo was written to a temporary file")

    monkeypatch.setattr(uploaded.tempfile, "NamedTemporaryFile", refuse)
    assert upload(client, png((255, 0, 0), size=(500, 500))).status_code == 200


def test_a_busy_model_answers_503_with_retry_after_at_once(client, colour_catalog, settings):
    settings.VECTORS_QUERY_CONCURRENCY = 1
    settings.VECTORS_QUERY_WAIT = 0.05
    with model_slots.turn():  # another request is embedding its query
        photo = upload(client, png((255, 0, 0)))
        words = client.get("/api/search", {"q": "red"})
    for answer in (photo, words):
        assert answer.status_code == 503
        assert answer["Retry-After"] == "1"
        assert answer.json() == {"error": "search is busy right now; try again shortly"}
    assert upload(client, png((255, 0, 0))).status_code == 200  # the slot is free again


def test_the_wait_for_a_slot_counts_the_time_queued_for_a_web_thread(
    client, colour_catalog, settings
):
    """A request that already waited the whole limit in the server's queue (gunicorn's,
    config/gunicorn_worker.py) is refused at once when every slot is busy, and served when
    one is free, its Server-Timing counting that queue."""
    settings.VECTORS_QUERY_CONCURRENCY = 1
    settings.VECTORS_QUERY_WAIT = 30
    with queued_for(30.0):
        with model_slots.turn():
            started = time.monotonic()
            busy = client.get("/api/search", {"q": "red"})
            assert time.monotonic() - started < 30  # refused, not made to wait again
        served = client.get("/api/search", {"q": "red"})
    assert busy.status_code == 503 and busy["Retry-After"] == "30"
    assert served.status_code == 200
    queue = served["Server-Timing"].split(", ")[0]
    assert float(queue.removeprefix("queue;dur=")) >= 30_000


def test_the_hashing_stand_in_cannot_embed_a_photo(client, qdrant, config):
    collection_ensure(client=qdrant, config=config)
    answer = upload(client, png((255, 0, 0)))
    assert answer.status_code == 409
    assert answer.json() == {
        "error": "The configured embedder (hashing) cannot embed a photo; search by words or "
        "a product instead."
    }
    by_url = client.post(
        URL, {"image_url": "https://shop.example/a.png"}, content_type="application/json"
    )
    assert by_url.status_code == 409


def test_the_openapi_document_offers_both_ways_to_send_a_photo(client):
    operation = client.get("/api/openapi.json").json()["paths"][URL]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"multipart/form-data", "application/json"}
    assert content["multipart/form-data"]["schema"]["required"] == ["image"]
    assert "image_url" in content["application/json"]["schema"]["properties"]
    assert {"200", "400", "409", "413", "429", "503"} <= set(operation["responses"])


def test_answers_say_where_the_time_went(client, colour_catalog):
    timing = upload(client, png((255, 0, 0)))["Server-Timing"]
    queue, model = timing.split(", ")
    assert queue.startswith("queue;dur=") and model.startswith("model;dur=")
    assert float(model.removeprefix("model;dur=")) > 0
    assert "model;dur=" in client.get("/api/search", {"q": "red"})["Server-Timing"]


def test_oversized_form_fields_are_a_413(client, colour_catalog, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = upload(client, png((255, 0, 0)), store_id="x" * 5000)
    assert answer.status_code == 413
    assert answer.json() == {"error": "the form fields are too large"}


def test_photo_fetches_are_bounded_too(client, colour_catalog, settings):
    from vectors.query import fetch_slots

    settings.VECTORS_QUERY_CONCURRENCY = 1
    settings.VECTORS_QUERY_WAIT = 0.05
    body = {"image_url": f"{colour_catalog}/red.png"}
    with fetch_slots.turn(), fetch_slots.turn():  # two slow addresses being fetched
        busy = client.post(URL, body, content_type="application/json")
    assert busy.status_code == 503 and busy["Retry-After"] == "1"
    assert client.post(URL, body, content_type="application/json").status_code == 200
