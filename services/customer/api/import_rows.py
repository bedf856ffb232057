"""Import rows to validated customer fields, or the reason a row is rejected.

No I/O. A row is validated by the same schemas as the API's bodies (`CustomerUpdate` for a
customer that exists, `CustomerCreate` for a new one), so it is normalised and refused
exactly like a POST or PATCH would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.customer.api.schemas import CustomerCreate, CustomerUpdate
from services.customer.domain.transfer import READ_ONLY, RawRow


@dataclass(frozen=True)
class Rejection:
    """Why a row was not imported: the field at fault (None: the whole row) and the reason."""

    row: int
    field: str | None
    reason: str
    external_id: str | None = None


@dataclass(frozen=True)
class ImportRow:
    """A valid row: the customer's external id under the matching system, and its fields."""

    row: int
    system: str
    external_id: str
    fields: dict[str, Any]
    """The fields the row gives, validated and normalised (PATCH semantics)."""
    raw: dict[str, Any]

    @property
    def key(self) -> str:
        """The external-id key the archive holds it under, e.g. ``erp:C001``."""
        return f"{self.system}:{self.external_id}"

    def for_create(self) -> dict[str, Any] | Rejection:
        """The fields of a new customer, or why the row cannot create one (e.g. no name)."""
        try:
            return CustomerCreate.model_validate(self.raw).record_fields()
        except ValidationError as error:
            return rejection(self.row, error, external_id=self.external_id)


def rejection(row: int, error: ValidationError, *, external_id: str | None = None) -> Rejection:
    """The first problem's field, and every problem as `field: reason` (at most five)."""
    problems = error.errors()
    fields = [_location(problem["loc"]) for problem in problems]
    reasons = [
        f"{field or 'row'}: {problem['msg']}"
        for field, problem in zip(fields, problems, strict=True)
    ]
    if len(reasons) > 5:
        reasons = [*reasons[:5], f"and {len(reasons) - 5} more"]
    return Rejection(row, fields[0] if fields else None, "; ".join(reasons), external_id)


def _location(loc: tuple[int | str, ...]) -> str | None:
    return ".".join(str(part) for part in loc) or None


def import_row(raw: RawRow, *, system: str) -> ImportRow | Rejection:
    """A row of an import file, validated; matched later by its external id under `system`."""
    if raw.fields is None:
        return Rejection(raw.row, None, raw.problem or "unreadable row")
    body = {name: value for name, value in raw.fields.items() if name not in READ_ONLY}
    external_ids = body.get("external_ids")
    given = external_ids.get(system) if isinstance(external_ids, dict) else None
    try:
        fields = CustomerUpdate.model_validate(body).record_fields()
    except ValidationError as error:
        return rejection(raw.row, error, external_id=given if isinstance(given, str) else None)
    external_id = (fields.get("external_ids") or {}).get(system)
    if external_id is None:
        # Without it a second import of the file would create the customer again.
        return Rejection(
            raw.row,
            f"external_ids.{system}",
            f"required: imports match customers by their {system} code, so that importing "
            "a file twice creates nobody twice",
        )
    return ImportRow(raw.row, system, external_id, fields, body)
