"""Reading households: the full card (扶贫手册 view), list/search with keyset pages, counts and incidence.

The card is built by PostgreSQL in one statement (`CARD_SQL`) and sent as the bytes it returns: one round trip
and no per-row Python objects. Personal data in it is already masked (masks are stored beside the ciphertexts);
`unmask` decrypts in Python for the roles allowed to, and the read is audited.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.households.fast import card_statement
from services.registry.legacy_context import Context, audit
from services.registry.models import audit_event, household, member, region_population
from services.registry.models import region_table as Region_
from services.registry.scope import household_scope
from shared.db import execute, scope_filter
from shared.problems import BadRequest, NotFound, UnprocessableEntity
from shared.roles import Principal, Role, in_scope, scope_prefix

__all__ = [
    "CARD_SQL",
    "LIST_FIELDS",
    "POOR_STATUSES",
    "HouseholdQueries",
    "SortKey",
    "decode_cursor",
    "encode_cursor",
]

#: Registered and not yet exited: the poor population counted in incidence.
POOR_STATUSES = (
    "registered",
    "exit_proposed",
    "exit_first_notice",
    "exit_township_reviewed",
    "exit_second_notice",
    "exit_county_reviewed",
)
IN_IDENTIFICATION = (
    "applied",
    "return_applied",
    "village_reviewed",
    "first_notice",
    "township_reviewed",
    "second_notice",
    "county_reviewed",
)

#: The whole card in one statement (households/fast.py); `:id` the household, `:prefix` the region prefix + '%'.
CARD_SQL = card_statement("h.id = :id AND h.village_code LIKE :prefix")
#: The card for a cadre: any household they are or were paired with (read-only for past pairings).
CARD_SQL_CADRE = card_statement(
    "h.id = :id AND h.village_code LIKE :prefix"
    " AND EXISTS (SELECT 1 FROM registry_pairing p JOIN registry_cadre c ON c.id = p.cadre_id"
    " WHERE p.household_id = h.id AND p.superseded_at IS NULL AND c.user_sub = :sub)"
)
_CARD_STATEMENT = sa.text(CARD_SQL)
_CADRE_STATEMENT = sa.text(CARD_SQL_CADRE)


class SortKey(enum.StrEnum):
    """List orders; each is served by an index (keyset pages stay as fast at depth 100 000 as on page 1)."""

    village = "village"  # village code, then id
    head_name = "head_name"
    income = "income"  # per-capita net income (households with an income record only)
    updated = "updated"


_SORT_COLUMN = {
    SortKey.village: household.c.village_code,
    SortKey.head_name: household.c.head_name,
    SortKey.income: household.c.per_capita_net_income,
    SortKey.updated: household.c.updated_at,
}

#: Fields a list item may carry (`fields=` selects a subset; `id` is always included).
LIST_FIELDS = {
    "id": household.c.id,
    "village_code": household.c.village_code,
    "natural_village": household.c.natural_village,
    "status": household.c.status,
    "objection_open": household.c.objection_open,
    "returned": household.c.returned,
    "identification_year": household.c.identification_year,
    "head_name": household.c.head_name,
    "household_size": household.c.household_size,
    "labor_count": household.c.labor_count,
    "has_labor_capacity": household.c.has_labor_capacity,
    "poverty_cause_primary": household.c.poverty_cause_primary,
    "poverty_causes_other": household.c.poverty_causes_other,
    "poverty_attribute": household.c.poverty_attribute,
    "dangerous_house_grade": household.c.dangerous_house_grade,
    "income_year": household.c.income_year,
    "per_capita_net_income": household.c.per_capita_net_income,
    "flags": household.c.flags,
    "version": household.c.version,
    "updated_at": household.c.updated_at,
}


def encode_cursor(sort: SortKey, value: Any, ident: uuid.UUID) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, Decimal):
        value = str(value)
    raw = json.dumps([str(sort), value, str(ident)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(sort: SortKey, cursor: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        kind, value, ident = json.loads(raw)
        if kind != sort:
            raise ValueError("cursor belongs to another sort order")
        if sort is SortKey.income:
            value = Decimal(value)
        elif sort is SortKey.updated:
            value = datetime.fromisoformat(value)
        elif not isinstance(value, str):
            raise ValueError("bad cursor value")
        return value, uuid.UUID(ident)
    except (ValueError, TypeError, AttributeError, ArithmeticError, binascii.Error) as exc:
        raise BadRequest(f"invalid cursor: {exc}") from exc


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class HouseholdQueries:
    def __init__(self, session: AsyncSession, principal: Principal) -> None:
        self.session = session
        self.principal = principal

    async def card(self, household_id: uuid.UUID) -> tuple[str, int]:
        """The card JSON text and version; 404 when missing or out of scope."""
        if self.principal.role is Role.cadre:
            statement, params = (
                _CADRE_STATEMENT,
                {"id": household_id, "prefix": "%", "sub": self.principal.sub},
            )
        else:
            statement, params = _CARD_STATEMENT, {"id": household_id, "prefix": self.principal.prefix + "%"}
        row = (await execute(self.session, statement, params=params)).first()
        if row is None:
            raise NotFound(f"household {household_id} not found")
        return row[0], row[1]

    async def unmasked(self, ctx: Context, household_id: uuid.UUID, card_text: str) -> dict[str, Any]:
        """The card with personal data decrypted; the read is audited (invariant 49)."""
        card: dict[str, Any] = json.loads(card_text)
        hh = (
            (
                await execute(
                    self.session,
                    sa.select(household.c.contact_phone_enc, household.c.bank_account_enc).where(
                        household.c.id == household_id
                    ),
                )
            )
            .mappings()
            .one()
        )
        cipher = ctx.cipher
        if hh["contact_phone_enc"]:
            card["contact_phone"] = cipher.decrypt(
                hh["contact_phone_enc"], context=f"household:{household_id}:phone"
            )
        if hh["bank_account_enc"]:
            card["bank_account"] = cipher.decrypt(
                hh["bank_account_enc"], context=f"household:{household_id}:bank_account"
            )
        rows = (
            await execute(
                self.session,
                sa.select(member.c.id, member.c.id_number_enc, member.c.details).where(
                    member.c.household_id == household_id, member.c.active
                ),
            )
        ).all()
        secrets = {r[0]: r for r in rows}
        for m in card["members"]:
            row = secrets.get(uuid.UUID(m["id"]))
            if row is None:
                continue
            if row[1]:
                m["resident_id_number"] = cipher.decrypt(row[1], context=f"member:{row[0]}:id_number")
            phone = (row[2] or {}).get("phone_enc")
            if phone:
                m["phone"] = cipher.decrypt(phone, context=f"member:{row[0]}:phone")
        await audit(
            ctx,
            "pii.read",
            record_type="household",
            record_id=household_id,
            household_id=household_id,
            detail={"fields": ["resident_id_number", "phone", "bank_account"], "members": len(rows)},
        )
        card["unmasked"] = True
        return card

    async def page(
        self,
        *,
        region: str | None,
        statuses: Sequence[str],
        cause: str | None,
        attribute: str | None,
        income_min: Decimal | None,
        income_max: Decimal | None,
        name_prefix: str | None,
        flag: str | None,
        year: int | None,
        has_labor_capacity: bool | None,
        returned: bool | None,
        sort: SortKey,
        descending: bool,
        cursor: str | None,
        limit: int,
        fields: Sequence[str],
    ) -> tuple[list[dict[str, Any]], str | None]:
        column = _SORT_COLUMN[sort]
        selected = ["id", *[f for f in fields if f != "id"]]
        needed = list(dict.fromkeys([*selected, _sort_field(sort)]))
        query = sa.select(*[LIST_FIELDS[f].label(f) for f in needed]).where(household_scope(self.principal))
        if region is not None:
            if self.principal.role is not Role.service and not (
                in_scope(self.principal.region, region) or in_scope(region, self.principal.region)
            ):
                return [], None
            query = query.where(household.c.village_code.startswith(scope_prefix(region), autoescape=True))
        if statuses:
            plain = [s for s in statuses if s != "objection_pending"]
            conditions: list[Any] = []
            if plain:
                conditions.append(household.c.status.in_(plain))
            if "objection_pending" in statuses:
                conditions.append(household.c.objection_open)
            query = query.where(sa.or_(*conditions))
        if cause is not None:
            query = query.where(
                sa.or_(
                    household.c.poverty_cause_primary == cause,
                    sa.literal(cause) == sa.any_(household.c.poverty_causes_other),
                )
            )
        if attribute is not None:
            query = query.where(household.c.poverty_attribute == attribute)
        if income_min is not None:
            query = query.where(household.c.per_capita_net_income >= income_min)
        if income_max is not None:
            query = query.where(household.c.per_capita_net_income <= income_max)
        if name_prefix:
            query = query.where(household.c.head_name.startswith(name_prefix, autoescape=True))
        if flag is not None:
            query = query.where(sa.literal(flag) == sa.any_(household.c.flags))
        if year is not None:
            query = query.where(household.c.identification_year == year)
        if has_labor_capacity is not None:
            query = query.where(household.c.has_labor_capacity == has_labor_capacity)
        if returned is not None:
            query = query.where(household.c.returned == returned)
        if sort is SortKey.income:
            query = query.where(household.c.per_capita_net_income.is_not(None))
        if cursor is not None:
            value, ident = decode_cursor(sort, cursor)
            key = sa.tuple_(column, household.c.id)
            after = sa.tuple_(sa.literal(value, column.type), sa.literal(ident, household.c.id.type))
            query = query.where(key < after if descending else key > after)
        order = [column.desc(), household.c.id.desc()] if descending else [column, household.c.id]
        rows = (await execute(self.session, query.order_by(*order).limit(limit + 1))).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [{f: _jsonable(r[f]) for f in selected} for r in rows]
        next_cursor = None
        if more and rows:
            last = rows[-1]
            next_cursor = encode_cursor(sort, last[_sort_field(sort)], last["id"])
        return items, next_cursor

    async def stats(self, region_code: str, year: int) -> dict[str, Any]:
        """Counts and poverty incidence for a region and each of its child regions, from the records."""
        if self.principal.role is Role.cadre:
            raise NotFound(f"region {region_code} not found")
        region = (
            await execute(
                self.session,
                sa.select(Region_.c.code, Region_.c.name, Region_.c.level).where(
                    Region_.c.code == region_code, scope_filter(self.principal, Region_.c.code)
                ),
            )
        ).first()
        if region is None:
            raise NotFound(f"region {region_code} not found")
        children = (
            await execute(
                self.session,
                sa.select(Region_.c.code, Region_.c.name, Region_.c.level)
                .where(Region_.c.parent_code == region_code)
                .order_by(Region_.c.code),
            )
        ).all()
        prefix = scope_prefix(region_code)
        poor = household.c.status.in_(POOR_STATUSES)
        by_village = (
            await execute(
                self.session,
                sa.select(
                    household.c.village_code,
                    sa.func.count().filter(poor),
                    sa.func.coalesce(sa.func.sum(household.c.household_size).filter(poor), 0),
                    sa.func.count().filter(household.c.status == "exited"),
                    sa.func.coalesce(
                        sa.func.sum(household.c.household_size).filter(household.c.status == "exited"), 0
                    ),
                    sa.func.count().filter(household.c.status.in_(IN_IDENTIFICATION)),
                    sa.func.count().filter(household.c.returned & poor),
                )
                .where(household.c.village_code.startswith(prefix, autoescape=True))
                .group_by(household.c.village_code),
            )
        ).all()
        population: dict[str, int] = {
            r[0]: r[1]
            for r in (
                await execute(
                    self.session,
                    sa.select(region_population.c.region_code, region_population.c.population).where(
                        region_population.c.region_code.startswith(prefix, autoescape=True),
                        region_population.c.year == year,
                    ),
                )
            ).all()
        }
        tree: dict[str, list[str]] = {}
        for code, parent in (
            await execute(
                self.session,
                sa.select(Region_.c.code, Region_.c.parent_code).where(
                    Region_.c.code.startswith(prefix, autoescape=True)
                ),
            )
        ).all():
            tree.setdefault(parent, []).append(code)

        def population_of(code: str) -> int | None:
            """The region's own figure, else the sum of its children's (each counted once), else None."""
            if code in population:
                return population[code]
            below = [p for p in (population_of(c) for c in tree.get(code, [])) if p is not None]
            return sum(below) if below else None

        def summary(code: str, name: str, level: str) -> dict[str, Any]:
            p = scope_prefix(code)
            rows = [r for r in by_village if r[0].startswith(p)]
            poor_households = sum(r[1] for r in rows)
            poor_people = sum(int(r[2]) for r in rows)
            pop = population_of(code)
            incidence = None
            if pop:
                incidence = str(
                    (Decimal(poor_people) * 100 / pop).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                )
            return {
                "region_code": code,
                "name": name,
                "level": level,
                "poor_households": poor_households,
                "poor_people": poor_people,
                "exited_households": sum(r[3] for r in rows),
                "exited_people": sum(int(r[4]) for r in rows),
                "in_identification_households": sum(r[5] for r in rows),
                "returned_households": sum(r[6] for r in rows),
                "population": pop,
                "incidence_percent": incidence,
            }

        return {
            "year": year,
            "region": summary(region[0], region[1], region[2]),
            "children": [summary(c[0], c[1], c[2]) for c in children],
            "note": "poor = registered and not yet exited; incidence = poor people / population x 100",
        }

    async def audit_page(
        self,
        *,
        record_id: str | None,
        household_id: uuid.UUID | None,
        actor: str | None,
        action: str | None,
        since: datetime | None,
        until: datetime | None,
        cursor: int | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int | None]:
        query = sa.select(audit_event).where(scope_filter(self.principal, audit_event.c.region_code))
        if record_id is not None:
            query = query.where(audit_event.c.record_id == record_id)
        if household_id is not None:
            query = query.where(audit_event.c.household_id == household_id)
        if actor is not None:
            query = query.where(audit_event.c.actor == actor)
        if action is not None:
            query = query.where(audit_event.c.action == action)
        if since is not None:
            query = query.where(audit_event.c.at >= since)
        if until is not None:
            query = query.where(audit_event.c.at < until)
        if since is not None and until is not None and until <= since:
            raise UnprocessableEntity("until must be after since", field="until")
        if cursor is not None:
            query = query.where(audit_event.c.id < cursor)
        rows = (
            (await execute(self.session, query.order_by(audit_event.c.id.desc()).limit(limit + 1)))
            .mappings()
            .all()
        )
        more = len(rows) > limit
        rows = rows[:limit]
        items = [{k: _jsonable(v) for k, v in r.items()} for r in rows]
        return items, (rows[-1]["id"] if more and rows else None)

    async def set_population(
        self, ctx: Context, region_code: str, year: int, population: int, households: int | None
    ) -> None:
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        exists = (
            await execute(
                self.session,
                sa.select(Region_.c.code).where(
                    Region_.c.code == region_code, scope_filter(self.principal, Region_.c.code)
                ),
            )
        ).first()
        if exists is None:
            raise NotFound(f"region {region_code} not found")
        stmt = pg_insert(region_population).values(
            region_code=region_code,
            year=year,
            population=population,
            households=households,
            updated_at=ctx.now,
            updated_by=self.principal.sub,
        )
        await execute(
            self.session,
            stmt.on_conflict_do_update(
                index_elements=["region_code", "year"],
                set_={
                    "population": stmt.excluded.population,
                    "households": stmt.excluded.households,
                    "updated_at": stmt.excluded.updated_at,
                    "updated_by": stmt.excluded.updated_by,
                },
            ),
        )
        await audit(
            ctx,
            "population.set",
            record_type="region",
            record_id=region_code,
            region_code=region_code,
            detail={"year": year, "population": population, "households": households},
        )


def _sort_field(sort: SortKey) -> str:
    return {
        SortKey.village: "village_code",
        SortKey.head_name: "head_name",
        SortKey.income: "per_capita_net_income",
        SortKey.updated: "updated_at",
    }[sort]
