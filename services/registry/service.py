"""Registry use cases for the region tree."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.models import Region
from services.registry.repository import RegionRepository
from services.registry.schemas import RegionCreate
from shared.auth import Principal, Role
from shared.problems import Conflict, Forbidden, NotFound, UnprocessableEntity
from shared.regions import PREFIX_LENGTH, RegionLevel, is_region_code, level_of, scope_prefix

__all__ = ["RegionService", "ancestors_of"]


def ancestors_of(code: str) -> list[str]:
    """Codes of the possible ancestors of `code`, nearest first (levels may be skipped, DOMAIN.md §1.1)."""
    prefix = scope_prefix(code)
    out = []
    for level in (RegionLevel.township, RegionLevel.county, RegionLevel.prefecture, RegionLevel.province):
        n = PREFIX_LENGTH[level]
        if n < len(prefix):
            candidate = prefix[:n].ljust(12, "0")
            if is_region_code(candidate) and candidate != code:
                out.append(candidate)
    return out


class RegionService:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.repo = RegionRepository(session, principal)

    async def get(self, code: str) -> Region:
        region = await self.repo.get(code)
        if region is None:
            raise NotFound(f"region {code} not found")
        return region

    async def create(self, payload: RegionCreate) -> Region:
        if self.principal.role is not Role.county_admin:
            raise Forbidden("only county administrators edit the region tree")
        code = payload.code
        if not is_region_code(code):
            raise UnprocessableEntity("not a valid statistical division code", field="code")
        if not self.principal.covers(code) or code == self.principal.region:
            raise Forbidden("the region lies outside your county")
        candidates = ancestors_of(code)
        if payload.parent_code is not None:
            if payload.parent_code not in candidates:
                raise UnprocessableEntity("parent_code is not an ancestor of code", field="parent_code")
            if not await self.repo.exists_unscoped(payload.parent_code):
                raise UnprocessableEntity("parent region does not exist", field="parent_code")
            parent = payload.parent_code
        else:
            parent = await self.repo.nearest_ancestor(candidates)
            if parent is None:
                raise UnprocessableEntity("no ancestor region exists; create the parent first", field="code")
        region = Region(code=code, name=payload.name, level=level_of(code), parent_code=parent)
        self.session.add(region)
        try:
            await self.session.commit()
        except IntegrityError as exc:
            await self.session.rollback()
            raise Conflict(f"region {code} already exists") from exc
        return region
