"""Reference exchange rates: reading a central bank's published file into ExchangeRate
(`manage.py load_exchange_rates`; catalog/exchange_rates.py is the table searches read).

The European Central Bank publishes ~30 currencies against the euro each working day around
16:00 CET (eurofxref-daily.xml; eurofxref-hist-90d.xml and eurofxref-hist.xml hold the
past). Rates are stored per day and never deleted: a currency the bank stops publishing
(HRK when Croatia adopted the euro) simply has no rate on the newest day, so it is no longer
converted rather than converted at a stale rate.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from django.db import DatabaseError, transaction

from catalog.exceptions import ExchangeRatesUnavailable, FetchError
from catalog.exchange_rates import BASE_CURRENCY
from catalog.ingest.http import HttpPolicy, PoliteClient, public_url
from catalog.models import ExchangeRate

_GESMES = "{http://www.gesmes.org/xml/2002-08-01}"
_EUROFXREF = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
_CURRENCY = re.compile(r"[A-Z]{3}")
_PER_EURO = ExchangeRate._meta.get_field("per_euro")
# The largest rate the column holds (20 digits, 8 of them decimals).
_MAX_RATE = Decimal(10) ** (_PER_EURO.max_digits - _PER_EURO.decimal_places)
_WRITE_BATCH = 1000


@dataclass(frozen=True)
class PublishedRate:
    rate_date: datetime.date
    currency: str
    per_euro: Decimal


@dataclass
class ReferenceRates:
    """What one file held: its publisher, its good rates, and why the others were left out."""

    source: str
    rates: list[PublishedRate] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)

    @property
    def days(self) -> list[datetime.date]:
        return sorted({rate.rate_date for rate in self.rates})


def parse_reference_rates(document: bytes | str, *, where: str) -> ReferenceRates:
    """The rates of an ECB eurofxref file (daily, 90-day or full history). A rate that is
    not a positive number, or a currency that is not three letters, is rejected with its
    day and field; the rest are kept. Raises ExchangeRatesUnavailable for a file that is not
    one (not XML, entities, no rates at all)."""
    try:
        root = ElementTree.fromstring(document)
    except (ElementTree.ParseError, DefusedXmlException, ValueError) as exc:
        raise ExchangeRatesUnavailable(f"{where}: not a reference-rate XML file ({exc}).") from exc
    if root.tag != f"{_GESMES}Envelope":
        raise ExchangeRatesUnavailable(
            f"{where}: not the European Central Bank's reference-rate file "
            f"(its root is {root.tag!r}, not gesmes:Envelope)."
        )
    sender = root.findtext(f"{_GESMES}Sender/{_GESMES}name") or ""
    found = ReferenceRates(source=sender.strip()[:200] or where)
    for day in root.iterfind(f"{_EUROFXREF}Cube/{_EUROFXREF}Cube"):
        _read_day(day, found)
    if not found.rates:
        raise ExchangeRatesUnavailable(
            f"{where}: no usable rates in the file"
            + (f" ({found.rejected[0]})." if found.rejected else ".")
        )
    return found


def _read_day(day: Element, found: ReferenceRates) -> None:
    text = day.get("time", "")
    try:
        rate_date = datetime.date.fromisoformat(text)
    except ValueError:
        found.rejected.append(f"day {text[:40]!r}: time is not a date (YYYY-MM-DD)")
        return
    for cube in day.iterfind(f"{_EUROFXREF}Cube"):
        currency = cube.get("currency", "")
        where = f"{rate_date} {currency[:10] or '(no currency)'}"
        if not _CURRENCY.fullmatch(currency) or currency == BASE_CURRENCY:
            found.rejected.append(f"{where}: currency is not a three-letter code other than EUR")
            continue
        raw = cube.get("rate", "")
        try:
            per_euro = Decimal(raw)
        except InvalidOperation:
            per_euro = Decimal("NaN")
        if not per_euro.is_finite() or not 0 < per_euro < _MAX_RATE:
            found.rejected.append(f"{where}: rate {raw[:40]!r} is not a positive number")
            continue
        per_euro = per_euro.quantize(Decimal(1).scaleb(-_PER_EURO.decimal_places))
        found.rates.append(PublishedRate(rate_date, currency, per_euro))


def read_source(source: str, *, policy: HttpPolicy | None = None) -> bytes:
    """The file at `source`: an http(s) URL (fetched with the importer's timeouts, retries
    and size limit) or a local path. The URL is the operator's setting, not a shop's."""
    if source.startswith(("http://", "https://")):
        try:
            with PoliteClient(policy=policy or HttpPolicy.from_settings()) as client:
                text, _ = client.get_text(source)
        except FetchError as exc:
            raise ExchangeRatesUnavailable(str(exc)) from exc
        return text.encode("utf-8", "surrogateescape")
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise ExchangeRatesUnavailable(f"{source}: {exc.strerror or exc}.") from exc


def store_rates(found: ReferenceRates) -> None:
    """Every rate of the file, in one transaction: a day loaded again is overwritten with what
    the bank publishes now; days and currencies the file does not hold are kept."""
    rows = [
        ExchangeRate(
            rate_date=rate.rate_date,
            currency=rate.currency,
            per_euro=rate.per_euro,
            source=found.source,
        )
        for rate in found.rates
    ]
    try:
        with transaction.atomic():
            for start in range(0, len(rows), _WRITE_BATCH):
                ExchangeRate.objects.bulk_create(
                    rows[start : start + _WRITE_BATCH],
                    update_conflicts=True,
                    unique_fields=["rate_date", "currency"],
                    update_fields=["per_euro", "source", "loaded_at"],
                )
    except DatabaseError as exc:
        raise ExchangeRatesUnavailable(f"PostgreSQL: {str(exc).strip().splitlines()[0]}") from exc


def load_exchange_rates(source: str, *, policy: HttpPolicy | None = None) -> ReferenceRates:
    """Fetch, read and store the reference rates at `source`; what was stored, and what not."""
    where = public_url(source) if "://" in source else source
    found = parse_reference_rates(read_source(source, policy=policy), where=where)
    store_rates(found)
    return found
