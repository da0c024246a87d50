"""Turning a stream of SourceRecords into batches ready to write (runs in the reader process).

Everything CPU-bound happens here, off the process that talks to PostgreSQL: validation,
de-duplication (the last record of an external_id wins) and encoding the rows in COPY's
text format, so the writer can hand a batch to PostgreSQL as one block of bytes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from catalog.exceptions import FeedError, FetchError, RecordRejected
from catalog.ingest.records import ProductRow, SourceRecord
from catalog.ingest.seen import SeenIds
from catalog.ingest.validate import validate_record

# COPY text format: tab-separated, newline-terminated, backslash escapes. Fields are joined
# with NUL (which PostgreSQL text cannot hold, and validation removes) and one translate()
# call both escapes the specials and turns the NULs into tabs.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\t"})


_NEEDS_ESCAPE = re.compile(r"[\\\t\n\r]")


def copy_line(store_id: str, row: ProductRow) -> str:
    line = "\0".join((store_id, *row))
    if _NEEDS_ESCAPE.search(line):
        return line.translate(_COPY_ESCAPES) + "\n"
    return line.replace("\0", "\t") + "\n"  # the common case, several times faster


@dataclass
class PreparedBatch:
    rows: dict[str, ProductRow] = field(default_factory=dict)
    rejections: list[tuple[SourceRecord, str, str]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # reason -> records
    records: int = 0
    duplicates: int = 0
    repeats_earlier_batch: bool = False
    error: str | None = None  # the feed broke off after this batch
    copy_data: bytes | None = None  # the rows in COPY text format, when asked for
    progress: float | None = None  # how far through the feed the reader is
    # The end-of-feed marker: whether the feed can be trusted to be complete.
    last: bool = False
    incomplete: str | None = None

    def encode(self, store_id: str) -> None:
        self.copy_data = "".join(copy_line(store_id, row) for row in self.rows.values()).encode()


def prepare_batches(
    records: Iterable[SourceRecord],
    *,
    store_id: str,
    batch_size: int,
    encode: bool,
    default_currency: str | None = None,
) -> Iterator[PreparedBatch]:
    """`encode`: also prepare each batch's COPY data (worth it when most rows are new);
    `default_currency`: for records that name none."""
    earlier = SeenIds()  # the ids of earlier batches
    batch = PreparedBatch()

    def finish(batch: PreparedBatch) -> PreparedBatch:
        repeated = earlier.add(batch.rows)
        batch.duplicates += repeated
        # A repeated id may be saved already (by an earlier batch): look the batch up.
        batch.repeats_earlier_batch = repeated > 0
        if encode:
            batch.encode(store_id)
        return batch

    try:
        for record in records:
            batch.records += 1
            if record.error:
                batch.rejections.append((record, *record.error))
                continue
            if record.skip:
                batch.skipped[record.skip] += 1
                continue
            try:
                row = validate_record(
                    record.data, store_id=store_id, default_currency=default_currency
                )
            except RecordRejected as exc:
                batch.rejections.append((record, exc.field, exc.reason))
                continue
            if row.external_id in batch.rows:
                batch.duplicates += 1
                del batch.rows[row.external_id]  # re-insert: the last one's position wins
            batch.rows[row.external_id] = row
            if len(batch.rows) >= batch_size:
                yield finish(batch)
                batch = PreparedBatch()
    except (FetchError, FeedError) as exc:
        batch.error = str(exc)
    yield finish(batch)
