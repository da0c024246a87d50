"""System checks for the catalog's own settings."""

import datetime

from django.conf import settings
from django.core.checks import Warning, register
from django.db import DatabaseError


@register("catalog", deploy=True)
def check_exchange_rates(app_configs=None, **kwargs):
    """With PRICE_CONVERSION on, rates must be loaded and recent: otherwise price filters
    quietly fall back to one currency, or convert at last month's rates."""
    if not settings.PRICE_CONVERSION:
        return []
    from catalog.models import ExchangeRate

    hint = "Run `manage.py load_exchange_rates` (daily, from cron or a scheduler)."
    try:
        newest = (
            ExchangeRate.objects.order_by("-rate_date").values_list("rate_date", flat=True).first()
        )
    except DatabaseError:
        return []  # unmigrated or PostgreSQL down: other checks and commands say so
    if newest is None:
        return [
            Warning(
                "PRICE_CONVERSION is on but no exchange rates are loaded: price filters "
                "compare one currency only.",
                hint=hint,
                id="catalog.W001",
            )
        ]
    age = (datetime.date.today() - newest).days
    if age > settings.EXCHANGE_RATES_MAX_AGE_DAYS:
        return [
            Warning(
                f"The newest exchange rates are of {newest}, {age} days old (more than "
                f"EXCHANGE_RATES_MAX_AGE_DAYS={settings.EXCHANGE_RATES_MAX_AGE_DAYS}).",
                hint=hint,
                id="catalog.W002",
            )
        ]
    return []
