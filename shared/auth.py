"""Who is calling, and what they may see: the principal, roles, and the region scope filter.

Every service route depends on `PrincipalDep` (directly or through `require_roles`), so no handler can skip
authentication; every query on a regional table goes through `Principal.scope_filter`, so none can forget the
scope. Identity headers sent by a client (X-User, X-Role, ...) are never read: identity comes only from a
verified token.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.elements import ColumnClause

from shared.jwt import InvalidToken, KeySet
from shared.problems import Forbidden, Unauthorized
from shared.regions import RegionLevel, in_scope, is_region_code, level_of, scope_prefix

__all__ = [
    "MANAGER_ROLES",
    "ROLE_LEVEL",
    "ROLE_RANK",
    "Principal",
    "PrincipalDep",
    "Role",
    "TokenAuthority",
    "bearer_token",
    "current_principal",
    "require_roles",
    "require_writer",
]


class Role(enum.StrEnum):
    """System roles (DOMAIN.md §1.4)."""

    county_admin = "county_admin"  # 县扶贫办: county poverty alleviation office
    township_officer = "township_officer"  # 乡镇扶贫专干: township specialist
    village_officer = "village_officer"  # 村两委 / 驻村工作队: village clerk or work team
    cadre = "cadre"  # 帮扶干部: responsible helper, sees paired households only
    province_system = "province_system"  # 省级系统: machine client, read-only
    service = "service"  # internal: one service calling another


#: Higher rank manages lower ranks (users may only create/disable/reset roles strictly below their own).
ROLE_RANK: dict[Role, int] = {
    Role.county_admin: 40,
    Role.township_officer: 30,
    Role.village_officer: 20,
    Role.cadre: 10,
    Role.province_system: 0,
    Role.service: 0,
}

#: Roles that administer users in their subtree.
MANAGER_ROLES = frozenset({Role.county_admin, Role.township_officer})

#: The level of region each role is bound to (None: any level).
ROLE_LEVEL: dict[Role, RegionLevel | None] = {
    Role.county_admin: RegionLevel.county,
    Role.township_officer: RegionLevel.township,
    Role.village_officer: RegionLevel.village,
    Role.cadre: None,
    Role.province_system: RegionLevel.province,
    Role.service: RegionLevel.national,
}

_READ_ONLY = frozenset({Role.province_system})


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller: subject, role, and the region their scope is rooted at."""

    sub: str
    role: Role
    region: str
    jti: str
    issued_at: int
    expires_at: int
    username: str | None = None

    @property
    def prefix(self) -> str:
        """Every region code inside the caller's scope starts with this."""
        return scope_prefix(self.region)

    @property
    def level(self) -> RegionLevel:
        return level_of(self.region)

    @property
    def read_only(self) -> bool:
        return self.role in _READ_ONLY

    def covers(self, region_code: str) -> bool:
        """True when `region_code` lies inside the caller's scope."""
        return in_scope(self.region, region_code)

    def scope_filter(self, column: ColumnClause[Any] | Any) -> ColumnElement[bool]:
        """SQL predicate restricting `column` (a region-code column, collation "C") to the caller's scope.

        A prefix LIKE on a "C"-collated column is served by a plain btree index.
        """
        prefix = self.prefix
        if not prefix:
            return column.is_not(None)
        return column.startswith(prefix, autoescape=True)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> Principal:
        try:
            role = Role(claims["role"])
        except (KeyError, ValueError) as exc:
            raise InvalidToken("token has no valid role") from exc
        region = claims.get("region")
        if not isinstance(region, str) or not is_region_code(region):
            raise InvalidToken("token has no valid region")
        return cls(
            sub=claims["sub"],
            role=role,
            region=region,
            jti=str(claims.get("jti")),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            username=claims.get("preferred_username"),
        )


class TokenAuthority:
    """Verifies bearer tokens for one audience against the JWKS it holds.

    A token that verified is remembered (by its exact string) until it expires, so the RSA signature and the
    claims are checked once per token rather than once per request; expiry is re-checked on every hit, and
    revocation is checked per request by the caller. The cache is dropped whenever the key set changes.
    """

    CACHE_SIZE = 10_000

    def __init__(self, keys: KeySet, *, audience: str, issuer: str) -> None:
        self._keys = keys
        self.audience = audience
        self.issuer = issuer
        self._verified: dict[str, Principal] = {}

    @property
    def keys(self) -> KeySet:
        return self._keys

    @keys.setter
    def keys(self, keys: KeySet) -> None:
        self._keys = keys
        self._verified = {}

    def authenticate(self, token: str) -> Principal:
        principal = self._verified.get(token)
        if principal is not None:
            if principal.expires_at > time.time():
                return principal
            del self._verified[token]
            raise Unauthorized("token expired")
        try:
            claims = self.keys.verify(token, audience=self.audience, issuer=self.issuer)
            principal = Principal.from_claims(claims)
        except InvalidToken as exc:
            raise Unauthorized(str(exc)) from exc
        if len(self._verified) >= self.CACHE_SIZE:
            self._verified.clear()  # simple bound; a full cache refills within one token lifetime
        self._verified[token] = principal
        return principal


def bearer_token(request: Request) -> str:
    """The bearer token of the request, or 401 with a `WWW-Authenticate` challenge."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized()
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("expected 'Authorization: Bearer <token>'")
    return token.strip()


# Async on purpose: a sync dependency costs a threadpool hop (~0.2 ms) on every request.
async def _current_principal(request: Request) -> Principal:
    authority: TokenAuthority = request.app.state.token_authority
    principal = authority.authenticate(bearer_token(request))
    extra_check: Callable[[Principal], Awaitable[None]] | None = getattr(
        request.app.state, "principal_check", None
    )
    if extra_check is not None:
        await extra_check(principal)
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(_current_principal)]
#: The same check for plain Starlette routes (hot paths that skip FastAPI's dependency solving).
current_principal = _current_principal


def require_roles(*roles: Role) -> Any:
    """Dependency: the caller must hold one of `roles` (403 otherwise)."""
    allowed = frozenset(roles)

    async def _check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            raise Forbidden(f"role '{principal.role}' may not do this")
        return principal

    return Depends(_check)


async def _writer(principal: PrincipalDep) -> Principal:
    if principal.read_only:
        raise Forbidden(f"role '{principal.role}' is read-only")
    return principal


#: Dependency for mutating routes: any authenticated role except the read-only ones.
require_writer = Depends(_writer)
