"""Prices shown with their currency's minor units (CLDR's, through Babel)."""

from decimal import Decimal

import pytest

from catalog.money import minor_units, price_text, rounded


@pytest.mark.parametrize(
    ("price", "currency", "shown"),
    [
        ("1500.00", "JPY", "1500"),
        ("0.00", "JPY", "0"),
        ("19.90", "USD", "19.90"),
        ("19.9", "EUR", "19.90"),
        ("12.35", "KWD", "12.350"),
        ("15900.00", "HUF", "15900"),
        ("99999999.99", "USD", "99999999.99"),
        ("1500.50", "JPY", "1500.50"),  # a fraction the shop asked for is never hidden
        ("10.00", "ZZZ", "10.00"),  # a code CLDR does not know: two decimals
    ],
)
def test_price_text(price, currency, shown):
    assert price_text(Decimal(price), currency) == shown


def test_minor_units_of_common_shop_currencies():
    assert {c: minor_units(c) for c in ["USD", "EUR", "GBP", "JPY", "KRW", "BHD"]} == {
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "JPY": 0,
        "KRW": 0,
        "BHD": 3,
    }


def test_a_converted_amount_is_rounded_half_up_to_minor_units():
    assert rounded(Decimal("10316.5"), "JPY") == Decimal("10317")
    assert rounded(Decimal("69.7855"), "EUR") == Decimal("69.79")
