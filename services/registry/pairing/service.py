"""Pairing use cases: helping units, cadres, village assignments, and the bitemporal pairing history.

Each use case loads what the rules need through the repository (locking the household before any change of its
pairings), asks `pairing.domain` for the decision, writes what the domain returned and files the audit entry.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from services.registry.audit.repository import RegistryAudit
from services.registry.models import Cadre, HelpingUnit, Pairing, VillageAssignment
from services.registry.pairing import domain
from services.registry.pairing.repository import PairingRepository
from services.registry.pairing.schemas import (
    AssignmentCreate,
    AssignmentPage,
    AssignmentPublic,
    CadreCreate,
    CadrePage,
    CadrePublic,
    CadreSuccessor,
    CadreUpdate,
    GapReport,
    MyHouseholds,
    PairingCreate,
    PairingCreated,
    PairingEnd,
    PairingEnded,
    PairingHistory,
    PairingPublic,
    UnitCreate,
    UnitPage,
    UnitPublic,
)
from services.registry.pii import PersonalDataCipher, mask_phone
from shared.context import Context
from shared.etag import stale
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import BadRequest, NotFound
from shared.roles import Role

__all__ = ["AssignmentService", "CadreService", "PairingService", "UnitService"]


def _by_name(cursor: str | None, kind: str) -> tuple[str, uuid.UUID] | None:
    if cursor is None:
        return None
    name, ident = decode_cursor(cursor, kind, (str, uuid.UUID))
    if not isinstance(name, str) or not isinstance(ident, uuid.UUID):
        raise BadRequest("invalid cursor: missing values", code="cursor_invalid")
    return name, ident


def _by_start(cursor: str | None) -> tuple[date, uuid.UUID] | None:
    if cursor is None:
        return None
    day, ident = decode_cursor(cursor, "assignments", (date, uuid.UUID))
    if not isinstance(day, date) or not isinstance(ident, uuid.UUID):
        raise BadRequest("invalid cursor: missing values", code="cursor_invalid")
    return day, ident


def _helper(row: Cadre) -> domain.Helper:
    return domain.Helper(
        id=row.id,
        unit_id=row.unit_id,
        name=row.name,
        position_level=domain.PositionLevel(row.position_level),
        active=row.active,
    )


def _facts(row: Pairing) -> domain.PairingFacts:
    return domain.PairingFacts(
        id=row.id,
        household_id=row.household_id,
        cadre_id=row.cadre_id,
        unit_id=row.unit_id,
        role=domain.PairingRole(row.role),
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        end_reason=domain.EndReason(row.end_reason) if row.end_reason is not None else None,
        successor_id=row.successor_id,
        reason=row.reason,
    )


class _Feature:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.principal = ctx.principal
        self.repo = PairingRepository(ctx)
        self.audit = RegistryAudit(ctx)

    async def _unit(self, unit_id: uuid.UUID) -> HelpingUnit:
        row = await self.repo.unit(unit_id)
        if row is None:
            raise NotFound(f"helping unit {unit_id} not found")
        return row

    async def _cadre(self, cadre_id: uuid.UUID, *, lock: bool = False) -> Cadre:
        row = await self.repo.cadre(cadre_id, lock=lock)
        if row is None:
            raise NotFound(f"cadre {cadre_id} not found")
        return row

    def _region(self, code: str) -> None:
        """404 for a region outside the caller's scope, exactly as for one that does not exist."""
        if not self.principal.covers(code):
            raise NotFound(f"region {code} not found")


class UnitService(_Feature):
    """Helping units (帮扶单位)."""

    async def create(self, payload: UnitCreate) -> UnitPublic:
        domain.require_role(self.principal.role, domain.MANAGERS, "register helping units")
        self._region(payload.region_code)
        row = HelpingUnit(
            id=uuid.uuid4(),
            name=payload.name,
            kind=str(payload.kind),
            region_code=payload.region_code,
            liaison_name=payload.liaison_name,
            leader_max_households=payload.leader_max_households,
            middle_cadres_per_household=payload.middle_cadres_per_household,
            version=1,
            created_at=self.ctx.now,
            created_by=self.principal.sub,
            updated_at=self.ctx.now,
        )
        await self.repo.add_unit(row)
        await self.audit.record(
            "unit.create", record_type="unit", record_id=row.id, region_code=payload.region_code
        )
        return UnitPublic.model_validate(row)

    async def get(self, unit_id: uuid.UUID) -> UnitPublic:
        return UnitPublic.model_validate(await self._unit(unit_id))

    async def page(self, region: str | None, cursor: str | None, limit: int) -> UnitPage:
        rows = await self.repo.units(region=region, after=_by_name(cursor, "units"), limit=limit + 1)
        more, rows = len(rows) > limit, rows[:limit]
        return UnitPage(
            items=[UnitPublic.model_validate(r) for r in rows],
            next_cursor=encode_cursor("units", rows[-1].name, rows[-1].id) if more else None,
        )


class CadreService(_Feature):
    """Cadres (帮扶干部): phones are stored encrypted and shown masked."""

    def __init__(self, ctx: Context, cipher: PersonalDataCipher) -> None:
        super().__init__(ctx)
        self.cipher = cipher

    def _phone(self, row: Cadre, phone: str | None) -> None:
        row.phone_enc = self.cipher.encrypt(phone, context=f"cadre:{row.id}:phone") if phone else None
        row.phone_masked = mask_phone(phone) if phone else None

    async def create(self, payload: CadreCreate) -> CadrePublic:
        domain.require_role(self.principal.role, domain.MANAGERS, "register cadres")
        unit = await self._unit(payload.unit_id)
        row = Cadre(
            id=uuid.uuid4(),
            unit_id=payload.unit_id,
            name=payload.name,
            position_level=str(payload.position_level),
            position=payload.position,
            user_sub=payload.user_sub,
            region_code=unit.region_code,
            active=True,
            version=1,
            created_at=self.ctx.now,
            created_by=self.principal.sub,
            updated_at=self.ctx.now,
        )
        self._phone(row, payload.phone)
        await self.repo.add_cadre(row)
        await self.audit.record(
            "cadre.create", record_type="cadre", record_id=row.id, region_code=unit.region_code
        )
        return CadrePublic.model_validate(row)

    async def get(self, cadre_id: uuid.UUID) -> CadrePublic:
        return CadrePublic.model_validate(await self._cadre(cadre_id))

    async def update(self, cadre_id: uuid.UUID, version: int, payload: CadreUpdate) -> CadrePublic:
        domain.require_role(self.principal.role, domain.MANAGERS, "edit cadres")
        row = await self._cadre(cadre_id, lock=True)
        if row.version != version:
            raise stale(row.version)
        given = payload.model_dump(exclude_unset=True)
        successors = {s.pairing_id: s for s in payload.successors or []}
        given.pop("successors", None)
        if not given:
            raise domain.NothingToChange()
        deactivating = given.get("active") is False and row.active
        handed = await self._hand_over(row, successors) if deactivating else []
        if not deactivating:
            domain.require_known_successors([], successors)
        for name, value in given.items():
            if name == "phone":
                self._phone(row, value)
            else:
                setattr(row, name, str(value) if name == "position_level" and value is not None else value)
        row.version += 1
        row.updated_at = self.ctx.now
        await self.repo.save_cadre(row)
        await self.audit.record(
            "cadre.update",
            record_type="cadre",
            record_id=cadre_id,
            region_code=row.region_code,
            detail={"fields": sorted(given)} | ({"handovers": handed} if handed else {}),
        )
        return CadrePublic.model_validate(row)

    async def _hand_over(
        self, cadre: Cadre, successors: dict[uuid.UUID, CadreSuccessor]
    ) -> list[dict[str, str | None]]:
        """Deactivating a cadre (调离) ends each of their open pairings today as a handover, with the named
        successor where the household would otherwise be left without a cadre (不脱贫不脱钩, 自然接替)."""
        day = self.ctx.today
        rows = await self.repo.open_of_cadre(cadre.id)
        domain.require_known_successors([r.id for r in rows], successors)
        out: list[dict[str, str | None]] = []
        for current in rows:
            hh = await self.repo.lock_household(current.household_id)
            if hh is None:  # a household outside the caller's region: its officers must hand it over
                raise domain.DeactivationNeedsSuccessor(current.id)
            named = successors.get(current.id)
            successor = _helper(await self._cadre(named.cadre_id)) if named is not None else None
            household_rows = await self.repo.current_of_household(current.household_id)
            handover = domain.deactivation_handover(
                _facts(current),
                day,
                household_status=hh.status,
                others=[_facts(r) for r in household_rows],
                successor=successor,
                successor_role=named.role if named is not None else domain.PairingRole.primary,
                successor_id=uuid.uuid4(),
            )
            await self.repo.supersede(current)
            await self.repo.add(handover.ended)
            taking_over = await self.repo.add(handover.successor) if handover.successor else None
            await self.audit.record(
                "pairing.end",
                record_type="pairing",
                record_id=current.id,
                household_id=current.household_id,
                reason="cadre deactivated",
                detail={
                    "valid_to": str(handover.ended.valid_to),
                    "end_reason": str(domain.EndReason.handover),
                    "successor": str(taking_over.id) if taking_over is not None else None,
                },
            )
            out.append(
                {"pairing_id": str(current.id), "successor": str(taking_over.id) if taking_over else None}
            )
        return out

    async def page(self, unit_id: uuid.UUID | None, cursor: str | None, limit: int) -> CadrePage:
        rows = await self.repo.cadres(unit_id=unit_id, after=_by_name(cursor, "cadres"), limit=limit + 1)
        more, rows = len(rows) > limit, rows[:limit]
        return CadrePage(
            items=[CadrePublic.model_validate(r) for r in rows],
            next_cursor=encode_cursor("cadres", rows[-1].name, rows[-1].id) if more else None,
        )


class AssignmentService(_Feature):
    """First secretaries and work teams in villages (驻村工作队, P5, P7)."""

    async def create(self, payload: AssignmentCreate) -> AssignmentPublic:
        domain.require_role(self.principal.role, domain.MANAGERS, "assign work teams")
        domain.require_village(payload.village_code)
        self._region(payload.village_code)
        await self._cadre(payload.cadre_id)
        domain.check_term(payload.starts_on, payload.ends_on)
        row = VillageAssignment(
            id=uuid.uuid4(),
            village_code=payload.village_code,
            cadre_id=payload.cadre_id,
            role=str(payload.role),
            starts_on=payload.starts_on,
            ends_on=payload.ends_on,
            end_reason=None,
            created_at=self.ctx.now,
            created_by=self.principal.sub,
        )
        await self.repo.add_assignment(row)
        await self.audit.record(
            "assignment.create",
            record_type="assignment",
            record_id=row.id,
            region_code=payload.village_code,
            detail={"role": str(payload.role), "cadre_id": str(payload.cadre_id)},
        )
        return AssignmentPublic.model_validate(row)

    async def page(
        self, village_code: str, on: date | None, cursor: str | None, limit: int
    ) -> AssignmentPage:
        if self.principal.role is Role.cadre:  # cadres see households, not village rosters
            raise NotFound(f"region {village_code} not found")
        self._region(village_code)
        rows = await self.repo.assignments(village_code, on=on, after=_by_start(cursor), limit=limit + 1)
        more, rows = len(rows) > limit, rows[:limit]
        return AssignmentPage(
            items=rows,
            next_cursor=encode_cursor("assignments", rows[-1].starts_on, rows[-1].id) if more else None,
        )


class PairingService(_Feature):
    """Pairings of cadres with households (结对帮扶), their ends and handovers, and their history."""

    async def _locked_household(self, household_id: uuid.UUID) -> str:
        hh = await self.repo.lock_household(household_id)
        if hh is None:
            raise NotFound(f"household {household_id} not found")
        return hh.status

    async def create(self, payload: PairingCreate) -> PairingCreated:
        domain.require_role(self.principal.role, domain.PAIRING_WRITERS, "pair cadres with households")
        status = await self._locked_household(payload.household_id)
        domain.require_pairable(status)
        events, identification_year = await self.repo.registration(payload.household_id)
        domain.require_after_registration(
            payload.valid_from, domain.registered_since(events, identification_year)
        )
        helper = _helper(await self._cadre(payload.cadre_id))
        current = [_facts(r) for r in await self.repo.current_of_household(payload.household_id)]
        facts = domain.pair(
            helper,
            current,
            pairing_id=uuid.uuid4(),
            household_id=payload.household_id,
            role=payload.role,
            valid_from=payload.valid_from,
        )
        row = await self.repo.add(facts)
        await self.audit.record(
            "pairing.create",
            record_type="pairing",
            record_id=row.id,
            household_id=payload.household_id,
            detail={"cadre_id": str(payload.cadre_id), "valid_from": str(payload.valid_from)},
        )
        unit = await self._unit(helper.unit_id)
        policy = domain.UnitPolicy(unit.id, unit.leader_max_households, unit.middle_cadres_per_household)
        warnings = domain.ratio_warnings(
            helper,
            policy,
            leader_households=await self.repo.households_of_cadre(helper.id, payload.valid_from),
            middle_sharing=await self.repo.middle_level_on(payload.household_id, unit.id, payload.valid_from),
        )
        return PairingCreated.model_validate(row.model_dump() | {"warnings": warnings})

    async def end(self, pairing_id: uuid.UUID, payload: PairingEnd) -> PairingEnded:
        """End a pairing; unless the household exited, a successor starts the same day (不脱贫不脱钩)."""
        domain.require_role(self.principal.role, domain.PAIRING_WRITERS, "end pairings")
        found = await self.repo.current(pairing_id)
        if found is None:
            raise NotFound(f"pairing {pairing_id} not found")
        status = await self._locked_household(found.household_id)
        # With the household locked, its current rows are the facts every change of its pairings starts from.
        rows = await self.repo.current_of_household(found.household_id)
        current = next((r for r in rows if r.id == pairing_id), None)
        if current is None:
            raise NotFound(f"pairing {pairing_id} not found")
        successor = None
        if payload.successor is not None:
            successor = _helper(await self._cadre(payload.successor.cadre_id))
        command = domain.EndPairing(
            valid_to=payload.valid_to,
            end_reason=payload.end_reason,
            successor=domain.Successor(payload.successor.cadre_id, payload.successor.role)
            if payload.successor is not None
            else None,
            reason=payload.reason,
        )
        handover = domain.end_pairing(
            _facts(current),
            command,
            household_status=status,
            others=[_facts(r) for r in rows],
            successor=successor,
            successor_id=uuid.uuid4(),
        )
        await self.repo.supersede(current)
        ended = await self.repo.add(handover.ended)
        taking_over = await self.repo.add(handover.successor) if handover.successor is not None else None
        await self.audit.record(
            "pairing.end",
            record_type="pairing",
            record_id=pairing_id,
            household_id=current.household_id,
            reason=payload.reason,
            detail={
                "valid_to": str(payload.valid_to),
                "end_reason": str(payload.end_reason),
                "successor": str(taking_over.id) if taking_over is not None else None,
            },
        )
        return PairingEnded(
            ended=PairingPublic.model_validate(ended),
            successor=PairingPublic.model_validate(taking_over) if taking_over is not None else None,
        )

    async def history(
        self, household_id: uuid.UUID, *, on: date | None, as_of: datetime | None
    ) -> PairingHistory:
        """The household's pairings: all current rows, or those in force on `on` as known at `as_of`."""
        domain.require_aware(as_of)
        if not await self.repo.household_visible(household_id):
            raise NotFound(f"household {household_id} not found")
        rows = await self.repo.history(household_id)
        return PairingHistory(
            household_id=household_id, on=on, items=domain.as_known(rows, on=on, as_of=as_of)
        )

    async def gaps(self, region: str, on: date | None) -> GapReport:
        """Registered households with labour capacity and willingness but no pairing in force (invariant 27)."""
        if self.principal.role is Role.cadre:
            raise NotFound(f"region {region} not found")
        self._region(region)
        day = on or self.ctx.today
        items = await self.repo.gaps(region, day)
        return GapReport(region=region, on=day, count=len(items), items=items)

    async def mine(self) -> MyHouseholds:
        """For a cadre: households paired today, and read-only those paired before."""
        domain.require_cadre(self.principal.role)
        rows = await self.repo.of_caller(self.ctx.today)
        return MyHouseholds(active=[r for r in rows if r.active], past=[r for r in rows if not r.active])
