import time

from django.core.management.base import BaseCommand, CommandError

from config.text import counted
from vectors.client import get_qdrant_client
from vectors.collection import resolve_collection
from vectors.conf import Engine, qdrant_config
from vectors.exceptions import VectorStoreError


class Command(BaseCommand):
    help = (
        "Embedded Qdrant (Qdrant Edge): build the HNSW index and merge segments of the "
        "products collection, blocking until done (minutes at a million products). sync_vectors "
        "and reindex_vectors do this after their writes; a Qdrant server indexes by itself."
    )
    requires_system_checks = []

    def handle(self, *args, **options):
        config = qdrant_config()
        try:
            client = get_qdrant_client()
            if client.engine is not Engine.EDGE:
                self.stdout.write(f"{config.label} builds its index by itself: nothing to do.")
                return
            physical = resolve_collection(client=client, name=config.collection)
            if physical is None:
                raise CommandError(
                    f"Collection {config.collection!r} does not exist in {config.label}. "
                    "Run manage.py ensure_qdrant_collection."
                )
            started = time.monotonic()
            changed = client.optimize(physical)
            info = client.get_collection(physical)
        except VectorStoreError as exc:
            raise CommandError(str(exc)) from exc
        what = "Built" if changed else "Already up to date:"
        self.stdout.write(
            f"{what} the index of {physical!r} in {time.monotonic() - started:.1f}s: "
            f"{info.indexed_vectors_count:,} of {info.points_count:,} vectors in the HNSW "
            f"graph, {counted(info.segments_count or 0, 'segment')}."
        )
