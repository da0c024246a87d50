from django.core.management.base import BaseCommand, CommandError

from config.progress import Progress
from config.text import counted
from vectors.client import get_qdrant_client
from vectors.conf import qdrant_config
from vectors.embedders import get_embedder
from vectors.exceptions import CollectionNotFound, VectorStoreError
from vectors.reconcile import ReconcileReport, reconcile
from vectors.sync_queue import set_aside_notice


class Command(BaseCommand):
    help = (
        "Compare PostgreSQL with Qdrant page by page: products without a point, points "
        "without a product, stale payloads. Exits 1 when it finds drift; --fix repairs it."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--fix", action="store_true", help="Repair what is found.")
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Products or points per page (1000)."
        )

    def handle(self, *args, **options):
        config = qdrant_config()
        progress = Progress(self.stderr, label="reconcile", enabled=options["verbosity"] >= 1)
        try:
            report = reconcile(
                client=get_qdrant_client(),
                collection=config.collection,
                embedder=get_embedder(),
                fix=options["fix"],
                page_size=options["batch_size"],
                on_page=lambda r: progress.update(r.products + r.points),
            )
        except CollectionNotFound as exc:
            raise CommandError(f"{exc} Run manage.py ensure_qdrant_collection.") from exc
        except VectorStoreError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            progress.close()
        self.stdout.write(self._summary(report))
        if report.misgrouped:
            verb = "checked again" if report.fixed else "to check again (--fix)"
            self.stdout.write(
                f"Duplicate groups: {counted(report.misgrouped, 'product')} out of step "
                f"with their links, {verb}."
            )
        for kind, ids in report.samples.items():
            if ids:
                self.stdout.write(f"  {kind}: {', '.join(ids)}{' ...' if len(ids) >= 10 else ''}")
        notice = set_aside_notice()
        if notice:
            self.stdout.write(notice)
        if report.drift and not report.fixed:
            raise CommandError(
                f"PostgreSQL and Qdrant differ in {counted(report.drift, 'place')}; run with --fix."
            )

    @staticmethod
    def _summary(report: ReconcileReport) -> str:
        verb = "Repaired" if report.fixed and report.drift else "Found"
        return (
            f"Checked {counted(report.products, 'product')} and "
            f"{counted(report.points, 'point')}. {verb}: "
            f"{report.missing:,} missing, {report.stale:,} stale, "
            f"{counted(report.orphans, 'orphan point')}."
        )
