"""Every SQL statement of village profiles, scoped by the caller's region (`shared.db.scope_filter` on the village)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select

from services.planning.models import VillageProfile
from shared.context import Context
from shared.db import scope_filter

__all__ = ["ProfileRepository"]


class ProfileRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def get(self, village_code: str, year: int) -> VillageProfile | None:
        """The village's profile of `year`, when the village is in the caller's scope."""
        query = select(VillageProfile).where(
            col(VillageProfile.village_code) == village_code,
            col(VillageProfile.year) == year,
            scope_filter(self.ctx.principal, col(VillageProfile.village_code)),
        )
        # populate_existing: a profile rewritten in this transaction is read as it is now.
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def insert(self, row: VillageProfile) -> bool:
        """Store version 1 of a profile; False when one exists already (written meanwhile)."""
        statement = (
            pg_insert(VillageProfile)
            .values(
                village_code=row.village_code,
                year=row.year,
                declared=row.declared,
                registry_figures=row.registry_figures,
                flags=row.flags,
                version=1,
                updated_at=row.updated_at,
                updated_by=row.updated_by,
            )
            .on_conflict_do_nothing(index_elements=["village_code", "year"])
            .returning(col(VillageProfile.version))
        )
        return (await self.session.exec(statement)).first() is not None

    async def update(self, village_code: str, year: int, version: int, values: dict[str, Any]) -> int | None:
        """Replace the profile if it is still at `version`; the new version, or None when it is not."""
        statement = (
            sa.update(VillageProfile)
            .where(
                col(VillageProfile.village_code) == village_code,
                col(VillageProfile.year) == year,
                col(VillageProfile.version) == version,
                scope_filter(self.ctx.principal, col(VillageProfile.village_code)),
            )
            .values(**values, version=col(VillageProfile.version) + 1)
            .returning(col(VillageProfile.version))
        )
        new = (await self.session.exec(statement)).first()
        return None if new is None else int(new[0])
