"""Planning's export use case (issue #15), one pipeline for every dataset: one snapshot, streamed, audited once.

`ExportService.start` checks the caller (dataset, role, fields, region in scope) before anything is read, then
opens the snapshot (exports/repository.py) and reads the change feed's position in it — before the first byte,
so a refusal is an ordinary problem answer and the feed cursor can travel as a response header. `Export.chunks()`
then streams the rows from the same snapshot (shared/exchange/export.py `file_chunks`: CSV with its BOM and
header, or NDJSON and its trailer) and ends the snapshot when the last row is written or the client goes away.

Rows come out of PostgreSQL as the record's JSON of every field: NDJSON of every field writes them as they are;
a selection (`fields=`) or CSV parses each and projects it (`record_pieces`). The audit entry (`plan.export`,
`project.export`, `ledger.export`: who, region, format, fields, rows, whether it completed, the feed cursor) is
written by `audit` once the stream ended, in a unit of work of its own (the route owns it).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.planning.exports import domain
from services.planning.exports.domain import ExportFormat, PlanningDataset
from services.planning.exports.repository import ExportRepository
from services.planning.models import audit_event
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
    record_pieces,
    row_text_pieces,
)
from shared.problems import NotFound, from_domain
from shared.roles import in_scope, scope_prefix

__all__ = ["Export", "ExportService"]

_AUDIT = AuditLog(audit_event)


@dataclass
class Export:
    """An export in progress: its snapshot's facts (known before the first row) and its stream."""

    id: uuid.UUID
    dataset: Dataset[PlanningDataset]
    region: str
    format: ExportFormat
    selection: FieldSelection
    as_of: str
    feed_cursor: str = ""
    progress: ExportProgress = field(default_factory=ExportProgress)
    _repo: ExportRepository | None = field(default=None, repr=False)
    _close: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack, repr=False)

    async def close(self) -> None:
        """End the snapshot (idempotent)."""
        await self._close.aclose()

    async def chunks(self) -> AsyncIterator[str]:
        """The file as text pieces; the snapshot ends with the stream."""
        texts = file_chunks(
            self._pieces(),
            self.selection,
            self.progress,
            csv_format=self.format is ExportFormat.csv,
            feed_cursor=self.feed_cursor,
            as_of=self.as_of,
        )
        try:
            async with contextlib.aclosing(texts):
                async for text in texts:
                    yield text
        finally:
            await self.close()

    def _pieces(self) -> AsyncGenerator[tuple[str, int], None]:
        assert self._repo is not None
        rows = self._repo.rows(self.dataset.name, scope_prefix(self.region))
        csv_format = self.format is ExportFormat.csv
        if self.selection.is_everything():
            return row_text_pieces(rows, self.selection, csv_format=csv_format)
        return record_pieces(_parsed(rows), self.selection, csv_format=csv_format)


async def _parsed(chunks: AsyncGenerator[list[str], None]) -> AsyncGenerator[Sequence[dict[str, Any]], None]:
    async with contextlib.aclosing(chunks):
        async for texts in chunks:
            yield [json.loads(text) for text in texts]


class ExportService:
    """Exports of the caller's region subtree; `read_pool` is the app's asyncpg read pool."""

    def __init__(self, ctx: Context, read_pool: Any) -> None:
        self.ctx = ctx
        self.read_pool = read_pool

    async def start(
        self, *, dataset: str, fmt: ExportFormat, region: str | None, fields: str | None
    ) -> Export:
        """Checks, then the open snapshot with its feed cursor: 404 for an unknown dataset, 403 for cadres, 422
        for an unknown field, 404 for a region out of scope."""
        principal = self.ctx.principal
        try:
            chosen = dataset_of(dataset, domain.DATASETS)
            domain.check_exporter(principal.role, chosen)
            selection = parse_fields(fields, chosen)
        except DomainError as exc:
            raise from_domain(exc) from None
        code = region or principal.region
        if not in_scope(principal.region, code):
            raise NotFound(f"region {code} not found")
        export = Export(
            id=uuid.uuid4(),
            dataset=chosen,
            region=code,
            format=fmt,
            selection=selection,
            as_of=rfc3339(self.ctx.now),
        )
        try:
            repo = await export._close.enter_async_context(ExportRepository.snapshot(self.read_pool))
            export.feed_cursor = await repo.feed_cursor()
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
            region_code=export.region,
            detail={
                "dataset": str(export.dataset.name.value),
                "format": str(export.format.value),
                "rows": export.progress.rows,
                "complete": export.progress.complete,
                "fields": export.selection.names(),
                "feed_cursor": export.feed_cursor,
            },
        )
