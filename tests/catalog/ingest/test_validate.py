import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from catalog.exceptions import RecordRejected
from catalog.ingest.records import ProductRow
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
        (" 7 ", "7.00"),
        (".5", "0.50"),
        (Decimal("1E+2"), "100.00"),
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
    ({"price": "abc"}, "price", "must be a plain decimal number such as 19.90, not 'abc'"),
    ({"price": "NaN"}, "price", "must be a plain decimal number such as 19.90, not 'NaN'"),
    ({"price": True}, "price", "must be a number, not bool"),
    ({"price": "100000000"}, "price", "100000000 does not fit numeric(10,2) (max 99999999.99)"),
    # Each of these once raised decimal.InvalidOperation or passed as a price.
    ({"price": "1e26"}, "price", "must be a plain decimal number such as 19.90, not '1e26'"),
    ({"price": "1e2"}, "price", "must be a plain decimal number such as 19.90, not '1e2'"),
    ({"price": 1e308}, "price", "must be a plain decimal number such as 19.90, not '1e+308'"),
    ({"price": "1_000"}, "price", "must be a plain decimal number such as 19.90, not '1_000'"),
    (
        {"price": "\u0661\u0662"},
        "price",
        "must be a plain decimal number such as 19.90, not '\u0661\u0662'",
    ),
    ({"price": "+5"}, "price", "must be a plain decimal number such as 19.90, not '+5'"),
    ({"price": 10**30}, "price", "1.000e+30 does not fit numeric(10,2) (max 99999999.99)"),
    (
        {"price": "9" * 5000},
        "price",
        "a 5000-digit number does not fit numeric(10,2) (max 99999999.99)",
    ),
    (
        {"price": "99999999.995"},
        "price",
        "100000000.00 does not fit numeric(10,2) (max 99999999.99)",
    ),
    ({"description": "d" * 20_001}, "description", "is longer than 20,000 characters"),
    ({"title": "caf\udce9"}, "title", "is not valid UTF-8 text"),
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
    # Hosts a browser could not fetch from (they passed, then broke the fetcher).
    *(
        ({"image_url": url}, "image_url", f"{problem}: {url!r}")
        for url, problem in [
            ("http://a..b/x.png", "has an invalid host name 'a..b'"),
            ("http://[::1/x.png", "has an invalid IPv6 address '[::1'"),
            ("http://xn--zz/", "has an invalid host name 'xn--zz'"),
            ("http://-shop.example/x", "has an invalid host name '-shop.example'"),
            ("http://1.2.3.999/x", "has an invalid IPv4 address '1.2.3.999'"),
            ("http://shop.example:99999/x", "has an invalid port '99999'"),
            ("http://user:pw@shop.example/x", "must not contain a user name or password"),
        ]
    ),
]


@pytest.mark.parametrize(
    "url",
    [
        "https://i0.wp.com/shop.example/wp-content/uploads/a.jpg?fit=800%2C799&ssl=1",
        "http://b\u00fccher.example/a.jpg",  # internationalised, as browsers encode it
        "http://xn--bcher-kva.example/a.jpg",
        "http://[2001:db8::1]:8080/a.jpg",
        "http://cdn_1.shop.example/a.jpg",
        "http://127.0.0.1:8000/demo/a.svg",
        "http://2130706433/a.jpg",  # a browser's IPv4 number; the fetcher decides if it may go
        "https://shop.example./a.jpg",
    ],
)
def test_hosts_a_browser_fetches_are_accepted(url):
    assert validate_record(GOOD | {"image_url": url}, store_id="s").image_url == url


@pytest.mark.parametrize(("change", "field", "reason"), BAD)
def test_bad_values_are_rejected_with_field_and_reason(change, field, reason):
    with pytest.raises(RecordRejected) as excinfo:
        validate_record(GOOD | change, store_id="s")
    assert (excinfo.value.field, excinfo.value.reason) == (field, reason)
