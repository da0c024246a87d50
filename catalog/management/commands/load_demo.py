import json
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from catalog.demo import STORES, demo_products


class Command(BaseCommand):
    help = (
        "Load the demo catalog: four shops' products in the WooCommerce Store API's JSON, "
        "imported through import_products. Safe to run again (unchanged products are skipped)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--image-base",
            default="http://127.0.0.1:8000",
            help="Where this site serves /demo/images/ (the demo's placeholder images).",
        )

    def handle(self, *args, **options):
        folder = Path(settings.BASE_DIR) / "var" / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        for store_id in STORES:
            path = folder / f"{store_id}.json"
            path.write_text(json.dumps(demo_products(store_id, image_base=options["image_base"])))
            call_command(
                "import_products",
                str(path),
                "--store",
                store_id,
                "--format",
                "woocommerce-store",
                "--prune",
                verbosity=options["verbosity"],
                stdout=self.stdout,
                stderr=self.stderr,
            )
