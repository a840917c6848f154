"""Job API models: a job (status, progress, counts, links), its errors, an export job's request."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from services.registry.exports.domain import ExportDataset, ExportFormat
from services.registry.jobs.domain import DEFAULT_PAGE, MAX_JOB_BYTES, MAX_PAGE, JobKind, JobStatus
from shared.pagination import Page
from shared.schemas import RequestModel, ResponseModel, UtcDatetime

__all__ = [
    "DEFAULT_PAGE",
    "MAX_JOB_BYTES",
    "MAX_PAGE",
    "ExportJobCreate",
    "JobErrorPage",
    "JobErrorPublic",
    "JobLinks",
    "JobPage",
    "JobProgress",
    "JobPublic",
]


class ExportJobCreate(RequestModel):
    """An export run as a job: the same dataset, format, fields and region as `GET /exports/{dataset}`."""

    dataset: ExportDataset = ExportDataset.households
    format: ExportFormat = ExportFormat.ndjson
    fields: str | None = Field(None, max_length=4000, description="Comma list of fields, as the export's")
    region: str | None = Field(None, pattern=r"^[0-9]{12}$", description="Region subtree (default: yours)")


class JobProgress(ResponseModel):
    lines_total: int = Field(description="Lines of the file (an import), rows written (an export)")
    lines_done: int = Field(description="Lines checked so far")


class JobLinks(ResponseModel):
    self: str
    errors: str
    result: str


class JobPublic(ResponseModel):
    """A job and where it stands. `errors_count` is complete: every bad line is listed at `links.errors`."""

    id: uuid.UUID
    kind: JobKind
    status: JobStatus
    progress: JobProgress
    created: int = Field(description="Households imported (an import that succeeded), rows exported")
    errors_count: int
    params: dict[str, Any]
    result: dict[str, Any] | None = Field(description="An import's summary, an export's size and feed cursor")
    error_code: str | None
    error_detail: str | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    links: JobLinks


class JobErrorPublic(ResponseModel):
    """One bad line of an import job."""

    line: int
    pointer: str = Field(description="JSON pointer (RFC 6901) of the field; empty for the whole line")
    code: str | None
    message: str


#: The caller's jobs, newest first.
JobPage = Page[JobPublic]
#: An import job's errors in line order.
JobErrorPage = Page[JobErrorPublic]
