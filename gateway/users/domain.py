"""The rules of user administration (用户管理) at the gateway: who may manage whom, where a new user may be placed,
and who reads the identity audit log. Pure: standard library and `shared.roles` / `shared.errors` only.

Checkable against:
- DOMAIN.md §1.4: scope is always "region subtree ∩ role". Users are administered by county administrators
  (县扶贫办) and township officers (乡镇扶贫专干), inside their own subtree, and only for roles strictly below their
  own rank (county_admin > township_officer > village_officer > cadre), so nobody grants what they do not hold.
- DOMAIN.md §1.1: a region is named by its 12-digit statistical division code; each role is bound to a region of
  its level (a township officer to a township, a village officer to a village; a cadre to any level).
- DOMAIN.md invariant 48: every query is filtered by the caller's region (the repository applies it: users outside
  the subtree answer 404 exactly like missing ones).
- DOMAIN.md invariant 50: the audit log is append-only (a trigger refuses UPDATE and DELETE) and is read by county
  administrators.
"""

from __future__ import annotations

import uuid

from shared.errors import Invalid, NotAllowed
from shared.roles import MANAGER_ROLES, ROLE_LEVEL, ROLE_RANK, Principal, Role, is_region_code, level_of

__all__ = [
    "AUDIT_READERS",
    "check_new_user",
    "creator_id",
    "require_audit_reader",
    "require_manager",
    "require_rank_below",
]

#: The roles that read the identity audit log.
AUDIT_READERS: frozenset[Role] = frozenset({Role.county_admin})


def require_manager(principal: Principal) -> None:
    """Only managers (county administrators, township officers) administer users."""
    if principal.role not in MANAGER_ROLES:
        raise NotAllowed("not_a_manager", f"role '{principal.role}' does not administer users")


def require_rank_below(manager: Principal, role: Role) -> None:
    """A manager creates, disables, enables and resets only roles strictly below their own."""
    if ROLE_RANK[role] >= ROLE_RANK[manager.role]:
        raise NotAllowed(
            "rank_not_below", f"a {manager.role} may only manage roles below their own, not '{role}'"
        )


def check_new_user(manager: Principal, role: Role, region_code: str) -> None:
    """A new user's role is below the manager's, and their region is a valid code, inside the manager's subtree,
    at the level the role is bound to (checked in that order)."""
    require_rank_below(manager, role)
    if not is_region_code(region_code):
        raise Invalid(
            "region_code_invalid", "region_code is not a valid statistical division code", field="region_code"
        )
    if not manager.covers(region_code):
        raise NotAllowed("region_outside_scope", "region_code lies outside your region")
    expected = ROLE_LEVEL[role]
    if expected is not None and level_of(region_code) != expected:
        raise Invalid(
            "region_level_mismatch",
            f"a {role} must be bound to a {expected}-level region",
            field="region_code",
        )


def creator_id(manager: Principal) -> uuid.UUID | None:
    """The user id of the manager who creates a user (None when the caller is not a user, e.g. a machine client)."""
    try:
        return uuid.UUID(manager.sub)
    except ValueError:
        return None


def require_audit_reader(principal: Principal) -> None:
    """Only county administrators read the identity audit log."""
    if principal.role not in AUDIT_READERS:
        raise NotAllowed("audit_reader_required", "only county administrators read the identity audit log")
