"""All registry SQL, scoped by the caller's region in one place."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.models import Region
from shared.auth import Principal

__all__ = ["RegionRepository"]


class RegionRepository:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    def _scoped(self):  # type: ignore[no-untyped-def]
        return select(Region).where(self.principal.scope_filter(col(Region.code)))

    async def get(self, code: str) -> Region | None:
        return (await self.session.exec(self._scoped().where(Region.code == code))).first()

    async def exists_unscoped(self, code: str) -> bool:
        """Existence regardless of scope (for parent checks, never returned to the caller)."""
        return (await self.session.exec(select(Region.code).where(Region.code == code))).first() is not None

    async def nearest_ancestor(self, candidates: Sequence[str]) -> str | None:
        if not candidates:
            return None
        rows = (await self.session.exec(select(Region.code).where(col(Region.code).in_(candidates)))).all()
        found = set(rows)
        return next((c for c in candidates if c in found), None)

    async def page(
        self, *, parent_code: str | None, level: str | None, under: str | None, after: str | None, limit: int
    ) -> list[Region]:
        query = self._scoped()
        if parent_code is not None:
            query = query.where(Region.parent_code == parent_code)
        if level is not None:
            query = query.where(Region.level == level)
        if under is not None:
            query = query.where(col(Region.code).startswith(under, autoescape=True))
        if after is not None:
            query = query.where(col(Region.code) > after)
        return list((await self.session.exec(query.order_by(col(Region.code)).limit(limit))).all())
