"""Prices as shoppers read them: each currency with its own minor units.

The minor units are CLDR's, through Babel (the data ICU, browsers' Intl and most shop
software format money with): JPY, KRW, HUF and IDR have none, KWD, BHD and TND three, most
currencies two. Prices are stored as numeric(10,2), so a three-decimal currency keeps two
significant decimals (12.345 KWD is stored 12.35 and shown 12.350).
"""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal


@functools.cache
def minor_units(currency: str) -> int:
    """Digits after the decimal point for `currency` (2 for a code CLDR does not know)."""
    # Imported on first use: Babel's number module costs ~30 ms, which a process that never
    # shows a price (the sync, an import) should not pay.
    from babel.numbers import get_currency_precision

    return get_currency_precision(currency)


def price_text(price: Decimal, currency: str) -> str:
    """The price with its currency's minor units: "1500" JPY, "19.90" USD, "12.350" KWD.

    A fraction the currency does not use is shown rather than hidden: a shop that prices
    JPY in sen (1500.50) is shown as it priced, never rounded into a price it did not ask."""
    shown = price.quantize(Decimal(1).scaleb(-minor_units(currency)))
    return str(shown if shown == price else price)


def rounded(amount: Decimal, currency: str) -> Decimal:
    """A computed amount (a converted price) rounded to the currency's minor units."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), ROUND_HALF_UP)
