import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from config.text import counted
from vectors.embedders.model_files import PRECISIONS, REPOSITORY, REVISION
from vectors.model_download import DownloadFailed, download_model


class Command(BaseCommand):
    help = (
        "Fetch Marqo-FashionSigLIP's published ONNX export (both towers, the tokenizer and "
        "the processor configs) into VECTORS_MODEL_DIR with the Hugging Face hub's client, at "
        "a pinned revision, each file verified against the hub's checksum; an interrupted "
        "download resumes, files already there are kept."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--precision",
            choices=list(PRECISIONS),
            default=None,
            help="Which precision of the towers (default: VECTORS_MODEL_PRECISION, fp32).",
        )
        parser.add_argument("--revision", default=REVISION, help="The hub commit to fetch.")
        parser.add_argument("--repository", default=REPOSITORY, help=f"Default {REPOSITORY}.")

    def handle(self, *args, **options):
        from huggingface_hub.utils import disable_progress_bars

        precision = options["precision"] or settings.VECTORS_MODEL_PRECISION
        folder = settings.VECTORS_MODEL_DIR
        if not sys.stderr.isatty():
            disable_progress_bars()  # a line per file below instead of redrawn bars

        def on_file(name: str, size: int, fetched: bool) -> None:
            state = "fetched" if fetched else "already there"
            self.stdout.write(f"  {name}: {size / 1e6:,.1f} MB, {state}, verified")

        self.stdout.write(
            f"Downloading {options['repository']} at {options['revision'][:12]} ({precision}) "
            f"into {folder}"
        )
        try:
            report = download_model(
                folder,
                precision=precision,
                repository=options["repository"],
                revision=options["revision"],
                on_file=on_file,
            )
        except (DownloadFailed, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Model ready in {folder}: {counted(len(report.fetched), 'file')} fetched "
            f"({report.bytes_fetched / 1e6:,.1f} MB), {len(report.present)} already there."
        )
