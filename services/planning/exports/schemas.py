"""The wire shapes of planning's exports: one NDJSON line per record, and the trailer line (documentation).

A line is the record's REST JSON (`PlanPublic`, `ProjectPublic` with beneficiary counts and milestones,
`LedgerEntryPublic`), only the fields asked for (`fields=`), with the API's types and values.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.planning.exports.domain import ExportFormat, PlanningDataset

__all__ = [
    "EXPORT_RESPONSES",
    "ExportFormat",
    "PlanningDataset",
    "PlanningExportLine",
    "PlanningExportTrailer",
    "PlanningExportTrailerLine",
]


class PlanningExportLine(BaseModel):
    """One record: its selected fields and nested parts. `plans`: `PlanPublic` fields, `targets` (each with
    `baseline`, `target`, `latest_actual`, `progress`), `history`; `projects`: `ProjectPublic` fields,
    `beneficiaries_count`, `poor_beneficiaries_count`, `milestones`; `funds_ledger`: `LedgerEntryPublic` (its `id`
    a number; the others' a UUID)."""

    model_config = ConfigDict(extra="allow")

    targets: list[dict[str, Any]] | None = Field(None, description="plans: the targets (`TargetPublic`)")
    history: list[dict[str, Any]] | None = Field(None, description="plans: the approval history")
    milestones: list[dict[str, Any]] | None = Field(None, description="projects: the milestones")


class PlanningExportTrailer(BaseModel):
    rows: int = Field(description="Records written before this line")
    feed_cursor: str = Field(
        description="The change feed's position as of the export's snapshot: follow `GET /changes?after=` it"
    )
    as_of: str = Field(description="When the snapshot was taken (RFC 3339, UTC)")


class PlanningExportTrailerLine(BaseModel):
    """The last NDJSON line: `{"_trailer": {...}}`. A file without it was cut short."""

    trailer: PlanningExportTrailer = Field(alias="_trailer")


_LINE = {"$ref": "#/components/schemas/PlanningExportLine"}
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "The dataset's records in the region as one snapshot, streamed. `format=ndjson`: one "
            "`PlanningExportLine` per line, then the `PlanningExportTrailerLine`. `format=csv`: UTF-8 with a BOM, "
            "a header row, CRLF; a nested list (`targets`, `history`, `milestones`) one JSON column; cells "
            "starting with = + - @ are prefixed with an apostrophe. Gzipped when the client accepts it."
        ),
        "headers": {
            "X-Feed-Cursor": {
                "description": "The change feed cursor as of the snapshot (also in the NDJSON trailer)",
                "schema": {"type": "string"},
            },
            "X-Export-As-Of": {"description": "The snapshot's time", "schema": {"type": "string"}},
        },
        "content": {
            "application/x-ndjson": {"schema": _LINE},
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    403: {"description": "Cadres have no bulk export (`export_not_allowed`)"},
    404: {
        "description": "The region is not yours, or does not exist; or no such dataset (`unknown_export_dataset`)"
    },
    422: {"description": "An unknown field in `fields` (`unknown_export_field`), or a bad parameter"},
}
