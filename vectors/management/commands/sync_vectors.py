import signal
import time

from django.core.management.base import BaseCommand, CommandError

from config.errors import first_line
from config.progress import Progress
from config.text import counted
from vectors.client import get_qdrant_client
from vectors.collection import LEGACY_STORE_NOTICE, unindexed_backlog
from vectors.conf import Engine, qdrant_config
from vectors.drain import PAUSES, DrainLoop
from vectors.duplicates import CHECKS_INLINE_MAX, check_queued_duplicates, pending_checks
from vectors.embedders import get_embedder
from vectors.exceptions import (
    CollectionNotFound,
    EmbedderUnavailable,
    StoreDiskFull,
    StoreHeld,
    VectorStoreError,
    VectorStoreUnavailable,
)
from vectors.point_writer import SyncReport
from vectors.preparer import PreparerFailed
from vectors.sync import AHEAD_MIN_BATCHES, INDEX_EVERY, sync_pending
from vectors.sync_queue import MAX_ATTEMPTS, pending_count, retry_set_aside, set_aside_notice

RETRIES = 5


class Command(BaseCommand):
    help = (
        "Deliver pending product changes (the change log filled by database triggers) to "
        "Qdrant: upserts, payload updates and deletes. Safe to interrupt and to run again."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=256, help="Products per Qdrant write (256)."
        )
        parser.add_argument(
            "--watch",
            action="store_true",
            help="Keep running: deliver changes as they come (the docker-compose worker).",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=2.0,
            help="With --watch, seconds between looks at the log (2).",
        )
        parser.add_argument(
            "--no-optimize",
            action="store_true",
            help="Embedded Qdrant: do not build the vector index (by default built after "
            f"every {INDEX_EVERY:,} points written and at the end; run optimize_vectors "
            "later). A server indexes by itself.",
        )
        parser.add_argument(
            "--no-duplicates",
            action="store_true",
            help="Do not look for the changed products' duplicates afterwards (they stay "
            "queued for the next sync, or group_duplicates).",
        )
        parser.add_argument(
            "--metrics-bind",
            metavar="HOST:PORT",
            help="With --watch, serve this worker's Prometheus metrics (its embedder "
            "latencies, and the pipeline's state) on HOST:PORT, without authentication: a "
            "private address only (127.0.0.1:9101, or the compose network's).",
        )
        parser.add_argument(
            "--retry-set-aside",
            action="store_true",
            help=f"First queue again the changes set aside after {MAX_ATTEMPTS} failed attempts "
            "(once their cause is fixed).",
        )

    def handle(self, *args, **options):
        # SIGTERM (docker stop) and Ctrl-C stop the work between two batches: the batch in
        # flight is delivered or left queued whole, never half-done.
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        if options["retry_set_aside"]:
            self.stdout.write(f"Queued {counted(retry_set_aside(), 'set-aside change')} again.")
        config = qdrant_config()
        if self._owner_syncs(config):
            return
        try:
            embedder = get_embedder()
        except EmbedderUnavailable as exc:
            raise CommandError(f"Cannot load the embedder: {exc}") from exc
        verbose = options["verbosity"] >= 1
        if options["watch"]:
            if options["metrics_bind"]:
                self._serve_metrics(options["metrics_bind"])
            self._watch(config, embedder, options)
            return
        progress = Progress(self.stderr, label="sync", enabled=verbose)
        waiting = pending_count()

        def on_batch(total: SyncReport) -> None:
            # Products a new collection lacked are queued by the sync itself (total.filled).
            expected = waiting + total.filled
            progress.update(total.products, total.products / expected if expected else None)

        report = self._with_retries(
            lambda: sync_pending(
                client=get_qdrant_client(),
                config=config,
                embedder=embedder,
                batch_size=options["batch_size"],
                on_batch=on_batch,
                should_stop=lambda: self.stopping,
                index_every=0 if options["no_optimize"] else INDEX_EVERY,
                on_index=lambda seconds: progress.note(
                    f"built the vector index for the points written so far in {seconds:.0f}s"
                ),
                ahead_from=AHEAD_MIN_BATCHES * options["batch_size"],
            )
        )
        progress.close()
        if verbose:
            self.stdout.write(report.summary())
            if self.stopping:
                self.stdout.write(f"Stopped; {queued(pending_count())}.")
        # Delivered nothing? An index build may still be due: one a kill interrupted.
        backlog = 0 if report.products or self.stopping else self._unindexed(config)
        if backlog and verbose:
            later = " (run optimize_vectors)" if options["no_optimize"] else "; building it now"
            self.stdout.write(f"{backlog:,} vectors are not in the vector index yet{later}.")
        if (report.products or backlog) and not options["no_optimize"] and not self.stopping:
            try:
                self._optimize(config, verbose)
            except VectorStoreError as exc:
                raise CommandError(
                    f"{exc} The changes were delivered; run optimize_vectors to index them."
                ) from exc
        if not options["no_duplicates"] and not self.stopping:
            self._group(config, verbose)
        self._report_set_aside()
        self._report_failures(report)

    def _group(self, config, verbose: bool, max_batches: int | None = None) -> None:
        """The changed products' duplicates, after the index is built (the neighbour queries
        walk it)."""
        waiting = pending_checks() if max_batches is None else 0
        if waiting > CHECKS_INLINE_MAX:
            # A whole catalog's worth (a first import): one neighbour query each would hold
            # this command for long; the rebuild does the same in bounded memory, when asked.
            if verbose:
                self.stdout.write(
                    f"{counted(waiting, 'product')} to check for duplicates: run "
                    "manage.py group_duplicates --rebuild (or group_duplicates) when convenient."
                )
            return
        progress = Progress(self.stderr, label="duplicates", enabled=verbose and waiting > 0)
        report = self._with_retries(
            lambda: check_queued_duplicates(
                client=get_qdrant_client(),
                config=config,
                max_batches=max_batches,
                should_stop=lambda: self.stopping,
                on_batch=lambda total: progress.update(
                    total.checked, total.checked / waiting if waiting else None
                ),
            )
        )
        progress.close()
        if report.checked and verbose:
            self.stdout.write(report.summary())

    def _serve_metrics(self, bind: str) -> None:
        from prometheus_client import start_http_server

        host, _, port = bind.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"--metrics-bind wants HOST:PORT, not {bind!r}.")
        try:
            start_http_server(int(port), addr=host.strip("[]"))
        except OSError as exc:
            raise CommandError(f"Cannot serve metrics on {bind}: {exc.strerror or exc}.") from exc
        self.stdout.write(f"Serving Prometheus metrics on http://{bind}/metrics.")

    def _owner_syncs(self, config) -> bool:
        """Beside a web server that owns the embedded store and syncs it (make run): say so
        in one line, and leave the work to it."""
        if config.engine is not Engine.EDGE:
            return False
        try:
            get_qdrant_client()
        except StoreHeld as exc:
            if not exc.holder.get("syncs"):
                return False  # reported by the sync itself, with retries
            self.stdout.write(
                f"{config.label} is owned by {exc.holder.get('command') or 'another process'} "
                f"(pid {exc.holder.get('pid')}), which delivers the change log itself: "
                "nothing to do here."
            )
            return True
        except VectorStoreError:
            return False
        return False

    def _unindexed(self, config) -> int:
        try:
            return unindexed_backlog(client=get_qdrant_client(), config=config)
        except VectorStoreError:
            return 0  # the sync itself has said what is wrong

    def _optimize(self, config, verbose: bool) -> None:
        """Embedded Qdrant Edge builds its HNSW index only when asked: after a delivery, so
        that searches walk a graph instead of scanning (a server does this by itself)."""
        started = time.monotonic()
        changed = get_qdrant_client().optimize(config.collection)  # False: nothing to do
        if verbose and changed:
            self.stdout.write(f"Built the vector index in {time.monotonic() - started:.1f}s.")

    def _with_retries(self, work):
        for attempt in range(1, RETRIES + 1):
            try:
                return work()
            except CollectionNotFound as exc:
                if get_qdrant_client().legacy_store():
                    raise CommandError(f"{exc}. {LEGACY_STORE_NOTICE}") from exc
                raise CommandError(f"{exc} Run manage.py ensure_qdrant_collection.") from exc
            except StoreDiskFull as exc:
                # No use retrying in seconds: space must be freed first.
                raise CommandError(
                    f"{exc} {queued(pending_count())}; run sync_vectors again once there is room."
                ) from exc
            except VectorStoreUnavailable as exc:
                if attempt == RETRIES:
                    raise CommandError(
                        f"{exc} The changes stay queued; run sync_vectors again later."
                    ) from exc
                delay = PAUSES.delay(attempt)
                self.stderr.write(f"{exc}; retrying in {delay:.0f}s")
                time.sleep(delay)
            except VectorStoreError as exc:
                raise CommandError(str(exc)) from exc
            except PreparerFailed as exc:
                raise CommandError(
                    f"{exc}. The changes not delivered stay queued; run sync_vectors again."
                ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _watch(self, config, embedder, options) -> None:
        """Deliver changes as they come, for months (vectors/drain.py): an outage is waited
        out with a growing pause and one line each time."""
        written_since_optimize = False

        def round_() -> None:
            nonlocal written_since_optimize
            report = sync_pending(
                client=get_qdrant_client(),
                config=config,
                embedder=embedder,
                batch_size=options["batch_size"],
                should_stop=lambda: self.stopping,
                index_every=0 if options["no_optimize"] else INDEX_EVERY,
                ahead_from=AHEAD_MIN_BATCHES * options["batch_size"],
            )
            if report.products:
                self.stdout.write(report.summary())
                self.stdout.flush()
                self._report_failures(report, fatal=False)
            if not options["no_duplicates"]:
                self._group(config, verbose=True, max_batches=4)
                written_since_optimize = True
            elif written_since_optimize and not options["no_optimize"]:
                # Caught up: index what was written, while nothing waits.
                self._optimize(config, verbose=True)
                self.stdout.flush()
                written_since_optimize = False

        def paused(exc: BaseException, pause: float) -> None:
            reason = (
                str(exc)
                if isinstance(exc, VectorStoreError)
                else f"Database unavailable: {first_line(exc)}"
            )
            self.stderr.write(f"{reason}; retrying in {pause:.0f}s")

        self.stdout.write(f"Watching the product change log (every {options['interval']}s).")
        self.stdout.flush()
        DrainLoop(
            round=round_,
            interval=options["interval"],
            should_stop=lambda: self.stopping,
            wait=self._sleep,
            on_pause=paused,
        ).run()
        self.stdout.write("Stopped.")

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, seconds))

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    def _report_set_aside(self) -> None:
        notice = set_aside_notice()
        if notice:
            self.stderr.write(notice)

    def _report_failures(self, report: SyncReport, fatal: bool = True) -> None:
        if not report.failed:
            return
        for product_id, reason in list(report.failed.items())[:10]:
            self.stderr.write(f"not synced: product {product_id}: {reason}")
        message = (
            f"{counted(len(report.failed), 'product')} could not be synced; queued again and "
            f"retried later with a growing delay, then set aside after {MAX_ATTEMPTS} attempts."
        )
        if fatal:
            raise CommandError(message)
        self.stderr.write(message)


def queued(count: int) -> str:
    return f"{counted(count, 'product')} {'stays' if count == 1 else 'stay'} queued"
