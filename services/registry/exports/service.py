"""The export use case (issue #15), one pipeline for every dataset: one snapshot, streamed, audited once.

`ExportService.start` checks the caller (role, region in scope, fields) before anything is read, then opens the
snapshot (exports/repository.py), reads the change feed's position in it and confirms the region exists — all
before the first byte, so a refusal is an ordinary problem answer and the feed cursor can travel as a response
header. `Export.chunks()` then streams the rows from the same snapshot and ends it (and returns its
connection to the pool) when the last row is written or the client goes away.

A dataset (exports/domain.py `Dataset`) brings its field catalogue and audit action, the repository its row
statement; the rest is shared. The feed cursor is the change feed's own (`changes.repository.snapshot_cursor`:
the xmin of this snapshot), so a consumer follows `GET /changes?after=` it and misses nothing. The audit
entry (the dataset's action — `household.export`, `help_record.export`, `pairing.export`: who, region, format,
fields, rows, whether it completed) is written by `audit` once the stream ended, in a unit of
work of its own (the route owns it), because the row count is only known then.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from services.registry.audit.repository import RegistryAudit
from services.registry.changes.repository import snapshot_cursor
from services.registry.exports import domain
from services.registry.exports.domain import Dataset, ExportDataset, ExportFormat, FieldSelection
from services.registry.exports.repository import ExportRepository
from shared.clock import rfc3339
from shared.context import Context
from shared.errors import DomainError
from shared.exchange import export as export_rules
from shared.exchange.export import ExportProgress, file_chunks, record_pieces, row_text_pieces
from shared.problems import NotFound, from_domain
from shared.roles import in_scope, scope_prefix

__all__ = ["Export", "ExportService", "HouseholdExport"]

#: Text is handed to the response in pieces of about this size (many rows per write, flat memory).
FLUSH_CHARS = export_rules.FLUSH_CHARS


@dataclass
class Export:
    """An export in progress: its snapshot's facts (known before the first row) and its stream."""

    id: uuid.UUID
    dataset: Dataset
    region: str
    format: ExportFormat
    selection: FieldSelection
    feed_cursor: str
    as_of: str
    rows: int = 0
    complete: bool = False
    _repo: ExportRepository | None = field(default=None, repr=False)
    _close: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack, repr=False)

    async def close(self) -> None:
        """End the snapshot (idempotent)."""
        await self._close.aclose()

    async def chunks(self) -> AsyncIterator[str]:
        """The file as text pieces: CSV (BOM, header, rows) or NDJSON (rows, then the trailer line)
        (shared/exchange/export.py `file_chunks`)."""
        assert self._repo is not None
        progress = ExportProgress()
        texts = file_chunks(
            self._pieces(),
            self.selection,
            progress,
            csv_format=self.format is ExportFormat.csv,
            feed_cursor=self.feed_cursor,
            as_of=self.as_of,
            flush_chars=FLUSH_CHARS,
        )
        try:
            async with contextlib.aclosing(texts):
                async for text in texts:
                    self.rows, self.complete = progress.rows, progress.complete
                    yield text
        finally:
            self.rows, self.complete = progress.rows, progress.complete
            await self.close()

    def _pieces(self) -> AsyncGenerator[tuple[str, int], None]:
        """The rows as text, a chunk at a time, with their count. Households come out of PostgreSQL as their
        rows' JSON (already projected): NDJSON writes them as they are, CSV parses them for its cells."""
        assert self._repo is not None
        prefix = scope_prefix(self.region)
        csv = self.format is ExportFormat.csv
        if self.dataset.name is ExportDataset.households:
            rows = self._repo.household_rows(self.selection, prefix)
            return row_text_pieces(rows, self.selection, csv_format=csv)
        records = self._repo.records(self.dataset.name, prefix)
        return record_pieces(records, self.selection, csv_format=csv)


#: The name the household export had before there were other datasets (kept for callers).
HouseholdExport = Export


class ExportService:
    """Exports of the caller's region subtree; `read_pool` is the app's asyncpg read pool."""

    def __init__(self, ctx: Context, read_pool: Any) -> None:
        self.ctx = ctx
        self.read_pool = read_pool

    async def start(
        self,
        *,
        fmt: ExportFormat,
        region: str | None,
        fields: str | None,
        dataset: str = ExportDataset.households.value,
    ) -> Export:
        """Checks, then the open snapshot with its feed cursor; 404 for an unknown dataset, 403 for cadres, 404
        for a region out of scope, 422 for an unknown field."""
        principal = self.ctx.principal
        try:
            chosen = domain.dataset_of(dataset)
            domain.check_exporter(principal.role, chosen)
            selection = domain.parse_fields(fields, chosen)
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
            feed_cursor="",
            as_of=rfc3339(self.ctx.now),
        )
        try:
            repo = await export._close.enter_async_context(ExportRepository.snapshot(self.read_pool))
            await repo.head(principal.sub)  # the first statement: it fixes the snapshot
            feed_cursor = await snapshot_cursor(repo.conn)
            if not await repo.region_exists(code):
                raise NotFound(f"region {code} not found")
        except BaseException:
            await export.close()
            raise
        export._repo = repo
        export.feed_cursor = feed_cursor
        return export

    async def audit(self, export: Export) -> None:
        """The export's one audit entry (in the caller's unit of work): who (the context), region, format, rows."""
        await RegistryAudit(self.ctx).record(
            export.dataset.audit_action,
            record_type="export",
            record_id=export.id,
            region_code=export.region,
            detail={
                "dataset": str(export.dataset.name),
                "format": str(export.format),
                "rows": export.rows,
                "complete": export.complete,
                "fields": export.selection.names(),
                "feed_cursor": export.feed_cursor,
            },
        )
