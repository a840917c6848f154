"""The assessment's export use case (issue #15): one snapshot, streamed, audited once.

`ExportService.start` checks the caller (role, dataset, fields) before anything is read, then opens the snapshot
(exports/repository.py) and reads the change feed's position in it (changes/repository.py `snapshot_cursor`:
the feed's bound in this snapshot) — before the first byte, so a refusal is an ordinary problem answer
and the cursor travels as `X-Feed-Cursor`. `Export.chunks()` then streams the rows from the same snapshot and
ends it when the last row is written or the client goes away. The caller's view is the REST one
(`runs.domain.reader_for`): an export never holds what `GET /runs…` would not show the caller.

The audit entry (`run.export` / `result.export`: who, dataset, format, fields, rows, whether it completed, the
feed cursor) is written by `audit` once the stream ended, in a unit of work of its own (the route owns it).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from services.assessment.changes.repository import snapshot_cursor
from services.assessment.exports import domain
from services.assessment.exports.domain import ExportDataset
from services.assessment.exports.repository import ExportRepository, Scope
from services.assessment.exports.schemas import DATASETS
from services.assessment.models import audit_event
from services.assessment.runs.domain import reader_for
from shared.audit import AuditLog
from shared.clock import rfc3339
from shared.context import Context
from shared.errors import DomainError
from shared.exchange.export import (
    Dataset,
    ExportProgress,
    FieldSelection,
    dataset_of,
    file_chunks,
    parse_fields,
    row_text_pieces,
)
from shared.problems import from_domain

__all__ = ["Export", "ExportService", "scope_of"]

_AUDIT = AuditLog(audit_event)


def scope_of(ctx: Context) -> Scope:
    """The caller's view of runs and results, as the REST reads have it (403 for a role that reads none)."""
    try:
        reader = reader_for(ctx.principal)
    except DomainError as exc:
        raise from_domain(exc) from None
    return Scope(
        county_prefix=reader.county_prefix,
        subject_prefix=reader.subject_prefix,
        published_only=reader.published_only,
        today=ctx.today,
    )


@dataclass
class Export:
    """An export in progress: its snapshot's facts (known before the first row) and its stream."""

    id: uuid.UUID
    dataset: Dataset[ExportDataset]
    format: str
    selection: FieldSelection
    scope: Scope
    feed_cursor: str
    as_of: str
    progress: ExportProgress = field(default_factory=ExportProgress)
    _repo: ExportRepository | None = field(default=None, repr=False)
    _close: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack, repr=False)

    async def close(self) -> None:
        """End the snapshot (idempotent)."""
        await self._close.aclose()

    async def chunks(self) -> AsyncIterator[str]:
        """The file as text pieces: CSV (BOM, header, rows) or NDJSON (rows, then the trailer line)."""
        assert self._repo is not None
        csv_format = self.format == "csv"
        try:
            pieces = row_text_pieces(
                self._repo.rows(self.dataset.name, self.selection, self.scope),
                self.selection,
                csv_format=csv_format,
            )
            async with contextlib.aclosing(
                file_chunks(
                    pieces,
                    self.selection,
                    self.progress,
                    csv_format=csv_format,
                    feed_cursor=self.feed_cursor,
                    as_of=self.as_of,
                )
            ) as texts:
                async for text in texts:
                    yield text
        finally:
            await self.close()


class ExportService:
    """Exports of the caller's view; `read_pool` is the app's asyncpg read pool."""

    def __init__(self, ctx: Context, read_pool: Any) -> None:
        self.ctx = ctx
        self.read_pool = read_pool

    async def start(self, *, fmt: str, fields: str | None, dataset: str) -> Export:
        """Checks, then the open snapshot with its feed cursor: 404 for an unknown dataset, 403 for village
        officers and cadres, 422 for an unknown field."""
        principal = self.ctx.principal
        try:
            chosen = dataset_of(dataset, DATASETS)
            domain.check_exporter(principal.role, chosen.name.value)
            selection: FieldSelection = parse_fields(fields, chosen)
        except DomainError as exc:
            raise from_domain(exc) from None
        export = Export(
            id=uuid.uuid4(),
            dataset=chosen,
            format=fmt,
            selection=selection,
            scope=scope_of(self.ctx),
            feed_cursor="",
            as_of=rfc3339(self.ctx.now),
        )
        try:
            repo = await export._close.enter_async_context(ExportRepository.snapshot(self.read_pool))
            export.feed_cursor = await snapshot_cursor(
                repo.conn
            )  # the first statement: it fixes the snapshot
        except BaseException:
            await export.close()
            raise
        export._repo = repo
        return export

    async def audit(self, export: Export) -> None:
        """The export's one audit entry (in the caller's unit of work)."""
        await _AUDIT.record(
            self.ctx,
            export.dataset.audit_action,
            record_type="export",
            record_id=export.id,
            region_code=self.ctx.principal.region,
            detail={
                "dataset": str(export.dataset.name.value),
                "format": export.format,
                "rows": export.progress.rows,
                "complete": export.progress.complete,
                "fields": export.selection.names(),
                "feed_cursor": export.feed_cursor,
            },
        )
