"""Indicator use cases: the catalogue a caller sees (keyset pages), one indicator, a county's own indicator."""

from __future__ import annotations

from services.planning.indicators import domain
from services.planning.indicators.repository import IndicatorRepository
from services.planning.indicators.schemas import IndicatorCreate, IndicatorPage, IndicatorPublic
from services.planning.models import Indicator, audit_event
from shared.audit import AuditLog
from shared.context import Context
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import BadRequest, NotFound

__all__ = ["IndicatorService", "public"]

_CURSOR = "indicators"
_AUDIT = AuditLog(audit_event)


def public(row: Indicator) -> IndicatorPublic:
    return IndicatorPublic(
        code=row.code,
        label_zh=row.label_zh,
        label_en=row.label_en,
        unit=domain.Unit(row.unit),
        direction=domain.Direction(row.direction),
        origin=domain.IndicatorOrigin.catalogue if row.county_code is None else domain.IndicatorOrigin.county,
        county_code=row.county_code,
        created_at=row.created_at,
        created_by=row.created_by,
    )


class IndicatorService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = IndicatorRepository(ctx)

    async def page(
        self,
        *,
        origin: domain.IndicatorOrigin | None,
        unit: domain.Unit | None,
        cursor: str | None,
        limit: int,
    ) -> IndicatorPage:
        after = None
        if cursor is not None:
            (code,) = decode_cursor(cursor, _CURSOR, (str,))
            if not isinstance(code, str):  # a cursor of ours never holds null
                raise BadRequest("invalid cursor: missing values", code="cursor_invalid")
            after = code
        rows = await self.repo.page(origin=origin, unit=unit, after=after, limit=limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return IndicatorPage(
            items=[public(r) for r in rows],
            next_cursor=encode_cursor(_CURSOR, rows[-1].code) if more else None,
        )

    async def get(self, code: str) -> IndicatorPublic:
        row = await self.repo.get(code)
        if row is None:
            raise NotFound(f"indicator {code} not found")
        return public(row)

    async def create(self, payload: IndicatorCreate) -> IndicatorPublic:
        """A county administrator adds an indicator for their county (409 when the code is taken)."""
        principal = self.ctx.principal
        domain.require_indicator_editor(principal.role, principal.region)
        domain.check_code(payload.code)
        row = await self.repo.add(
            Indicator(
                code=payload.code,
                label_zh=payload.label_zh,
                label_en=payload.label_en,
                unit=payload.unit.value,
                direction=payload.direction.value,
                county_code=principal.region,
                created_at=self.ctx.now,
                created_by=principal.sub,
            )
        )
        await _AUDIT.record(
            self.ctx,
            "indicator.create",
            record_type="indicator",
            record_id=row.code,
            region_code=principal.region,
            detail={"unit": row.unit, "direction": row.direction},
        )
        return public(row)
