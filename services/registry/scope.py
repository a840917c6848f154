"""Who may see and change which household, in one place for every feature (DOMAIN.md §1.4, invariants 32, 48, 49).

- Village officers act in their village, township officers in their township, county admins in their county:
  the region prefix of the token (`Principal.scope_filter`) bounds every query.
- Cadres read only the households they are paired with (`registry_pairing`, through the cadre whose `user_sub`
  is the caller): with an active pairing today, or read-only those they were paired with before.
- The province client reads its province; it never writes.
- Full ID numbers, phones and bank accounts are shown only on request (`unmask=true`) to the roles that need
  them, and every such read is audited.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from services.registry.models import cadre, household, pairing
from shared.db import scope_filter
from shared.problems import Forbidden
from shared.roles import Principal, Role

__all__ = [
    "CHINA_TODAY",
    "HOUSEHOLD_WRITERS",
    "PAIRING_ACTIVE_SQL",
    "UNMASK_ROLES",
    "household_scope",
    "paired_with",
    "pairing_active_on",
    "require_unmask",
    "require_writer_role",
]

HOUSEHOLD_WRITERS = frozenset({Role.village_officer, Role.township_officer, Role.county_admin})
UNMASK_ROLES = frozenset({Role.county_admin, Role.province_system})


#: Today in China (pairings are valid by local date).
CHINA_TODAY = sa.text("(now() AT TIME ZONE 'Asia/Shanghai')::date")


def pairing_active_on(day: Any, table: sa.Table = pairing) -> ColumnElement[bool]:
    """SQL: the current row of a pairing is valid on the China date `day` (valid_from <= day < valid_to).

    The one definition of "a pairing is active on day D" (DOMAIN.md §3.2; bitemporal: only rows not superseded
    count). `day` is a date (the request's `Context.today`) or a SQL expression; the pure form of the same rule is
    `pairing.domain.active_on`, and `PAIRING_ACTIVE_SQL` is its text for asyncpg fast paths.
    """
    when = sa.literal(day, sa.Date) if isinstance(day, date) else day
    return sa.and_(
        table.c.superseded_at.is_(None),
        table.c.valid_from <= when,
        sa.or_(table.c.valid_to.is_(None), table.c.valid_to > when),
    )


#: `pairing_active_on` as SQL text for plain asyncpg statements: format with the pairing alias and the day
#: parameter, e.g. `PAIRING_ACTIVE_SQL.format(p="p", day="$2")`.
PAIRING_ACTIVE_SQL = (
    "{p}.superseded_at IS NULL AND {p}.valid_from <= {day} AND ({p}.valid_to IS NULL OR {p}.valid_to > {day})"
)


def paired_with(
    principal: Principal, household_id: Any, *, active_only: bool, today: date | None = None
) -> ColumnElement[bool]:
    """SQL predicate: the caller (a cadre) has a pairing with `household_id` (active on `today`, or ever)."""
    query = (
        sa.select(sa.literal(1))
        .select_from(pairing.join(cadre, cadre.c.id == pairing.c.cadre_id))
        .where(
            pairing.c.household_id == household_id,
            pairing.c.superseded_at.is_(None),
            cadre.c.user_sub == principal.sub,
        )
    )
    if active_only:
        query = query.where(pairing_active_on(CHINA_TODAY if today is None else today))
    return sa.exists(query)


def household_scope(
    principal: Principal,
    table: sa.Table = household,
    *,
    include_past: bool = False,
    today: date | None = None,
) -> ColumnElement[bool]:
    """SQL predicate: the households `principal` may read (cadres: paired on `today`, or ever if `include_past`).

    `today` is the request's China date from the app clock (`Context.today`); None (being phased out) falls back
    to the database's clock.
    """
    if principal.role is Role.cadre:
        return paired_with(principal, table.c.id, active_only=not include_past, today=today)
    return scope_filter(principal, table.c.village_code)


def require_writer_role(principal: Principal) -> None:
    if principal.role not in HOUSEHOLD_WRITERS:
        raise Forbidden(f"role '{principal.role}' may not change households")


def require_unmask(principal: Principal) -> None:
    if principal.role not in UNMASK_ROLES:
        raise Forbidden(
            f"role '{principal.role}' sees personal data masked; unmasked values are for "
            + " and ".join(sorted(UNMASK_ROLES))
        )
