"""A newcomer's walk through the demo catalog, in a real browser (Debian's Chromium driven by
Playwright) against the real app served by pytest-django's live server."""

import os
import re
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Product
from tests.factories import ProductFactory
from tests.helpers import PROJECT_DIR

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = PROJECT_DIR / "test-artifacts"
# Chromium runs as root here, and must not try to reach the (closed) network on its own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, which makes Django refuse
    # database calls here as if they came from async code; they do not.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(browser, request):
    page = browser.new_page()
    yield page
    if request.node.rep_call.failed if hasattr(request.node, "rep_call") else False:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    page.close()


@pytest.fixture
def demo_site(live_server, settings, tmp_path):
    # The embedded engine `make run` uses (Qdrant Edge), in a folder of this test's own.
    settings.QDRANT = {"PATH": str(tmp_path / "qdrant")}
    quiet = {"stdout": StringIO(), "stderr": StringIO()}
    call_command("ensure_qdrant_collection", **quiet)
    call_command("load_demo", "--image-base", live_server.url, **quiet)
    call_command("sync_vectors", **quiet)
    get_user_model().objects.create_superuser("admin", "admin@example.com", "demo-password")
    return live_server.url


def row_titles(page) -> list[str]:
    return page.locator("#result_list tbody th a").all_inner_texts()


@pytest.mark.django_db(transaction=True)
def test_a_newcomer_browses_the_demo_catalog(demo_site, page):
    page.goto(f"{demo_site}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "demo-password")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))

    page.goto(f"{demo_site}/admin/catalog/product/")
    assert len(row_titles(page)) == 50
    assert "300 products" in page.locator(".paginator").inner_text()
    # Thumbnails are served by the app itself and actually load.
    first_image = page.locator("#result_list tbody img").first
    first_image.scroll_into_view_if_needed()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=first_image.element_handle()
    )

    page.fill("#searchbar", "linen")
    page.press("#searchbar", "Enter")
    page.wait_for_url(re.compile(r"q=linen"))
    titles = row_titles(page)
    assert titles and all("linen" in title.lower() for title in titles)

    page.goto(f"{demo_site}/admin/catalog/product/")
    page.click("#changelist-filter a:text-is('maison-lune (80)')")
    page.wait_for_url(re.compile(r"store_id=maison-lune"))
    expected = Product.objects.filter(store_id="maison-lune").count()
    assert f"{expected} products" in page.locator(".paginator").inner_text()

    first = row_titles(page)[0]
    page.click(f"#result_list tbody th a:text-is('{first}')")
    page.wait_for_url(re.compile(r"/change/"))
    panel = page.locator("fieldset:has(h2:text-is('Similar products'))")
    similar = panel.locator("a").all_inner_texts()
    assert len(similar) == 8
    # Never the product itself (by its link: demo titles repeat across shops).
    own_path = page.url.split("?")[0].removeprefix(demo_site)
    links = [
        href.split("?")[0]
        for href in panel.locator("a").evaluate_all(
            "links => links.map(a => a.getAttribute('href'))"
        )
    ]
    assert own_path not in links
    panel.locator("a").first.click()
    page.wait_for_function(
        "title => document.querySelector('#id_title')?.value === title", arg=similar[0]
    )
    assert page.locator("#id_title").input_value() == similar[0]
    if os.environ.get("E2E_SCREENSHOTS"):  # to look at it: E2E_SCREENSHOTS=1 make test
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "product-page.png"), full_page=True)


def log_in(page, site: str) -> None:
    page.goto(f"{site}/admin/login/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "demo-password")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def card_titles(page) -> list[str]:
    return page.locator("#search-results li a").all_inner_texts()


@pytest.mark.django_db(transaction=True)
def test_staff_search_the_demo_by_words(demo_site, page):
    log_in(page, demo_site)
    page.goto(f"{demo_site}/admin/catalog/product/")
    page.click("text=Search by words or photo")
    page.wait_for_url(re.compile(r"/admin/catalog/product/search/$"))
    page.fill("#id_q", "linen shirt")
    page.fill("#id_store_id", "maison-lune")
    page.click("#product-search input[type=submit]")
    page.wait_for_selector("#search-results")
    titles = card_titles(page)
    # The hashing stand-in ranks by shared words: the best has one of them in its title.
    assert titles and {"linen", "shirt"} & set(titles[0].lower().split())
    metas = page.locator("#search-results .meta").all_inner_texts()
    assert metas and all(meta.startswith("maison-lune ·") for meta in metas)
    # Results show their thumbnails (served by the app, actually loaded) and lead to their
    # product.
    thumbnail = page.locator("#search-results li img").first
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=thumbnail.element_handle()
    )
    page.locator("#search-results li a").first.click()
    page.wait_for_url(re.compile(r"/change/"))
    assert page.locator("#id_title").input_value() == titles[0]


@pytest.mark.django_db(transaction=True)
def test_staff_search_by_a_photo_through_the_model(live_server, page, settings, tmp_path):
    """The photo goes through the real model's code on the tiny towers the tests build (the
    real weights cannot be downloaded), as a shop with VECTORS_EMBEDDER=fashion-siglip runs."""
    import io
    from http.server import BaseHTTPRequestHandler

    import numpy as np
    from PIL import Image

    from tests.helpers import LoopbackHTTPServer
    from tests.vectors.onnx_models import COLOURS, build_tiny_siglip
    from vectors.embedders import reset_embedder

    weights = np.random.default_rng(0).standard_normal((3, 768)).astype(np.float32)
    settings.VECTORS_EMBEDDER = "fashion-siglip"
    settings.VECTORS_MODEL_DIR = str(build_tiny_siglip(tmp_path / "model", weights))
    settings.VECTORS_IMAGE_ALLOW_PRIVATE = True  # the products' images are on loopback
    settings.QDRANT = {"PATH": str(tmp_path / "qdrant")}
    reset_embedder()

    def png(rgb) -> bytes:
        buffer = io.BytesIO()
        Image.new("RGB", (120, 160), rgb).save(buffer, format="PNG")
        return buffer.getvalue()

    photos = {f"/{name}.png": png(rgb) for name, rgb in COLOURS.items()}

    class Photos(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            self.wfile.write(photos[self.path])

        def log_message(self, *args):
            pass

    try:
        with LoopbackHTTPServer(Photos) as server:
            for colour in ("red", "blue"):
                for kind in ("dress", "coat"):
                    ProductFactory(
                        title=f"{colour.title()} {kind}",
                        price="50.00",
                        image_url=f"{server.base}/{colour}.png",
                    )
            quiet = {"stdout": StringIO(), "stderr": StringIO()}
            call_command("ensure_qdrant_collection", **quiet)
            call_command("sync_vectors", **quiet)
        get_user_model().objects.create_superuser("admin", "admin@example.com", "demo-password")

        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/admin/catalog/product/search/")
        page.set_input_files(
            "#id_image",
            files=[{"name": "mine.png", "mimeType": "image/png", "buffer": png((20, 30, 230))}],
        )
        page.click("#product-search input[type=submit]")
        page.wait_for_selector("#search-results")
        # The blue dress and coat share one photo: one product in two listings to the
        # grouping (sync_vectors grouped them), shown once, first.
        titles = card_titles(page)
        assert titles[0] in {"Blue dress", "Blue coat"}
        assert len({"Blue dress", "Blue coat"} & set(titles)) == 1
    finally:
        reset_embedder()
