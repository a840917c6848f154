"""Household use cases: create, edit, members, incomes, split / merge / move, flags, the card, lists, statistics.

Every write locks the household row in scope (`HouseholdRepository.lock`), compares the caller's `If-Match`
version, lets `households/domain.py` check the change, writes it, recomputes the derived fields and integrity
flags (`refresh`), bumps the version and appends an audit entry, all in the request's transaction (committed by
the route, shared/routing.py): a request either lands whole or not at all.

Personal data is encrypted here, with the cipher the route hands in (services/registry/deps.py): ID numbers,
phones and bank accounts are stored encrypted beside their masks and blind indexes, and decrypted only to check
ID numbers against the member's record (flags), to re-encrypt a moving member, and for an audited unmasked read.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Awaitable, Collection, Mapping, Sequence
from datetime import date
from typing import Any

from services.registry.audit.repository import RegistryAudit
from services.registry.household_transfers.repository import TransferRepository
from services.registry.households import domain
from services.registry.households.domain import FlagCode, FlagMember, FlagSubject, HouseholdStatus, Relation
from services.registry.households.repository import HouseholdRepository
from services.registry.households.schemas import (
    LIST_FIELDS,
    LOOKUP_LIMIT,
    HeadChange,
    HouseholdCard,
    HouseholdCreate,
    HouseholdLookup,
    HouseholdLookupAnswer,
    HouseholdQuery,
    HouseholdSplit,
    HouseholdStats,
    HouseholdUpdate,
    HouseholdVersion,
    IncomeSet,
    IncomeVersion,
    ListPage,
    MemberCreate,
    MemberFields,
    MemberLeave,
    MemberMoved,
    MemberUpdate,
    MemberVersion,
    MergeRequest,
    MoveRequest,
    RegionCounts,
    Relocated,
    RelocationRequest,
    SplitRequest,
)
from services.registry.identification import domain as workflow
from services.registry.identification.repository import IdentificationRepository
from services.registry.models import Household, Member, Region
from services.registry.pii import PersonalDataCipher, mask_bank_account, mask_id_number, mask_phone
from services.registry.regions.service import QuotaService
from shared.context import Context
from shared.errors import Invalid, Refused
from shared.etag import stale
from shared.problems import Forbidden, NotFound, UnprocessableEntity, from_domain
from shared.roles import Role, scope_prefix

__all__ = ["HouseholdService", "contact_values", "member_values", "new_member_row"]

# == personal data (encryption needs the keys, so it lives beside the use cases) ================================
#: Member columns copied from the payload as they are (enums as their codes).
_MEMBER_COLUMNS = (
    "name",
    "sex",
    "ethnicity",
    "birth_year_month",
    "no_id_reason",
    "labor_capacity",
    "health_status",
    "education_level",
    "school_status",
    "resident",
    "annual_personal_income",
)
#: Household columns a PATCH may set as they are.
_HOUSEHOLD_COLUMNS = (
    "natural_village",
    "villager_group",
    "national_household_code",
    "poverty_cause_primary",
    "poverty_attribute",
    "main_income_source",
    "dangerous_house_grade",
    "planned_exit_year",
    "bank_name",
)
#: What a new household takes over from the one it was split from.
_INHERITED_BY_SPLIT = (
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


def _code(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def id_number_values(
    cipher: PersonalDataCipher, number: str | None, member_id: uuid.UUID, *, today: date, pointer: str
) -> dict[str, Any]:
    """Encrypted value, blind index and mask of a resident ID number, checked first (invariant 1)."""
    if number is None:
        return {"id_number_enc": None, "id_number_index": None, "id_number_masked": None}
    normal = domain.valid_id_number(number, today=today, pointer=pointer)
    return {
        "id_number_enc": cipher.encrypt(normal, context=f"member:{member_id}:id_number"),
        "id_number_index": cipher.blind_index(normal, kind="id_number"),
        "id_number_masked": mask_id_number(normal),
    }


def member_values(
    cipher: PersonalDataCipher,
    payload: MemberFields,
    member_id: uuid.UUID,
    *,
    today: date,
    pointer: str,
    given: Collection[str] | None = None,
) -> dict[str, Any]:
    """Column values for the member fields `given` (None: every field, as a new member has)."""
    out: dict[str, Any] = {}
    for name in _MEMBER_COLUMNS:
        if given is None or name in given:
            out[name] = _code(getattr(payload, name))
    if given is None or "resident_id_number" in given:
        out.update(
            id_number_values(
                cipher,
                payload.resident_id_number,
                member_id,
                today=today,
                pointer=f"{pointer}/resident_id_number",
            )
        )
    if given is None or "details" in given:
        details = payload.details.model_dump(mode="json") if payload.details is not None else {}
        if payload.phone is not None:
            details["phone_enc"] = cipher.encrypt(payload.phone, context=f"member:{member_id}:phone")
            details["phone_masked"] = mask_phone(payload.phone)
        out["details"] = details
    return out


def new_member_row(
    cipher: PersonalDataCipher,
    payload: MemberCreate,
    household_id: uuid.UUID,
    *,
    joined_on: date,
    today: date,
    pointer: str,
) -> dict[str, Any]:
    """A registry_member row for a new member of `household_id` (a new person)."""
    member_id = uuid.uuid4()
    row: dict[str, Any] = {
        "id": member_id,
        "person_id": uuid.uuid4(),
        "household_id": household_id,
        "relation": payload.relation.value,
        "active": True,
        "joined_on": joined_on,
    }
    row.update(member_values(cipher, payload, member_id, today=today, pointer=pointer))
    return row


def contact_values(
    cipher: PersonalDataCipher, household_id: uuid.UUID, phone: str | None, bank: str | None
) -> dict[str, Any]:
    """Encrypted and masked contact phone and bank account of a household (those given)."""
    out: dict[str, Any] = {}
    if phone is not None:
        out["contact_phone_enc"] = cipher.encrypt(phone, context=f"household:{household_id}:phone")
        out["contact_phone_masked"] = mask_phone(phone)
    if bank is not None:
        digits = "".join(bank.split())
        out["bank_account_enc"] = cipher.encrypt(digits, context=f"household:{household_id}:bank_account")
        out["bank_account_masked"] = mask_bank_account(digits)
    return out


# == use cases ==================================================================================================
class HouseholdService:
    def __init__(self, ctx: Context, cipher: PersonalDataCipher) -> None:
        self.ctx = ctx
        self.cipher = cipher
        self.repo = HouseholdRepository(ctx)
        self.audit = RegistryAudit(ctx)

    # -- locking, derived fields, flags (also used by the identification workflow) ---------------------------
    async def lock(self, household_id: uuid.UUID, version: int | None) -> Household:
        """The household in scope, locked; 404 when missing or out of scope, 412 when `version` is stale."""
        household = await self.repo.lock(household_id)
        if household is None:
            raise NotFound(f"household {household_id} not found")
        if version is not None and household.version != version:
            raise stale(household.version)
        return household

    async def _writable(self, household_id: uuid.UUID, version: int | None) -> Household:
        domain.require_writer(self.ctx.principal.role)
        household = await self.lock(household_id, version)
        domain.require_open(household_id, household.status)
        return household

    async def _member(self, household_id: uuid.UUID, member_id: uuid.UUID) -> Member:
        member = await self.repo.active_member(household_id, member_id)
        if member is None:
            raise NotFound(f"no active member {member_id} in household {household_id}")
        return member

    def _plain_id_number(self, member: Member) -> str | None:
        if not member.id_number_enc:
            return None
        return self.cipher.decrypt(member.id_number_enc, context=f"member:{member.id}:id_number")

    async def refresh(self, household_id: uuid.UUID, *, bump: bool = True) -> int:
        """Recompute derived fields and flags from the members; bump the version. Returns the new version."""
        household = await self.repo.get(household_id)
        active = [m for m in await self.repo.members(household_id) if m.active]
        values: dict[str, Any] = {"updated_at": self.ctx.now, "updated_by": self.ctx.principal.sub}
        # A dissolved or removed household keeps the size it had: its members were merged away or released.
        if household.status not in (HouseholdStatus.dissolved, HouseholdStatus.removed):
            derived = domain.derive(active)
            values.update(
                household_size=derived.household_size,
                labor_count=derived.labor_count,
                has_labor_capacity=derived.has_labor_capacity,
                head_name=derived.head_name,
            )
        subject = FlagSubject(
            formed_on=household.formed_on,
            origin_kind=household.origin_kind,
            origin_household_id=household.origin_household_id,
            related_officials=(household.details or {}).get("related_officials") or [],
            net_income=household.net_income,
        )
        members = [
            FlagMember(
                id=m.id,
                sex=m.sex,
                birth_year_month=m.birth_year_month,
                resident=m.resident,
                id_number=self._plain_id_number(m),
            )
            for m in active
        ]
        conditions = domain.flag_codes(subject, members, today=self.ctx.today)
        if conditions:
            # Each condition is raised once: an open flag stays open, a cleared one is not raised again.
            seen = await self.repo.flag_codes_ever(household_id)
            await self.repo.add_flags(household_id, {c: d for c, d in conditions.items() if c not in seen})
        values["flags"] = await self.repo.open_flag_codes(household_id)
        return await self.repo.save_derived(household_id, values, bump=bump)

    async def release_members(self, household_id: uuid.UUID) -> None:
        """A removed household (识别不准清退) releases its active members (issue #13 item 8): each membership ends
        today with reason `released` and is recorded, so the person may join or form another household
        (invariant 2 counts active memberships only). The removed record keeps its size and history."""
        today = self.ctx.today
        active = await self.repo.members(household_id, active_only=True)
        for member in active:
            await self.repo.end_membership(member.id, on=today, reason=domain.LeftReason.released.value)
        await self.repo.record_membership(
            [
                {
                    "person_id": m.person_id,
                    "kind": "left",
                    "from_household_id": household_id,
                    "from_member_id": m.id,
                    "reason": domain.LeftReason.released.value,
                }
                for m in active
            ]
        )

    async def raise_flag(self, household_id: uuid.UUID, code: str, detail: Mapping[str, Any]) -> None:
        await self.repo.raise_flag(household_id, code, detail)

    async def _members_joined(self, household_id: uuid.UUID, added: int, version: int) -> int:
        """Issue #13 item 9, after `added` members joined (and `refresh` gave the new size and `version`): a
        household counted against its quota and not registered yet must still fit the village quota (else 409
        `quota_exceeded`, nothing changed; over it under a county override: flagged), and a running notice
        restarts (its entries changed). Returns the household's version."""
        ctx = self.ctx
        events = IdentificationRepository(ctx)
        recorded = await events.events(household_id)
        state = workflow.state_of(recorded)
        change = workflow.members_added(
            state, workflow.Actor(ctx.principal.sub, ctx.principal.role), ctx.now, added=added
        )
        flagged = False
        if change.recheck_quota:
            household = await self.repo.get(household_id)
            check = await QuotaService(ctx).check_registration(
                village_code=household.village_code,
                year=household.quota_year,
                household_id=household_id,
                people=household.household_size,
            )
            if check.over:
                await self.raise_flag(
                    household_id, FlagCode.quota_override.value, {"quota": check.quota, "used": check.used}
                )
                flagged = True
        if change.renotice is not None:
            await events.append(
                household_id,
                len(recorded) + 1,
                change.renotice,
                status_after=state.status.value,
                batch_id=None,
            )
        return await self.refresh(household_id, bump=False) if flagged else version

    # -- create ------------------------------------------------------------------------------------------------
    async def _person_guard(
        self, write: Awaitable[None], rows: Sequence[Mapping[str, Any]], *, operation: str
    ) -> None:
        """Run `write`; a membership conflict (invariant 2) keeps its detailed answer only when the household the
        person belongs to is in the caller's scope. Otherwise (or when it cannot be traced) the answer is the
        generic `person_registration_conflict`, and the lookup is audited (issue #14 item 8)."""
        try:
            await write
        except Refused as exc:
            if exc.code != "person_already_member":
                raise
            indexes = [str(r["id_number_index"]) for r in rows if r.get("id_number_index")]
            found = await self.repo.active_memberships(indexes)
            visible = all(found.values()) if found else None
            if not domain.person_conflict_hidden(visible):
                raise
            # The numbers found outside the scope; all of them when the conflict could not be traced.
            hidden = [i for i in indexes if found.get(i) is False] if found else indexes
            masked = [str(r.get("id_number_masked")) for r in rows if r.get("id_number_index") in hidden]
            await self.audit.record(
                "person.conflict_hidden",
                record_type="person",
                record_id=uuid.uuid4(),
                region_code=self.ctx.principal.region,
                detail={"operation": operation, "id_numbers": masked},
            )
            # The audit entry is kept although the write is refused (the savepoint undid the write itself).
            raise from_domain(domain.hidden_person_conflict()).keep_writes() from exc

    async def create(self, payload: HouseholdCreate) -> HouseholdVersion:
        ctx = self.ctx
        domain.require_writer(ctx.principal.role)
        domain.check_village(ctx.principal, payload.village_code)
        domain.check_identification_year(payload.identification_year, ctx.today)
        if not await self.repo.region_exists(payload.village_code):
            raise Invalid(
                "region_unknown", f"region {payload.village_code} does not exist", field="/village_code"
            )
        hid = uuid.uuid4()
        members = [
            new_member_row(self.cipher, m, hid, joined_on=ctx.today, today=ctx.today, pointer=f"/members/{i}")
            for i, m in enumerate(payload.members)
        ]
        derived = domain.derive(payload.members)
        values: dict[str, Any] = {
            "id": hid,
            "village_code": payload.village_code,
            "natural_village": payload.natural_village,
            "villager_group": payload.villager_group,
            "national_household_code": payload.national_household_code,
            "status": HouseholdStatus.candidate.value,
            "identification_year": payload.identification_year,
            "quota_year": payload.identification_year,
            "head_name": derived.head_name,
            "household_size": derived.household_size,
            "labor_count": derived.labor_count,
            "has_labor_capacity": derived.has_labor_capacity,
            "poverty_cause_primary": _code(payload.poverty_cause_primary),
            "poverty_causes_other": [c.value for c in payload.poverty_causes_other or []],
            "poverty_attribute": _code(payload.poverty_attribute),
            "main_income_source": _code(payload.main_income_source),
            "dangerous_house_grade": _code(payload.dangerous_house_grade),
            "planned_exit_year": payload.planned_exit_year,
            "bank_name": payload.bank_name,
            "details": payload.details.model_dump(mode="json"),
            "formed_on": payload.formed_on,
            "created_at": ctx.now,
            "created_by": ctx.principal.sub,
            "updated_at": ctx.now,
            "updated_by": ctx.principal.sub,
        }
        values.update(contact_values(self.cipher, hid, payload.contact_phone, payload.bank_account))
        await self._person_guard(self.repo.insert(values, members), members, operation="household.create")
        await self.repo.record_membership(
            [
                {
                    "person_id": m["person_id"],
                    "kind": "joined",
                    "to_household_id": hid,
                    "to_member_id": m["id"],
                    "reason": "created",
                }
                for m in members
            ]
        )
        version = await self.refresh(hid, bump=False)
        await self.audit.record(
            "household.create",
            record_type="household",
            record_id=hid,
            household_id=hid,
            detail={"members": len(members), "village_code": payload.village_code},
        )
        relations = domain.check_relation_change(
            [],
            [r.model_dump(mode="json") for r in payload.details.related_officials],
            actor_sub=ctx.principal.sub,
            reason=None,
        )
        if relations.changed:
            await self._audit_relations(hid, relations, None)
        return HouseholdVersion(id=hid, version=version)

    # -- edit --------------------------------------------------------------------------------------------------
    async def update(
        self, household_id: uuid.UUID, version: int, payload: HouseholdUpdate
    ) -> HouseholdVersion:
        household = await self._writable(household_id, version)
        given = payload.model_dump(exclude_unset=True)
        reason = given.pop("reason", None)
        domain.require_changes(given)
        if "planned_exit_year" in given:
            domain.check_planned_exit_year(payload.planned_exit_year, household.identification_year)
        relations = None
        if payload.details is not None:
            relations = domain.check_relation_change(
                (household.details or {}).get("related_officials") or [],
                [r.model_dump(mode="json") for r in payload.details.related_officials],
                actor_sub=self.ctx.principal.sub,
                reason=reason,
            )
        values: dict[str, Any] = {
            name: _code(getattr(payload, name)) for name in _HOUSEHOLD_COLUMNS if name in given
        }
        if "poverty_causes_other" in given:
            values["poverty_causes_other"] = [c.value for c in payload.poverty_causes_other or []]
        if payload.details is not None:
            values["details"] = payload.details.model_dump(mode="json")
        values.update(
            contact_values(
                self.cipher,
                household_id,
                payload.contact_phone if "contact_phone" in given else None,
                payload.bank_account if "bank_account" in given else None,
            )
        )
        await self.repo.update(household_id, values, guarded=True)
        new_version = await self.refresh(household_id)
        await self.audit.record(
            "household.update",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=reason,
            detail={"fields": sorted(given)},
        )
        if relations is not None and relations.changed:
            await self._audit_relations(household_id, relations, reason)
        return HouseholdVersion(id=household_id, version=new_version)

    async def _audit_relations(
        self, household_id: uuid.UUID, change: domain.RelationChange, reason: str | None
    ) -> None:
        """The recusal history: every official ever declared related stays recused (identification reads it)."""
        await self.audit.record(
            domain.RELATIONS_AUDIT_ACTION,
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=reason,
            detail={"declared": list(change.declared), "cleared": list(change.cleared)},
        )

    # -- members -----------------------------------------------------------------------------------------------
    async def add_member(self, household_id: uuid.UUID, version: int, payload: MemberCreate) -> MemberVersion:
        await self._writable(household_id, version)
        domain.check_new_member(payload.relation)
        today = self.ctx.today
        row = new_member_row(self.cipher, payload, household_id, joined_on=today, today=today, pointer="")
        await self._person_guard(self.repo.add_member(row), [row], operation="member.create")
        await self.repo.record_membership(
            [
                {
                    "person_id": row["person_id"],
                    "kind": "joined",
                    "to_household_id": household_id,
                    "to_member_id": row["id"],
                    "reason": "added",
                }
            ]
        )
        new_version = await self._members_joined(household_id, 1, await self.refresh(household_id))
        await self.audit.record(
            "member.create", record_type="member", record_id=row["id"], household_id=household_id
        )
        return MemberVersion(id=household_id, member_id=row["id"], version=new_version)

    async def update_member(
        self, household_id: uuid.UUID, member_id: uuid.UUID, version: int, payload: MemberUpdate
    ) -> MemberVersion:
        await self._writable(household_id, version)
        await self._member(household_id, member_id)
        given = payload.model_dump(exclude_unset=True)
        domain.require_changes(given)
        domain.require_non_null(given)
        values = member_values(self.cipher, payload, member_id, today=self.ctx.today, pointer="", given=given)
        values["updated_at"] = self.ctx.now
        await self._person_guard(
            self.repo.update_member(member_id, values, guarded=True), [values], operation="member.update"
        )
        new_version = await self.refresh(household_id)
        await self.audit.record(
            "member.update",
            record_type="member",
            record_id=member_id,
            household_id=household_id,
            detail={"fields": sorted(given)},
        )
        return MemberVersion(id=household_id, member_id=member_id, version=new_version)

    async def leave(
        self, household_id: uuid.UUID, member_id: uuid.UUID, version: int, payload: MemberLeave
    ) -> HouseholdVersion:
        await self._writable(household_id, version)
        member = await self._member(household_id, member_id)
        domain.check_leave(member.relation, payload.on, today=self.ctx.today, reason=payload.reason.value)
        await self.repo.end_membership(member_id, on=payload.on, reason=payload.reason.value)
        await self.repo.record_membership(
            [
                {
                    "person_id": member.person_id,
                    "kind": "left",
                    "from_household_id": household_id,
                    "from_member_id": member_id,
                    "reason": payload.reason.value,
                }
            ]
        )
        new_version = await self.refresh(household_id)
        await self.audit.record(
            "member.leave",
            record_type="member",
            record_id=member_id,
            household_id=household_id,
            reason=payload.note or payload.reason.value,
        )
        return HouseholdVersion(id=household_id, version=new_version)

    async def change_head(
        self, household_id: uuid.UUID, version: int, payload: HeadChange
    ) -> HouseholdVersion:
        await self._writable(household_id, version)
        new_head = await self._member(household_id, payload.member_id)
        domain.check_head_change(new_head.relation, payload.former_head_relation)
        await self.repo.hand_over_head(household_id, payload.member_id, payload.former_head_relation.value)
        new_version = await self.refresh(household_id)
        await self.audit.record(
            "household.head_change",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=payload.reason,
            detail={"new_head": str(payload.member_id)},
        )
        return HouseholdVersion(id=household_id, version=new_version)

    # -- incomes -----------------------------------------------------------------------------------------------
    async def set_income(
        self, household_id: uuid.UUID, year: int, version: int, payload: IncomeSet
    ) -> IncomeVersion:
        household = await self._writable(household_id, version)
        domain.check_income_year(year, self.ctx.today)
        computed = domain.compute_income(payload, household.household_size)
        previous = await self.repo.latest_income_version(household_id, year)
        await self.repo.add_income(
            {
                "household_id": household_id,
                "year": year,
                "version": previous + 1,
                "wage": payload.wage,
                "operating": payload.operating,
                "property": payload.property,
                "transfer": payload.transfer,
                "operating_expenses": payload.operating_expenses,
                "household_size": household.household_size,
                "net_income": computed.net_income,
                "per_capita_net_income": computed.per_capita_net_income,
                "surveyed_on": payload.surveyed_on,
                "note": payload.note,
                "recorded_at": self.ctx.now,
                "recorded_by": self.ctx.principal.sub,
            }
        )
        if household.income_year is None or year >= household.income_year:
            # The household shows its latest reference year.
            await self.repo.update(
                household_id,
                {
                    "income_year": year,
                    "net_income": computed.net_income,
                    "per_capita_net_income": computed.per_capita_net_income,
                },
            )
        new_version = await self.refresh(household_id)
        await self.audit.record(
            "income.record",
            record_type="income",
            record_id=f"{household_id}/{year}",
            household_id=household_id,
            detail={"year": year, "per_capita_net_income": str(computed.per_capita_net_income)},
        )
        return IncomeVersion(id=household_id, year=year, version=new_version)

    # -- split / merge / move ----------------------------------------------------------------------------------
    async def _move_member(
        self, member: Member, to_household: uuid.UUID, relation: Relation, *, kind: str, reason: str
    ) -> uuid.UUID:
        """End `member`'s membership and start the same person's in `to_household` (identity kept: person_id)."""
        ctx = self.ctx
        await self.repo.end_membership(member.id, on=ctx.today, reason="household_transfer")
        new_id = uuid.uuid4()
        copy = {
            name: getattr(member, name)
            for name in Member.model_fields
            if name not in ("created_at", "updated_at")
        }
        copy.update(
            id=new_id,
            household_id=to_household,
            relation=relation.value,
            active=True,
            joined_on=ctx.today,
            left_on=None,
            left_reason=None,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        # Ciphertexts are bound to their member row: re-encrypt them for the new one.
        plain = self._plain_id_number(member)
        if plain is not None:
            copy["id_number_enc"] = self.cipher.encrypt(plain, context=f"member:{new_id}:id_number")
        details = dict(member.details or {})
        if details.get("phone_enc"):
            phone = self.cipher.decrypt(details["phone_enc"], context=f"member:{member.id}:phone")
            details["phone_enc"] = self.cipher.encrypt(phone, context=f"member:{new_id}:phone")
        copy["details"] = details
        await self.repo.add_member(copy, guarded=False)
        await self.repo.record_membership(
            [
                {
                    "person_id": member.person_id,
                    "kind": kind,
                    "from_household_id": member.household_id,
                    "to_household_id": to_household,
                    "from_member_id": member.id,
                    "to_member_id": new_id,
                    "reason": reason,
                }
            ]
        )
        return new_id

    async def split(self, household_id: uuid.UUID, version: int, payload: SplitRequest) -> HouseholdSplit:
        ctx = self.ctx
        household = await self._writable(household_id, version)
        active = {m.id: m for m in await self.repo.members(household_id, active_only=True)}
        moving = domain.plan_split(
            {mid: m.relation for mid, m in active.items()},
            payload.member_ids,
            payload.new_head_id,
            payload.relations,
        )
        new_id = uuid.uuid4()
        values: dict[str, Any] = {name: getattr(household, name) for name in _INHERITED_BY_SPLIT}
        values.update(
            id=new_id,
            status=HouseholdStatus.candidate.value,
            quota_year=ctx.today.year,
            national_household_code=payload.national_household_code,
            head_name=active[payload.new_head_id].name,
            household_size=len(moving),
            labor_count=0,
            has_labor_capacity=False,
            origin_household_id=household_id,
            origin_kind="split",
            formed_on=ctx.today,
            created_at=ctx.now,
            created_by=ctx.principal.sub,
            updated_at=ctx.now,
            updated_by=ctx.principal.sub,
        )
        await self.repo.insert(values)
        for mid, relation in moving:
            await self._move_member(active[mid], new_id, relation, kind="split", reason=payload.reason)
        old_version = await self.refresh(household_id)
        await self.refresh(new_id, bump=False)
        for hid, action in ((household_id, "household.split_from"), (new_id, "household.split_into")):
            await self.audit.record(
                action,
                record_type="household",
                record_id=hid,
                household_id=hid,
                reason=payload.reason,
                detail={
                    "origin": str(household_id),
                    "new": str(new_id),
                    "members": [str(mid) for mid, _ in moving],
                },
            )
        return HouseholdSplit(id=household_id, new_household_id=new_id, version=old_version)

    async def merge(self, household_id: uuid.UUID, version: int, payload: MergeRequest) -> HouseholdVersion:
        domain.check_merge_request(household_id, payload.from_household_id)
        # Lock both rows in a fixed order so that two opposite merges cannot deadlock.
        locked: dict[uuid.UUID, Household] = {}
        for hid in sorted([household_id, payload.from_household_id]):
            locked[hid] = await self._writable(hid, version if hid == household_id else payload.from_version)
        absorbed = await self.repo.members(payload.from_household_id, active_only=True)
        domain.check_merge(
            locked[household_id].village_code,
            locked[payload.from_household_id].village_code,
            [m.id for m in absorbed],
            payload.relations,
        )
        for m in absorbed:
            await self._move_member(
                m, household_id, payload.relations[m.id], kind="merge", reason=payload.reason
            )
        await self.repo.dissolve(payload.from_household_id)
        await self.refresh(payload.from_household_id)
        new_version = await self._members_joined(
            household_id, len(absorbed), await self.refresh(household_id)
        )
        await self.audit.record(
            "household.merge",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=payload.reason,
            detail={"absorbed": str(payload.from_household_id), "members": len(absorbed)},
        )
        await self.audit.record(
            "household.dissolve",
            record_type="household",
            record_id=payload.from_household_id,
            household_id=payload.from_household_id,
            reason=payload.reason,
            detail={"merged_into": str(household_id)},
        )
        return HouseholdVersion(id=household_id, version=new_version)

    async def move(
        self, household_id: uuid.UUID, member_id: uuid.UUID, version: int, payload: MoveRequest
    ) -> MemberMoved:
        domain.check_move_request(household_id, payload.to_household_id, payload.relation)
        for hid in sorted([household_id, payload.to_household_id]):
            await self._writable(hid, version if hid == household_id else payload.to_version)
        member = await self._member(household_id, member_id)
        domain.check_mover(member.relation)
        new_member = await self._move_member(
            member, payload.to_household_id, payload.relation, kind="move", reason=payload.reason
        )
        new_version = await self.refresh(household_id)
        await self._members_joined(payload.to_household_id, 1, await self.refresh(payload.to_household_id))
        await self.audit.record(
            "member.move",
            record_type="member",
            record_id=member_id,
            household_id=household_id,
            reason=payload.reason,
            detail={"to_household": str(payload.to_household_id), "new_member_id": str(new_member)},
        )
        return MemberMoved(id=household_id, new_member_id=new_member, version=new_version)

    # -- relocation (易地扶贫搬迁) ---------------------------------------------------------------------------------
    async def relocate(self, household_id: uuid.UUID, version: int, payload: RelocationRequest) -> Relocated:
        """The whole household moves to another administrative village of the caller's scope. Its members,
        incomes, flags and workflow state stay; its pairings are kept (不脱贫不脱钩, a pairing is contracted to the
        end, P3/P4); quota use follows the household to its new village (no recheck: a move is not an
        identification). A history-only workflow event and an audit entry carry the old and new village."""
        ctx = self.ctx
        domain.require_writer(ctx.principal.role)
        household = await self.lock(household_id, version)
        old_village = household.village_code
        domain.check_relocation(
            ctx.principal,
            household.status,
            old_village,
            payload.to_village_code,
            effective=payload.effective_date,
            today=ctx.today,
        )
        if await TransferRepository(ctx).pending_for(household_id) is not None:
            raise Refused("transfer_pending", "the household has a pending transfer to another county")
        if not await self.repo.region_exists(payload.to_village_code):
            raise Invalid(
                "region_unknown",
                f"region {payload.to_village_code} does not exist",
                field="/to_village_code",
            )
        new_version = await self.repo.relocate(
            household_id,
            payload.to_village_code,
            natural_village=payload.natural_village,
            villager_group=payload.villager_group,
        )
        pairings = await self.repo.active_pairings(household_id, ctx.today)
        detail: dict[str, Any] = {
            "from_village_code": old_village,
            "to_village_code": payload.to_village_code,
            "relocation_reason": payload.reason.value,
            "effective_date": payload.effective_date.isoformat(),
            "document_reference": payload.document_reference,
            "from_natural_village": household.natural_village,
            "from_villager_group": household.villager_group,
            "pairings_kept": pairings,
        }
        await self.repo.append_history_event(
            household_id,
            workflow.RELOCATION_COMMAND,
            reason=payload.note,
            data=detail,
            status=household.status,
        )
        await self.audit.record(
            "household.relocate",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            reason=payload.note or payload.reason.value,
            detail=detail,
        )
        return Relocated(
            id=household_id,
            version=new_version,
            village_code=payload.to_village_code,
            from_village_code=old_village,
            active_pairings=pairings,
        )

    # -- flags -------------------------------------------------------------------------------------------------
    async def clear_flag(self, household_id: uuid.UUID, flag_id: int, reason: str) -> HouseholdVersion:
        domain.require_writer(self.ctx.principal.role)
        await self.lock(household_id, None)
        domain.require_flag_clearer(self.ctx.principal.role)
        code = await self.repo.clear_flag(household_id, flag_id, reason)
        if code is None:
            raise NotFound(f"no open flag {flag_id} on household {household_id}")
        new_version = await self.refresh(household_id)
        await self.audit.record(
            "flag.clear",
            record_type="flag",
            record_id=str(flag_id),
            household_id=household_id,
            reason=reason,
            detail={"code": code},
        )
        return HouseholdVersion(id=household_id, version=new_version)

    # -- reading -----------------------------------------------------------------------------------------------
    async def card(self, household_id: uuid.UUID, *, unmask: bool = False) -> HouseholdCard:
        """The card; unmasked (decrypted, audited: invariant 49) for the roles allowed to ask."""
        if unmask:
            domain.require_unmask(self.ctx.principal.role)
        found = await self.repo.card(household_id)
        if found is None:
            raise NotFound(f"household {household_id} not found")
        card = HouseholdCard.model_validate_json(found[0])
        return await self._unmasked(card) if unmask else card

    async def _unmasked(self, card: HouseholdCard) -> HouseholdCard:
        household_id = card.id
        secrets = await self.repo.household_secrets(household_id)
        update: dict[str, Any] = {"unmasked": True}
        if secrets.contact_phone_enc:
            update["contact_phone"] = self.cipher.decrypt(
                secrets.contact_phone_enc, context=f"household:{household_id}:phone"
            )
        if secrets.bank_account_enc:
            update["bank_account"] = self.cipher.decrypt(
                secrets.bank_account_enc, context=f"household:{household_id}:bank_account"
            )
        members = {s.id: s for s in await self.repo.member_secrets(household_id)}
        shown = []
        for m in card.members:
            secret = members.get(m.id)
            changes: dict[str, Any] = {}
            if secret is not None and secret.id_number_enc:
                changes["resident_id_number"] = self.cipher.decrypt(
                    secret.id_number_enc, context=f"member:{m.id}:id_number"
                )
            if secret is not None and secret.phone_enc:
                changes["phone"] = self.cipher.decrypt(secret.phone_enc, context=f"member:{m.id}:phone")
            shown.append(m.model_copy(update=changes) if changes else m)
        update["members"] = shown
        await self.audit.record(
            "pii.read",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            detail={"fields": ["resident_id_number", "phone", "bank_account"], "members": len(members)},
        )
        return card.model_copy(update=update)

    async def page(self, query: HouseholdQuery) -> ListPage:
        unknown = [f for f in query.fields if f not in LIST_FIELDS]
        if unknown:
            raise UnprocessableEntity(
                f"unknown fields: {', '.join(unknown)}", field="fields", allowed=sorted(LIST_FIELDS)
            )
        if query.region is not None and not domain.region_visible(self.ctx.principal, query.region):
            return ListPage([], None)
        return await self.repo.page(query)

    async def lookup(self, payload: HouseholdLookup) -> HouseholdLookupAnswer:
        """The households among `payload.ids` that exist in the caller's scope (a service's scope is all); with
        `paired_with` (services only), only those that cadre is paired with today."""
        if payload.paired_with is not None and self.ctx.principal.role is not Role.service:
            raise Forbidden("only a service asks which households another user is paired with")
        if not payload.ids and payload.paired_with is None:
            return HouseholdLookupAnswer(items=[])
        items = await self.repo.lookup(
            list(dict.fromkeys(payload.ids)), paired_with=payload.paired_with, limit=LOOKUP_LIMIT
        )
        return HouseholdLookupAnswer(items=items)

    async def stats(self, region_code: str, year: int) -> HouseholdStats:
        """Counts and poverty incidence for a region and each of its child regions, from the records."""
        if self.ctx.principal.role is Role.cadre:
            # A cadre's scope is their pairings, not a region: no region is theirs to count.
            raise NotFound(f"region {region_code} not found")
        region = await self.repo.region(region_code)
        if region is None:
            raise NotFound(f"region {region_code} not found")
        children = await self.repo.child_regions(region_code)
        prefix = scope_prefix(region_code)
        tallies = await self.repo.village_tallies(prefix)
        recorded = await self.repo.populations(prefix, year)
        tree: dict[str, list[str]] = {}
        for code, parent in await self.repo.region_parents(prefix):
            if parent is not None:
                tree.setdefault(parent, []).append(code)

        def counts(r: Region) -> RegionCounts:
            tally = domain.tally_under(scope_prefix(r.code), tallies)
            population = domain.population_of(r.code, recorded, tree)
            return RegionCounts(
                region_code=r.code,
                name=r.name,
                level=r.level,
                poor_households=tally.poor_households,
                poor_people=tally.poor_people,
                exited_households=tally.exited_households,
                exited_people=tally.exited_people,
                in_identification_households=tally.in_identification_households,
                returned_households=tally.returned_households,
                population=population,
                incidence_percent=domain.incidence_percent(tally.poor_people, population),
                flags=domain.base_flags(tally.poor_people, population),
            )

        return HouseholdStats(
            year=year,
            region=counts(region),
            children=[counts(c) for c in children],
            note="poor = registered and not yet exited; incidence = poor people / population x 100",
        )
