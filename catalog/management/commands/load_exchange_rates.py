from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from catalog.exceptions import ExchangeRatesUnavailable
from catalog.ingest.rates import load_exchange_rates
from config.text import counted


class Command(BaseCommand):
    help = (
        "Load reference exchange rates against the euro from the European Central Bank's "
        "XML file (EXCHANGE_RATES_URL by default; a daily, 90-day or full-history file, by URL "
        "or path). With PRICE_CONVERSION on, price filters compare across currencies at the "
        "newest day's rates. Run it daily, after the bank publishes (about 16:00 CET)."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "source",
            nargs="?",
            help="A URL or file path (default: the EXCHANGE_RATES_URL setting).",
        )

    def handle(self, *args, **options):
        source = options["source"] or settings.EXCHANGE_RATES_URL
        try:
            found = load_exchange_rates(source)
        except ExchangeRatesUnavailable as exc:
            raise CommandError(str(exc)) from None
        for rejection in found.rejected[:10]:
            self.stderr.write(f"rejected {rejection}")
        days = found.days
        span = str(days[0]) if len(days) == 1 else f"{days[0]} to {days[-1]}"
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"Loaded {counted(len(found.rates), 'rate')} of {span} "
                f"({counted(len(days), 'day')}) from {found.source}."
            )
        if found.rejected:
            raise CommandError(f"{counted(len(found.rejected), 'rate')} rejected (see above).")
