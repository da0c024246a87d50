"""The sync holds no transaction while it fetches and embeds: claimed work is
leased, renewed while it runs, and taken over when a worker dies. Products without an image
wait for their image to change instead of a timer."""

import io
import subprocess
import sys
import threading
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image

from catalog.models import Product
from config.processes import this_process
from tests.factories import ProductFactory
from tests.helpers import PROJECT_DIR, LoopbackHTTPServer
from tests.vectors.onnx_models import build_vision_model
from vectors import sync as sync_module
from vectors import sync_queue
from vectors.collection import collection_ensure
from vectors.embedders import get_embedder
from vectors.embedders.fetch import FetchLimits
from vectors.embedders.siglip import FashionSiglipEmbedder
from vectors.models import ProductChange
from vectors.sync import sync_pending


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


class SlowImageServer(LoopbackHTTPServer):
    """Serves one PNG, but holds every request until told to answer."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.entered.set()
                server.release.wait(timeout=30)
                body = png()
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(Handler)


@pytest.fixture
def siglip(tmp_path):
    build_vision_model(tmp_path, np.random.default_rng(0).standard_normal((3, 768)).astype("f4"))
    return FashionSiglipEmbedder(
        model_dir=str(tmp_path), limits=FetchLimits(timeout=30, allow_private=True)
    )


def new_product(**fields) -> Product:
    return ProductFactory(**{"title": "Coat", "image_url": ""} | fields)


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_an_image_is_fetched(qdrant, config, siglip):
    collection_ensure(client=qdrant, config=config)
    with SlowImageServer() as images:
        product = new_product(image_url=f"{images.base}/coat.png")
        outcome = {}

        def work():  # a worker of its own, with its own database connection
            try:
                outcome["report"] = sync_pending(client=qdrant, config=config, embedder=siglip)
            finally:
                connection.close()

        worker = threading.Thread(target=work)
        worker.start()
        try:
            assert images.entered.wait(timeout=30), "the sync never fetched the image"
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pid, state, xact_start FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                others = cursor.fetchall()
            assert others, "the sync's own connection should be there"
            assert [row for row in others if row[2] is not None] == []  # no open transaction
            (change,) = ProductChange.objects.all()
            assert change.lease is not None and change.leased_until > timezone.now()
        finally:
            images.release.set()
            worker.join(timeout=60)
    assert outcome["report"].embedded == 1
    assert not ProductChange.objects.exists()
    assert qdrant.retrieve(config.collection, [str(product.pk)])


@pytest.mark.django_db
def test_a_dead_workers_batch_is_taken_over_when_its_lease_runs_out(qdrant, config):
    collection_ensure(client=qdrant, config=config)
    product = new_product()
    dead = uuid.uuid4()
    # A worker on another host claims the batch, then dies: nothing here can tell.
    claims = sync_queue.claim(256, dead, "another-host:4242:1")
    assert [c.product_ids for c in claims] == [[product.pk]]
    assert sync_pending(client=qdrant, config=config, embedder=get_embedder()).products == 0

    ProductChange.objects.update(leased_until=timezone.now() - timedelta(seconds=1))
    report = sync_pending(client=qdrant, config=config, embedder=get_embedder())
    assert report.embedded == 1
    assert not ProductChange.objects.exists()
    assert ProductChange.objects.filter(lease=dead).delete()[0] == 0  # its finish is a no-op


def ended_process() -> str:
    """How a process of this host that has ended named itself when it took a lease."""
    child = subprocess.run(
        [sys.executable, "-c", "from config.processes import this_process as p; print(p())"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return child.stdout.strip()


@pytest.mark.django_db
def test_a_lease_of_an_ended_process_of_this_host_is_taken_over_at_once(qdrant, config):
    """A sync killed mid-batch and started again: no waiting out its own dead lease."""
    collection_ensure(client=qdrant, config=config)
    product = new_product()
    sync_queue.claim(256, uuid.uuid4(), ended_process())
    report = sync_pending(client=qdrant, config=config, embedder=get_embedder())
    assert report.embedded == 1
    assert not ProductChange.objects.exists()
    assert qdrant.retrieve(config.collection, [str(product.pk)])


@pytest.mark.django_db
def test_a_lease_of_a_live_process_or_of_a_reused_pid(qdrant, config):
    collection_ensure(client=qdrant, config=config)
    new_product()
    sync_queue.claim(256, uuid.uuid4(), this_process())  # alive: its lease stands
    assert sync_pending(client=qdrant, config=config, embedder=get_embedder()).products == 0

    # The same pid, started at another time: the process that took the lease is gone.
    host, pid, started = this_process().split(":")
    ProductChange.objects.update(leased_by=f"{host}:{pid}:{int(started) + 1}")
    assert sync_pending(client=qdrant, config=config, embedder=get_embedder()).embedded == 1


@pytest.mark.django_db
def test_an_outage_gives_the_batch_back_at_once(qdrant, config, monkeypatch):
    from vectors.exceptions import VectorStoreUnavailable

    collection_ensure(client=qdrant, config=config)
    new_product()

    def down(**kwargs):
        raise VectorStoreUnavailable("Qdrant at localhost:6333 is not reachable")

    monkeypatch.setattr(sync_module, "write_products", down)
    with pytest.raises(VectorStoreUnavailable):
        sync_pending(client=qdrant, config=config, embedder=get_embedder())
    (change,) = ProductChange.objects.all()
    assert (change.lease, change.leased_until, change.attempts) == (None, None, 0)


@pytest.mark.django_db
def test_a_product_without_image_waits_for_its_image_to_change(qdrant, config, siglip):
    collection_ensure(client=qdrant, config=config)
    product = new_product(image_url="")
    report = sync_pending(client=qdrant, config=config, embedder=siglip)
    assert (report.without_image, report.failed, report.embedded) == (1, {}, 0)
    assert not ProductChange.objects.exists()  # not re-queued on a timer
    assert qdrant.retrieve(config.collection, [str(product.pk)]) == []

    with SlowImageServer() as images:
        images.release.set()  # answer at once
        product.image_url = f"{images.base}/new.png"
        product.save()
        report = sync_pending(client=qdrant, config=config, embedder=siglip)
    assert report.embedded == 1 and images.entered.is_set()
    assert qdrant.retrieve(config.collection, [str(product.pk)])

    product.image_url = ""  # the image removed: its point goes, as it no longer stands for it
    product.save()
    assert sync_pending(client=qdrant, config=config, embedder=siglip).without_image == 1
    assert qdrant.retrieve(config.collection, [str(product.pk)]) == []
