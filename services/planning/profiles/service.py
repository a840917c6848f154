"""Village profile use cases: write a year's declared figures beside the registry's (fetched over HTTP), flagged.

The registry's figures are read before anything is written (a registry that does not answer is a 503 and
nothing changes). The declared figures are stored as JSON with money in integer fen (`*_fen` members); the
flags are stored as their codes (`flags`, for queries) and shown with their figures, which the same pure rules
compute again from the stored figures on every read.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.planning.models import VillageProfile, audit_event
from services.planning.profiles import domain
from services.planning.profiles.repository import ProfileRepository
from services.planning.profiles.schemas import (
    ProfileDerived,
    ProfileFigures,
    ProfileFlagPublic,
    ProfilePublic,
    RegistryFiguresPublic,
)
from services.planning.registry import RegistryGateway
from shared.audit import AuditLog
from shared.context import Context
from shared.etag import stale
from shared.problems import NotFound, PreconditionFailed, PreconditionRequired

__all__ = ["ProfileService", "declared_of", "registry_of"]

_AUDIT = AuditLog(audit_event)
#: Money members of the declared figures: `<name>_yuan` on the wire, `<name>_fen` in the stored JSON.
_MONEY = ("per_capita_net_income", "district_average_income", "collective_income")


def _stored(figures: ProfileFigures) -> dict[str, Any]:
    data = figures.model_dump(mode="json", exclude_none=True)
    for name in _MONEY:
        amount = getattr(figures, f"{name}_yuan")
        data.pop(f"{name}_yuan", None)
        if amount is not None:
            data[f"{name}_fen"] = domain.fen(amount)
    return data


def declared_of(stored: dict[str, Any]) -> ProfileFigures:
    """The declared figures of a stored profile (fen back to yuan)."""
    data = dict(stored)
    for name in _MONEY:
        amount = data.pop(f"{name}_fen", None)
        if amount is not None:
            data[f"{name}_yuan"] = domain.yuan(int(amount))
    return ProfileFigures.model_validate(data)


def registry_of(stored: dict[str, Any]) -> domain.RegistryFigures | None:
    """The registry's figures a profile stored (None when it stored none)."""
    if not stored:
        return None
    incidence = stored.get("incidence_percent")
    return domain.RegistryFigures(
        poor_households=int(stored["poor_households"]),
        poor_people=int(stored["poor_people"]),
        population=None if stored.get("population") is None else int(stored["population"]),
        incidence_percent=None if incidence is None else Decimal(str(incidence)),
    )


def _figures(p: ProfileFigures) -> domain.DeclaredFigures:
    arable = p.arable_land
    measures = p.poor_by_measure
    return domain.DeclaredFigures(
        households=p.households,
        population=p.population,
        resident_population=p.resident_population,
        poor_households=p.poor_households,
        poor_people=p.poor_people,
        incidence_percent=p.incidence_percent,
        ncms_participants=p.ncms_participants,
        pension_participants=p.pension_participants,
        dibao_people=p.dibao_people,
        safe_water_people=p.safe_water_people,
        per_capita_net_income_fen=None
        if p.per_capita_net_income_yuan is None
        else domain.fen(p.per_capita_net_income_yuan),
        district_average_income_fen=None
        if p.district_average_income_yuan is None
        else domain.fen(p.district_average_income_yuan),
        income_ratio_percent=p.income_ratio_to_district_percent,
        arable_total_mu=arable.total_mu if arable else None,
        paddy_mu=arable.paddy_mu if arable else None,
        dry_mu=arable.dry_mu if arable else None,
        dangerous_houses=p.dangerous_houses,
        dangerous_houses_renovated=p.dangerous_houses_renovated,
        measure_households=None if measures is None else sum(g.households for g in measures),
        measure_people=None if measures is None else sum(g.people for g in measures),
    )


def _public(row: VillageProfile) -> ProfilePublic:
    declared = declared_of(row.declared)
    registry = registry_of(row.registry_figures)
    figures = _figures(declared)
    stored_codes = set(row.flags)
    flags = [f for f in domain.check(figures, registry) if f.code.value in stored_codes]
    derived = domain.derive(figures)
    return ProfilePublic(
        village_code=row.village_code,
        year=row.year,
        version=row.version,
        declared=declared,
        registry=None
        if registry is None
        else RegistryFiguresPublic(
            poor_households=registry.poor_households,
            poor_people=registry.poor_people,
            population=registry.population,
            incidence_percent=registry.incidence_percent,
            fetched_at=row.registry_figures["fetched_at"],
        ),
        derived=ProfileDerived(
            incidence_percent=derived.incidence_percent,
            per_capita_arable_mu=derived.per_capita_arable_mu,
            income_ratio_percent=derived.income_ratio_percent,
        ),
        flags=[
            ProfileFlagPublic(
                code=f.code, field=f.field, value=f.value, compared_with=f.compared_with, message=f.message
            )
            for f in flags
        ],
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


class ProfileService:
    def __init__(self, ctx: Context, registry: RegistryGateway) -> None:
        self.ctx = ctx
        self.registry = registry
        self.repo = ProfileRepository(ctx)

    def _village(self, code: str) -> None:
        domain.require_village(code)
        if not self.ctx.principal.covers(code):
            raise NotFound(f"village {code} not found")

    async def put(
        self, village_code: str, year: int, version: int | None, payload: ProfileFigures
    ) -> tuple[ProfilePublic, bool]:
        """Write the year's profile (the first without If-Match, later ones naming the version they replace); the
        profile, and whether it was created."""
        principal = self.ctx.principal
        domain.require_editor(principal.role)
        self._village(village_code)
        current = await self.repo.get(village_code, year)
        if current is None and version is not None:
            raise PreconditionFailed(
                f"village {village_code} has no profile for {year}: send it without If-Match"
            )
        if current is not None and version is None:
            raise PreconditionRequired(
                f'changing a profile needs If-Match: "{current.version}" (the one you read)'
            )
        if current is not None and version != current.version:
            raise stale(current.version, what="profile")
        found = await self.registry.village_figures(village_code, year, request_id=self.ctx.request_id)
        if found is None:
            raise NotFound(f"village {village_code} not found")
        registry = domain.RegistryFigures(
            poor_households=found.poor_households,
            poor_people=found.poor_people,
            population=found.population,
            incidence_percent=found.incidence_percent,
        )
        flags = domain.check(_figures(payload), registry)
        values: dict[str, Any] = {
            "declared": _stored(payload),
            "registry_figures": {
                "poor_households": registry.poor_households,
                "poor_people": registry.poor_people,
                "population": registry.population,
                "incidence_percent": None
                if registry.incidence_percent is None
                else str(registry.incidence_percent),
                "fetched_at": self.ctx.now.isoformat(),
            },
            "flags": domain.flag_codes(flags),
            "updated_at": self.ctx.now,
            "updated_by": principal.sub,
        }
        if current is None:
            created = await self.repo.insert(VillageProfile(village_code=village_code, year=year, **values))
            if not created:
                written = await self.repo.get(village_code, year)
                raise stale(written.version if written else 1, what="profile")
        else:
            assert version is not None
            if await self.repo.update(village_code, year, version, values) is None:
                written = await self.repo.get(village_code, year)
                raise stale(written.version if written else version, what="profile")
        await _AUDIT.record(
            self.ctx,
            "profile.create" if current is None else "profile.update",
            record_type="village_profile",
            record_id=f"{village_code}/{year}",
            region_code=village_code,
            detail={"flags": values["flags"]},
        )
        row = await self.repo.get(village_code, year)
        assert row is not None
        return _public(row), current is None

    async def get(self, village_code: str, year: int) -> ProfilePublic:
        domain.require_reader(self.ctx.principal.role)
        self._village(village_code)
        row = await self.repo.get(village_code, year)
        if row is None:
            raise NotFound(f"village {village_code} has no profile for {year}")
        return _public(row)
