"""From the command line's SOURCE and --format to a stream of SourceRecords."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from catalog.ingest import files, woocommerce
from catalog.ingest.http import HttpPolicy, PoliteClient, public_url
from catalog.ingest.records import SourceRecord

FILE_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}
FORMATS = ("jsonl", "json", "csv", "woocommerce-store", "woocommerce-rest")


class SourceError(Exception):
    """The source cannot be used as given (unknown format, missing credentials...)."""


@dataclass
class Feed:
    records: Iterator[SourceRecord]
    label: str
    fraction: Callable[[], float | None]
    incomplete: Callable[[], str | None]
    stack: contextlib.ExitStack

    def close(self) -> None:
        self.stack.close()


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def detect_format(source: str) -> str:
    if is_url(source):
        path = source.split("?")[0].rstrip("/")
        if "/wc/store/" in path:
            return "woocommerce-store"
        if "/wc/v3/" in path:
            return "woocommerce-rest"
        raise SourceError(
            f"Cannot tell the API of {public_url(source)}: expected .../wp-json/wc/store/v1/"
            "products or .../wp-json/wc/v3/products; pass --format."
        )
    fmt = FILE_FORMATS.get(Path(source).suffix.lower())
    if fmt is None:
        raise SourceError(
            f"Cannot tell the format of {source} from its extension; pass --format "
            f"({', '.join(FORMATS)})."
        )
    return fmt


def _saved_store_api_feed(path: Path, stack: contextlib.ExitStack) -> Feed:
    """A Store API answer saved to a file (a JSON array of its products): the demo catalog,
    or a shop's export."""
    handle = stack.enter_context(files.open_feed(path, binary=False))
    total = path.stat().st_size

    def records():
        for record in files.read_json_array(handle):
            if record.error:
                yield record
            else:
                yield woocommerce.store_api_product(record.data)

    return Feed(
        records=records(),
        label=str(path),
        fraction=lambda: files.fraction_read(handle, total),
        incomplete=lambda: None,
        stack=stack,
    )


def open_feed(
    source: str,
    *,
    fmt: str | None = None,
    modified_after: str | None = None,
    credentials: tuple[str, str] | None = None,
    policy: HttpPolicy | None = None,
) -> Feed:
    fmt = fmt or detect_format(source)
    stack = contextlib.ExitStack()
    if fmt in ("jsonl", "json", "csv"):
        if modified_after:
            raise SourceError("--modified-after only applies to the WooCommerce REST API.")
        path = Path(source)
        handle = stack.enter_context(files.open_feed(path, binary=fmt == "jsonl"))
        total = path.stat().st_size
        reader = {"jsonl": files.read_jsonl, "json": files.read_json_array, "csv": files.read_csv}
        return Feed(
            records=reader[fmt](handle),
            label=str(path),
            fraction=lambda: files.fraction_read(handle, total),
            incomplete=lambda: None,
            stack=stack,
        )
    if fmt == "woocommerce-store" and not is_url(source):
        return _saved_store_api_feed(Path(source), stack)
    if not is_url(source):
        raise SourceError(f"--format {fmt} needs an http(s) URL, not {source!r}.")
    if fmt == "woocommerce-rest" and not credentials:
        raise SourceError(
            "The WooCommerce REST API needs WOOCOMMERCE_CONSUMER_KEY and "
            "WOOCOMMERCE_CONSUMER_SECRET in the environment."
        )
    client = stack.enter_context(
        PoliteClient(
            policy=policy or HttpPolicy.from_settings(),
            auth=credentials if fmt == "woocommerce-rest" else None,
        )
    )
    state = woocommerce.FeedState()
    if fmt == "woocommerce-store":
        if modified_after:
            raise SourceError("--modified-after only applies to the WooCommerce REST API.")
        records = woocommerce.read_store_api(source, client=client, state=state)
    elif fmt == "woocommerce-rest":
        records = woocommerce.read_rest_api(
            source, client=client, state=state, modified_after=modified_after
        )
    else:
        raise SourceError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")

    def incomplete() -> str | None:
        if modified_after:
            return "--modified-after fetches only recent changes, not the whole catalog"
        if not state.consistent:
            return "the shop's product count changed while paging, so pages may have shifted"
        return None

    return Feed(
        records=records,
        label=public_url(source),
        fraction=lambda: state.fraction,
        incomplete=incomplete,
        stack=stack,
    )
