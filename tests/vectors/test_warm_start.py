"""What a web process does before its first request: read the store's files ahead, and one
similar-products request through the whole WSGI handler."""

import pytest
from django.core.wsgi import get_wsgi_application

from vectors import page_cache, web_process
from vectors.collection import collection_ensure
from vectors.embedders import get_embedder
from vectors.sync import sync_pending


def write_files(root, names):
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 8192)
    return root


def test_search_files_come_first_and_what_does_not_fit_is_left_out(tmp_path, monkeypatch):
    names = ["payload_storage/page_0.dat", "vector_storage/matrix.dat", "id_tracker.x"]
    segments = write_files(tmp_path, [f"s1/{name}" for name in [*names, "vector_index/g.bin"]])
    monkeypatch.setattr(page_cache, "memory_available", lambda: 1 << 30)
    names = [path.relative_to(segments).as_posix() for path in page_cache.files_to_read(segments)]
    assert sorted(names[:2]) == ["s1/vector_index/g.bin", "s1/vector_storage/matrix.dat"]
    assert len(names) == 4

    # Room for two files only (half of the memory available is the budget).
    monkeypatch.setattr(page_cache, "memory_available", lambda: 4 * 8192)
    kept = page_cache.files_to_read(segments)
    assert {path.parent.name for path in kept} == {"vector_storage", "vector_index"}
    assert len(kept) == 2


def test_reading_stops_at_its_deadline_and_hands_back_the_rest(tmp_path):
    files = sorted(write_files(tmp_path, ["a", "b", "c"]).iterdir())
    assert page_cache.read_into_cache(files, seconds=0) == files
    assert page_cache.read_into_cache(files, seconds=None) == []
    (tmp_path / "b").unlink()  # a build replaced it meanwhile: skipped, not an error
    assert page_cache.read_into_cache(files, seconds=None) == []


@pytest.mark.django_db(transaction=True)
def test_warm_up_asks_the_handler_for_similar_products(qdrant, config, make_product, settings):
    settings.ALLOWED_HOSTS = [".shop.example"]
    collection_ensure(client=qdrant, config=config)
    products = [make_product(title="Blue linen shirt"), make_product(title="White linen shirt")]
    sync_pending(client=qdrant, config=config, embedder=get_embedder())
    django_app = get_wsgi_application()
    answers = []

    def application(environ, start_response):
        def record(status, headers, exc_info=None):
            answers.append((environ["PATH_INFO"], environ["HTTP_HOST"], status))
            return start_response(status, headers, exc_info)

        return django_app(environ, record)

    web_process._warm_up(application)
    (path, host, status) = answers[0]  # exactly one request
    assert len(answers) == 1
    assert path in {f"/api/products/{product.pk}/similar" for product in products}
    assert (host, status) == ("shop.example", "200 OK")
