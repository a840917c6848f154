"""The assessment's export datasets (their field catalogues, shared/exchange/export.py `Dataset`) and the wire
shapes of an export: one NDJSON line per record, then the trailer line (documentation)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.assessment.exports.domain import (
    BONUS_FIELDS,
    COMMENDATION_FIELDS,
    EFFECT_FIELDS,
    EVIDENCE_FIELDS,
    FINDING_FIELDS,
    INDICATOR_FIELDS,
    RECTIFICATION_FIELDS,
    RESULT_FIELDS,
    RUN_FIELDS,
    VETO_FIELDS,
    ExportDataset,
    ExportFormat,
)
from shared.exchange.export import Dataset, Nested

__all__ = [
    "DATASETS",
    "EXPORT_RESPONSES",
    "FINDINGS",
    "RESULTS",
    "RUNS",
    "AssessmentExportLine",
    "AssessmentExportTrailer",
    "AssessmentExportTrailerLine",
    "ExportDataset",
    "ExportFormat",
]

RUNS: Dataset[ExportDataset] = Dataset(ExportDataset.runs, RUN_FIELDS, (), "run.export")
RESULTS: Dataset[ExportDataset] = Dataset(
    ExportDataset.results,
    RESULT_FIELDS,
    (
        Nested("indicators", INDICATOR_FIELDS, many=True),
        Nested("vetoes", VETO_FIELDS, many=True),
        Nested("bonus_hits", BONUS_FIELDS, many=True),
        Nested("commendations", COMMENDATION_FIELDS, many=True),
    ),
    "result.export",
)
FINDINGS: Dataset[ExportDataset] = Dataset(
    ExportDataset.findings,
    FINDING_FIELDS,
    (
        Nested("effect", EFFECT_FIELDS, many=False),
        Nested("evidence", EVIDENCE_FIELDS, many=True),
        Nested("rectifications", RECTIFICATION_FIELDS, many=True),
    ),
    "finding.export",
)
DATASETS: tuple[Dataset[ExportDataset], ...] = (RUNS, RESULTS, FINDINGS)


class AssessmentExportLine(BaseModel):
    """One record, its selected fields: `runs`: `RunPublic`; `results`: `ResultPublic`'s fields (without the prose
    explanations) with `indicators`, `vetoes`, `bonus_hits` and `commendations` nested; `id` is
    `<run id>:<subject id>`, the result's id in the change feed; `findings`: `FindingPublic` with `effect`,
    `evidence` and `rectifications` (`RectificationPublic` without its `finding`) nested."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(None, description="The record's id (when selected)")
    indicators: list[dict[str, Any]] | None = Field(
        None, description="results: every indicator, depth first: figure read, target, rule, points"
    )
    vetoes: list[dict[str, Any]] | None = Field(
        None, description="results: the vetoes that held, with reasons"
    )


class AssessmentExportTrailer(BaseModel):
    rows: int = Field(description="Records written before this line")
    feed_cursor: str = Field(
        description="The change feed's position as of the export's snapshot: follow `GET /changes?after=` it"
    )
    as_of: str = Field(description="When the snapshot was taken (RFC 3339, UTC)")


class AssessmentExportTrailerLine(BaseModel):
    """The last NDJSON line: `{"_trailer": {...}}`. A file without it was cut short."""

    trailer: AssessmentExportTrailer = Field(alias="_trailer")


_LINE = {"$ref": "#/components/schemas/AssessmentExportLine"}
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "The dataset's records in your view as one snapshot, streamed. `format=ndjson`: one "
            "`AssessmentExportLine` per line, then the `AssessmentExportTrailerLine`. `format=csv`: UTF-8 with a "
            "BOM, a header row, CRLF; a nested list (`indicators`, `vetoes` ...) one JSON column; cells starting "
            "with = + - @ are prefixed with an apostrophe. Gzipped when the client accepts it."
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
    403: {"description": "Village officers and cadres read their own result only (`export_not_allowed`)"},
    404: {"description": "No such dataset (`unknown_export_dataset`)"},
    422: {"description": "An unknown field in `fields` (`unknown_export_field`), or a bad parameter"},
}
