"""The demo catalog: a few hundred fashion products from four shops, in the WooCommerce
Store API's own JSON, imported through import_products like any store.

Generated deterministically (same products every time), with placeholder images served by
this project (catalog.demo.views.demo_image) so that the demo looks right offline.
"""

from __future__ import annotations

import random
from decimal import Decimal

# store id -> (currency, currency minor unit, products)
STORES = {
    "northwind-apparel": ("USD", 2, 90),
    "maison-lune": ("EUR", 2, 80),
    "tokyo-thread": ("JPY", 0, 70),
    "gulf-couture": ("KWD", 3, 60),
}
MATERIALS = ["linen", "wool", "silk", "denim", "leather", "cotton", "cashmere", "velvet", "suede"]
KINDS = [
    ("shirt", 25, 120),
    ("coat", 120, 600),
    ("scarf", 15, 90),
    ("jacket", 80, 450),
    ("boots", 70, 380),
    ("dress", 45, 320),
    ("skirt", 30, 180),
    ("trousers", 40, 220),
    ("sneakers", 50, 240),
    ("cardigan", 45, 260),
    ("blazer", 90, 420),
    ("tote bag", 35, 300),
]
# Each colour's swatch for the placeholder images (catalog/demo/views.py).
SWATCHES = {
    "black": "#222222",
    "white": "#f4f1ea",
    "navy": "#1f2a44",
    "olive": "#6b6b3a",
    "sand": "#d8c3a5",
    "burgundy": "#6d1a36",
    "teal": "#1f6f6f",
    "grey": "#8a8a8a",
    "cream": "#efe6d2",
    "rust": "#a2482b",
}
COLOURS = list(SWATCHES)
LIGHT_COLOURS = ("white", "cream", "sand")
FITS = ["relaxed", "slim", "oversized", "tailored", "cropped", "classic"]
DETAILS = [
    "with horn buttons",
    "with a hidden placket",
    "with patch pockets",
    "finished by hand",
    "with contrast stitching",
    "lined in cotton",
    "with a raw hem",
    "in a soft brushed weave",
]
# Rough exchange rates from USD, for believable prices in each currency.
RATES = {"USD": Decimal("1"), "EUR": Decimal("0.92"), "JPY": Decimal("150"), "KWD": Decimal("0.31")}


def demo_products(store_id: str, *, image_base: str) -> list[dict]:
    """The store's products as its Store API would answer /wp-json/wc/store/v1/products."""
    currency, minor_unit, count = STORES[store_id]
    rng = random.Random(f"demo:{store_id}")  # noqa: S311 - reproducible demo data, not secrets
    products = []
    for number in range(1, count + 1):
        material, (kind, low, high) = rng.choice(MATERIALS), rng.choice(KINDS)
        colour, fit, detail = rng.choice(COLOURS), rng.choice(FITS), rng.choice(DETAILS)
        title = f"{fit.title()} {colour} {material} {kind}"
        usd = Decimal(rng.randint(low, high)) - Decimal("0.01")
        price = (usd * RATES[currency]).quantize(Decimal(1).scaleb(-minor_unit))
        slug = f"{store_id}-{number}"
        image = f"{image_base}/demo/images/{colour}-{kind.replace(' ', '-')}-{material}.svg"
        products.append(
            {
                "id": 1000 + number,
                "name": title.replace(" & ", " &amp; "),
                "slug": slug,
                "permalink": f"https://{store_id}.example/product/{slug}/",
                "short_description": f"<p>A {fit} {kind} in {colour} {material}.</p>",
                "description": (
                    f"<p>Our {fit} {kind}, cut from {colour} {material} {detail}.</p>"
                    f"<ul><li>Material: {material}</li><li>Colour: {colour}</li></ul>"
                ),
                "prices": {
                    "price": str(int(price.scaleb(minor_unit))),
                    "regular_price": str(int(price.scaleb(minor_unit))),
                    "currency_code": currency,
                    "currency_minor_unit": minor_unit,
                },
                # A few products without image, as real shops have.
                "images": [{"id": number, "src": image}] if number % 17 else [],
            }
        )
    return products
