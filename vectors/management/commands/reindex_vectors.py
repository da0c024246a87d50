from django.core.management.base import BaseCommand, CommandError

from config.progress import Progress
from config.text import counted
from vectors.client import get_qdrant_client
from vectors.conf import qdrant_config
from vectors.duplicates import duplicate_threshold
from vectors.embedders import get_embedder
from vectors.exceptions import AliasAlreadySwapped, VectorStoreError
from vectors.reindex import reindex


class Command(BaseCommand):
    help = (
        "Rebuild the vector index into a new versioned collection with the current settings "
        "and embedder, then swap the QDRANT_COLLECTION alias to it atomically: searches keep "
        "working throughout. The way to change the embedding model or the vector size."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep-old", action="store_true", help="Keep the previous collection version."
        )
        parser.add_argument("--batch-size", type=int, default=256, help="Products per write.")

    def handle(self, *args, **options):
        from catalog.models import Product

        config = qdrant_config()
        total = Product.objects.count()
        progress = Progress(self.stderr, label="reindex", enabled=options["verbosity"] >= 1)
        try:
            report = reindex(
                client=get_qdrant_client(),
                config=config,
                embedder=get_embedder(),
                keep_old=options["keep_old"],
                page_size=options["batch_size"],
                on_page=lambda r: progress.update(
                    r.filled.products, r.filled.products / total if total else None
                ),
            )
        except AliasAlreadySwapped as exc:
            raise CommandError(str(exc)) from exc
        except VectorStoreError as exc:  # the embedder, Qdrant: before the swap
            raise CommandError(f"{exc} The alias was not moved.") from exc
        finally:
            progress.close()
        old = f"'{report.old}'" if report.old else "nothing"
        fate = "dropped" if report.dropped_old else "kept"
        self.stdout.write(
            f"'{config.collection}' now points at '{report.new}' (was {old}, {fate}): "
            f"{counted(report.filled.embedded, 'product')} embedded, {report.replayed:,} replayed, "
            f"{len(report.filled.failed):,} failed (queued for sync_vectors)."
        )
        if report.removed_legacy_store:
            self.stdout.write("Removed the vectors left by qdrant-client's local mode.")
        if report.filled.embedded and duplicate_threshold() is not None:
            self.stdout.write(
                "Duplicate groups were found with the old vectors: run "
                "manage.py group_duplicates --rebuild."
            )
