"""Who may see and change which household, in one place (DOMAIN.md §1.4, invariants 32, 48, 49).

- Village officers act in their village, township officers in their township, county admins in their county:
  the region prefix of the token (`Principal.scope_filter`) bounds every query.
- Cadres read only the households they are paired with (`registry_pairing`, through the cadre whose `user_sub`
  is the caller): with an active pairing today, or read-only those they were paired with before.
- The province client reads its province; it never writes.
- Full ID numbers, phones and bank accounts are shown only on request (`unmask=true`) to the roles that need
  them, and every such read is audited.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from services.registry.models import cadre, household, pairing
from shared.db import scope_filter
from shared.problems import Forbidden, PreconditionFailed, PreconditionRequired
from shared.roles import Principal, Role

__all__ = [
    "CHINA_TODAY",
    "HOUSEHOLD_WRITERS",
    "UNMASK_ROLES",
    "etag",
    "household_scope",
    "paired_with",
    "parse_if_match",
    "require_unmask",
    "require_writer_role",
]

HOUSEHOLD_WRITERS = frozenset({Role.village_officer, Role.township_officer, Role.county_admin})
UNMASK_ROLES = frozenset({Role.county_admin, Role.province_system})


#: Today in China (pairings are valid by local date).
CHINA_TODAY = sa.text("(now() AT TIME ZONE 'Asia/Shanghai')::date")


def paired_with(principal: Principal, household_id: Any, *, active_only: bool) -> ColumnElement[bool]:
    """SQL predicate: the caller (a cadre) has a pairing with `household_id` (current, or ever)."""
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
        query = query.where(
            pairing.c.valid_from <= CHINA_TODAY,
            sa.or_(pairing.c.valid_to.is_(None), pairing.c.valid_to > CHINA_TODAY),
        )
    return sa.exists(query)


def household_scope(
    principal: Principal, table: sa.Table = household, *, include_past: bool = False
) -> ColumnElement[bool]:
    """SQL predicate: the households `principal` may read (cadres: paired today, or ever if `include_past`)."""
    if principal.role is Role.cadre:
        return paired_with(principal, table.c.id, active_only=not include_past)
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


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int:
    """The version a write is based on, from `If-Match: "<version>"` (428 when absent)."""
    if value is None or not value.strip():
        raise PreconditionRequired(
            'this write needs If-Match: "<version>" (the ETag of the household you read)'
        )
    tag = value.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    if not tag.isdigit() or len(tag) > 9:
        raise PreconditionFailed("If-Match must be the household's ETag, a quoted version number")
    return int(tag)


def stale(current: int, **extra: Any) -> PreconditionFailed:
    return PreconditionFailed(
        f"the household changed since you read it: current version is {current}",
        headers={"ETag": etag(current)},
        current_version=current,
        **extra,
    )
