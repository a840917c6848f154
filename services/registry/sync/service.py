"""The phone download use case (离线同步) and the change feed's retention.

`SyncService.download` reads the feed's head and the cursor's households in one snapshot of the read pool
(sync/repository.py), decides full or incremental by the cursor rules (sync/domain.py) on the app clock's date,
and answers the bytes of `schemas.SyncDownload`: the households' JSON comes from PostgreSQL already encoded, so
the answer is assembled as text around it rather than parsed and written again (bench/visits.py (c) measures
this path).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from services.registry.sync import domain
from services.registry.sync.repository import SyncRepository, prune_changes
from services.registry.sync.schemas import decode_cursor, encode_cursor
from shared.clock import rfc3339
from shared.context import Context

__all__ = ["SyncService", "prune_change_feed"]


class SyncService:
    """The download of the calling cadre; `read_pool` is the app's asyncpg read pool (`app.state.read_pool`)."""

    def __init__(self, ctx: Context, read_pool: Any) -> None:
        self.ctx = ctx
        self.read_pool = read_pool

    async def download(self, cursor_text: str | None, *, records: int) -> bytes:
        """The download's JSON (`SyncDownload`) as bytes: households changed since the cursor, or all of them."""
        domain.check_downloader(self.ctx.principal.role)
        previous = decode_cursor(cursor_text) if cursor_text is not None else None
        now, today = self.ctx.now, self.ctx.today
        changed: list[uuid.UUID] = []
        removed: set[uuid.UUID] = set()
        async with SyncRepository.snapshot(self.read_pool) as repo:
            head = await repo.head(self.ctx.principal.sub)
            full = domain.needs_full(previous, head, today=today, now=now)
            if head.cadre_id is not None:
                if full or previous is None:
                    feed = await repo.active(head.cadre_id, today)
                else:
                    feed = await repo.changed(
                        head.cadre_id, today, seq=previous.seq, horizon=previous.horizon, day=previous.day
                    )
                for change in feed:
                    if change.active:
                        changed.append(change.household_id)
                    else:
                        removed.add(change.household_id)
            households = await repo.content(changed, records)
        cursor = encode_cursor(domain.next_cursor(head, today=today, now=now))
        body = (
            '{"cursor":'
            + json.dumps(cursor)
            + ',"full":'
            + ("true" if full else "false")
            + ',"households":'
            + households
            + ',"removed":'
            + json.dumps(sorted(str(h) for h in removed))
            + ',"server_time":'
            + json.dumps(rfc3339(now))
            + "}"
        )
        return body.encode()


async def prune_change_feed(pool: Any, *, now: datetime, retention_days: int | None = None) -> int:
    """Housekeeping: delete the feed rows no honoured cursor needs (`domain.retention_cutoff`, or older than
    `retention_days` when that is longer); how many. The pruned horizon is recorded (province feed: 410)."""
    cutoff = domain.retention_cutoff(now)
    if retention_days is not None:
        cutoff = min(cutoff, now - timedelta(days=retention_days))
    return await prune_changes(pool, before=cutoff)
