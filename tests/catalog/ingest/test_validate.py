import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from catalog.ingest.records import ProductRow, RecordRejected
from catalog.ingest.validate import clean_price, validate_record

GOOD = {
    "external_id": "sku-1",
    "title": "Linen shirt",
    "description": "Soft.",
    "price": "49.90",
    "currency": "EUR",
    "image_url": "https://cdn.example/a.jpg",
    "product_url": "https://shop.example/p/1",
}


def test_a_good_record_becomes_a_row():
    assert validate_record(GOOD, store_id="s") == ProductRow(
        "sku-1",
        "Linen shirt",
        "Soft.",
        "49.90",
        "EUR",
        "https://cdn.example/a.jpg",
        "https://shop.example/p/1",
    )


def test_values_are_normalised():
    row = validate_record(
        GOOD | {"external_id": 42, "title": "  Coat \x00", "currency": "eur", "price": 7},
        store_id="s",
    )
    assert (row.external_id, row.title, row.currency, row.price) == ("42", "Coat", "EUR", "7.00")


def test_optional_fields_default():
    row = validate_record(
        {k: v for k, v in GOOD.items() if k not in ("description", "currency", "image_url")},
        store_id="s",
    )
    assert (row.description, row.currency, row.image_url) == ("", "USD", "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.345", "12.35"),  # three minor units: half up to cents
        ("12.344", "12.34"),
        ("0.005", "0.01"),
        ("-0", "0.00"),
        (19.9, "19.90"),
        ("1e2", "100.00"),
        ("019", "19.00"),
        ("99999999.99", "99999999.99"),
    ],
)
def test_price_rounding_rule(value, expected):
    assert clean_price(value) == expected


def test_the_fast_price_path_agrees_with_decimal():
    rng = random.Random(3)
    cases = [
        f"{rng.randint(0, 10 ** rng.randint(0, 9))}"
        + (f".{rng.randint(0, 99):0{rng.randint(1, 2)}d}" if rng.random() < 0.7 else "")
        for _ in range(5000)
    ]
    for case in cases:
        reference = Decimal(case).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        if reference > Decimal("99999999.99"):
            with pytest.raises(RecordRejected):
                clean_price(case)
        else:
            assert clean_price(case) == str(reference), case


BAD = [
    ({"external_id": None}, "external_id", "is required"),
    ({"external_id": "  "}, "external_id", "must not be empty"),
    ({"external_id": "x" * 256}, "external_id", "is longer than 255 characters"),
    ({"external_id": ["a"]}, "external_id", "must be text, not list"),
    ({"store_id": "other"}, "store_id", "is 'other' but the import is for 's'"),
    ({"title": ""}, "title", "must not be empty"),
    ({"title": "t" * 501}, "title", "is longer than 500 characters"),
    ({"price": None}, "price", "is required"),
    ({"price": "-1"}, "price", "must be >= 0, not -1"),
    ({"price": "abc"}, "price", "is not a number: 'abc'"),
    ({"price": "NaN"}, "price", "is not a finite number: 'NaN'"),
    ({"price": True}, "price", "must be a number, not bool"),
    ({"price": "100000000"}, "price", "100000000.00 does not fit numeric(10,2) (max 99999999.99)"),
    ({"currency": "EURO"}, "currency", "must be three letters (ISO 4217), not 'EURO'"),
    ({"currency": "E1R"}, "currency", "must be three letters (ISO 4217), not 'E1R'"),
    ({"product_url": None}, "product_url", "is required"),
    (
        {"product_url": "javascript:alert(1)"},
        "product_url",
        "must be an http:// or https:// URL with a host and no spaces, not 'javascript:alert(1)'",
    ),
    (
        {"image_url": "ftp://cdn.example/a.jpg"},
        "image_url",
        "must be an http:// or https:// URL with a host and no spaces, not "
        "'ftp://cdn.example/a.jpg'",
    ),
    (
        {"image_url": "https://cdn.example/a b.jpg"},
        "image_url",
        "must be an http:// or https:// URL with a host and no spaces, not "
        "'https://cdn.example/a b.jpg'",
    ),
    ({"image_url": "https://" + "a" * 2050}, "image_url", "is longer than 2048 characters"),
]


@pytest.mark.parametrize(("change", "field", "reason"), BAD)
def test_bad_values_are_rejected_with_field_and_reason(change, field, reason):
    with pytest.raises(RecordRejected) as excinfo:
        validate_record(GOOD | change, store_id="s")
    assert (excinfo.value.field, excinfo.value.reason) == (field, reason)
