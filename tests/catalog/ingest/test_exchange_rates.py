"""Loading the European Central Bank's reference rates (manage.py load_exchange_rates) from
its published files, served over loopback HTTP (the bank cannot be reached from here)."""

import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.exchange_rates import latest_rates
from catalog.models import ExchangeRate
from tests.catalog.ingest.shop_server import ShopServer
from tests.helpers import INGEST_FIXTURES, closed_port

pytestmark = pytest.mark.django_db

FIXTURES = INGEST_FIXTURES
DAILY_2024 = (FIXTURES / "ecb_eurofxref_daily_2024-06-28.xml").read_bytes()
DAILY_2015 = (FIXTURES / "ecb_eurofxref_daily_2015-02-12.xml").read_bytes()


@pytest.fixture
def bank(fast_http):
    """The bank's file route on 127.0.0.1."""
    with ShopServer() as server:
        server.routes["/stats/eurofxref/eurofxref-daily.xml"] = lambda query: (200, {}, DAILY_2024)
        yield server


def load(*args):
    out, err = StringIO(), StringIO()
    call_command("load_exchange_rates", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_loads_the_daily_file_from_the_configured_url(bank, settings):
    settings.EXCHANGE_RATES_URL = f"{bank.base}/stats/eurofxref/eurofxref-daily.xml"
    out, _ = load()
    assert out == "Loaded 30 rates of 2024-06-28 (1 day) from European Central Bank.\n"
    table = latest_rates()
    assert table.rate_date == datetime.date(2024, 6, 28)
    assert table.source == "European Central Bank"
    assert table.per_euro["USD"] == Decimal("1.0705")
    assert table.per_euro["IDR"] == Decimal("17487.21")
    assert table.per_euro["EUR"] == 1
    assert len(table.per_euro) == 31


def test_days_are_kept_and_the_newest_is_the_table(bank):
    """A currency the bank stopped publishing (HRK, RUB after 2015) has no rate on the newest
    day, so it is no longer converted; its old rates stay for the record."""
    load(str(FIXTURES / "ecb_eurofxref_daily_2015-02-12.xml"))
    load(f"{bank.base}/stats/eurofxref/eurofxref-daily.xml")
    load(f"{bank.base}/stats/eurofxref/eurofxref-daily.xml")  # the same day again: no copies
    assert ExchangeRate.objects.count() == 31 + 30
    table = latest_rates()
    assert table.rate_date == datetime.date(2024, 6, 28)
    assert not table.covers("HRK") and not table.covers("RUB")
    assert ExchangeRate.objects.get(currency="HRK").per_euro == Decimal("7.7230")


def test_bad_rates_are_named_and_the_good_ones_kept(tmp_path):
    path = tmp_path / "rates.xml"
    path.write_bytes(
        DAILY_2024.replace(b"rate='1.0705'", b"rate='abc'")
        .replace(b"currency='JPY'", b"currency='yen'")
        .replace(b"rate='395.10'", b"rate='-395.10'")
    )
    err = StringIO()
    with pytest.raises(CommandError, match=r"^3 rates rejected \(see above\)\.$"):
        call_command("load_exchange_rates", str(path), stdout=StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "rejected 2024-06-28 USD: rate 'abc' is not a positive number",
        "rejected 2024-06-28 yen: currency is not a three-letter code other than EUR",
        "rejected 2024-06-28 HUF: rate '-395.10' is not a positive number",
    ]
    assert ExchangeRate.objects.count() == 27
    assert not latest_rates().covers("USD")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html><body>Maintenance</body></html>", "not the European Central Bank's"),
        (b'{"rates": {}}', "not a reference-rate XML file"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>',
            "not a reference-rate XML file",
        ),
        (DAILY_2024.split(b"<Cube time")[0] + b"</Cube></gesmes:Envelope>", "no usable rates"),
    ],
    ids=["html", "json", "entities", "no-rates"],
)
def test_a_file_that_is_not_one_is_one_line_and_stores_nothing(bank, body, message):
    bank.routes["/rates.xml"] = lambda query: (200, {}, body)
    with pytest.raises(CommandError) as raised:
        load(f"{bank.base}/rates.xml")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert not ExchangeRate.objects.exists()


def test_the_bank_down_or_refusing_is_one_line(bank):
    with pytest.raises(CommandError, match=r"ConnectError") as raised:
        load(f"http://127.0.0.1:{closed_port()}/eurofxref-daily.xml")
    assert "\n" not in str(raised.value)
    bank.routes["/gone.xml"] = lambda query: (404, {}, b"<html>Not found</html>")
    with pytest.raises(CommandError, match=r"404"):
        load(f"{bank.base}/gone.xml")
    assert not ExchangeRate.objects.exists()


def test_a_server_error_is_retried(bank):
    path = "/stats/eurofxref/eurofxref-daily.xml"
    bank.fail_first(path, (503, {}, b"busy"))
    load(f"{bank.base}{path}")
    assert len(bank.requests_to(path)) == 2
    assert ExchangeRate.objects.count() == 30


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(CommandError, match=r"rates\.xml: No such file or directory\.$"):
        load(str(tmp_path / "rates.xml"))


def test_check_warns_when_conversion_is_on_without_recent_rates(settings):
    from catalog.checks import check_exchange_rates

    settings.PRICE_CONVERSION = False
    assert check_exchange_rates() == []
    settings.PRICE_CONVERSION = True
    assert [m.id for m in check_exchange_rates()] == ["catalog.W001"]
    load(str(FIXTURES / "ecb_eurofxref_daily_2024-06-28.xml"))
    (stale,) = check_exchange_rates()
    assert stale.id == "catalog.W002"
    assert "2024-06-28" in stale.msg
    ExchangeRate.objects.update(rate_date=datetime.date.today())
    assert check_exchange_rates() == []
