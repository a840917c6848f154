"""Assessment figure use cases: who may read, which year and region, then one statement per page or stream.

Every check runs before the first row is read, so a refusal is a problem+json answer even when the rows would
have been streamed: the role (403 for village officers and cadres: `domain.require_reader`), the year (422 before
2013 or in the future: `domain.period`), the region (404 when it lies outside the caller's scope or, as the
registry says, does not exist — alike; the caller's own region exists, their token is bound to it; 503 when the
registry does not answer).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from services.planning.figures import domain
from services.planning.figures.domain import Period, SubjectType
from services.planning.figures.repository import FigurePage, FigureRepository
from services.planning.figures.schemas import (
    FigureCatalogue,
    FigurePublic,
    FigureQuery,
    FigureSubjectCatalogue,
    UnsupportedPublic,
)
from services.planning.registry import RegistryGateway
from shared.context import Context
from shared.problems import NotFound

__all__ = ["NDJSON_CHUNK_BYTES", "FigureService", "catalogue"]

#: Streamed NDJSON leaves in chunks of about this size (one line per row).
NDJSON_CHUNK_BYTES = 64 * 1024


def catalogue() -> FigureCatalogue:
    """What each subject type serves, with the definitions, and what it does not, with why."""
    return FigureCatalogue(
        subjects=[
            FigureSubjectCatalogue(
                subject_type=subject,
                zh_cn=subject.label,
                path=f"/figures/{subject.value}",
                figures=[
                    FigurePublic(
                        code=f.code,
                        zh_cn=f.code.label,
                        en=f.code.english,
                        unit=f.unit,
                        wire=f.wire,
                        signed=f.signed,
                        definition=f.definition,
                    )
                    for f in domain.served(subject)
                ],
                unsupported=[
                    UnsupportedPublic(code=u.code, zh_cn=u.code.label, en=u.code.english, reason=u.reason)
                    for u in domain.unsupported(subject)
                ],
            )
            for subject in SubjectType
        ]
    )


class FigureService:
    def __init__(self, ctx: Context, registry: RegistryGateway) -> None:
        self.ctx = ctx
        self.registry = registry
        self.repo = FigureRepository(ctx)

    async def _period(self, query: FigureQuery) -> Period:
        """The checks every read passes first: role, year, region (in that order)."""
        principal = self.ctx.principal
        domain.require_reader(principal.role)
        when = domain.period(query.year, self.ctx.today)
        if not principal.covers(query.region):
            raise NotFound(f"region {query.region} not found")
        if query.region != principal.region and not await self.registry.region_exists(
            query.region, request_id=self.ctx.request_id
        ):
            raise NotFound(f"region {query.region} not found")
        return when

    async def page(self, subject: SubjectType, query: FigureQuery) -> FigurePage:
        """One page of rows of `subject` under the region, for the year."""
        when = await self._period(query)
        return await self.repo.page(subject, query, when)

    async def page_json(self, subject: SubjectType, query: FigureQuery) -> bytes:
        """The page as the JSON of `Page[<row>]` (`items`, `next_cursor`), serialised once."""
        page = await self.page(subject, query)
        items = b",".join(row.model_dump_json().encode() for row in page.items)
        return b'{"items":[' + items + b'],"next_cursor":' + json.dumps(page.next_cursor).encode() + b"}"

    async def ndjson(self, subject: SubjectType, query: FigureQuery) -> AsyncIterator[bytes]:
        """Every row of `subject` under the region (after the cursor), as NDJSON chunks; the checks run now,
        the rows are read while the answer is sent."""
        when = await self._period(query)
        rows = self.repo.stream(subject, query, when)

        async def chunks() -> AsyncIterator[bytes]:
            buffer = bytearray()
            async for row in rows:
                buffer += row.model_dump_json().encode()
                buffer += b"\n"
                if len(buffer) >= NDJSON_CHUNK_BYTES:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)

        return chunks()
