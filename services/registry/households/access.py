"""Who may see and change which household, in one place (DOMAIN.md §1.4, invariants 32, 48, 49).

- Village officers act in their village, township officers in their township, county admins in their county:
  the region prefix of the token (`Principal.scope_filter`) bounds every query.
- Cadres read only the households they are paired with. Pairing arrives with issue #4; until then a cadre's
  household scope is empty.
- The province client reads its province; it never writes.
- Full ID numbers, phones and bank accounts are shown only on request (`unmask=true`) to the roles that need
  them, and every such read is audited.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from services.registry.models import household
from shared.auth import Principal, Role
from shared.problems import Forbidden, PreconditionFailed, PreconditionRequired

__all__ = [
    "HOUSEHOLD_WRITERS",
    "UNMASK_ROLES",
    "etag",
    "household_scope",
    "parse_if_match",
    "require_unmask",
    "require_writer_role",
]

HOUSEHOLD_WRITERS = frozenset({Role.village_officer, Role.township_officer, Role.county_admin})
UNMASK_ROLES = frozenset({Role.county_admin, Role.province_system})


def household_scope(principal: Principal, table: sa.Table = household) -> ColumnElement[bool]:
    """SQL predicate: the households `principal` may read."""
    if principal.role is Role.cadre:
        return sa.false()  # until pairings exist (issue #4), a cadre is paired with nobody
    return principal.scope_filter(table.c.village_code)


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
