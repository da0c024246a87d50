"""What flows through an import: raw records from a source, validated rows, rejections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class SourceRecord(NamedTuple):
    """One record as a source produced it, in our schema (keys are Product field names).

    `ref` says where it came from for error messages: "line 17" for files (built only when
    needed: most records are never reported), "product 4711" for APIs. `error` is set when
    the source could not even produce the record (a line that is not JSON, a product the
    API shaped oddly): it is then rejected as is. `skip` is set when the source lists a
    record that is not one product at one price, or not one for the public (a grouped
    product, a private one): it is counted under that reason, neither saved nor rejected.
    """

    data: dict[str, Any]
    line: int | None = None
    label: str | None = None
    error: tuple[str, str] | None = None  # (field, reason)
    skip: str | None = None  # one of SKIP_REASONS

    @property
    def ref(self) -> str:
        return self.label or f"line {self.line}"


# Why a listed record was skipped, as the import summary names them.
SKIP_GROUPED = "grouped products"
SKIP_VARIABLE_WITHOUT_PRICE = "variable products without a price"
SKIP_WITHOUT_PRICE = "products without a price"
SKIP_NOT_PUBLISHED = "not published"
SKIP_HIDDEN = "hidden from the catalog"


class ProductRow(NamedTuple):
    """A validated product, ready for PostgreSQL. Price is a normalised decimal string
    ("19.90"), so it compares equal to numeric(10,2)'s text form."""

    external_id: str
    title: str
    description: str
    price: str
    currency: str
    image_url: str
    product_url: str


@dataclass(frozen=True, slots=True)
class Rejection:
    ref: str
    field: str
    reason: str
    external_id: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        who = f" (external_id {self.external_id})" if self.external_id else ""
        return f"{self.ref}{who}: {self.field}: {self.reason}"

    def as_json(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "line": self.line,
            "external_id": self.external_id,
            "field": self.field,
            "reason": self.reason,
        }
