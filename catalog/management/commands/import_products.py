import contextlib
import json
import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.exceptions import ImportFailed, RecordRejected, WorkerCrashed
from catalog.ingest.service import DEFAULT_BATCH_SIZE, ImportSummary, product_import
from catalog.ingest.sources import FORMATS, open_feed
from catalog.ingest.validate import CURRENCY, clean_store_id
from config.progress import Progress
from config.text import counted


class Command(BaseCommand):
    help = (
        "Import one store's products from a JSON Lines, JSON or CSV file in our schema, or from "
        "a WooCommerce Store API / REST API v3 URL. Upserts on (store, external_id); unchanged "
        "products are not rewritten; bad records are reported and the good ones saved."
    )
    # No system checks: an import needs none of the admin's, URLs' or Qdrant's, and they are
    # a tenth of a one-row import's wall time (the vector commands do the same).
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("source", help="A file path or a WooCommerce products URL.")
        parser.add_argument("--store", required=True, help="The store id the products belong to.")
        parser.add_argument(
            "--format", choices=FORMATS, help="Override the format guessed from SOURCE."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Products per transaction (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate and count what would change; write nothing.",
        )
        parser.add_argument(
            "--errors", metavar="FILE", help="Write rejected records to FILE as JSON Lines."
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Delete the store's products missing from the feed (only after a complete feed).",
        )
        parser.add_argument(
            "--currency",
            metavar="CODE",
            help="The store's currency (ISO 4217) where the source does not say it: REST API "
            "shops whose currencies route is missing or closed, saved REST files, and records "
            "without one (default USD for those).",
        )
        parser.add_argument(
            "--modified-after",
            metavar="ISO8601",
            help="WooCommerce REST API: only products modified after this time (incremental).",
        )

    def handle(self, *args, **options):
        try:
            store_id = clean_store_id(options["store"])
        except RecordRejected as exc:
            raise CommandError(f"--store {exc.reason}.") from None
        currency = (options["currency"] or "").strip().upper() or None
        if currency and not CURRENCY.fullmatch(currency):
            raise CommandError(f"--currency must be three letters (ISO 4217), not {currency!r}.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        if options["prune"] and options["modified_after"]:
            raise CommandError(
                "--prune needs the whole catalog; it cannot go with --modified-after."
            )
        try:
            feed = open_feed(
                options["source"],
                fmt=options["format"],
                modified_after=options["modified_after"],
                credentials=_woocommerce_credentials(),
                currency=currency,
            )
        except ImportFailed as exc:
            raise CommandError(str(exc)) from exc

        errors_file = _open_errors(options["errors"])
        progress = Progress(
            self.stderr, label=f"{store_id} <- {feed.label}", enabled=options["verbosity"] >= 1
        )

        def on_reject(rejection):
            if errors_file:
                errors_file.write(json.dumps(rejection.as_json(), ensure_ascii=False) + "\n")
            if options["verbosity"] >= 2:
                self.stderr.write(f"rejected {rejection}")

        try:
            with _interrupted_by_sigterm():
                summary = product_import(
                    store_id=store_id,
                    records=feed.records,
                    batch_size=options["batch_size"],
                    dry_run=options["dry_run"],
                    prune=options["prune"],
                    default_currency=currency,
                    feed_incomplete=feed.incomplete,
                    progress=feed.fraction,
                    on_reject=on_reject,
                    on_batch=lambda summary, fraction: progress.update(summary.records, fraction),
                )
        except WorkerCrashed as exc:
            raise CommandError(
                f"The import stopped: {exc}. Every completed batch is saved; run the same "
                "command again to finish."
            ) from None
        except ImportFailed as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt:
            raise CommandError(
                "Interrupted. Every completed batch is saved; run the same command again to "
                "finish (unchanged products are skipped)."
            ) from None
        finally:
            progress.close()
            feed.close()
            if errors_file:
                errors_file.close()

        self._report(summary, options)

    def _report(self, summary: ImportSummary, options) -> None:
        if options["verbosity"] == 1:  # at 2 and more, each was printed as it came
            for rejection in summary.rejections_sample[:10]:
                self.stderr.write(f"rejected {rejection}")
            if summary.rejected > 10:
                self.stderr.write(f"... and {summary.rejected - 10} more rejected records.")
        if options["verbosity"] >= 1:
            self.stdout.write(_summary_line(summary))
            if summary.prune_skipped:
                self.stdout.write(self.style.WARNING(f"Not pruned: {summary.prune_skipped}."))
        if summary.error and not summary.records:
            raise CommandError(summary.error)
        if summary.error:
            raise CommandError(
                f"The feed broke off: {summary.error.rstrip('.')}. Products read before that "
                "were saved; run again to finish."
            )
        if summary.rejected:
            where = f" (see {options['errors']})" if options["errors"] else ""
            raise CommandError(f"{counted(summary.rejected, 'record')} rejected{where}.")


def _summary_line(summary: ImportSummary) -> str:
    prefix = "Dry run, would have: " if summary.dry_run else ""
    parts = [
        f"{summary.created:,} created",
        f"{summary.updated:,} updated",
        f"{summary.unchanged:,} unchanged",
        f"{summary.rejected:,} rejected",
    ]
    if summary.skipped:
        reasons = ", ".join(f"{why}: {n:,}" for why, n in summary.skipped.most_common())
        parts.append(f"{summary.skipped.total():,} skipped ({reasons})")
    if summary.pruned is not None:
        parts.append(f"{summary.pruned:,} pruned")
    if summary.duplicates:
        parts.append(f"{summary.duplicates:,} duplicate ids (last one kept)")
    if summary.without_image:
        parts.append(f"{summary.without_image:,} without image")
    return (
        f"{prefix}{', '.join(parts)} — {summary.records:,} records in {summary.seconds:.1f}s "
        f"({summary.rows_per_second:,.0f} rows/s)."
    )


@contextlib.contextmanager
def _interrupted_by_sigterm():
    """SIGTERM (docker stop, systemd, kill) ends an import as Ctrl-C does: the batch in
    flight is rolled back, the reader process stopped, the summary says how to finish."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _open_errors(path: str | None):
    if not path:
        return None
    try:
        return Path(path).open("w", encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot write --errors file {path}: {exc.strerror}.") from exc


def _woocommerce_credentials() -> tuple[str, str] | None:
    key = settings.WOOCOMMERCE_CONSUMER_KEY
    secret = settings.WOOCOMMERCE_CONSUMER_SECRET
    return (key, secret) if key and secret else None
