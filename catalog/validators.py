"""Validators shared by the model, the admin and (later) ingestion."""

from urllib.parse import urlsplit

from django.core.validators import RegexValidator, URLValidator

# Only links a browser follows as a page: a `javascript:` or `data:` URL must never
# reach an admin link or an <img> tag.
ALLOWED_URL_SCHEMES = ("http", "https")

validate_http_url = URLValidator(
    schemes=list(ALLOWED_URL_SCHEMES),
    message="Enter a valid http:// or https:// URL.",
)

validate_currency_code = RegexValidator(
    regex=r"^[A-Z]{3}\Z",
    message="Enter a three-letter upper-case ISO 4217 currency code, such as USD.",
    code="invalid_currency",
)


def is_http_url(value: str | None) -> bool:
    """Cheap test used before rendering a stored URL into HTML."""
    if not value:
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ALLOWED_URL_SCHEMES and bool(parts.netloc)
