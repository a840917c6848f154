"""Which households a caller may see, in SQL, in one place for every feature (DOMAIN.md §1.4, invariants 32, 48).

- Village officers act in their village, township officers in their township, county admins in their county:
  the region prefix of the token (`shared.db.scope_filter`) bounds every query.
- Cadres read only the households they are paired with (`registry_pairing`, through the cadre whose `user_sub`
  is the caller): with a pairing active on the request's date, or read-only those they were paired with before.
- The province client reads its province; it never writes (role rules: `households.domain`).

"Today" is always the request's China date from the app clock (`Context.today`), never the database's clock, so
that every rule of a request sees one day and tests can move the clock.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from services.registry.models import Cadre, Household, Pairing
from shared.db import scope_filter
from shared.roles import Principal, Role

__all__ = ["PAIRING_ACTIVE_SQL", "household_scope", "paired_with", "pairing_active_on"]


def pairing_active_on(day: Any) -> ColumnElement[bool]:
    """SQL: the current row of a pairing is valid on the China date `day` (valid_from <= day < valid_to).

    The one definition of "a pairing is active on day D" (DOMAIN.md §3.2; bitemporal: only rows not superseded
    count). `day` is a date (the request's `Context.today`) or a SQL expression; the pure form of the same rule is
    `pairing.domain.active_on`, and `PAIRING_ACTIVE_SQL` is its text for asyncpg fast paths.
    """
    when = sa.literal(day, sa.Date) if isinstance(day, date) else day
    return sa.and_(
        col(Pairing.superseded_at).is_(None),
        col(Pairing.valid_from) <= when,
        sa.or_(col(Pairing.valid_to).is_(None), col(Pairing.valid_to) > when),
    )


#: `pairing_active_on` as SQL text for plain asyncpg statements: format with the pairing alias and the day
#: parameter, e.g. `PAIRING_ACTIVE_SQL.format(p="p", day="$2")`.
PAIRING_ACTIVE_SQL = (
    "{p}.superseded_at IS NULL AND {p}.valid_from <= {day} AND ({p}.valid_to IS NULL OR {p}.valid_to > {day})"
)


def paired_with(
    principal: Principal, household_id: Any, *, active_only: bool, today: date
) -> ColumnElement[bool]:
    """SQL predicate: the caller (a cadre) has a pairing with `household_id` (active on `today`, or ever)."""
    query = (
        sa.select(sa.literal(1))
        .select_from(Pairing)
        .join(Cadre, col(Cadre.id) == col(Pairing.cadre_id))
        .where(
            col(Pairing.household_id) == household_id,
            col(Pairing.superseded_at).is_(None),
            col(Cadre.user_sub) == principal.sub,
        )
    )
    if active_only:
        query = query.where(pairing_active_on(today))
    return sa.exists(query)


def household_scope(principal: Principal, *, include_past: bool = False, today: date) -> ColumnElement[bool]:
    """SQL predicate: the households `principal` may read (cadres: paired on `today`, or ever if `include_past`)."""
    if principal.role is Role.cadre:
        return paired_with(principal, col(Household.id), active_only=not include_past, today=today)
    return scope_filter(principal, col(Household.village_code))
