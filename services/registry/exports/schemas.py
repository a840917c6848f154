"""The wire shapes of an export: one NDJSON line per record, and the trailer line (documentation).

The lines are written by exports/domain.py from the record's API JSON — the masked card (households/schemas.py
`HouseholdCard`), `HelpRecordPublic`, `PairingPublic` with `CadrePublic` and `UnitPublic` nested: a line carries
only the fields asked for (`fields=`), with the API's types and values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.registry.exports.domain import ExportDataset, ExportFormat

__all__ = [
    "EXPORT_RESPONSES",
    "ExportDataset",
    "ExportFormat",
    "ExportLine",
    "ExportTrailer",
    "ExportTrailerLine",
    "HouseholdExportLine",
]


class ExportLine(BaseModel):
    """One record: its selected fields and nested parts. `households`: card fields, `members` (active, masked),
    `latest_income` (or null); `help_records`: `HelpRecordPublic` fields, `confirmations`, `attachments`, `goods`,
    `measures`, `versions`; `pairings`: `PairingPublic` fields, `cadre` (`CadrePublic`), `unit` (`UnitPublic`)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(None, description="The record's id (when selected)")
    members: list[dict[str, Any]] | None = Field(None, description="households: active members, masked")
    latest_income: dict[str, Any] | None = Field(
        None, description="households: the newest income record (latest year, newest version); null when none"
    )
    confirmations: list[dict[str, Any]] | None = Field(None, description="help_records: the signatures")
    attachments: list[dict[str, Any]] | None = Field(None, description="help_records: the photos' metadata")
    cadre: dict[str, Any] | None = Field(None, description="pairings: the cadre, phone masked")
    unit: dict[str, Any] | None = Field(None, description="pairings: the helping unit")


#: The name of the line before there were other datasets.
HouseholdExportLine = ExportLine


class ExportTrailer(BaseModel):
    rows: int = Field(description="Records written before this line")
    feed_cursor: str = Field(
        description="The change feed's position as of the export's snapshot: follow `GET /changes?after=` it"
    )
    as_of: str = Field(description="When the snapshot was taken (RFC 3339, UTC)")


class ExportTrailerLine(BaseModel):
    """The last NDJSON line: `{"_trailer": {...}}`. A file without it was cut short."""

    trailer: ExportTrailer = Field(alias="_trailer")


#: One line of the NDJSON body (the route's `response_model`, so the document has it in `components`).
_LINE = {"$ref": "#/components/schemas/ExportLine"}
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "The dataset's records in the region as one snapshot, streamed. `format=ndjson`: one `ExportLine` "
            "per line, then the `ExportTrailerLine`. `format=csv`: UTF-8 with a BOM, a header row, CRLF; "
            "a nested list (`members`, `confirmations` …) one JSON column, a nested object (`latest_income`, "
            "`cadre`, `unit`) `<name>.<field>` columns; cells starting with = + - @ are prefixed with an "
            "apostrophe. Gzipped when the client accepts it."
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
    404: {
        "description": "The region is not yours, or does not exist; or no such dataset (`unknown_export_dataset`)"
    },
    422: {"description": "An unknown field in `fields` (`unknown_export_field`), or a bad parameter"},
}
