"""The wire shapes of a household export: one NDJSON line per household, and the trailer line (documentation).

The lines are written by exports/domain.py from the masked card (households/schemas.py `HouseholdCard`): a line
carries only the fields asked for (`fields=`), with the card's types and values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.registry.exports.domain import ExportFormat

__all__ = ["EXPORT_RESPONSES", "ExportFormat", "ExportTrailer", "ExportTrailerLine", "HouseholdExportLine"]


class HouseholdExportLine(BaseModel):
    """One household: the selected card fields, `members` (active, masked) and `latest_income` (or null)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(None, description="The household id (when selected)")
    members: list[dict[str, Any]] | None = Field(None, description="Active members, masked as on the card")
    latest_income: dict[str, Any] | None = Field(
        None, description="The newest income record (latest year, newest version); null when none"
    )


class ExportTrailer(BaseModel):
    rows: int = Field(description="Households written before this line")
    feed_cursor: str = Field(
        description="The change feed's position as of the export's snapshot (the `/sync/download` cursor format)"
    )
    as_of: str = Field(description="When the snapshot was taken (RFC 3339, UTC)")


class ExportTrailerLine(BaseModel):
    """The last NDJSON line: `{"_trailer": {...}}`. A file without it was cut short."""

    trailer: ExportTrailer = Field(alias="_trailer")


#: One line of the NDJSON body (the route's `response_model`, so the document has it in `components`).
_LINE = {"$ref": "#/components/schemas/HouseholdExportLine"}
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "The households of the region as one snapshot, streamed. `format=ndjson`: one `HouseholdExportLine` "
            "per line, then the `ExportTrailerLine`. `format=csv`: UTF-8 with a BOM, a header row, CRLF; "
            "`members` one JSON column, `latest_income.<field>` columns; cells starting with = + - @ are "
            "prefixed with an apostrophe. Gzipped when the client accepts it."
        ),
        "headers": {
            "X-Feed-Cursor": {
                "description": "The change feed cursor as of the snapshot (also in the NDJSON trailer)",
                "schema": {"type": "string"},
            },
            "X-Export-As-Of": {"description": "The snapshot's time", "schema": {"type": "string"}},
        },
        "content": {
            "application/x-ndjson": {"schema": _LINE},  # one line, as the figures routes document NDJSON
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    403: {"description": "Cadres have no bulk export (`export_not_allowed`)"},
    404: {"description": "The region is not yours, or does not exist"},
    422: {"description": "An unknown field in `fields` (`unknown_export_field`), or a bad parameter"},
}
