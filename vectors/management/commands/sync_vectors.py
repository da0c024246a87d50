import signal
import time

from django.core.management.base import BaseCommand, CommandError

from catalog.progress import Progress
from vectors.client import get_qdrant_client
from vectors.conf import qdrant_config
from vectors.embedders import get_embedder
from vectors.exceptions import CollectionNotFound, VectorStoreError, VectorStoreUnavailable
from vectors.sync import SyncReport, pending_count, sync_pending

RETRIES = 5
MAX_BACKOFF = 60.0


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

    def handle(self, *args, **options):
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        config = qdrant_config()
        try:
            embedder = get_embedder()
        except (ValueError, OSError) as exc:
            raise CommandError(f"Cannot load the embedder: {exc}") from exc
        verbose = options["verbosity"] >= 1
        if options["watch"]:
            self._watch(config, embedder, options)
            return
        progress = Progress(self.stderr, label="sync", enabled=verbose)
        waiting = pending_count()
        report = self._with_retries(
            lambda: sync_pending(
                client=get_qdrant_client(),
                config=config,
                embedder=embedder,
                batch_size=options["batch_size"],
                on_batch=lambda total: progress.update(
                    total.products, total.products / waiting if waiting else None
                ),
            )
        )
        progress.close()
        if verbose:
            self.stdout.write(self._summary(report))
        self._report_failures(report)

    def _with_retries(self, work):
        for attempt in range(1, RETRIES + 1):
            try:
                return work()
            except CollectionNotFound as exc:
                raise CommandError(f"{exc} Run manage.py ensure_qdrant_collection.") from exc
            except VectorStoreUnavailable as exc:
                if attempt == RETRIES:
                    raise CommandError(
                        f"{exc} The changes stay queued; run sync_vectors again later."
                    ) from exc
                delay = min(MAX_BACKOFF, 2 ** (attempt - 1))
                self.stderr.write(f"{exc}; retrying in {delay:.0f}s")
                time.sleep(delay)
            except VectorStoreError as exc:
                raise CommandError(str(exc)) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _watch(self, config, embedder, options) -> None:
        backoff = 1.0
        self.stdout.write(f"Watching the product change log (every {options['interval']}s).")
        while not self.stopping:
            try:
                report = sync_pending(
                    client=get_qdrant_client(),
                    config=config,
                    embedder=embedder,
                    batch_size=options["batch_size"],
                )
                backoff = 1.0
                if report.products:
                    self.stdout.write(self._summary(report))
                    self._report_failures(report, fatal=False)
                self._sleep(options["interval"])
            except VectorStoreError as exc:
                # Qdrant down: the changes wait in PostgreSQL; try again, less and less often.
                self.stderr.write(f"{exc}; retrying in {backoff:.0f}s")
                self._sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
        self.stdout.write("Stopped.")

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, seconds))

    def _stop(self, signum, frame) -> None:
        self.stopping = True

    @staticmethod
    def _summary(report: SyncReport) -> str:
        return (
            f"Synced {report.products:,} products: {report.embedded:,} embedded, "
            f"{report.payload_updated:,} payload updates, {report.deleted:,} deleted, "
            f"{len(report.failed):,} failed."
        )

    def _report_failures(self, report: SyncReport, fatal: bool = True) -> None:
        if not report.failed:
            return
        for product_id, reason in list(report.failed.items())[:10]:
            self.stderr.write(f"not embedded: product {product_id}: {reason}")
        message = (
            f"{len(report.failed)} product(s) could not be embedded; they stay queued and are "
            "retried later with a growing delay."
        )
        if fatal:
            raise CommandError(message)
        self.stderr.write(message)
