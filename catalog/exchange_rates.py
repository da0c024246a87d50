"""The exchange-rate table price filters convert with: the newest day's reference rates
(loaded by `manage.py load_exchange_rates`, catalog/ingest/rates.py)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from django.db.models import Subquery

from catalog.models import ExchangeRate

BASE_CURRENCY = "EUR"


@dataclass(frozen=True)
class RateTable:
    """One day's rates, the euro included, for converting prices between currencies."""

    rate_date: datetime.date
    source: str
    per_euro: Mapping[str, Decimal]

    def covers(self, currency: str) -> bool:
        return currency in self.per_euro

    def convert(self, amount: Decimal, from_currency: str, to_currency: str) -> Decimal:
        """`amount` of `from_currency` in `to_currency` (KeyError for one without a rate)."""
        return amount * self.per_euro[to_currency] / self.per_euro[from_currency]

    def ranges(
        self, low: Decimal | None, high: Decimal | None, currency: str
    ) -> Iterable[tuple[str, Decimal | None, Decimal | None]]:
        """The range [low, high] of `currency` in each currency of the table, widened to the
        cent (prices are stored in cents: a bound between two cents must not drop either)."""
        cent = Decimal("0.01")
        for other in sorted(self.per_euro):
            yield (
                other,
                None
                if low is None
                else self.convert(low, currency, other).quantize(cent, ROUND_FLOOR),
                None
                if high is None
                else self.convert(high, currency, other).quantize(cent, ROUND_CEILING),
            )


def latest_rates() -> RateTable | None:
    """The newest day's rates, or None when none were loaded (one query, on the index of
    (rate_date, currency))."""
    newest_day = ExchangeRate.objects.order_by("-rate_date").values("rate_date")[:1]
    rows = list(
        ExchangeRate.objects.filter(rate_date=Subquery(newest_day)).values_list(
            "rate_date", "currency", "per_euro", "source"
        )
    )
    if not rows:
        return None
    per_euro = {currency: rate for _, currency, rate, _ in rows}
    return RateTable(
        rate_date=rows[0][0],
        source=rows[0][3],
        per_euro={**per_euro, BASE_CURRENCY: Decimal(1)},
    )
