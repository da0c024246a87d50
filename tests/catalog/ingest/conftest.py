import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command


def product(i, **overrides):
    return {
        "external_id": f"sku-{i}",
        "title": f"Product {i}",
        "description": f"Description {i}",
        "price": f"{i}.50",
        "currency": "EUR",
        "image_url": f"https://cdn.shop.example/{i}.jpg",
        "product_url": f"https://shop.example/p/{i}",
    } | overrides


@pytest.fixture
def feed(tmp_path):
    """Write records (dicts, or raw strings for broken lines) as a JSON Lines file."""

    def write(records, name="feed.jsonl"):
        path = tmp_path / name
        lines = [r if isinstance(r, str) else json.dumps(r) for r in records]
        path.write_text("\n".join(lines) + "\n")
        return path

    return write


class Run:
    def __init__(self, out: str, err: str, error: CommandError | None):
        self.out = out
        self.err = err
        self.error = error


@pytest.fixture
def run_import():
    def run(source, *args, store="shop-a"):
        out, err = StringIO(), StringIO()
        try:
            call_command(
                "import_products", str(source), "--store", store, *args, stdout=out, stderr=err
            )
            error = None
        except CommandError as exc:
            error = exc
        return Run(out.getvalue(), err.getvalue(), error)

    return run
