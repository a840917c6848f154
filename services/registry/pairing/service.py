"""Pairing use cases: helping units, cadres, village assignments, and the bitemporal pairing history.

Pairings are facts with two times (DOMAIN.md §3.1): *valid time* (`valid_from` .. `valid_to`, China dates,
`valid_to` exclusive) answers "who was responsible for this household on day D"; *transaction time*
(`recorded_at` .. `superseded_at`) answers "what did the registry say at time T". Ending or correcting a
pairing supersedes its current row with a new one; the database refuses any other rewrite.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from services.registry.legacy_context import Context, audit
from services.registry.models import cadre, helping_unit, household, pairing, village_assignment
from services.registry.pairing.schemas import (
    AssignmentCreate,
    CadreCreate,
    CadrePatch,
    EndReason,
    PairingCreate,
    PairingEnd,
    PositionLevel,
    UnitCreate,
)
from services.registry.pii import mask_phone
from services.registry.scope import household_scope
from shared.db import execute, scope_filter
from shared.etag import stale
from shared.problems import Conflict, Forbidden, NotFound, UnprocessableEntity
from shared.roles import Principal, RegionLevel, Role, level_of, scope_prefix

__all__ = ["PAIRABLE_STATUSES", "PairingService", "active_on"]

#: Households that can be paired: registered (建档立卡) and not yet exited, incl. the exit chain in progress.
PAIRABLE_STATUSES = (
    "registered",
    "exit_proposed",
    "exit_first_notice",
    "exit_township_reviewed",
    "exit_second_notice",
    "exit_county_reviewed",
)
MANAGERS = frozenset({Role.county_admin, Role.township_officer})
PAIRING_WRITERS = frozenset({Role.county_admin, Role.township_officer, Role.village_officer})
#: A resident work team's term lasts at least a year (DOMAIN.md §3.1 P7).
MIN_TERM = timedelta(days=365)


def active_on(day: date | sa.ColumnElement[Any], *, as_of: datetime | None = None) -> sa.ColumnElement[bool]:
    """Pairing rows in force on `day` (valid time), as the registry knew them at `as_of` (default: now)."""
    known = (
        pairing.c.superseded_at.is_(None)
        if as_of is None
        else sa.and_(
            pairing.c.recorded_at <= as_of,
            sa.or_(pairing.c.superseded_at.is_(None), pairing.c.superseded_at > as_of),
        )
    )
    return sa.and_(
        known,
        pairing.c.valid_from <= day,
        sa.or_(pairing.c.valid_to.is_(None), pairing.c.valid_to > day),
    )


def _json(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k.endswith("_enc") or k == "data":
            continue
        out[k] = str(v) if isinstance(v, uuid.UUID | date | datetime) else v
    return out


class PairingService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal: Principal = ctx.principal

    def _need(self, roles: frozenset[Role], what: str) -> None:
        if self.principal.role not in roles:
            raise Forbidden(f"role '{self.principal.role}' may not {what}")

    # -- units -------------------------------------------------------------------------------------------------
    async def create_unit(self, payload: UnitCreate) -> dict[str, Any]:
        self._need(MANAGERS, "register helping units")
        if not self.principal.covers(payload.region_code):
            raise NotFound(f"region {payload.region_code} not found")
        unit_id = uuid.uuid4()
        try:
            async with self.session.begin_nested():
                row = (
                    (
                        await execute(
                            self.session,
                            sa.insert(helping_unit)
                            .values(
                                id=unit_id,
                                created_by=self.principal.sub,
                                created_at=self.ctx.now,
                                updated_at=self.ctx.now,
                                **payload.model_dump(mode="json"),
                            )
                            .returning(helping_unit),
                        )
                    )
                    .mappings()
                    .one()
                )
        except IntegrityError as exc:
            raise Conflict("a helping unit of this name exists in the region") from exc
        await audit(
            self.ctx, "unit.create", record_type="unit", record_id=unit_id, region_code=payload.region_code
        )
        return _json(row)

    def _unit_scope(self) -> sa.ColumnElement[bool]:
        if self.principal.role is Role.cadre:  # a cadre sees their own unit only
            own = sa.select(cadre.c.unit_id).where(cadre.c.user_sub == self.principal.sub)
            return helping_unit.c.id.in_(own.scalar_subquery())
        return scope_filter(self.principal, helping_unit.c.region_code)

    async def unit(self, unit_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
        query = sa.select(helping_unit).where(helping_unit.c.id == unit_id, self._unit_scope())
        row = (await execute(self.session, query.with_for_update() if lock else query)).mappings().first()
        if row is None:
            raise NotFound(f"helping unit {unit_id} not found")
        return dict(row)

    async def units(self, region: str | None) -> list[dict[str, Any]]:
        query = sa.select(helping_unit).where(self._unit_scope())
        if region is not None:
            query = query.where(helping_unit.c.region_code == region)
        rows = (await execute(self.session, query.order_by(helping_unit.c.name).limit(1000))).mappings().all()
        return [_json(r) for r in rows]

    # -- cadres ------------------------------------------------------------------------------------------------
    async def create_cadre(self, payload: CadreCreate) -> dict[str, Any]:
        self._need(MANAGERS, "register cadres")
        unit = await self.unit(payload.unit_id)
        cadre_id = uuid.uuid4()
        values: dict[str, Any] = {
            "id": cadre_id,
            "unit_id": payload.unit_id,
            "name": payload.name,
            "position_level": str(payload.position_level),
            "position": payload.position,
            "user_sub": payload.user_sub,
            "region_code": unit["region_code"],
            "created_by": self.principal.sub,
            "created_at": self.ctx.now,
            "updated_at": self.ctx.now,
        }
        if payload.phone:
            values["phone_enc"] = self.ctx.cipher.encrypt(payload.phone, context=f"cadre:{cadre_id}:phone")
            values["phone_masked"] = mask_phone(payload.phone)
        try:
            async with self.session.begin_nested():
                row = (
                    (await execute(self.session, sa.insert(cadre).values(**values).returning(cadre)))
                    .mappings()
                    .one()
                )
        except IntegrityError as exc:
            raise Conflict("this user is already linked to another cadre", field="user_sub") from exc
        await audit(
            self.ctx, "cadre.create", record_type="cadre", record_id=cadre_id, region_code=unit["region_code"]
        )
        return _json(row)

    async def cadre(self, cadre_id: uuid.UUID, *, lock: bool = False) -> dict[str, Any]:
        if self.principal.role is Role.cadre:
            scope = cadre.c.user_sub == self.principal.sub
        else:
            scope = scope_filter(self.principal, cadre.c.region_code)
        query = sa.select(cadre).where(cadre.c.id == cadre_id, scope)
        row = (await execute(self.session, query.with_for_update() if lock else query)).mappings().first()
        if row is None:
            raise NotFound(f"cadre {cadre_id} not found")
        return dict(row)

    async def patch_cadre(self, cadre_id: uuid.UUID, version: int, payload: CadrePatch) -> dict[str, Any]:
        self._need(MANAGERS, "edit cadres")
        current = await self.cadre(cadre_id, lock=True)
        if current["version"] != version:
            raise stale(current["version"])
        given = payload.model_dump(exclude_unset=True)
        if not given:
            raise UnprocessableEntity("nothing to change", field="/")
        values: dict[str, Any] = {k: v for k, v in given.items() if k != "phone"}
        if "position_level" in values and values["position_level"] is not None:
            values["position_level"] = str(values["position_level"])
        if "phone" in given:
            phone = given["phone"]
            values["phone_enc"] = (
                self.ctx.cipher.encrypt(phone, context=f"cadre:{cadre_id}:phone") if phone else None
            )
            values["phone_masked"] = mask_phone(phone) if phone else None
        values.update(version=cadre.c.version + 1, updated_at=self.ctx.now)
        try:
            async with self.session.begin_nested():
                row = (
                    (
                        await execute(
                            self.session,
                            sa.update(cadre).where(cadre.c.id == cadre_id).values(**values).returning(cadre),
                        )
                    )
                    .mappings()
                    .one()
                )
        except IntegrityError as exc:
            raise Conflict("this user is already linked to another cadre", field="user_sub") from exc
        await audit(
            self.ctx,
            "cadre.update",
            record_type="cadre",
            record_id=cadre_id,
            region_code=current["region_code"],
            detail={"fields": sorted(given)},
        )
        return _json(row)

    async def cadres(self, unit_id: uuid.UUID | None) -> list[dict[str, Any]]:
        if self.principal.role is Role.cadre:
            scope = cadre.c.user_sub == self.principal.sub  # a cadre lists only themselves
        else:
            scope = scope_filter(self.principal, cadre.c.region_code)
        query = sa.select(cadre).where(scope)
        if unit_id is not None:
            query = query.where(cadre.c.unit_id == unit_id)
        rows = (await execute(self.session, query.order_by(cadre.c.name).limit(1000))).mappings().all()
        return [_json(r) for r in rows]

    # -- village assignments (work teams, first secretaries) ---------------------------------------------------
    async def assign(self, payload: AssignmentCreate) -> dict[str, Any]:
        self._need(MANAGERS, "assign work teams")
        if level_of(payload.village_code) is not RegionLevel.village:
            raise UnprocessableEntity("village_code must be an administrative village", field="/village_code")
        if not self.principal.covers(payload.village_code):
            raise NotFound(f"region {payload.village_code} not found")
        await self.cadre(payload.cadre_id)
        if payload.ends_on is not None and payload.ends_on < payload.starts_on + MIN_TERM:
            raise UnprocessableEntity(
                "a resident work-team term lasts at least one year (DOMAIN.md §3.1 P7)", field="/ends_on"
            )
        assignment_id = uuid.uuid4()
        row = (
            (
                await execute(
                    self.session,
                    sa.insert(village_assignment)
                    .values(
                        id=assignment_id,
                        village_code=payload.village_code,
                        cadre_id=payload.cadre_id,
                        role=str(payload.role),
                        starts_on=payload.starts_on,
                        ends_on=payload.ends_on,
                        created_at=self.ctx.now,
                        created_by=self.principal.sub,
                    )
                    .returning(village_assignment),
                )
            )
            .mappings()
            .one()
        )
        await audit(
            self.ctx,
            "assignment.create",
            record_type="assignment",
            record_id=assignment_id,
            region_code=payload.village_code,
            detail={"role": str(payload.role), "cadre_id": str(payload.cadre_id)},
        )
        return _json(row)

    async def assignments(self, village_code: str, on: date | None) -> list[dict[str, Any]]:
        if not self.principal.covers(village_code) or self.principal.role is Role.cadre:
            raise NotFound(f"region {village_code} not found")
        query = (
            sa.select(village_assignment, cadre.c.name.label("cadre_name"))
            .join(cadre, cadre.c.id == village_assignment.c.cadre_id)
            .where(village_assignment.c.village_code == village_code)
        )
        if on is not None:
            query = query.where(
                village_assignment.c.starts_on <= on,
                sa.or_(village_assignment.c.ends_on.is_(None), village_assignment.c.ends_on > on),
            )
        rows = (await execute(self.session, query.order_by(village_assignment.c.starts_on))).mappings().all()
        return [_json(r) for r in rows]

    # -- pairings ----------------------------------------------------------------------------------------------
    async def _household(self, household_id: uuid.UUID) -> dict[str, Any]:
        row = (
            (
                await execute(
                    self.session,
                    sa.select(household.c.id, household.c.status, household.c.village_code)
                    .where(household.c.id == household_id, household_scope(self.principal, include_past=True))
                    .with_for_update(),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"household {household_id} not found")
        return dict(row)

    async def _insert(
        self,
        household_id: uuid.UUID,
        the_cadre: Mapping[str, Any],
        role: str,
        valid_from: date,
        *,
        pairing_id: uuid.UUID | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        row = (
            (
                await execute(
                    self.session,
                    sa.insert(pairing)
                    .values(
                        id=pairing_id or uuid.uuid4(),
                        household_id=household_id,
                        cadre_id=the_cadre["id"],
                        unit_id=the_cadre["unit_id"],
                        role=role,
                        valid_from=valid_from,
                        recorded_at=self.ctx.now,
                        recorded_by=self.principal.sub,
                        **extra,
                    )
                    .returning(pairing),
                )
            )
            .mappings()
            .one()
        )
        return dict(row)

    async def _pairable_cadre(self, cadre_id: uuid.UUID) -> dict[str, Any]:
        the_cadre = await self.cadre(cadre_id)
        if not the_cadre["active"]:
            raise Conflict(f"cadre {cadre_id} is inactive", code="cadre_inactive")
        return the_cadre

    async def _overlapping(self, household_id: uuid.UUID, cadre_id: uuid.UUID, day: date) -> bool:
        count: int = (
            await execute(
                self.session,
                sa.select(sa.func.count())
                .select_from(pairing)
                .where(
                    pairing.c.household_id == household_id,
                    pairing.c.cadre_id == cadre_id,
                    pairing.c.superseded_at.is_(None),
                    sa.or_(pairing.c.valid_to.is_(None), pairing.c.valid_to > day),
                ),
            )
        ).scalar_one()
        return count > 0

    async def warnings(self, the_cadre: Mapping[str, Any], household_id: uuid.UUID, day: date) -> list[str]:
        """Unit ratio policy (DOMAIN.md §3.1 P1, invariant 29): warnings, never refusals."""
        unit = await self.unit(the_cadre["unit_id"])
        out = []
        if the_cadre["position_level"] == PositionLevel.unit_leader:
            households = (
                await execute(
                    self.session,
                    sa.select(sa.func.count(sa.distinct(pairing.c.household_id))).where(
                        pairing.c.cadre_id == the_cadre["id"], active_on(day)
                    ),
                )
            ).scalar_one()
            if households > unit["leader_max_households"]:
                out.append(
                    f"leader_over_limit: {the_cadre['name']} is paired with {households} households "
                    f"(unit policy: {unit['leader_max_households']})"
                )
        if the_cadre["position_level"] == PositionLevel.middle_level:
            sharing = (
                await execute(
                    self.session,
                    sa.select(sa.func.count())
                    .select_from(pairing.join(cadre, cadre.c.id == pairing.c.cadre_id))
                    .where(
                        pairing.c.household_id == household_id,
                        pairing.c.unit_id == unit["id"],
                        cadre.c.position_level == PositionLevel.middle_level,
                        active_on(day),
                    ),
                )
            ).scalar_one()
            if sharing < unit["middle_cadres_per_household"]:
                out.append(
                    f"middle_level_share: {sharing} middle-level cadre(s) of the unit on this household "
                    f"(unit policy: {unit['middle_cadres_per_household']})"
                )
        return out

    async def create(self, payload: PairingCreate) -> dict[str, Any]:
        self._need(PAIRING_WRITERS, "pair cadres with households")
        hh = await self._household(payload.household_id)
        if hh["status"] not in PAIRABLE_STATUSES:
            raise Conflict(
                f"only registered households are paired (this one is {hh['status']})", code="not_registered"
            )
        the_cadre = await self._pairable_cadre(payload.cadre_id)
        if await self._overlapping(payload.household_id, payload.cadre_id, payload.valid_from):
            raise Conflict("this cadre is already paired with the household", code="already_paired")
        row = await self._insert(payload.household_id, the_cadre, str(payload.role), payload.valid_from)
        await audit(
            self.ctx,
            "pairing.create",
            record_type="pairing",
            record_id=row["id"],
            household_id=payload.household_id,
            detail={"cadre_id": str(payload.cadre_id), "valid_from": str(payload.valid_from)},
        )
        out = _json(row)
        out["warnings"] = await self.warnings(the_cadre, payload.household_id, payload.valid_from)
        return out

    async def end(self, pairing_id: uuid.UUID, payload: PairingEnd) -> dict[str, Any]:
        """End a pairing; unless the household exited, a successor starts the same day (不脱贫不脱钩)."""
        self._need(PAIRING_WRITERS, "end pairings")
        current = (
            (
                await execute(
                    self.session,
                    sa.select(pairing)
                    .where(pairing.c.id == pairing_id, pairing.c.superseded_at.is_(None))
                    .with_for_update(),
                )
            )
            .mappings()
            .first()
        )
        if current is None:
            raise NotFound(f"pairing {pairing_id} not found")
        hh = await self._household(current["household_id"])
        if current["valid_to"] is not None:
            raise Conflict("this pairing has ended already", code="already_ended")
        if payload.valid_to < current["valid_from"]:
            raise UnprocessableEntity("valid_to is before the pairing started", field="/valid_to")
        exited = hh["status"] in ("exited", "removed", "dissolved")
        if payload.end_reason is EndReason.household_exited and hh["status"] != "exited":
            raise Conflict("the household has not exited", code="not_exited")
        if not exited and payload.successor is None:
            others = (
                await execute(
                    self.session,
                    sa.select(sa.func.count()).where(
                        pairing.c.household_id == current["household_id"],
                        pairing.c.id != pairing_id,
                        active_on(payload.valid_to),
                    ),
                )
            ).scalar_one()
            if others == 0:
                raise Conflict(
                    "不脱贫不脱钩: the household has not exited, so its last pairing ends only with a successor "
                    "starting the same day",
                    code="successor_required",
                )
        await execute(
            self.session,
            sa.update(pairing)
            .where(pairing.c.row_id == current["row_id"])
            .values(superseded_at=self.ctx.now),
        )
        successor_row = None
        successor_id = None
        the_successor: dict[str, Any] | None = None
        if payload.successor is not None:
            the_successor = await self._pairable_cadre(payload.successor.cadre_id)
            if the_successor["id"] == current["cadre_id"]:
                raise UnprocessableEntity("the successor is another cadre", field="/successor/cadre_id")
            successor_id = uuid.uuid4()
        ended = await self._insert(
            current["household_id"],
            {"id": current["cadre_id"], "unit_id": current["unit_id"]},
            current["role"],
            current["valid_from"],
            pairing_id=pairing_id,
            valid_to=payload.valid_to,
            end_reason=str(payload.end_reason),
            successor_id=successor_id,
            reason=payload.reason,
        )
        if payload.successor is not None and the_successor is not None:
            successor_row = await self._insert(
                current["household_id"],
                the_successor,
                str(payload.successor.role),
                payload.valid_to,
                pairing_id=successor_id,
                reason=f"successor of {pairing_id}",
            )
        await audit(
            self.ctx,
            "pairing.end",
            record_type="pairing",
            record_id=pairing_id,
            household_id=current["household_id"],
            reason=payload.reason,
            detail={
                "valid_to": str(payload.valid_to),
                "end_reason": str(payload.end_reason),
                "successor": str(successor_id) if successor_id else None,
            },
        )
        return {"ended": _json(ended), "successor": _json(successor_row) if successor_row else None}

    async def history(
        self, household_id: uuid.UUID, *, on: date | None, as_of: datetime | None
    ) -> list[dict[str, Any]]:
        """The household's pairings: all current rows, or those in force on `on` as known at `as_of`."""
        exists = (
            await execute(
                self.session,
                sa.select(household.c.id).where(
                    household.c.id == household_id, household_scope(self.principal, include_past=True)
                ),
            )
        ).first()
        if exists is None:
            raise NotFound(f"household {household_id} not found")
        query = (
            sa.select(
                pairing,
                cadre.c.name.label("cadre_name"),
                cadre.c.position_level,
                helping_unit.c.name.label("unit_name"),
            )
            .join(cadre, cadre.c.id == pairing.c.cadre_id)
            .join(helping_unit, helping_unit.c.id == pairing.c.unit_id)
            .where(pairing.c.household_id == household_id)
        )
        if on is not None:
            query = query.where(active_on(on, as_of=as_of))
        elif as_of is not None:
            query = query.where(
                pairing.c.recorded_at <= as_of,
                sa.or_(pairing.c.superseded_at.is_(None), pairing.c.superseded_at > as_of),
            )
        else:
            query = query.where(pairing.c.superseded_at.is_(None))
        rows = (
            await execute(self.session, query.order_by(pairing.c.valid_from, pairing.c.row_id))
        ).mappings()
        return [_json(r) for r in rows.all()]

    async def gaps(self, region: str, on: date) -> list[dict[str, Any]]:
        """Registered households with labour capacity and willingness but no pairing in force (invariant 27)."""
        if self.principal.role is Role.cadre or not self.principal.covers(region):
            raise NotFound(f"region {region} not found")
        paired = sa.exists(
            sa.select(sa.literal(1)).where(pairing.c.household_id == household.c.id, active_on(on))
        )
        willing = household.c.details["development"]["willing"].as_boolean()
        query = (
            sa.select(
                household.c.id,
                household.c.village_code,
                household.c.head_name,
                household.c.household_size,
                household.c.status,
            )
            .where(
                household_scope(self.principal),
                household.c.village_code.startswith(scope_prefix(region), autoescape=True),
                household.c.status.in_(PAIRABLE_STATUSES),
                household.c.has_labor_capacity,
                sa.func.coalesce(willing, sa.true()),
                ~paired,
            )
            .order_by(household.c.village_code, household.c.id)
            .limit(5000)
        )
        return [_json(r) for r in (await execute(self.session, query)).mappings().all()]

    async def my_households(self, on: date) -> dict[str, Any]:
        """For a cadre: households paired today, and read-only those paired before."""
        if self.principal.role is not Role.cadre:
            raise Forbidden("only cadres have paired households")
        rows = (
            (
                await execute(
                    self.session,
                    sa.select(
                        pairing.c.household_id,
                        pairing.c.valid_from,
                        pairing.c.valid_to,
                        household.c.head_name,
                        household.c.village_code,
                        household.c.status,
                        active_on(on).label("active"),
                    )
                    .join(cadre, cadre.c.id == pairing.c.cadre_id)
                    .join(household, household.c.id == pairing.c.household_id)
                    .where(cadre.c.user_sub == self.principal.sub, pairing.c.superseded_at.is_(None))
                    .order_by(pairing.c.valid_from),
                )
            )
            .mappings()
            .all()
        )
        active = [_json(r) for r in rows if r["active"]]
        past = [_json(r) for r in rows if not r["active"]]
        return {"active": active, "past": past}
