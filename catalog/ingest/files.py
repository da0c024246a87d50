"""Readers for feeds in our own schema: JSON Lines, JSON arrays and CSV.

Each streams its file (memory stays flat at a million products) and yields SourceRecords
numbered by the line a record starts on. A malformed record becomes a rejection, not a crash.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import orjson

from catalog.exceptions import FeedError
from catalog.ingest.records import SourceRecord

CHUNK = 1 << 20
MAX_OBJECT = 16 << 20  # one product object larger than this is a broken file
WHITESPACE = " \t\r\n"


def open_feed(path: Path, *, binary: bool) -> IO:
    """Binary for JSON Lines (orjson takes bytes), text (BOM tolerated) for the others.

    Bytes that are not UTF-8 are read as lone surrogates ("surrogateescape") instead of
    stopping the whole file: validation rejects the one field that holds them."""
    try:
        if binary:
            return path.open("rb")
        return path.open("r", encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise FeedError(f"Cannot read {path}: {exc.strerror}.") from exc


def fraction_read(handle: IO, total: int) -> float | None:
    """How far through its file a reader is, for the progress bar."""
    raw = getattr(handle, "buffer", handle)
    try:
        return min(1.0, raw.tell() / total) if total else None
    except (OSError, ValueError):
        return None


def read_jsonl(handle: IO[bytes]) -> Iterator[SourceRecord]:
    if handle.peek(3)[:3] == b"\xef\xbb\xbf":  # a UTF-8 byte order mark
        handle.read(3)
    for number, line in enumerate(handle, start=1):
        if line.isspace():
            continue
        try:
            data = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield SourceRecord({}, number, None, ("record", f"is not valid JSON: {exc}"))
            continue
        if type(data) is not dict:
            yield SourceRecord({}, number, None, ("record", "must be a JSON object"))
            continue
        yield SourceRecord(data, number)


# One JSON token at a time, for skipping a value the decoder cannot take: a whole string, a
# bracket, or a run of anything else.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]|[^"\[\]{}]+', re.DOTALL)


def read_json_array(handle: IO[str]) -> Iterator[SourceRecord]:
    """Stream the objects of a top-level JSON array without loading the whole file.

    A record the decoder cannot take although it is well-formed JSON (nested deeper than
    Python's recursion limit, an integer of thousands of digits) is skipped to its end and
    rejected; the records after it are read as usual."""
    decoder = json.JSONDecoder()
    buffer = ""
    position = 0
    line = 1

    def fill() -> bool:
        nonlocal buffer, position
        chunk = handle.read(CHUNK)
        if not chunk:
            return False
        buffer = buffer[position:] + chunk
        position = 0
        return True

    def next_char(skip: str) -> str | None:
        """Skip white space and the given separators, counting lines."""
        nonlocal position, line
        while True:
            while position < len(buffer) and (buffer[position] in skip):
                if buffer[position] == "\n":
                    line += 1
                position += 1
            if position < len(buffer):
                return buffer[position]
            if not fill():
                return None

    def skip_value(start_line: int) -> int:
        """Where the value at `position` ends, found by counting brackets outside strings."""
        depth = 0
        offset = position
        while True:
            token = _JSON_TOKEN.match(buffer, offset)
            if token is None or token.end() == len(buffer):
                # A token may run past the buffer: read on, within reason.
                consumed = offset - position
                if consumed > MAX_OBJECT or not fill():
                    raise FeedError(f"line {start_line}: the JSON record does not end")
                offset = position + consumed
                continue
            text = token.group()
            if text in ("[", "{"):
                depth += 1
            elif text in ("]", "}"):
                depth -= 1
            offset = token.end()
            if depth <= 0:
                return offset

    if next_char(WHITESPACE) != "[":
        raise FeedError("A JSON feed must be an array of product objects ([{...}, ...]).")
    position += 1
    while True:
        char = next_char(WHITESPACE + ",")
        if char is None:
            raise FeedError(f"The JSON array is not closed (line {line}).")
        if char == "]":
            return
        start_line = line
        while True:
            try:
                data, end = decoder.raw_decode(buffer, position)
                break
            except json.JSONDecodeError as exc:
                # Most likely the object runs past the buffer: read on, within reason.
                if len(buffer) - position > MAX_OBJECT or not fill():
                    raise FeedError(f"line {start_line}: invalid JSON: {exc.msg}") from None
            except RecursionError:
                data, end = ("record", "is nested too deeply"), skip_value(start_line)
                break
            except ValueError:  # not a JSONDecodeError: an integer too long to convert
                data, end = ("record", "has a number too long to read"), skip_value(start_line)
                break
        line += buffer.count("\n", position, end)
        position = end
        if isinstance(data, dict):
            yield SourceRecord(data, start_line)
        elif isinstance(data, tuple):
            yield SourceRecord({}, start_line, None, data)
        else:
            yield SourceRecord({}, start_line, None, ("record", "must be a JSON object"))


def read_csv(handle: IO[str]) -> Iterator[SourceRecord]:
    reader = csv.DictReader(handle)
    if reader.fieldnames is None:
        return
    missing = {"external_id", "title", "price", "product_url"} - set(reader.fieldnames)
    if missing:
        raise FeedError(f"The CSV header lacks required columns: {', '.join(sorted(missing))}.")
    start = 2
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a field over csv.field_size_limit(), say
            yield SourceRecord({}, start, None, ("record", f"is not valid CSV: {exc}"))
            # The reader does not count the line it failed on.
            start = max(start + 1, reader.line_num + 1)
            continue
        else:
            if None in row:
                yield SourceRecord({}, start, None, ("record", "has more fields than the header"))
            else:
                yield SourceRecord(row, start)
        start = reader.line_num + 1
