"""SQL of the responsible login: the helping unit in the caller's region, locked, and its update."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlmodel import col, select

from services.registry.models import HelpingUnit
from shared.context import Context
from shared.db import scope_filter

__all__ = ["UnitResponsibleRepository"]


class UnitResponsibleRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def lock(self, unit_id: uuid.UUID) -> HelpingUnit | None:
        """The unit in the caller's region, locked for the transaction (None: missing or out of scope)."""
        query = (
            select(HelpingUnit)
            .where(
                col(HelpingUnit.id) == unit_id, scope_filter(self.ctx.principal, col(HelpingUnit.region_code))
            )
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def set_responsible(self, unit_id: uuid.UUID, sub: str | None) -> int:
        """Store the login (or none); the unit's new version."""
        statement = (
            sa.update(HelpingUnit)
            .where(col(HelpingUnit.id) == unit_id)
            .values(responsible_sub=sub, version=col(HelpingUnit.version) + 1, updated_at=self.ctx.now)
            .returning(col(HelpingUnit.version))
        )
        return int((await self.session.exec(statement)).scalar_one())
