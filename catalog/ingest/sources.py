"""From the command line's SOURCE and --format to a stream of SourceRecords."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from catalog.exceptions import SourceError
from catalog.ingest import files, woocommerce
from catalog.ingest.http import HttpPolicy, PoliteClient, public_url
from catalog.ingest.records import SourceRecord

FILE_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}
FORMATS = ("jsonl", "json", "csv", "woocommerce-store", "woocommerce-rest")


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
        route = woocommerce.api_route(source)
        if "/wc/store/" in route:
            return "woocommerce-store"
        if "/wc/v3/" in route:
            return "woocommerce-rest"
        raise SourceError(
            f"Cannot tell the API of {public_url(source)}: expected .../wp-json/wc/store/v1/"
            "products or .../wp-json/wc/v3/products (or ?rest_route=/wc/...); pass --format."
        )
    fmt = FILE_FORMATS.get(Path(source).suffix.lower())
    if fmt is None:
        raise SourceError(
            f"Cannot tell the format of {source} from its extension; pass --format "
            f"({', '.join(FORMATS)})."
        )
    return fmt


def woocommerce_format_of(data: dict) -> str | None:
    """The WooCommerce API a record in a file looks like it came from, if it does: products
    with an `id` and a `permalink` but none of our `external_id`."""
    if "external_id" in data or "id" not in data or "permalink" not in data:
        return None
    return "woocommerce-store" if isinstance(data.get("prices"), dict) else "woocommerce-rest"


def _own_schema_records(path: Path, fmt: str, handle) -> Iterator[SourceRecord]:
    """Our schema's records, after a look at the first one: WooCommerce data without
    --format would otherwise be rejected record by record for a missing external_id."""
    reader = {"jsonl": files.read_jsonl, "json": files.read_json_array, "csv": files.read_csv}
    records = reader[fmt](handle)
    first = next(records, None)
    if first is None:
        return iter(())
    looks_like = woocommerce_format_of(first.data) if fmt != "csv" else None
    if looks_like:
        extra = " --currency CODE" if looks_like == "woocommerce-rest" else ""
        raise SourceError(
            f"{path} looks like WooCommerce {'Store API' if 'store' in looks_like else 'REST API'}"
            f" data (products with an id, not an external_id); pass --format {looks_like}{extra}."
        )
    return itertools.chain([first], records)


def _saved_woocommerce_feed(
    path: Path, fmt: str, currency: str | None, stack: contextlib.ExitStack
) -> Feed:
    """A WooCommerce API answer saved to a file (a JSON array of its products): the demo
    catalog, or a shop's export. REST v3 products carry no currency: --currency says it."""
    if fmt == "woocommerce-rest" and not currency:
        raise SourceError(
            "WooCommerce REST API products carry no currency; pass --currency CODE with the "
            "shop's currency to import them from a file."
        )
    handle = stack.enter_context(files.open_feed(path, binary=False))
    total = path.stat().st_size

    def records():
        for record in files.read_json_array(handle):
            if fmt == "woocommerce-rest":
                yield woocommerce.rest_api_product(record, currency=currency)
            else:
                yield woocommerce.store_api_product(record, default_currency=currency)

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
    currency: str | None = None,
    policy: HttpPolicy | None = None,
) -> Feed:
    """`currency`: the store's currency where the source does not say it (--currency)."""
    fmt = fmt or detect_format(source)
    if fmt not in FORMATS:
        raise SourceError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if modified_after and fmt != "woocommerce-rest":
        raise SourceError("--modified-after only applies to the WooCommerce REST API.")
    stack = contextlib.ExitStack()
    if fmt in ("jsonl", "json", "csv"):
        path = Path(source)
        handle = stack.enter_context(files.open_feed(path, binary=fmt == "jsonl"))
        total = path.stat().st_size
        try:
            records = _own_schema_records(path, fmt, handle)
        except BaseException:
            stack.close()
            raise
        return Feed(
            records=records,
            label=str(path),
            fraction=lambda: files.fraction_read(handle, total),
            incomplete=lambda: None,
            stack=stack,
        )
    if not is_url(source):
        return _saved_woocommerce_feed(Path(source), fmt, currency, stack)
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
        records = woocommerce.read_store_api(
            source, client=client, state=state, default_currency=currency
        )
    else:
        records = woocommerce.read_rest_api(
            source,
            client=client,
            state=state,
            modified_after=modified_after,
            default_currency=currency,
        )

    def incomplete() -> str | None:
        if modified_after:
            return "--modified-after fetches only recent changes, not the whole catalog"
        return state.doubt

    return Feed(
        records=records,
        label=public_url(source),
        fraction=lambda: state.fraction,
        incomplete=incomplete,
        stack=stack,
    )
