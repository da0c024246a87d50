from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from vectors.backup import backup_store
from vectors.client import get_qdrant_client
from vectors.exceptions import VectorStoreError


class Command(BaseCommand):
    help = (
        "Embedded Qdrant: write the whole store (every collection and the aliases) to one "
        "archive, consistent, while no other process holds it. Restore: README, 'Backups'."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("archive", help="Where to write: a .tar or .tar.gz file.")

    def handle(self, *args, **options):
        archive = Path(options["archive"]).resolve()
        if not archive.parent.is_dir():
            raise CommandError(f"{archive.parent} is not a directory.")
        try:
            report = backup_store(client=get_qdrant_client(), archive=archive)
        except VectorStoreError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Wrote {report.archive}: {report.files:,} files, {report.bytes / 2**20:,.1f} MiB "
            "of store."
        )
