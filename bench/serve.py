"""The documented server against runserver, on one embedded store of 50,000 products.

    python bench/serve.py [--n 50000] [--seconds 10] [--levels 1,4,16]

In a scratch database `catalog_bench_serve` and an embedded Qdrant Edge store under
var/bench-serve/ (the hashing embedder; products and store kept between runs), each server
is started as a user starts it, one after the other on the same store (an embedded store has
one owner process):

  documented  gunicorn config.wsgi (gunicorn.conf.py: one worker, threads), DEBUG off, as
              the README's deployment section runs it
  runserver   manage.py runserver, DEBUG on, as `make run` runs it
  (--rate-limit) the documented server again with the API's per-client limit counting

Each starts with the store's files dropped from the page cache (as after a reboot). For
each: once /healthz answers (what a load balancer waits for), the first 100 similar-
products requests, then the next 1,000, one client at a time (warm-up: the slowest of the
first 100 against the p95 of the next 1,000); then 1, 4 and 16 concurrent clients for
--seconds each, each client a keep-alive connection asking for a random product's similar
products (a third of them filtered by store). Every answer other than 200 counts as an
error. Each level also prints the server's CPU time per request (all its processes): both
servers run the request in one process, so that is what bounds their throughput. The
last line holds the figures against the goals: no error at any level for the documented
server; its throughput at 16 clients >= 1.5x runserver's; its first 100 requests
within 2x the p95 of the next 1,000.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from _common import PROJECT_DIR, setup_django

BENCH_DB = "catalog_bench_serve"
WORK_DIR = PROJECT_DIR / "var" / "bench-serve"
STORES = 10
GOALS = {"throughput_ratio": 1.5, "warm_ratio": 2.0}


@dataclass
class Level:
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    cpu_seconds: float = 0.0  # the server's processes, while this level ran

    @property
    def throughput(self) -> float:
        return (len(self.latencies) + self.errors) / self.seconds

    def line(self) -> str:
        p50, p95 = percentile(self.latencies, 50), percentile(self.latencies, 95)
        answered = len(self.latencies) + self.errors
        cpu = self.cpu_seconds * 1000 / answered if answered else float("nan")
        return (
            f"  {self.clients:>2} client(s): {self.throughput:>7.1f} req/s, p50 {p50:6.1f} ms, "
            f"p95 {p95:6.1f} ms, errors {self.errors}, server CPU {cpu:.2f} ms/request"
        )


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


def database_url() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def server_env(*, debug: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "QDRANT_"))}
    return env | {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_ENV_FILE": "",
        "DJANGO_DEBUG": "1" if debug else "0",
        "DJANGO_SECRET_KEY": "benchmark-only-not-a-secret",
        "DJANGO_HTTPS": "0",
        "DATABASE_URL": database_url(),
        "QDRANT_PATH": str(WORK_DIR / "qdrant"),
        "VECTORS_EMBEDDER": "hashing",
        # Every client here is 127.0.0.1: the per-client limit would throttle the benchmark.
        "API_RATE_LIMIT": "",
    }


def prepare_products(n: int) -> list[tuple[str, str]]:
    """N products in the scratch database and the embedded store; (id, store) of each."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM catalog_product")
        have = cursor.fetchone()[0]
        if have != n:
            print(f"loading {n:,} products ...", flush=True)
            cursor.execute("TRUNCATE catalog_product, vectors_productchange")
            cursor.execute(
                """
                INSERT INTO catalog_product
                    (store_id, external_id, title, description, price, currency, image_url,
                     product_url, created_at, updated_at)
                SELECT 'store-' || (k %% %(stores)s), 'sku-' || k,
                       (ARRAY['linen','wool','silk','denim','leather','cotton'])[1 + k %% 6]
                       || ' ' || (ARRAY['shirt','coat','scarf','boots','dress'])[1 + k %% 5]
                       || ' no. ' || k,
                       '', 10 + (k %% 190), 'EUR', '', 'https://shop.example/p/' || k,
                       now(), now()
                FROM generate_series(1, %(n)s) AS k
                """,
                {"n": n, "stores": STORES},
            )
            if (WORK_DIR / "qdrant").exists():
                import shutil

                shutil.rmtree(WORK_DIR / "qdrant")
        cursor.execute("SELECT id::text, store_id FROM catalog_product")
        products = cursor.fetchall()
    env = server_env(debug=False)
    for command in (["ensure_qdrant_collection"], ["sync_vectors"]):
        subprocess.run(
            [sys.executable, "manage.py", *command],
            cwd=PROJECT_DIR,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    # What autovacuum does after a bulk load on a production server: these machines' own
    # PostgreSQL runs without it, and unanalysed tables are planned on guesses (the offers
    # query read 50,000 products for 3).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return products


class Server:
    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int):
        self.name, self.port = name, port
        self.log = open(WORK_DIR / f"{name}.log", "w")  # noqa: SIM115
        self.process = subprocess.Popen(
            command, cwd=PROJECT_DIR, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait_ready(self, seconds: float = 120) -> float:
        """Seconds until /healthz answers 200."""
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            if self.process.poll() is not None:
                raise SystemExit(f"{self.name} exited ({self.process.returncode}): see its log")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.1)
        raise SystemExit(f"{self.name} was not ready in {seconds:.0f}s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Client:
    """One shop front: a keep-alive connection, asking for similar products."""

    def __init__(self, port: int, products: list[tuple[str, str]], seed: int):
        self.port, self.products = port, products
        self.random = random.Random(seed)
        self.connection: http.client.HTTPConnection | None = None

    def path(self) -> str:
        product_id, store = self.random.choice(self.products)
        if self.random.random() < 1 / 3:
            return f"/api/products/{product_id}/similar?store_id={store}"
        return f"/api/products/{product_id}/similar"

    def ask(self) -> tuple[float, bool]:
        path = self.path()
        started = time.perf_counter()
        for attempt in (1, 2):  # a keep-alive connection the server closed: once more
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.connection.request("GET", path)
                answer = self.connection.getresponse()
                answer.read()
                if answer.getheader("Connection", "").lower() == "close":
                    self.connection.close()
                    self.connection = None
                return (time.perf_counter() - started) * 1000, answer.status == 200
            except (OSError, http.client.HTTPException):
                if self.connection is not None:
                    self.connection.close()
                self.connection = None
                if attempt == 2:
                    return (time.perf_counter() - started) * 1000, False
        raise AssertionError("unreachable")


def sequential(port: int, products, count: int, seed: int) -> list[float]:
    client = Client(port, products, seed)
    latencies = []
    for _ in range(count):
        ms, ok = client.ask()
        if not ok:
            raise SystemExit(f"a request failed during warm-up measurement on port {port}")
        latencies.append(ms)
    return latencies


def load(port: int, products, clients: int, seconds: float) -> Level:
    level = Level(clients, seconds)
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(seed: int) -> None:
        client = Client(port, products, seed)
        while time.monotonic() < deadline:
            ms, ok = client.ask()
            with lock:
                if ok:
                    level.latencies.append(ms)
                else:
                    level.errors += 1

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return level


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid` and its descendants still running (Linux's /proc):
    gunicorn's worker, runserver's reloaded child."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
        pending.extend(int(child) for child in children)
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def evict_page_cache(directory) -> None:
    """Drop the store's files from the page cache (clean pages; no root needed), so that
    each server starts as after a reboot or on a new machine: the worst case it must warm."""
    for path in directory.rglob("*"):
        if path.is_file():
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(descriptor)


def measure(name: str, command, env, products, args) -> dict:
    evict_page_cache(WORK_DIR / "qdrant")
    port = free_port()
    server = Server(name, [*command(port)], env, port)
    try:
        ready = server.wait_ready()
        first = sequential(port, products, 100, seed=1)
        after = sequential(port, products, 1000, seed=2)
        levels = []
        for clients in args.levels:
            before = cpu_seconds(server.process.pid)
            levels.append(load(port, products, clients, args.seconds))
            levels[-1].cpu_seconds = cpu_seconds(server.process.pid) - before
    finally:
        server.stop()
    figures = {
        "ready_s": ready,
        "first_max": max(first),
        "first_p95": percentile(first, 95),
        "next_p95": percentile(after, 95),
        "levels": levels,
    }
    print(
        f"{name}: ready in {ready:.1f}s; first 100: slowest {figures['first_max']:.1f} ms, "
        f"p95 {figures['first_p95']:.1f} ms; next 1,000: p95 {figures['next_p95']:.1f} ms"
    )
    for level in levels:
        print(level.line())
    sys.stdout.flush()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--levels", default="1,4,16")
    parser.add_argument(
        "--rate-limit",
        action="store_true",
        help="Also the documented server with the API's per-client limit counting (in the "
        "default PostgreSQL cache, at a rate no client reaches): what counting costs.",
    )
    args = parser.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    setup_django(BENCH_DB, production=True)
    products = prepare_products(args.n)
    print(f"{len(products):,} products, embedded store at {WORK_DIR / 'qdrant'}", flush=True)

    documented = measure(
        "documented (gunicorn config.wsgi, DEBUG off)",
        lambda port: [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
        server_env(debug=False) | {"WEB_BIND": ""},
        products,
        args,
    )
    runserver = measure(
        "runserver (as make run: DEBUG on)",
        lambda port: [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}"],
        server_env(debug=True),
        products,
        args,
    )
    limited_line = ""
    if args.rate_limit:
        limited = measure(
            "documented, rate limit counted (PostgreSQL cache)",
            lambda port: [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"],
            server_env(debug=False) | {"WEB_BIND": "", "API_RATE_LIMIT": "100000000/m"},
            products,
            args,
        )
        counted_ratio = limited["levels"][-1].throughput / documented["levels"][-1].throughput
        limited_line = f"; with the rate limit counted {counted_ratio:.2f}x the throughput"
    errors = [level.errors for level in documented["levels"]]
    top = documented["levels"][-1].throughput / runserver["levels"][-1].throughput
    warm = documented["first_max"] / documented["next_p95"]
    met = not any(errors) and top >= GOALS["throughput_ratio"] and warm <= GOALS["warm_ratio"]
    print(
        f"serve: documented server errors {errors} at {args.levels} clients (goal 0); "
        f"{args.levels[-1]} clients {documented['levels'][-1].throughput:.0f} vs "
        f"{runserver['levels'][-1].throughput:.0f} req/s = {top:.2f}x runserver "
        f"(goal >= {GOALS['throughput_ratio']}x); first 100 slowest {warm:.2f}x the next "
        f"1,000's p95 (goal <= {GOALS['warm_ratio']}x): {'met' if met else 'NOT met'}"
        f"{limited_line}"
    )


if __name__ == "__main__":
    main()
