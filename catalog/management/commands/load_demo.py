import json
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from catalog.demo import STORES, demo_products
from catalog.models import Product


class Command(BaseCommand):
    help = (
        "Load the demo catalog: four shops' products in the WooCommerce Store API's JSON, "
        "imported through import_products. A demo shop loaded before is kept as it is (your "
        "edits, its image addresses), unless --reload."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--image-base",
            default="http://127.0.0.1:8000",
            help="Where this site serves /demo/images/ (the demo's placeholder images).",
        )
        parser.add_argument(
            "--reload",
            action="store_true",
            help="Import the demo shops again: edited demo products are reset, image "
            "addresses rewritten to --image-base.",
        )

    def handle(self, *args, **options):
        folder = Path(settings.BASE_DIR) / "var" / "demo"
        folder.mkdir(parents=True, exist_ok=True)
        loaded = set(
            Product.objects.filter(store_id__in=STORES)
            .values_list("store_id", flat=True)
            .distinct()
        )
        for store_id in STORES:
            if store_id in loaded and not options["reload"]:
                if options["verbosity"]:
                    self.stdout.write(
                        f"{store_id}: loaded before, kept as it is (load_demo --reload resets it)."
                    )
                continue
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
