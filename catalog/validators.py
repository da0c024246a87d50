"""Validators shared by the model, the admin and the import: one rule for each kind of value.

A product URL is valid when a browser would fetch it: http(s), a host a browser resolves
(a DNS name with underscores as some CDNs use, an internationalised name, an IPv4 address in
any of the forms browsers read, a bracketed IPv6 address), an optional port, no credentials,
no spaces or control characters. Django's URLValidator is stricter on hosts (no underscore,
no numeric IPv4 forms) and looser elsewhere, so a product a shop published would pass the
import and then fail in the admin; every path uses `url_problem` instead.
"""

import ipaddress
import re

import idna
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.deconstruct import deconstructible

# http(s) only (a `javascript:` or `data:` URL must never reach an admin link or an <img>
# tag), an authority, then anything but spaces and control characters. Regexes, because
# urllib's urlsplit costs more than the rest of an imported record's validation together.
HTTP_URL = re.compile(
    r"(?i:https?)://(?P<authority>[^\s/?#\x00-\x1f\x7f]+)(?:[/?#][^\s\x00-\x1f\x7f]*)?"
)
_AUTHORITY = re.compile(r"(?P<userinfo>[^@]*@)?(?P<host>\[[^\]]*\]|[^:]*)(?::(?P<port>.*))?")
# A DNS name as browsers fetch it: labels of letters, digits, hyphens (underscores too, which
# some CDNs use), 1-63 characters, no hyphen at either end; an optional final dot.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
MAX_HOST = 253
NOT_HTTP = "must be an http:// or https:// URL with a host and no spaces"

validate_currency_code = RegexValidator(
    regex=r"^[A-Z]{3}\Z",
    message="Enter a three-letter upper-case ISO 4217 currency code, such as USD.",
    code="invalid_currency",
)


def url_problem(url: str) -> str | None:
    """Why a browser would not fetch this URL (a phrase completing "the URL ..."), or None."""
    match = HTTP_URL.fullmatch(url)
    if not match:
        return NOT_HTTP
    return authority_problem(match.group("authority"))


def is_http_url(value: str | None) -> bool:
    """The test before a stored URL is rendered into HTML (rows written by raw SQL included)."""
    return bool(value) and url_problem(value) is None


@deconstructible
class HttpUrlValidator:
    """`url_problem` as a Django validator, for the model's URL fields and so their forms."""

    code = "invalid"

    def __call__(self, value) -> None:
        problem = url_problem(str(value))
        if problem:
            raise ValidationError(
                "Enter a URL a browser can open: it %(problem)s.",
                code=self.code,
                params={"problem": problem},
            )

    def __eq__(self, other) -> bool:
        return isinstance(other, HttpUrlValidator)


validate_http_url = HttpUrlValidator()


def authority_problem(authority: str) -> str | None:
    """Why a browser could not fetch from this host[:port], or None when it could."""
    parts = _AUTHORITY.fullmatch(authority)
    if parts.group("userinfo") is not None:
        # Browsers refuse images with credentials in their URL, and a password must not
        # end up in our pages.
        return "must not contain a user name or password"
    host = parts.group("host")
    if host.startswith("["):
        if not (host.endswith("]") and _is_ipv6(host[1:-1])):
            return f"has an invalid IPv6 address {authority[:60]!r}"
    else:
        problem = _host_problem(host)
        if problem:
            return problem
    port = parts.group("port")
    if port and not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return f"has an invalid port {port[:20]!r}"
    return None


def _host_problem(host: str) -> str | None:
    if not host:
        return "has no host"
    if len(host) > MAX_HOST:
        return f"has a host name longer than {MAX_HOST} characters"
    if host.isascii() and _DNS_NAME.fullmatch(host) and "xn--" not in host.lower():
        last = host.rstrip(".").rpartition(".")[2]
        if last[:1].isdigit():
            # Browsers read a name ending in a number as an IPv4 address (2130706433,
            # 0x7f.1, 10.1): it must be one.
            return None if _is_ipv4(host) else f"has an invalid IPv4 address {host[:60]!r}"
        return None
    return _idna_problem(host)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _is_ipv4(host: str) -> bool:
    """The WHATWG URL standard's IPv4 parser: 1-4 parts, decimal, 0x hex or 0 octal."""
    parts = host.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4:
        return False
    numbers = []
    for part in parts:
        base, digits = 10, part
        if part[:2].lower() == "0x":
            base, digits = 16, part[2:] or "0"
        elif len(part) > 1 and part.startswith("0"):
            base, digits = 8, part[1:]
        try:
            numbers.append(int(digits, base))
        except ValueError:
            return False
    *head, last = numbers
    return all(n < 256 for n in head) and last < 256 ** (5 - len(numbers))


def _idna_problem(host: str) -> str | None:
    """Internationalised names (bücher.example) and A-labels (xn--...): as browsers, IDNA 2008
    with UTS 46 mapping. The slow path: most hosts are plain ASCII names."""
    try:
        encoded = idna.encode(host.rstrip("."), uts46=True)
        idna.decode(encoded)
    except (idna.IDNAError, UnicodeError, ValueError):
        return f"has an invalid host name {host[:60]!r}"
    return None
