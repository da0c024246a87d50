"""Words for people: counts with their noun, as commands and the admin print them."""


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """'1 product', '0 products', '12,000 products' (`plural` where adding s is wrong)."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
