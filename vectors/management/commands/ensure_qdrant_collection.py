import sys

from django.core.management.base import BaseCommand, CommandError

from config.text import counted
from vectors.client import get_qdrant_client
from vectors.collection import (
    LEGACY_STORE_NOTICE,
    CollectionState,
    collection_ensure,
    collection_inspect,
)
from vectors.conf import Engine, qdrant_config
from vectors.exceptions import CollectionMismatch, CollectionNotFound, VectorStoreError


class Command(BaseCommand):
    help = (
        "Create the Qdrant collection (QDRANT_COLLECTION) and its payload indexes when missing, "
        "or verify the existing one against the settings. Safe to run again and concurrently; "
        "never deletes anything without --recreate."
    )
    requires_system_checks = []  # the checks would open Qdrant a second time

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--check",
            action="store_true",
            help="Only report; exit non-zero when the collection is missing or differs.",
        )
        mode.add_argument(
            "--recreate",
            action="store_true",
            help="Delete the collection and every point in it, then create it anew.",
        )
        parser.add_argument(
            "--yes",
            "--no-input",
            action="store_true",
            dest="yes",
            help="Do not ask before --recreate.",
        )

    def handle(self, *args, **options):
        config = qdrant_config()
        try:
            client = get_qdrant_client()
            if options["check"]:
                self._check(client, config)
                return
            if options["recreate"] and not options["yes"]:
                self._confirm_recreate(config)
            report = collection_ensure(client=client, config=config, recreate=options["recreate"])
        except CollectionMismatch as exc:
            raise CommandError(
                f"{exc} Fix QDRANT_VECTOR_SIZE / QDRANT_DISTANCE, or rebuild with --recreate."
            ) from exc
        except VectorStoreError as exc:
            raise CommandError(str(exc)) from exc

        state = report.state
        if report.recreated:
            self._say(f"Recreated {self._describe(state, config)}.", self.style.WARNING)
        elif report.created:
            self._say(f"Created {self._describe(state, config)}.", self.style.SUCCESS)
        else:
            self._say(f"Verified {self._describe(state, config)}.", self.style.SUCCESS)
        if report.indexes_added:
            self._say(f"Added payload indexes: {', '.join(report.indexes_added)}.")
        for difference in state.differences:
            self._say(f"Differs from the settings (left as is): {difference}", self.style.WARNING)
        if client.engine is Engine.MEMORY:
            self._say(
                "qdrant-client's local mode: payload indexes, shards and quantization apply on "
                "a server or embedded Qdrant Edge only."
            )
        if client.legacy_store():
            self.stderr.write(self.style.WARNING(LEGACY_STORE_NOTICE))

    def _check(self, client, config) -> None:
        if client.legacy_store():
            self.stderr.write(self.style.WARNING(LEGACY_STORE_NOTICE))
        try:
            state = collection_inspect(client=client, config=config)
        except CollectionNotFound as exc:
            raise CommandError(f"{exc} Run manage.py ensure_qdrant_collection.") from exc
        problems = [str(d) for d in state.differences] + [
            f"payload index {name}: missing" for name in state.missing_indexes
        ]
        if problems:
            raise CommandError(
                f"The {self._describe(state, config)} differs from the settings: "
                + "; ".join(problems)
                + ". Run manage.py ensure_qdrant_collection."
            )
        self._say(f"The {self._describe(state, config)} matches the settings.", self.style.SUCCESS)

    def _confirm_recreate(self, config) -> None:
        if not sys.stdin.isatty():
            raise CommandError(
                f"--recreate deletes every point in {config.collection!r}; add --yes to confirm."
            )
        answer = input(
            f"This deletes collection {config.collection!r} in {config.label} and every point "
            "in it. Type the collection name to confirm: "
        )
        if answer.strip() != config.collection:
            raise CommandError("Not confirmed; nothing was changed.")

    @staticmethod
    def _describe(state: CollectionState, config) -> str:
        where = f" (alias of {state.physical_name!r})" if state.via_alias else ""
        return (
            f"collection {state.name!r}{where} in {config.label} "
            f"({config.vector_size}-dim {config.distance.lower()}, "
            f"{counted(state.points_count or 0, 'point')})"
        )

    def _say(self, message: str, style=None) -> None:
        if self.verbosity >= 1:
            self.stdout.write(style(message) if style else message)

    def execute(self, *args, **options):
        self.verbosity = options.get("verbosity", 1)
        return super().execute(*args, **options)
