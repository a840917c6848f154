"""Every SQL statement of the household record, scoped by the caller's region in one place.

Reads of a household go through `_scope()` (services/registry/scope.py `household_scope`, with the request's
China date from the app clock), so a household outside the caller's region, or not paired with a cadre today,
is invisible exactly like a missing one. Rows come back as the SQLModel classes of services/registry/models.py,
re-read from the database on every query (`populate_existing`): the writes here are plain UPDATE statements, and
a row read earlier in the request must never be served from the session's identity map.

The card is one statement that PostgreSQL turns into JSON (`card_statement`); households/fast.py, the phone
download (services/registry/sync) and the benchmark's baseline build theirs from the same function.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from services.registry.households.domain import HouseholdStatus, VillageTally
from services.registry.households.schemas import (
    LIST_FIELDS,
    HouseholdQuery,
    HouseholdSummary,
    ListPage,
    ListRow,
    SortKey,
)
from services.registry.identification.domain import IN_IDENTIFICATION, POOR_STATUSES, Status
from services.registry.models import (
    Household,
    HouseholdFlag,
    HouseholdIncome,
    Member,
    MembershipChange,
    Pairing,
    Region,
    RegionPopulation,
    WorkflowEvent,
)
from services.registry.scope import household_scope
from shared.context import Context
from shared.db import execute, scope_filter
from shared.errors import Refused
from shared.pagination import CursorValue, decode_cursor, encode_cursor
from shared.problems import BadRequest
from shared.roles import NATIONAL_CODE, Principal, Role, scope_prefix
from shared.sql_json import rfc3339_sql

_Row = TypeVar("_Row")

__all__ = [
    "CARD_FIELDS",
    "CARD_OBJECT",
    "INCOME_SQL_FIELDS",
    "MEMBER_SQL_FIELDS",
    "HouseholdRepository",
    "HouseholdSecrets",
    "MemberSecrets",
    "card_object",
    "card_statement",
    "latest_income_json",
    "members_json",
]

_t = rfc3339_sql


def _object(fields: Mapping[str, str], keys: Sequence[str] | None = None) -> str:
    """`json_build_object` of the fragments `keys` (default: all), in the order given."""
    names = list(fields) if keys is None else list(keys)
    return "json_build_object(\n  " + ",\n  ".join(f"'{k}', {fields[k]}" for k in names) + "\n)"


#: An active member `m` of the card, key -> SQL expression (ID number and phone masked).
MEMBER_SQL_FIELDS: dict[str, str] = {
    "id": "m.id",
    "person_id": "m.person_id",
    "name": "m.name",
    "relation": "m.relation",
    "sex": "m.sex",
    "ethnicity": "m.ethnicity",
    "birth_year_month": "m.birth_year_month",
    "resident_id_number": "m.id_number_masked",
    "no_id_reason": "m.no_id_reason",
    "labor_capacity": "m.labor_capacity",
    "health_status": "m.health_status",
    "education_level": "m.education_level",
    "school_status": "m.school_status",
    "resident": "m.resident",
    "annual_personal_income": "m.annual_personal_income::text",
    "phone": "m.details->>'phone_masked'",
    "details": "m.details - 'phone_enc' - 'phone_masked'",
    "joined_on": "m.joined_on",
}
#: An income record `i` of the card (the newest version of its year), key -> SQL expression.
INCOME_SQL_FIELDS: dict[str, str] = {
    "year": "i.year",
    "version": "i.version",
    "wage": "i.wage::text",
    "operating": "i.operating::text",
    "property": "i.property::text",
    "transfer": "i.transfer::text",
    "operating_expenses": "i.operating_expenses::text",
    "household_size": "i.household_size",
    "net_income": "i.net_income::text",
    "per_capita_net_income": "i.per_capita_net_income::text",
    "surveyed_on": "i.surveyed_on",
    "note": "i.note",
    "recorded_at": _t("i.recorded_at"),
    "recorded_by": "i.recorded_by",
}


def members_json(keys: Sequence[str] | None = None) -> str:
    """The active members of `h` as a JSON array of the member fragments `keys` (default: all), card order."""
    return f"""(
    SELECT coalesce(json_agg({_object(MEMBER_SQL_FIELDS, keys)} ORDER BY m.relation <> 'head', m.birth_year_month, m.id), '[]'::json)
    FROM registry_member m WHERE m.household_id = h.id AND m.active)"""  # noqa: S608 - built from constants


def latest_income_json(keys: Sequence[str] | None = None) -> str:
    """The card's `incomes[0]` (newest year, newest version) of `h` with the income fragments `keys`, or null."""
    return f"""(
    SELECT {_object(INCOME_SQL_FIELDS, keys)}
    FROM registry_household_income i WHERE i.household_id = h.id
    ORDER BY i.year DESC, i.version DESC LIMIT 1)"""  # noqa: S608 - built from constants


#: The card of household `h` (joined with its village `v`), key -> SQL expression, in card order; every time in
#: the wire format (shared/sql_json.py), so the model reads it and writes it back unchanged. The one definition:
#: the card is all of them (`CARD_OBJECT`), an export's row the ones it selects (`card_object`).
CARD_FIELDS: dict[str, str] = {
    "id": "h.id",
    "village_code": "h.village_code",
    "village_name": "v.name",
    "natural_village": "h.natural_village",
    "villager_group": "h.villager_group",
    "national_household_code": "h.national_household_code",
    "status": "CASE WHEN h.objection_open THEN 'objection_pending' ELSE h.status END",
    "workflow_status": "h.status",
    "chain": "h.chain",
    "returned": "h.returned",
    "identification_year": "h.identification_year",
    "quota_year": "h.quota_year",
    "head_name": "h.head_name",
    "household_size": "h.household_size",
    "labor_count": "h.labor_count",
    "has_labor_capacity": "h.has_labor_capacity",
    "poverty_cause_primary": "h.poverty_cause_primary",
    "poverty_causes_other": "h.poverty_causes_other",
    "poverty_attribute": "h.poverty_attribute",
    "main_income_source": "h.main_income_source",
    "dangerous_house_grade": "h.dangerous_house_grade",
    "income_year": "h.income_year",
    "net_income": "h.net_income::text",
    "per_capita_net_income": "h.per_capita_net_income::text",
    "contact_phone": "h.contact_phone_masked",
    "bank_account": "h.bank_account_masked",
    "bank_name": "h.bank_name",
    "details": "h.details",
    "origin_household_id": "h.origin_household_id",
    "origin_kind": "h.origin_kind",
    "formed_on": "h.formed_on",
    "flags": "h.flags",
    "planned_exit_year": "h.planned_exit_year",
    "exit_effective_year": "h.exit_effective_year",
    "imported": f"""(
    SELECT json_build_object(
      'mode', e.data->>'mode', 'source_document', e.data->>'source_document', 'at', {_t("e.at")}, 'by', e.actor)
    FROM registry_workflow_event e
    WHERE e.household_id = h.id AND e.seq = 1 AND e.command = 'import'
      AND e.data->>'mode' IS NOT NULL)""",  # noqa: S608 - constants
    "version": "h.version",
    "created_at": _t("h.created_at"),
    "created_by": "h.created_by",
    "updated_at": _t("h.updated_at"),
    "updated_by": "h.updated_by",
    "members": members_json(),
    "former_members": """(
    SELECT coalesce(json_agg(json_build_object(
      'id', m.id, 'person_id', m.person_id, 'name', m.name, 'relation', m.relation,
      'joined_on', m.joined_on, 'left_on', m.left_on, 'left_reason', m.left_reason
    ) ORDER BY m.left_on, m.id), '[]'::json)
    FROM registry_member m WHERE m.household_id = h.id AND NOT m.active)""",
    "incomes": f"""(
    SELECT coalesce(json_agg({_object(INCOME_SQL_FIELDS)} ORDER BY i.year DESC), '[]'::json)
    FROM (SELECT DISTINCT ON (year) * FROM registry_household_income
          WHERE household_id = h.id ORDER BY year, version DESC) i)""",  # noqa: S608 - constants
    "workflow": f"""(
    SELECT coalesce(json_agg(json_build_object(
      'seq', e.seq, 'command', e.command, 'at', {_t("e.at")}, 'actor', e.actor, 'role', e.role,
      'reason', e.reason, 'data', e.data, 'status_after', e.status_after, 'batch_id', e.batch_id
    ) ORDER BY e.seq), '[]'::json)
    FROM registry_workflow_event e WHERE e.household_id = h.id)""",  # noqa: S608 - constants
    "flags_detail": f"""(
    SELECT coalesce(json_agg(json_build_object(
      'id', f.id, 'code', f.code, 'detail', f.detail, 'raised_at', {_t("f.raised_at")},
      'cleared_at', {_t("f.cleared_at")}, 'cleared_by', f.cleared_by, 'clear_reason', f.clear_reason
    ) ORDER BY f.id), '[]'::json)
    FROM registry_household_flag f WHERE f.household_id = h.id)""",  # noqa: S608 - constants
    "membership_changes": f"""(
    SELECT coalesce(json_agg(json_build_object(
      'person_id', c.person_id, 'kind', c.kind, 'from_household_id', c.from_household_id,
      'to_household_id', c.to_household_id, 'at', {_t("c.at")}, 'actor', c.actor, 'reason', c.reason
    ) ORDER BY c.id), '[]'::json)
    FROM registry_membership_change c WHERE c.from_household_id = h.id OR c.to_household_id = h.id)""",  # noqa: S608 - constants
    "pairings": """(
    SELECT coalesce(json_agg(json_build_object(
      'id', p.id, 'cadre_id', p.cadre_id, 'cadre_name', c.name, 'position_level', c.position_level,
      'position', c.position, 'cadre_phone', c.phone_masked, 'unit_id', p.unit_id, 'unit_name', u.name,
      'role', p.role, 'valid_from', p.valid_from, 'valid_to', p.valid_to, 'end_reason', p.end_reason
    ) ORDER BY p.valid_from, p.row_id), '[]'::json)
    FROM registry_pairing p JOIN registry_cadre c ON c.id = p.cadre_id
    JOIN registry_helping_unit u ON u.id = p.unit_id
    WHERE p.household_id = h.id AND p.superseded_at IS NULL)""",
}


def card_object(keys: Sequence[str] | None = None, extra: Mapping[str, str] | None = None) -> str:
    """`json_build_object` of the card fragments `keys` (default: the whole card), then `extra` (key -> SQL,
    e.g. an export's selected members), over `h` and `v`."""
    fields = dict(CARD_FIELDS)
    names = list(CARD_FIELDS) if keys is None else list(keys)
    for key, sql in (extra or {}).items():
        fields[key] = sql
        names.append(key)
    return _object(fields, names)


#: The whole card as one JSON object.
CARD_OBJECT = card_object()


def card_statement(where: str, *, columns: str = "::text AS card, h.version") -> str:
    """The card SELECT for the households matching `where` (over `h`, the household, and `v`, its village).

    `columns` follows the card expression: by default the JSON as text and the version (one household); the
    phone download asks for `::json AS card, h.id` (many at once).
    """
    return (
        f"SELECT ({CARD_OBJECT}){columns}\n"
        "FROM registry_household h JOIN registry_region v ON v.code = h.village_code\n"
        f"WHERE {where}"
    )


#: The card of one household in the caller's region subtree (`:prefix` the region prefix + '%').
_CARD = sa.text(card_statement("h.id = :id AND h.village_code LIKE :prefix"))
#: The card for a cadre: any household they are or were paired with (read-only for past pairings).
_CADRE_CARD = sa.text(
    card_statement(
        "h.id = :id"
        " AND EXISTS (SELECT 1 FROM registry_pairing p JOIN registry_cadre c ON c.id = p.cadre_id"
        " WHERE p.household_id = h.id AND p.superseded_at IS NULL AND c.user_sub = :sub)"
    )
)


@dataclass(frozen=True, slots=True)
class HouseholdSecrets:
    """The encrypted contact data of a household (decrypted only for an audited unmasked read)."""

    contact_phone_enc: str | None
    bank_account_enc: str | None


@dataclass(frozen=True, slots=True)
class MemberSecrets:
    """The encrypted personal data of one active member."""

    id: uuid.UUID
    id_number_enc: str | None
    phone_enc: str | None


def _conflict(exc: IntegrityError) -> Refused:
    """The rule a unique index enforced (invariant 2: one person, one household; invariant 4: one head)."""
    text = str(exc.orig)
    if "ux_registry_member_active_person" in text:
        return Refused(
            "person_already_member",
            "a person with this resident ID number is already an active member of a household "
            "(one person, one household: move the member instead)",
        )
    if "national_household_code" in text:
        return Refused(
            "national_household_code_taken", "national_household_code is already used by another household"
        )
    if "ux_registry_member_one_head" in text:
        return Refused("head_exists", "the household already has a head")
    return Refused("conflict", "the change conflicts with existing data")


# == the list: columns, orders and their keyset cursors ===========================================================
_LIST_COLUMNS: dict[str, Any] = {name: getattr(Household, name) for name in LIST_FIELDS}
_SORT_FIELD = {
    SortKey.village: "village_code",
    SortKey.head_name: "head_name",
    SortKey.income: "per_capita_net_income",
    SortKey.updated: "updated_at",
}
_SORT_TYPES: dict[SortKey, tuple[type[Any], ...]] = {
    SortKey.village: (str, uuid.UUID),
    SortKey.head_name: (str, uuid.UUID),
    SortKey.income: (Decimal, uuid.UUID),
    SortKey.updated: (datetime, uuid.UUID),
}


_UUID = UUID(as_uuid=True)


def _decodes(cursor: str, sort: SortKey) -> bool:
    try:
        decode_cursor(cursor, sort.value, _SORT_TYPES[sort])
    except BadRequest:
        return False
    return True


def _after(sort: SortKey, cursor: str) -> tuple[CursorValue, ...]:
    """The sort key a list cursor continues after; a cursor of another order says so (400 either way)."""
    try:
        return decode_cursor(cursor, sort.value, _SORT_TYPES[sort])
    except BadRequest as exc:
        if any(_decodes(cursor, other) for other in SortKey if other is not sort):
            raise BadRequest(
                "invalid cursor: it continues another sort order", code="cursor_invalid"
            ) from exc
        raise


class HouseholdRepository:
    """The household tables (registry_household, _member, _household_flag, _household_income,
    _membership_change) and the reads of regions and populations that statistics need."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _scope(self) -> sa.ColumnElement[bool]:
        return household_scope(self.ctx.principal, today=self.ctx.today)

    @staticmethod
    def _fresh(query: SelectOfScalar[_Row]) -> SelectOfScalar[_Row]:
        return query.execution_options(populate_existing=True)

    @contextlib.asynccontextmanager
    async def _guarded(self) -> AsyncIterator[None]:
        """A savepoint whose unique-index violations become the domain refusal they stand for."""
        try:
            async with self.session.begin_nested():
                yield
        except IntegrityError as exc:
            raise _conflict(exc) from exc

    # -- households ------------------------------------------------------------------------------------------
    async def lock(self, household_id: uuid.UUID) -> Household | None:
        """The household in scope, locked for the rest of the transaction (every write starts here)."""
        query = select(Household).where(col(Household.id) == household_id, self._scope()).with_for_update()
        return (await self.session.exec(self._fresh(query))).first()

    async def get(self, household_id: uuid.UUID) -> Household:
        """A household already found in scope (and locked) in this transaction."""
        query = select(Household).where(col(Household.id) == household_id)
        return (await self.session.exec(self._fresh(query))).one()

    async def region_exists(self, code: str) -> bool:
        query = select(Region.code).where(col(Region.code) == code)
        return (await self.session.exec(query)).first() is not None

    async def insert(self, values: Mapping[str, Any], members: Sequence[Mapping[str, Any]] = ()) -> None:
        """A new household with its first members (one savepoint: a refused member refuses the household)."""
        async with self._guarded():
            await self.session.exec(sa.insert(Household).values(**values))
            if members:
                await self.session.exec(sa.insert(Member), params=list(members))

    async def update(
        self, household_id: uuid.UUID, values: Mapping[str, Any], *, guarded: bool = False
    ) -> None:
        statement = sa.update(Household).where(col(Household.id) == household_id).values(**values)
        if guarded:
            async with self._guarded():
                await self.session.exec(statement)
        else:
            await self.session.exec(statement)

    async def save_derived(self, household_id: uuid.UUID, values: Mapping[str, Any], *, bump: bool) -> int:
        """Write recomputed fields (and the next version when `bump`); the household's version after it."""
        changes = dict(values)
        if bump:
            changes["version"] = col(Household.version) + 1
        statement = (
            sa.update(Household)
            .where(col(Household.id) == household_id)
            .values(**changes)
            .returning(col(Household.version))
        )
        return int((await self.session.exec(statement)).scalar_one())

    async def dissolve(self, household_id: uuid.UUID) -> None:
        await self.update(
            household_id,
            {
                "status": HouseholdStatus.dissolved.value,
                "household_size": 0,
                "labor_count": 0,
                "has_labor_capacity": False,
            },
        )

    # -- relocation (易地扶贫搬迁) ---------------------------------------------------------------------------------
    async def relocate(
        self,
        household_id: uuid.UUID,
        village_code: str,
        *,
        natural_village: str | None,
        villager_group: str | None,
    ) -> int:
        """The household now lives in `village_code` (the change feed trigger sees the old and new village);
        its version is bumped. Returns the new version."""
        statement = (
            sa.update(Household)
            .where(col(Household.id) == household_id)
            .values(
                village_code=village_code,
                natural_village=natural_village,
                villager_group=villager_group,
                version=col(Household.version) + 1,
                updated_at=self.ctx.now,
                updated_by=self.ctx.principal.sub,
            )
            .returning(col(Household.version))
        )
        return int((await self.session.exec(statement)).scalar_one())

    async def active_pairings(self, household_id: uuid.UUID, on: date) -> int:
        """Current pairings of the household valid on `on` (they are kept through a relocation)."""
        query = select(sa.func.count()).where(
            col(Pairing.household_id) == household_id,
            col(Pairing.superseded_at).is_(None),
            col(Pairing.valid_from) <= on,
            sa.or_(col(Pairing.valid_to).is_(None), col(Pairing.valid_to) > on),
        )
        return int((await self.session.exec(query)).one())

    async def append_history_event(
        self,
        household_id: uuid.UUID,
        command: str,
        *,
        reason: str | None,
        data: Mapping[str, Any],
        status: str,
    ) -> None:
        """A history-only row of the household's workflow events (its status unchanged), numbered after the last."""
        last = (
            await self.session.exec(
                select(sa.func.max(WorkflowEvent.seq)).where(col(WorkflowEvent.household_id) == household_id)
            )
        ).one()
        await self.session.exec(
            sa.insert(WorkflowEvent).values(
                household_id=household_id,
                seq=int(last or 0) + 1,
                command=command,
                at=self.ctx.now,
                actor=self.ctx.principal.sub,
                role=self.ctx.principal.role.value,
                reason=reason,
                data=dict(data),
                status_after=status,
                request_id=self.ctx.request_id,
            )
        )

    # -- members ---------------------------------------------------------------------------------------------
    async def members(self, household_id: uuid.UUID, *, active_only: bool = False) -> list[Member]:
        query = select(Member).where(col(Member.household_id) == household_id)
        if active_only:
            query = query.where(col(Member.active))
        query = query.order_by(col(Member.joined_on), col(Member.id))
        return list((await self.session.exec(self._fresh(query))).all())

    async def active_member(self, household_id: uuid.UUID, member_id: uuid.UUID) -> Member | None:
        query = select(Member).where(
            col(Member.id) == member_id, col(Member.household_id) == household_id, col(Member.active)
        )
        return (await self.session.exec(self._fresh(query))).first()

    async def add_member(self, values: Mapping[str, Any], *, guarded: bool = True) -> None:
        statement = sa.insert(Member).values(**values)
        if guarded:
            async with self._guarded():
                await self.session.exec(statement)
        else:
            await self.session.exec(statement)

    async def active_memberships(self, id_indexes: Sequence[str]) -> dict[str, bool]:
        """For each of `id_indexes` (blind indexes) that is an active member of a household: whether that
        household lies in the caller's scope. Issue #14 item 8: a conflict outside it is answered without
        revealing it."""
        if not id_indexes:
            return {}
        query = (
            select(Member.id_number_index, self._scope())
            .join(Household, col(Household.id) == col(Member.household_id))
            .where(col(Member.id_number_index).in_(list(id_indexes)), col(Member.active))
        )
        return {str(index): bool(visible) for index, visible in (await self.session.exec(query)).all()}

    async def update_member(
        self, member_id: uuid.UUID, values: Mapping[str, Any], *, guarded: bool = False
    ) -> None:
        statement = sa.update(Member).where(col(Member.id) == member_id).values(**values)
        if guarded:
            async with self._guarded():
                await self.session.exec(statement)
        else:
            await self.session.exec(statement)

    async def end_membership(self, member_id: uuid.UUID, *, on: date, reason: str) -> None:
        await self.update_member(
            member_id, {"active": False, "left_on": on, "left_reason": reason, "updated_at": self.ctx.now}
        )

    async def hand_over_head(
        self, household_id: uuid.UUID, new_head: uuid.UUID, former_head_relation: str
    ) -> None:
        """The active head takes `former_head_relation`, then `new_head` becomes head (the one-head index holds)."""
        await self.session.exec(
            sa.update(Member)
            .where(
                col(Member.household_id) == household_id, col(Member.active), col(Member.relation) == "head"
            )
            .values(relation=former_head_relation, updated_at=self.ctx.now)
        )
        await self.update_member(new_head, {"relation": "head", "updated_at": self.ctx.now})

    async def record_membership(self, changes: Sequence[Mapping[str, Any]]) -> None:
        """Append membership history (joined, left, split, merge, move), by the caller, now."""
        if not changes:
            return
        rows = [{"at": self.ctx.now, "actor": self.ctx.principal.sub, **c} for c in changes]
        await self.session.exec(sa.insert(MembershipChange), params=rows)

    # -- flags -----------------------------------------------------------------------------------------------
    async def flag_codes_ever(self, household_id: uuid.UUID) -> set[str]:
        """Codes ever raised on the household, open or cleared (a cleared flag is not raised again)."""
        query = select(HouseholdFlag.code).where(col(HouseholdFlag.household_id) == household_id)
        return set((await self.session.exec(query)).all())

    async def add_flags(self, household_id: uuid.UUID, conditions: Mapping[str, Mapping[str, Any]]) -> None:
        rows = [
            {"household_id": household_id, "code": code, "detail": dict(detail), "raised_at": self.ctx.now}
            for code, detail in conditions.items()
        ]
        if rows:
            await self.session.exec(sa.insert(HouseholdFlag), params=rows)

    async def raise_flag(self, household_id: uuid.UUID, code: str, detail: Mapping[str, Any]) -> None:
        """Raise `code` unless it is open already (the partial unique index on open flags decides)."""
        await self.session.exec(
            pg_insert(HouseholdFlag)
            .values(household_id=household_id, code=code, detail=dict(detail), raised_at=self.ctx.now)
            .on_conflict_do_nothing(
                index_elements=["household_id", "code"], index_where=col(HouseholdFlag.cleared_at).is_(None)
            )
        )

    async def open_flag_codes(self, household_id: uuid.UUID) -> list[str]:
        query = (
            select(HouseholdFlag.code)
            .where(col(HouseholdFlag.household_id) == household_id, col(HouseholdFlag.cleared_at).is_(None))
            .order_by(col(HouseholdFlag.code))
        )
        return list((await self.session.exec(query)).all())

    async def clear_flag(self, household_id: uuid.UUID, flag_id: int, reason: str) -> str | None:
        """Clear an open flag of the household; its code, or None when there is no such open flag."""
        statement = (
            sa.update(HouseholdFlag)
            .where(
                col(HouseholdFlag.id) == flag_id,
                col(HouseholdFlag.household_id) == household_id,
                col(HouseholdFlag.cleared_at).is_(None),
            )
            .values(cleared_at=self.ctx.now, cleared_by=self.ctx.principal.sub, clear_reason=reason)
            .returning(col(HouseholdFlag.code))
        )
        code: str | None = (await self.session.exec(statement)).scalar_one_or_none()
        return code

    # -- incomes ---------------------------------------------------------------------------------------------
    async def latest_income_version(self, household_id: uuid.UUID, year: int) -> int:
        query = select(sa.func.max(HouseholdIncome.version)).where(
            col(HouseholdIncome.household_id) == household_id, col(HouseholdIncome.year) == year
        )
        return int((await self.session.exec(query)).one() or 0)

    async def add_income(self, values: Mapping[str, Any]) -> None:
        await self.session.exec(sa.insert(HouseholdIncome).values(**values))

    # -- the card --------------------------------------------------------------------------------------------
    async def card(self, household_id: uuid.UUID) -> tuple[str, int] | None:
        """The card JSON text and version of a household in scope (cadres: paired now or before)."""
        principal = self.ctx.principal
        if principal.role is Role.cadre:
            statement, params = _CADRE_CARD, {"id": household_id, "sub": principal.sub}
        else:
            statement, params = _CARD, {"id": household_id, "prefix": principal.prefix + "%"}
        row = (await execute(self.session, statement, params)).first()
        return None if row is None else (str(row[0]), int(row[1]))

    async def household_secrets(self, household_id: uuid.UUID) -> HouseholdSecrets:
        query = select(Household.contact_phone_enc, Household.bank_account_enc).where(
            col(Household.id) == household_id
        )
        phone, bank = (await self.session.exec(query)).one()
        return HouseholdSecrets(contact_phone_enc=phone, bank_account_enc=bank)

    async def member_secrets(self, household_id: uuid.UUID) -> list[MemberSecrets]:
        query = select(Member.id, Member.id_number_enc, Member.details).where(
            col(Member.household_id) == household_id, col(Member.active)
        )
        return [
            MemberSecrets(id=mid, id_number_enc=enc, phone_enc=(details or {}).get("phone_enc"))
            for mid, enc, details in (await self.session.exec(query)).all()
        ]

    # -- the list --------------------------------------------------------------------------------------------
    async def page(self, query: HouseholdQuery) -> ListPage:
        """One keyset page of the households in scope matching `query` (each order is served by an index)."""
        sort_field = _SORT_FIELD[query.sort]
        column = _LIST_COLUMNS[sort_field]
        selected = ["id", *[f for f in query.fields if f != "id"]]
        needed = list(dict.fromkeys([*selected, sort_field]))
        statement = sa.select(*[_LIST_COLUMNS[f].label(f) for f in needed]).where(self._scope())
        if query.region is not None:
            statement = statement.where(
                col(Household.village_code).startswith(scope_prefix(query.region), autoescape=True)
            )
        if query.statuses:
            plain = [s for s in query.statuses if s != "objection_pending"]
            conditions: list[Any] = []
            if plain:
                conditions.append(col(Household.status).in_(plain))
            if "objection_pending" in query.statuses:
                conditions.append(col(Household.objection_open))
            statement = statement.where(sa.or_(*conditions))
        if query.cause is not None:
            statement = statement.where(
                sa.or_(
                    col(Household.poverty_cause_primary) == query.cause,
                    sa.literal(query.cause) == sa.any_(col(Household.poverty_causes_other)),
                )
            )
        if query.attribute is not None:
            statement = statement.where(col(Household.poverty_attribute) == query.attribute)
        if query.income_min is not None:
            statement = statement.where(col(Household.per_capita_net_income) >= query.income_min)
        if query.income_max is not None:
            statement = statement.where(col(Household.per_capita_net_income) <= query.income_max)
        if query.name_prefix:
            statement = statement.where(
                col(Household.head_name).startswith(query.name_prefix, autoescape=True)
            )
        if query.flag is not None:
            statement = statement.where(sa.literal(query.flag) == sa.any_(col(Household.flags)))
        if query.year is not None:
            statement = statement.where(col(Household.identification_year) == query.year)
        if query.has_labor_capacity is not None:
            statement = statement.where(col(Household.has_labor_capacity) == query.has_labor_capacity)
        if query.returned is not None:
            statement = statement.where(col(Household.returned) == query.returned)
        if query.sort is SortKey.income:
            statement = statement.where(col(Household.per_capita_net_income).is_not(None))
        ident = col(Household.id)
        if query.cursor is not None:
            value, after_id = _after(query.sort, query.cursor)
            key = sa.tuple_(column, ident)
            after = sa.tuple_(sa.literal(value, column.type), sa.literal(after_id, _UUID))
            statement = statement.where(key < after if query.descending else key > after)
        order = [column.desc(), ident.desc()] if query.descending else [column, ident]
        rows = (
            (await execute(self.session, statement.order_by(*order).limit(query.limit + 1))).mappings().all()
        )
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        items: list[ListRow] = [{f: r[f] for f in selected} for r in rows]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = encode_cursor(query.sort.value, last[sort_field], last["id"])
        return ListPage(items, next_cursor)

    # -- statistics ------------------------------------------------------------------------------------------
    async def region(self, code: str) -> Region | None:
        """The region, if it lies in the caller's scope."""
        query = select(Region).where(
            col(Region.code) == code, scope_filter(self.ctx.principal, col(Region.code))
        )
        return (await self.session.exec(query)).first()

    async def child_regions(self, code: str) -> list[Region]:
        query = select(Region).where(col(Region.parent_code) == code).order_by(col(Region.code))
        return list((await self.session.exec(query)).all())

    async def village_tallies(self, prefix: str) -> list[VillageTally]:
        """Per village under `prefix`: poor, exited, in identification and returned households (and people)."""
        status = col(Household.status)
        size = col(Household.household_size)
        poor = status.in_([s.value for s in POOR_STATUSES])
        exited = status == Status.exited.value
        statement = (
            sa.select(
                col(Household.village_code),
                sa.func.count().filter(poor),
                sa.func.coalesce(sa.func.sum(size).filter(poor), 0),
                sa.func.count().filter(exited),
                sa.func.coalesce(sa.func.sum(size).filter(exited), 0),
                sa.func.count().filter(status.in_([s.value for s in IN_IDENTIFICATION])),
                sa.func.count().filter(col(Household.returned) & poor),
            )
            .where(col(Household.village_code).startswith(prefix, autoescape=True))
            .group_by(col(Household.village_code))
        )
        return [
            VillageTally(
                village_code=str(r[0]),
                poor_households=int(r[1]),
                poor_people=int(r[2]),
                exited_households=int(r[3]),
                exited_people=int(r[4]),
                in_identification_households=int(r[5]),
                returned_households=int(r[6]),
            )
            for r in (await execute(self.session, statement)).all()
        ]

    async def populations(self, prefix: str, year: int) -> dict[str, int]:
        """The recorded population of `year` of every region under `prefix`."""
        query = select(RegionPopulation.region_code, RegionPopulation.population).where(
            col(RegionPopulation.region_code).startswith(prefix, autoescape=True),
            col(RegionPopulation.year) == year,
        )
        return {code: population for code, population in (await self.session.exec(query)).all()}

    async def region_parents(self, prefix: str) -> list[tuple[str, str | None]]:
        """(code, parent code) of every region under `prefix`."""
        query = select(Region.code, Region.parent_code).where(
            col(Region.code).startswith(prefix, autoescape=True)
        )
        return [(code, parent) for code, parent in (await self.session.exec(query)).all()]

    # -- lookup by id (other services) -----------------------------------------------------------------------
    async def lookup(
        self, ids: Sequence[uuid.UUID], *, paired_with: str | None, limit: int
    ) -> list[HouseholdSummary]:
        """The households in scope among `ids` (all of them when empty), or only those the cadre whose login
        is `paired_with` is paired with today (their own scope: services/registry/scope.py); at most `limit`."""
        statement = sa.select(
            col(Household.id),
            col(Household.village_code),
            col(Household.status),
            col(Household.head_name),
            col(Household.household_size),
            col(Household.natural_village),
        ).where(self._scope())
        if ids:
            statement = statement.where(col(Household.id).in_(list(ids)))
        if paired_with is not None:
            cadre = Principal(sub=paired_with, role=Role.cadre, region=NATIONAL_CODE)
            statement = statement.where(household_scope(cadre, today=self.ctx.today))
        rows = (await execute(self.session, statement.order_by(col(Household.id)).limit(limit))).all()
        return [
            HouseholdSummary(
                id=i, village_code=v, status=s, head_name=h, household_size=n, natural_village=nv
            )
            for i, v, s, h, n, nv in rows
        ]
