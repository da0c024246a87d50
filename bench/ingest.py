"""Import speed against PostgreSQL's own COPY, measured in the same run.

    python bench/ingest.py [--n 100000]            # speed ratios
    python bench/ingest.py --memory --n 1000000    # peak RSS of the import, N/10 vs N

Generates N products as JSON Lines, then times, in a scratch database `catalog_bench`:
- baseline: a raw COPY of the same rows, already parsed, into a table identical to
  catalog_product (LIKE ... INCLUDING ALL: columns, defaults, constraints, indexes), in
  batches of the same size; only the COPY is timed;
- the import: `product_import` reading, validating and upserting the file;
- the re-import of the unchanged file.
Then the same as a user sees it, whole processes with their start-up:
- baseline: `psql -c "\\copy ..."` of the same rows, already in COPY's text format, into the
  same kind of table;
- `manage.py import_products` of the file, then of the unchanged file again;
- start-up: `manage.py import_products` of a one-row file, beside `python -c "import django"`
  (medians of 5).
The last line is the figure: import throughput / COPY throughput, and first import time /
unchanged re-import time, in-process and whole-process (goals: >= 0.6 and >= 2 for both),
and the one-row import's wall time (goal <= 0.7 s).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from _common import PROJECT_DIR, setup_django

BENCH_DB = "catalog_bench"
COLORS = ["black", "white", "navy", "olive", "sand", "burgundy", "teal", "grey"]
KINDS = ["linen shirt", "wool coat", "silk scarf", "denim jacket", "leather boots", "knit dress"]


class Families:
    """Products as distinct as a real catalog's (a model name of two words of its own, drawn
    from about 2,400 made-up ones), numbered across every shop's feed, so that a shop can relist a
    product another shop sells (bench/million.py --duplicate-share): the same title and
    description, its own SKU, price and URLs."""

    SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "te", "vi", "zo", "pa", "do", "fe", "gu", "ha"]

    def __init__(self) -> None:
        rng = random.Random(11)
        self.words = sorted(
            {"".join(rng.choice(self.SYLLABLES) for _ in range(3)) for _ in range(6000)}
        )
        self.count = 0

    def new(self) -> int:
        self.count += 1
        return self.count - 1

    def text(self, family: int) -> tuple[str, str]:
        rng = random.Random(family)
        colour, kind = rng.choice(COLORS), rng.choice(KINDS)
        name = " ".join(rng.choice(self.words) for _ in range(2))
        details = " ".join(rng.choice(self.words) for _ in range(3))
        return f"{colour.title()} {kind} {name}", f"The {name} {kind} in {colour}, {details}."


def generate(
    path: Path,
    n: int,
    seed: int = 7,
    *,
    families: Families | None = None,
    duplicate_share: float = 0.0,
) -> None:
    """`n` products as JSON lines. With `families`: distinct products, `duplicate_share` of
    them relisting a product an earlier feed (or this one) already holds."""
    rng = random.Random(seed)
    with path.open("wb") as out:
        for i in range(n):
            kind = rng.choice(KINDS)
            title = f"{rng.choice(COLORS).title()} {kind} no. {i}"
            description = (
                f"A {kind} in {rng.choice(COLORS)}, " + "soft and durable, " * rng.randint(1, 6)
            )
            if families is not None:
                relist = families.count and rng.random() < duplicate_share
                family = rng.randrange(families.count) if relist else families.new()
                title, description = families.text(family)
            out.write(
                orjson.dumps(
                    {
                        "external_id": f"sku-{i:07d}",
                        "title": title,
                        "description": description,
                        "price": f"{rng.randint(500, 50000) / 100:.2f}",
                        "currency": rng.choice(["EUR", "USD", "GBP"]),
                        "image_url": f"https://cdn.shop.example/img/{i}.jpg",
                        "product_url": f"https://shop.example/p/{i}",
                    }
                )
                + b"\n"
            )


def copy_baseline(path: Path, batch_size: int, tsv: Path | None = None) -> float:
    """Seconds spent in COPY alone, for the file's rows parsed and validated beforehand.
    `tsv`: also write the rows there in COPY's text format, for the whole-process baseline."""
    from django.db import connection, transaction

    from catalog.ingest.batches import copy_line
    from catalog.ingest.files import read_jsonl
    from catalog.ingest.validate import validate_record
    from catalog.ingest.writer import COLUMNS

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE catalog_product INCLUDING ALL)")
    sql = f"COPY bench_copy (store_id, {', '.join(COLUMNS)}) FROM STDIN"
    spent = 0.0
    out = tsv.open("w", encoding="utf-8") if tsv else None
    with path.open("rb") as handle:
        records = read_jsonl(handle)
        while True:
            rows = [
                validate_record(r.data, store_id="bench")
                for r, _ in zip(records, range(batch_size), strict=False)
            ]
            if not rows:
                break
            if out:
                out.writelines(copy_line("bench", row) for row in rows)
            started = time.perf_counter()
            with (
                transaction.atomic(),
                connection.cursor() as cursor,
                cursor.cursor.copy(sql) as copy,
            ):
                for row in rows:
                    copy.write_row(("bench", *row))
            spent += time.perf_counter() - started
    if out:
        out.close()
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy")
    return spent


def process_seconds(command: list[str], *, cwd: Path = PROJECT_DIR) -> float:
    """Wall time of a whole process, start-up included: what the user waits for."""
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=os.environ, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def psql_copy_seconds(tsv: Path) -> float:
    """`psql \\copy` of ready COPY text into a table like catalog_product, as one process."""
    from django.db import connection

    from catalog.ingest.writer import COLUMNS

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute("CREATE TABLE bench_copy (LIKE catalog_product INCLUDING ALL)")
    columns = ", ".join(COLUMNS)
    seconds = process_seconds(
        [
            "psql",
            "-q",
            os.environ["DATABASE_URL"],
            "-c",
            f"\\copy bench_copy (store_id, {columns}) FROM '{tsv}'",
        ]
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_copy")
    return seconds


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def median_seconds(command: list[str], runs: int = 5) -> float:
    return statistics.median(process_seconds(command) for _ in range(runs))


def timed_import(path: Path, batch_size: int) -> tuple[float, object]:
    from catalog.ingest.service import product_import
    from catalog.ingest.sources import open_feed

    feed = open_feed(str(path))
    started = time.perf_counter()
    summary = product_import(store_id="bench", records=feed.records, batch_size=batch_size)
    spent = time.perf_counter() - started
    feed.close()
    return spent, summary


def reset_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE catalog_product, vectors_productchange")
        cursor.execute("VACUUM ANALYZE catalog_product")


def speed(n: int, batch_size: int) -> None:
    setup_django(BENCH_DB)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.jsonl"
        generate(path, n)
        tsv = Path(tmp) / "rows.tsv"
        one = Path(tmp) / "one.jsonl"
        generate(one, 1)
        print(f"{n:,} products, batches of {batch_size:,}")
        copy_seconds = copy_baseline(path, batch_size, tsv)
        reset_tables()
        first, summary = timed_import(path, batch_size)
        assert summary.created == n, summary
        again, summary = timed_import(path, batch_size)
        assert summary.unchanged == n, summary
        reset_tables()

        # Whole processes, as a user runs them.
        command = manage("import_products", str(path), "--store", "bench", "--verbosity", "0")
        psql_copy = psql_copy_seconds(tsv)
        process_first = process_seconds(command)
        process_again = process_seconds(command)
        reset_tables()
        one_row = median_seconds(manage("import_products", str(one), "--store", "one"))
        bare_django = median_seconds([sys.executable, "-c", "import django"])
        reset_tables()
    print(f"raw COPY of parsed rows: {copy_seconds:.2f}s ({n / copy_seconds:,.0f} rows/s)")
    print(f"import:                  {first:.2f}s ({n / first:,.0f} rows/s)")
    print(f"unchanged re-import:     {again:.2f}s ({n / again:,.0f} rows/s)")
    print("whole processes:")
    print(f"  psql \\copy of the rows:     {psql_copy:.2f}s ({n / psql_copy:,.0f} rows/s)")
    print(f"  manage.py import_products: {process_first:.2f}s ({n / process_first:,.0f} rows/s)")
    print(f"  unchanged re-import:       {process_again:.2f}s")
    print(
        f"  one-row import:            {one_row:.2f}s (python -c 'import django': "
        f"{bare_django:.2f}s)"
    )
    print(
        f"ingest: import/COPY throughput {copy_seconds / first:.2f} in-process, "
        f"{psql_copy / process_first:.2f} whole-process (goal >= 0.6); first/unchanged "
        f"re-import {first / again:.2f}x in-process, {process_first / process_again:.2f}x "
        f"whole-process (goal >= 2); one-row import {one_row:.2f}s (goal <= 0.7)"
    )


def peak_rss_mb(path: Path, env: dict[str, str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "import_products",
            str(path),
            "--store",
            "bench",
            "--verbosity",
            "0",
        ],
        cwd=PROJECT_DIR,
        env=env,
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(before, after) / 1024


def memory(n: int) -> None:
    setup_django(BENCH_DB)
    env = dict(os.environ)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        # Smaller first: ru_maxrss of children is a high-water mark across them all.
        for size in (n // 10, n):
            path = Path(tmp) / f"feed-{size}.jsonl"
            generate(path, size)
            reset_tables()
            results.append((size, peak_rss_mb(path, env)))
            path.unlink()
        reset_tables()
    for size, rss in results:
        print(f"peak RSS importing {size:,} products: {rss:.0f} MB")
    (small, small_rss), (large, large_rss) = results
    print(
        f"ingest memory: peak RSS {large_rss:.0f} MB at {large:,} rows, "
        f"{large_rss / small_rss:.2f}x the peak at {small:,} (goal: flat, < 250 MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--memory", action="store_true", help="Measure peak RSS instead.")
    args = parser.parse_args()
    if args.memory:
        memory(args.n)
    else:
        speed(args.n, args.batch_size)


if __name__ == "__main__":
    main()
