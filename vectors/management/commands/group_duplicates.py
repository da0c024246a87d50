from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from config.errors import first_line
from config.progress import Progress
from vectors.client import get_qdrant_client
from vectors.conf import qdrant_config
from vectors.duplicates import (
    check_queued_duplicates,
    duplicate_threshold,
    duplication_summary,
    pending_checks,
    rebuild_duplicates,
)
from vectors.exceptions import VectorStoreError


class Command(BaseCommand):
    help = (
        "Group the same product sold by several shops (vectors at or above "
        "VECTORS_DUPLICATE_THRESHOLD): check the products the sync queued, or with --rebuild "
        "the whole catalog from scratch; then say how much of the catalog is duplicated."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--rebuild",
            action="store_true",
            help="Look for every product's duplicates again and regroup the whole catalog "
            "(the old groups serve searches until the new ones are in place).",
        )
        parser.add_argument(
            "--report", action="store_true", help="Only say how much of the catalog is duplicated."
        )

    def handle(self, *args, **options):
        threshold = duplicate_threshold()
        verbose = options["verbosity"] >= 1
        try:
            if not options["report"]:
                if threshold is None:
                    raise CommandError(
                        "Duplicate grouping is off (VECTORS_DUPLICATE_THRESHOLD <= 0)."
                    )
                self._group(rebuild=options["rebuild"], verbose=verbose)
            self.stdout.write(duplication_summary().summary())
        except VectorStoreError as exc:
            raise CommandError(str(exc)) from exc
        except DatabaseError as exc:
            raise CommandError(f"Database unavailable: {first_line(exc)}") from exc

    def _group(self, *, rebuild: bool, verbose: bool) -> None:
        client, config = get_qdrant_client(), qdrant_config()
        if rebuild:
            total = client.count(collection_name=config.collection, exact=True).count
            progress = Progress(self.stderr, label="duplicates", enabled=verbose)
            done = 0

            def advance(points: int) -> None:
                nonlocal done
                done += points
                progress.update(done, done / total if total else None)

            report = rebuild_duplicates(client=client, config=config, progress=advance)
        else:
            waiting = pending_checks()
            progress = Progress(self.stderr, label="duplicates", enabled=verbose and waiting > 0)
            report = check_queued_duplicates(
                client=client,
                config=config,
                on_batch=lambda total: progress.update(
                    total.checked, total.checked / waiting if waiting else None
                ),
            )
        progress.close()
        if verbose:
            self.stdout.write(report.summary())
