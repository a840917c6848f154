"""Household use cases: create, edit, members, incomes, split / merge / move, flags, audit.

Every write locks the household row (`SELECT ... FOR UPDATE`), compares the caller's `If-Match` version, applies
the change, recomputes the derived fields and integrity flags, bumps the version and appends an audit event, all
in one transaction: a request either lands whole or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from services.registry.households.core import (
    compute_income,
    derive,
    encrypt_household_contact,
    id_warnings,
    member_columns,
    member_row,
)
from services.registry.households.schemas import (
    HeadChange,
    HouseholdCreate,
    HouseholdPatch,
    IncomeSet,
    MemberCreate,
    MemberLeave,
    MemberPatch,
    MergeRequest,
    MoveRequest,
    Relation,
    SplitRequest,
)
from services.registry.legacy_context import Context, audit
from services.registry.models import (
    household,
    household_flag,
    household_income,
    member,
    membership_change,
    region_table,
)
from services.registry.scope import household_scope, require_writer_role
from shared.db import execute
from shared.etag import stale
from shared.problems import Conflict, Forbidden, NotFound, UnprocessableEntity
from shared.roles import RegionLevel, Role, level_of

__all__ = ["HouseholdService", "flag_codes"]

#: A household formed from another within this many months before applying is flagged (拆户/分户, §2.11).
SPLIT_FLAG_MONTHS = 24
#: Households in these statuses accept no edits (their history is closed).
_CLOSED = frozenset({"removed", "dissolved"})


def flag_codes(
    hh: Mapping[str, Any], members: Sequence[Mapping[str, Any]], *, today: date
) -> dict[str, dict[str, Any]]:
    """Integrity conditions (DOMAIN.md §2.11, invariants 1, 5, 6, 7, 8) that hold now, with details."""
    out: dict[str, dict[str, Any]] = {}
    active = [m for m in members if m["active"]]
    formed = hh.get("formed_on")
    recent = formed is not None and formed >= today - timedelta(days=SPLIT_FLAG_MONTHS * 366 // 12)
    if hh.get("origin_kind") == "split" and recent:
        out["split_recent"] = {
            "origin_household_id": str(hh["origin_household_id"]),
            "formed_on": str(formed),
        }
    elif recent and formed is not None:
        out["formed_recently"] = {"formed_on": str(formed)}
    if len(active) == 1 and recent:
        out["single_person_new"] = {"formed_on": str(formed)}
    if active and not any(m["resident"] for m in active):
        out["nobody_resident"] = {}
    related = (hh.get("details") or {}).get("related_officials") or []
    if related:
        out["related_to_official"] = {"declared": related}
    mismatches = []
    for m in active:
        if m.get("id_number_plain"):
            problems = id_warnings(m["id_number_plain"], m["sex"], m["birth_year_month"])
            if problems:
                mismatches.append({"member_id": str(m["id"]), "problems": problems})
    if mismatches:
        out["id_mismatch"] = {"members": mismatches}
    if any(m["id_number_index"] is None for m in active):
        out["no_id_number"] = {}
    net = hh.get("net_income")
    if net is not None and net < 0:
        out["net_income_negative"] = {"net_income": str(net)}
    return out


class HouseholdService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session
        self.principal = ctx.principal

    # -- reading and locking ----------------------------------------------------------------------------------
    async def lock(self, household_id: uuid.UUID, version: int | None) -> dict[str, Any]:
        """The household in scope, locked; 404 when missing or out of scope, 412 when `version` is stale."""
        row = (
            (
                await execute(
                    self.session,
                    sa.select(household)
                    .where(household.c.id == household_id, household_scope(self.principal))
                    .with_for_update(),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"household {household_id} not found")
        if version is not None and row["version"] != version:
            raise stale(row["version"])
        return dict(row)

    async def _writable(self, household_id: uuid.UUID, version: int | None) -> dict[str, Any]:
        require_writer_role(self.principal)
        hh = await self.lock(household_id, version)
        if hh["status"] in _CLOSED:
            raise Conflict(f"household {household_id} is {hh['status']}; its record is closed")
        return hh

    async def _members(self, household_id: uuid.UUID, *, active_only: bool = False) -> list[dict[str, Any]]:
        query = sa.select(member).where(member.c.household_id == household_id)
        if active_only:
            query = query.where(member.c.active)
        rows = (await execute(self.session, query.order_by(member.c.joined_on, member.c.id))).mappings().all()
        return [dict(r) for r in rows]

    # -- derived fields, flags, version ------------------------------------------------------------------------
    async def refresh(self, household_id: uuid.UUID, *, bump: bool = True) -> int:
        """Recompute derived fields and flags from the members; bump the version. Returns the new version."""
        hh = dict(
            (await execute(self.session, sa.select(household).where(household.c.id == household_id)))
            .mappings()
            .one()
        )
        members = await self._members(household_id)
        for m in members:
            m["id_number_plain"] = (
                self.ctx.cipher.decrypt(m["id_number_enc"], context=f"member:{m['id']}:id_number")
                if m["id_number_enc"] and m["active"]
                else None
            )
        values: dict[str, Any] = {"updated_at": self.ctx.now, "updated_by": self.principal.sub}
        if hh["status"] != "dissolved":
            d = derive(members)
            values.update(
                household_size=d.household_size,
                labor_count=d.labor_count,
                has_labor_capacity=d.has_labor_capacity,
                head_name=d.head_name,
            )
        hh.update(values)
        conditions = flag_codes(hh, members, today=self.ctx.today)
        await self._raise_flags(household_id, conditions)
        open_codes = (
            (
                await execute(
                    self.session,
                    sa.select(household_flag.c.code)
                    .where(
                        household_flag.c.household_id == household_id, household_flag.c.cleared_at.is_(None)
                    )
                    .order_by(household_flag.c.code),
                )
            )
            .scalars()
            .all()
        )
        values["flags"] = list(open_codes)
        if bump:
            values["version"] = household.c.version + 1
        new_version = (
            await execute(
                self.session,
                sa.update(household)
                .where(household.c.id == household_id)
                .values(**values)
                .returning(household.c.version),
            )
        ).scalar_one()
        return int(new_version)

    async def _raise_flags(
        self, household_id: uuid.UUID, conditions: Mapping[str, Mapping[str, Any]]
    ) -> None:
        """Raise each condition once: an open flag stays open, a cleared one is not raised again."""
        if not conditions:
            return
        seen = set(
            (
                await execute(
                    self.session,
                    sa.select(household_flag.c.code).where(household_flag.c.household_id == household_id),
                )
            )
            .scalars()
            .all()
        )
        new = [c for c in conditions if c not in seen]
        if new:
            await execute(
                self.session,
                sa.insert(household_flag),
                params=[
                    {
                        "household_id": household_id,
                        "code": c,
                        "detail": dict(conditions[c]),
                        "raised_at": self.ctx.now,
                    }
                    for c in new
                ],
            )

    async def raise_flag(self, household_id: uuid.UUID, code: str, detail: Mapping[str, Any]) -> None:
        await execute(
            self.session,
            pg_insert(household_flag)
            .values(household_id=household_id, code=code, detail=dict(detail), raised_at=self.ctx.now)
            .on_conflict_do_nothing(
                index_elements=["household_id", "code"], index_where=household_flag.c.cleared_at.is_(None)
            ),
        )

    # -- create ------------------------------------------------------------------------------------------------
    async def _check_regions(self, payload: HouseholdCreate) -> None:
        if level_of(payload.village_code) is not RegionLevel.village:
            raise UnprocessableEntity("village_code must be an administrative village", field="/village_code")
        if not self.principal.covers(payload.village_code):
            raise NotFound(f"region {payload.village_code} not found")
        found = (
            await execute(
                self.session,
                sa.select(region_table.c.code).where(region_table.c.code == payload.village_code),
            )
        ).first()
        if found is None:
            raise UnprocessableEntity(f"region {payload.village_code} does not exist", field="/village_code")

    async def create(self, payload: HouseholdCreate) -> tuple[uuid.UUID, int]:
        require_writer_role(self.principal)
        await self._check_regions(payload)
        hid = uuid.uuid4()
        members = [
            member_row(self.ctx.cipher, m, hid, joined_on=self.ctx.today, pointer=f"/members/{i}")
            for i, m in enumerate(payload.members)
        ]
        d = derive(members)
        values: dict[str, Any] = {
            "id": hid,
            "village_code": payload.village_code,
            "natural_village": payload.natural_village,
            "villager_group": payload.villager_group,
            "national_household_code": payload.national_household_code,
            "status": "candidate",
            "identification_year": payload.identification_year,
            "quota_year": payload.identification_year,
            "head_name": d.head_name,
            "household_size": d.household_size,
            "labor_count": d.labor_count,
            "has_labor_capacity": d.has_labor_capacity,
            "poverty_cause_primary": payload.poverty_cause_primary,
            "poverty_causes_other": [str(c) for c in payload.poverty_causes_other or []],
            "poverty_attribute": payload.poverty_attribute,
            "main_income_source": payload.main_income_source,
            "dangerous_house_grade": payload.dangerous_house_grade,
            "planned_exit_year": payload.planned_exit_year,
            "bank_name": payload.bank_name,
            "details": payload.details.model_dump(mode="json"),
            "formed_on": payload.formed_on,
            "created_at": self.ctx.now,
            "created_by": self.principal.sub,
            "updated_at": self.ctx.now,
            "updated_by": self.principal.sub,
        }
        values.update(
            encrypt_household_contact(self.ctx.cipher, hid, payload.contact_phone, payload.bank_account)
        )
        try:
            async with self.session.begin_nested():
                await execute(self.session, sa.insert(household).values(**values))
                await execute(self.session, sa.insert(member), params=members)
        except IntegrityError as exc:
            raise self._integrity(exc) from exc
        for m in members:
            await self._membership(
                m["person_id"], "joined", to_household=hid, to_member=m["id"], reason="created"
            )
        version = await self.refresh(hid, bump=False)
        await audit(
            self.ctx,
            "household.create",
            record_type="household",
            record_id=hid,
            household_id=hid,
            detail={"members": len(members), "village_code": payload.village_code},
        )
        return hid, version

    def _integrity(self, exc: IntegrityError) -> Conflict:
        text = str(exc.orig)
        if "ux_registry_member_active_person" in text:
            return Conflict(
                "a person with this resident ID number is already an active member of a household "
                "(one person, one household: move the member instead)",
                code="person_already_member",
            )
        if "national_household_code" in text:
            return Conflict("national_household_code is already used by another household")
        if "ux_registry_member_one_head" in text:
            return Conflict("the household already has a head", code="head_exists")
        return Conflict("the change conflicts with existing data")

    async def _membership(
        self,
        person_id: uuid.UUID,
        kind: str,
        *,
        reason: str,
        from_household: uuid.UUID | None = None,
        to_household: uuid.UUID | None = None,
        from_member: uuid.UUID | None = None,
        to_member: uuid.UUID | None = None,
    ) -> None:
        await execute(
            self.session,
            sa.insert(membership_change).values(
                person_id=person_id,
                kind=kind,
                from_household_id=from_household,
                to_household_id=to_household,
                from_member_id=from_member,
                to_member_id=to_member,
                at=self.ctx.now,
                actor=self.principal.sub,
                reason=reason,
            ),
        )

    # -- edit --------------------------------------------------------------------------------------------------
    async def patch(self, household_id: uuid.UUID, version: int, payload: HouseholdPatch) -> int:
        await self._writable(household_id, version)
        given = payload.model_dump(exclude_unset=True)
        reason = given.pop("reason", None)
        if not given:
            raise UnprocessableEntity("nothing to change", field="/")
        values: dict[str, Any] = {}
        for name in (
            "natural_village",
            "villager_group",
            "national_household_code",
            "poverty_cause_primary",
            "poverty_attribute",
            "main_income_source",
            "dangerous_house_grade",
            "planned_exit_year",
            "bank_name",
        ):
            if name in given:
                value = getattr(payload, name)
                values[name] = str(value) if hasattr(value, "value") else value
        if "poverty_causes_other" in given:
            values["poverty_causes_other"] = [str(c) for c in payload.poverty_causes_other or []]
        if payload.details is not None:
            values["details"] = payload.details.model_dump(mode="json")
        values.update(
            encrypt_household_contact(
                self.ctx.cipher,
                household_id,
                payload.contact_phone if "contact_phone" in given else None,
                payload.bank_account if "bank_account" in given else None,
            )
        )
        try:
            async with self.session.begin_nested():
                await execute(
                    self.session, sa.update(household).where(household.c.id == household_id).values(**values)
                )
        except IntegrityError as exc:
            raise self._integrity(exc) from exc
        new_version = await self.refresh(household_id)
        await audit(
            self.ctx,
            "household.update",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=reason,
            detail={"fields": sorted(given)},
        )
        return new_version

    # -- members -----------------------------------------------------------------------------------------------
    async def add_member(
        self, household_id: uuid.UUID, version: int, payload: MemberCreate
    ) -> tuple[uuid.UUID, int]:
        await self._writable(household_id, version)
        if payload.relation is Relation.head:
            raise UnprocessableEntity(
                "a household already has its head; add the member with another relation and change the head",
                field="/relation",
            )
        row = member_row(self.ctx.cipher, payload, household_id, joined_on=self.ctx.today, pointer="")
        try:
            async with self.session.begin_nested():
                await execute(self.session, sa.insert(member).values(**row))
        except IntegrityError as exc:
            raise self._integrity(exc) from exc
        await self._membership(
            row["person_id"], "joined", to_household=household_id, to_member=row["id"], reason="added"
        )
        new_version = await self.refresh(household_id)
        await audit(
            self.ctx, "member.create", record_type="member", record_id=row["id"], household_id=household_id
        )
        return row["id"], new_version

    async def _member(self, household_id: uuid.UUID, member_id: uuid.UUID) -> dict[str, Any]:
        row = (
            (
                await execute(
                    self.session,
                    sa.select(member).where(
                        member.c.id == member_id, member.c.household_id == household_id, member.c.active
                    ),
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"no active member {member_id} in household {household_id}")
        return dict(row)

    async def patch_member(
        self, household_id: uuid.UUID, member_id: uuid.UUID, version: int, payload: MemberPatch
    ) -> int:
        await self._writable(household_id, version)
        await self._member(household_id, member_id)
        given = payload.model_dump(exclude_unset=True)
        if not given:
            raise UnprocessableEntity("nothing to change", field="/")
        for name in ("name", "sex", "birth_year_month", "labor_capacity", "health_status", "resident"):
            if name in given and given[name] is None:
                raise UnprocessableEntity(f"{name} cannot be null", field=f"/{name}")
        values = member_columns(self.ctx.cipher, payload, member_id, pointer="")
        values["updated_at"] = self.ctx.now
        try:
            async with self.session.begin_nested():
                await execute(
                    self.session, sa.update(member).where(member.c.id == member_id).values(**values)
                )
        except IntegrityError as exc:
            raise self._integrity(exc) from exc
        new_version = await self.refresh(household_id)
        await audit(
            self.ctx,
            "member.update",
            record_type="member",
            record_id=member_id,
            household_id=household_id,
            detail={"fields": sorted(given)},
        )
        return new_version

    async def leave(
        self, household_id: uuid.UUID, member_id: uuid.UUID, version: int, payload: MemberLeave
    ) -> int:
        await self._writable(household_id, version)
        m = await self._member(household_id, member_id)
        if m["relation"] == Relation.head:
            raise Conflict(
                "the head cannot leave; change the head first (POST .../head)", code="head_leaving"
            )
        if payload.on > self.ctx.today:
            raise UnprocessableEntity("the leaving date is in the future", field="/on")
        await execute(
            self.session,
            sa.update(member)
            .where(member.c.id == member_id)
            .values(
                active=False, left_on=payload.on, left_reason=str(payload.reason), updated_at=self.ctx.now
            ),
        )
        await self._membership(
            m["person_id"],
            "left",
            from_household=household_id,
            from_member=member_id,
            reason=str(payload.reason),
        )
        new_version = await self.refresh(household_id)
        await audit(
            self.ctx,
            "member.leave",
            record_type="member",
            record_id=member_id,
            household_id=household_id,
            reason=payload.note or str(payload.reason),
        )
        return new_version

    async def change_head(self, household_id: uuid.UUID, version: int, payload: HeadChange) -> int:
        await self._writable(household_id, version)
        new_head = await self._member(household_id, payload.member_id)
        if new_head["relation"] == Relation.head:
            raise UnprocessableEntity("this member is already the head", field="/member_id")
        if payload.former_head_relation is Relation.head:
            raise UnprocessableEntity("the former head needs another relation", field="/former_head_relation")
        await execute(
            self.session,
            sa.update(member)
            .where(member.c.household_id == household_id, member.c.active, member.c.relation == "head")
            .values(relation=str(payload.former_head_relation), updated_at=self.ctx.now),
        )
        await execute(
            self.session,
            sa.update(member)
            .where(member.c.id == payload.member_id)
            .values(relation="head", updated_at=self.ctx.now),
        )
        new_version = await self.refresh(household_id)
        await audit(
            self.ctx,
            "household.head_change",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=payload.reason,
            detail={"new_head": str(payload.member_id)},
        )
        return new_version

    # -- incomes -----------------------------------------------------------------------------------------------
    async def set_income(self, household_id: uuid.UUID, year: int, version: int, payload: IncomeSet) -> int:
        hh = await self._writable(household_id, version)
        computed = compute_income(payload, hh["household_size"])
        previous = (
            await execute(
                self.session,
                sa.select(sa.func.max(household_income.c.version)).where(
                    household_income.c.household_id == household_id, household_income.c.year == year
                ),
            )
        ).scalar_one()
        await execute(
            self.session,
            sa.insert(household_income).values(
                household_id=household_id,
                year=year,
                version=(previous or 0) + 1,
                wage=payload.wage,
                operating=payload.operating,
                property=payload.property,
                transfer=payload.transfer,
                operating_expenses=payload.operating_expenses,
                household_size=hh["household_size"],
                surveyed_on=payload.surveyed_on,
                note=payload.note,
                recorded_at=self.ctx.now,
                recorded_by=self.principal.sub,
                **computed,
            ),
        )
        if hh["income_year"] is None or year >= hh["income_year"]:
            await execute(
                self.session,
                sa.update(household)
                .where(household.c.id == household_id)
                .values(income_year=year, **computed),
            )
        new_version = await self.refresh(household_id)
        await audit(
            self.ctx,
            "income.record",
            record_type="income",
            record_id=f"{household_id}/{year}",
            household_id=household_id,
            detail={"year": year, "per_capita_net_income": str(computed["per_capita_net_income"])},
        )
        return new_version

    # -- split / merge / move ----------------------------------------------------------------------------------
    async def _move_member(
        self,
        m: Mapping[str, Any],
        to_household: uuid.UUID,
        relation: Relation,
        *,
        kind: str,
        reason: str,
    ) -> uuid.UUID:
        """End `m`'s membership and start the same person's in `to_household` (identity kept: person_id)."""
        await execute(
            self.session,
            sa.update(member)
            .where(member.c.id == m["id"])
            .values(
                active=False,
                left_on=self.ctx.today,
                left_reason="household_transfer",
                updated_at=self.ctx.now,
            ),
        )
        new_id = uuid.uuid4()
        copy = {k: v for k, v in m.items() if k not in ("created_at", "updated_at")}
        copy.update(
            id=new_id,
            household_id=to_household,
            relation=str(relation),
            active=True,
            joined_on=self.ctx.today,
            left_on=None,
            left_reason=None,
            created_at=self.ctx.now,
            updated_at=self.ctx.now,
        )
        if m["id_number_enc"]:
            plain = self.ctx.cipher.decrypt(m["id_number_enc"], context=f"member:{m['id']}:id_number")
            copy["id_number_enc"] = self.ctx.cipher.encrypt(plain, context=f"member:{new_id}:id_number")
        details = dict(copy.get("details") or {})
        if details.get("phone_enc"):
            plain = self.ctx.cipher.decrypt(details["phone_enc"], context=f"member:{m['id']}:phone")
            details["phone_enc"] = self.ctx.cipher.encrypt(plain, context=f"member:{new_id}:phone")
        copy["details"] = details
        await execute(self.session, sa.insert(member).values(**copy))
        await self._membership(
            m["person_id"],
            kind,
            from_household=m["household_id"],
            to_household=to_household,
            from_member=m["id"],
            to_member=new_id,
            reason=reason,
        )
        return new_id

    async def split(
        self, household_id: uuid.UUID, version: int, payload: SplitRequest
    ) -> tuple[uuid.UUID, int]:
        hh = await self._writable(household_id, version)
        members = {m["id"]: m for m in await self._members(household_id, active_only=True)}
        moving = list(dict.fromkeys(payload.member_ids))
        for mid in moving:
            if mid not in members:
                raise UnprocessableEntity(
                    f"{mid} is not an active member of this household", field="/member_ids"
                )
        if payload.new_head_id not in moving:
            raise UnprocessableEntity("new_head_id must be one of member_ids", field="/new_head_id")
        if len(moving) == len(members):
            raise UnprocessableEntity("a split leaves at least one member behind", field="/member_ids")
        if any(members[mid]["relation"] == Relation.head for mid in moving):
            raise UnprocessableEntity(
                "the head stays in the original household (change the head first)", field="/member_ids"
            )
        new_id = uuid.uuid4()
        first = members[payload.new_head_id]
        values = {
            k: v
            for k, v in hh.items()
            if k
            in (
                "village_code",
                "natural_village",
                "villager_group",
                "poverty_cause_primary",
                "poverty_causes_other",
                "poverty_attribute",
                "main_income_source",
                "dangerous_house_grade",
                "identification_year",
                "details",
            )
        }
        values.update(
            id=new_id,
            status="candidate",
            quota_year=self.ctx.today.year,
            national_household_code=payload.national_household_code,
            head_name=first["name"],
            household_size=len(moving),
            labor_count=0,
            has_labor_capacity=False,
            origin_household_id=household_id,
            origin_kind="split",
            formed_on=self.ctx.today,
            created_at=self.ctx.now,
            created_by=self.principal.sub,
            updated_at=self.ctx.now,
            updated_by=self.principal.sub,
        )
        try:
            async with self.session.begin_nested():
                await execute(self.session, sa.insert(household).values(**values))
        except IntegrityError as exc:
            raise self._integrity(exc) from exc
        for mid in moving:
            relation = (
                Relation.head if mid == payload.new_head_id else payload.relations.get(mid, Relation.other)
            )
            await self._move_member(members[mid], new_id, relation, kind="split", reason=payload.reason)
        old_version = await self.refresh(household_id)
        await self.refresh(new_id, bump=False)
        for hid, action in ((household_id, "household.split_from"), (new_id, "household.split_into")):
            await audit(
                self.ctx,
                action,
                record_type="household",
                record_id=hid,
                household_id=hid,
                reason=payload.reason,
                detail={"origin": str(household_id), "new": str(new_id), "members": [str(m) for m in moving]},
            )
        return new_id, old_version

    async def merge(self, household_id: uuid.UUID, version: int, payload: MergeRequest) -> int:
        if payload.from_household_id == household_id:
            raise UnprocessableEntity("a household cannot absorb itself", field="/from_household_id")
        # Lock both rows in a fixed order so that two opposite merges cannot deadlock.
        first, second = sorted([household_id, payload.from_household_id])
        locked = {}
        for hid in (first, second):
            locked[hid] = await self._writable(hid, version if hid == household_id else payload.from_version)
        source = locked[payload.from_household_id]
        if locked[household_id]["village_code"] != source["village_code"]:
            raise UnprocessableEntity("households merge within one village", field="/from_household_id")
        moving = await self._members(payload.from_household_id, active_only=True)
        missing = [str(m["id"]) for m in moving if m["id"] not in payload.relations]
        if missing:
            raise UnprocessableEntity(
                "give the relation to this household's head of every absorbed member",
                field="/relations",
                missing=missing,
            )
        if any(r is Relation.head for r in payload.relations.values()):
            raise UnprocessableEntity("this household keeps its head", field="/relations")
        for m in moving:
            await self._move_member(
                m, household_id, payload.relations[m["id"]], kind="merge", reason=payload.reason
            )
        await execute(
            self.session,
            sa.update(household)
            .where(household.c.id == payload.from_household_id)
            .values(status="dissolved", household_size=0, labor_count=0, has_labor_capacity=False),
        )
        await self.refresh(payload.from_household_id)
        new_version = await self.refresh(household_id)
        await audit(
            self.ctx,
            "household.merge",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=payload.reason,
            detail={"absorbed": str(payload.from_household_id), "members": len(moving)},
        )
        await audit(
            self.ctx,
            "household.dissolve",
            record_type="household",
            record_id=payload.from_household_id,
            household_id=payload.from_household_id,
            reason=payload.reason,
            detail={"merged_into": str(household_id)},
        )
        return new_version

    async def move(
        self, household_id: uuid.UUID, member_id: uuid.UUID, version: int, payload: MoveRequest
    ) -> tuple[uuid.UUID, int]:
        if payload.to_household_id == household_id:
            raise UnprocessableEntity("the member is already in this household", field="/to_household_id")
        if payload.relation is Relation.head:
            raise UnprocessableEntity("the receiving household keeps its head", field="/relation")
        first, second = sorted([household_id, payload.to_household_id])
        for hid in (first, second):
            await self._writable(hid, version if hid == household_id else payload.to_version)
        m = await self._member(household_id, member_id)
        if m["relation"] == Relation.head:
            raise Conflict("the head cannot move; change the head first", code="head_leaving")
        new_member = await self._move_member(
            m, payload.to_household_id, payload.relation, kind="move", reason=payload.reason
        )
        new_version = await self.refresh(household_id)
        await self.refresh(payload.to_household_id)
        await audit(
            self.ctx,
            "member.move",
            record_type="member",
            record_id=member_id,
            household_id=household_id,
            reason=payload.reason,
            detail={"to_household": str(payload.to_household_id), "new_member_id": str(new_member)},
        )
        return new_member, new_version

    # -- flags -------------------------------------------------------------------------------------------------
    async def clear_flag(self, household_id: uuid.UUID, flag_id: int, reason: str) -> int:
        require_writer_role(self.principal)
        await self.lock(household_id, None)
        if self.principal.role is Role.village_officer:
            raise Forbidden("flags are cleared by the township or the county, not by the village")
        updated = (
            await execute(
                self.session,
                sa.update(household_flag)
                .where(
                    household_flag.c.id == flag_id,
                    household_flag.c.household_id == household_id,
                    household_flag.c.cleared_at.is_(None),
                )
                .values(cleared_at=self.ctx.now, cleared_by=self.principal.sub, clear_reason=reason)
                .returning(household_flag.c.code),
            )
        ).scalar_one_or_none()
        if updated is None:
            raise NotFound(f"no open flag {flag_id} on household {household_id}")
        new_version = await self.refresh(household_id)
        await audit(
            self.ctx,
            "flag.clear",
            record_type="flag",
            record_id=str(flag_id),
            household_id=household_id,
            reason=reason,
            detail={"code": updated},
        )
        return new_version
