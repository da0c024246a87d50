"""The exchange-rate table price filters convert with: the newest day's reference rates
(loaded by `manage.py load_exchange_rates`, catalog/ingest/rates.py)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db import connection

BASE_CURRENCY = "EUR"


@dataclass(frozen=True)
class RateTable:
    """One day's rates, the euro included, for converting prices between currencies."""

    rate_date: datetime.date
    source: str
    per_euro: Mapping[str, Decimal]
    # The currencies the catalog prices in (None: not known, take all): a filter needs a
    # clause only for those, and each clause costs every point the search visits.
    priced_in: frozenset[str] | None = None

    def covers(self, currency: str) -> bool:
        return currency in self.per_euro

    def convert(self, amount: Decimal, from_currency: str, to_currency: str) -> Decimal:
        """`amount` of `from_currency` in `to_currency` (KeyError for one without a rate)."""
        return amount * self.per_euro[to_currency] / self.per_euro[from_currency]

    def ranges(
        self, low: Decimal | None, high: Decimal | None, currency: str
    ) -> Iterable[tuple[str, Decimal | None, Decimal | None]]:
        """The range [low, high] of `currency` in each currency of the table the catalog
        prices in, widened to the cent (prices are stored in cents: a bound between two
        cents must not drop either)."""
        cent = Decimal("0.01")
        wanted = self.per_euro.keys() if self.priced_in is None else self.priced_in | {currency}
        for other in sorted(wanted & self.per_euro.keys()):
            yield (
                other,
                None
                if low is None
                else self.convert(low, currency, other).quantize(cent, ROUND_FLOOR),
                None
                if high is None
                else self.convert(high, currency, other).quantize(cent, ROUND_CEILING),
            )


# The newest day's rates, and the currencies the catalog prices in, read from the index on
# catalog_product.currency one probe per currency (a loose index scan, as the admin's
# currency filter does): a millisecond at a million products.
LATEST_RATES = """
WITH RECURSIVE priced AS (
    (SELECT currency AS value FROM catalog_product ORDER BY currency LIMIT 1)
    UNION ALL
    SELECT (SELECT currency FROM catalog_product WHERE currency > p.value
            ORDER BY currency LIMIT 1)
    FROM priced p WHERE p.value IS NOT NULL
)
SELECT rate_date, currency, per_euro, source,
       ARRAY(SELECT value FROM priced WHERE value IS NOT NULL)
FROM catalog_exchangerate
WHERE rate_date = (SELECT max(rate_date) FROM catalog_exchangerate)
"""


def rates_for_range(price_min: Decimal | None, price_max: Decimal | None) -> RateTable | None:
    """The rates a price range converts with: the newest day's when there is a range and
    PRICE_CONVERSION is on, else None (no query)."""
    from django.conf import settings

    if (price_min is None and price_max is None) or not settings.PRICE_CONVERSION:
        return None
    return latest_rates()


def latest_rates() -> RateTable | None:
    """The newest day's rates, or None when none were loaded (one query)."""
    with connection.cursor() as cursor:
        cursor.execute(LATEST_RATES)
        rows = cursor.fetchall()
    if not rows:
        return None
    per_euro = {currency: rate for _, currency, rate, _, _ in rows}
    return RateTable(
        rate_date=rows[0][0],
        source=rows[0][3],
        per_euro={**per_euro, BASE_CURRENCY: Decimal(1)},
        priced_in=frozenset(rows[0][4]),
    )
