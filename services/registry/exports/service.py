"""The household export use case (issue #15): one snapshot, streamed, audited once.

`ExportService.start` checks the caller (role, region in scope, fields) before anything is read, then opens the
snapshot (exports/repository.py), reads the change feed's position in it and confirms the region exists — all
before the first byte, so a refusal is an ordinary problem answer and the feed cursor can travel as a response
header. `HouseholdExport.chunks()` then streams the rows from the same snapshot and ends it (and returns its
connection to the pool) when the last row is written or the client goes away.

The feed cursor is the phone download's own (`sync.domain.next_cursor`, `sync.schemas.encode_cursor`), so a
consumer continues from it with the feed exactly as a phone does. The audit entry (`household.export`: who,
region, format, fields, rows, whether it completed) is written by `audit` once the stream ended, in a unit of
work of its own (the route owns it), because the row count is only known then.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from services.registry.audit.repository import RegistryAudit
from services.registry.exports import domain
from services.registry.exports.domain import ExportFormat, FieldSelection
from services.registry.exports.repository import ExportRepository
from services.registry.sync.domain import next_cursor
from services.registry.sync.schemas import encode_cursor
from shared.clock import rfc3339
from shared.context import Context
from shared.errors import DomainError
from shared.problems import NotFound, from_domain
from shared.roles import in_scope, scope_prefix

__all__ = ["ExportService", "HouseholdExport"]

#: Text is handed to the response in pieces of about this size (many rows per write, flat memory).
FLUSH_CHARS = 64 * 1024


@dataclass
class HouseholdExport:
    """An export in progress: its snapshot's facts (known before the first row) and its stream."""

    id: uuid.UUID
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
        """The file as text pieces: CSV (BOM, header, rows) or NDJSON (rows, then the trailer line)."""
        assert self._repo is not None
        try:
            out: list[str] = []
            size = 0
            if self.format is ExportFormat.csv:
                out.append(domain.BOM + domain.csv_lines([domain.csv_header(self.selection)]))
            async for cards in self._repo.cards(scope_prefix(self.region)):
                rows = [domain.project(json.loads(card), self.selection) for card in cards]
                if self.format is ExportFormat.csv:
                    piece = domain.csv_lines([domain.csv_row(r, self.selection) for r in rows])
                else:
                    piece = "".join(domain.ndjson_line(r) for r in rows)
                self.rows += len(rows)
                out.append(piece)
                size += len(piece)
                if size >= FLUSH_CHARS:
                    yield "".join(out)
                    out, size = [], 0
            if self.format is ExportFormat.ndjson:
                out.append(
                    domain.trailer_line(rows=self.rows, feed_cursor=self.feed_cursor, as_of=self.as_of)
                )
            self.complete = True
            if out:
                yield "".join(out)
        finally:
            await self.close()


class ExportService:
    """Exports of the caller's region subtree; `read_pool` is the app's asyncpg read pool."""

    def __init__(self, ctx: Context, read_pool: Any) -> None:
        self.ctx = ctx
        self.read_pool = read_pool

    async def start(self, *, fmt: ExportFormat, region: str | None, fields: str | None) -> HouseholdExport:
        """Checks, then the open snapshot with its feed cursor; 403 for cadres, 404 for a region out of scope."""
        principal = self.ctx.principal
        try:
            domain.check_exporter(principal.role)
            selection = domain.parse_fields(fields)
        except DomainError as exc:
            raise from_domain(exc) from None
        code = region or principal.region
        if not in_scope(principal.region, code):
            raise NotFound(f"region {code} not found")
        export = HouseholdExport(
            id=uuid.uuid4(),
            region=code,
            format=fmt,
            selection=selection,
            feed_cursor="",
            as_of=rfc3339(self.ctx.now),
        )
        try:
            repo = await export._close.enter_async_context(ExportRepository.snapshot(self.read_pool))
            head = await repo.head(principal.sub)
            if not await repo.region_exists(code):
                raise NotFound(f"region {code} not found")
        except BaseException:
            await export.close()
            raise
        export._repo = repo
        export.feed_cursor = encode_cursor(next_cursor(head, today=self.ctx.today, now=self.ctx.now))
        return export

    async def audit(self, export: HouseholdExport) -> None:
        """The export's one audit entry (in the caller's unit of work): who (the context), region, format, rows."""
        await RegistryAudit(self.ctx).record(
            "household.export",
            record_type="export",
            record_id=export.id,
            region_code=export.region,
            detail={
                "format": str(export.format),
                "rows": export.rows,
                "complete": export.complete,
                "fields": export.selection.names(),
                "feed_cursor": export.feed_cursor,
            },
        )
