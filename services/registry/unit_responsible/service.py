"""Link or unlink the helping unit's responsible login (帮扶单位责任人), audited; no SQL, no commit."""

from __future__ import annotations

import uuid

from services.registry.audit.repository import RegistryAudit
from services.registry.unit_responsible import domain
from services.registry.unit_responsible.repository import UnitResponsibleRepository
from services.registry.unit_responsible.schemas import ResponsibleSet, UnitResponsible
from shared.context import Context
from shared.etag import stale
from shared.problems import NotFound

__all__ = ["UnitResponsibleService"]


class UnitResponsibleService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.repo = UnitResponsibleRepository(ctx)
        self.audit = RegistryAudit(ctx)

    async def put(self, unit_id: uuid.UUID, version: int, payload: ResponsibleSet) -> UnitResponsible:
        domain.require_setter(self.ctx.principal.role)
        unit = await self.repo.lock(unit_id)
        if unit is None:
            raise NotFound(f"helping unit {unit_id} not found")
        if unit.version != version:
            raise stale(unit.version)
        sub = domain.normal_sub(payload.responsible_sub)
        before = unit.responsible_sub
        new_version = unit.version
        if sub != before:
            new_version = await self.repo.set_responsible(unit_id, sub)
            await self.audit.record(
                "unit.responsible" if sub is not None else "unit.responsible_cleared",
                record_type="unit",
                record_id=unit_id,
                region_code=unit.region_code,
                reason=payload.reason,
                detail={"before": before, "after": sub},
            )
        return UnitResponsible(
            unit_id=unit_id, responsible_sub=sub, version=new_version, updated_at=self.ctx.now
        )
