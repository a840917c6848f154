"""Who is calling: bearer tokens verified into a `shared.roles.Principal`, and the role checks routes declare.

Every service route depends on `PrincipalDep` (directly or through `require_roles`), so no handler can skip
authentication; every query on a regional table goes through `shared.db.scope_filter`, so none can forget the
scope. Identity headers sent by a client (X-User, X-Role, ...) are never read: identity comes only from a
verified token, and a token the gateway revoked (logout, disabled user) is refused here too once the service's
revocation follower has seen it (shared/revocations.py).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from shared.jwt import InvalidToken, KeySet
from shared.problems import Forbidden, Unauthorized
from shared.revocations import RevocationList
from shared.roles import Principal, Role, is_region_code

__all__ = [
    "PrincipalDep",
    "TokenAuthority",
    "WriterDep",
    "bearer_token",
    "current_principal",
    "principal_from_claims",
    "require_roles",
    "require_writer",
]


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """The caller named by verified token claims; `InvalidToken` when the role or region is missing or wrong."""
    try:
        role = Role(claims["role"])
    except (KeyError, ValueError) as exc:
        raise InvalidToken("token has no valid role") from exc
    region = claims.get("region")
    if not isinstance(region, str) or not is_region_code(region):
        raise InvalidToken("token has no valid region")
    sid = claims.get("sid")
    return Principal(
        sub=claims["sub"],
        role=role,
        region=region,
        jti=str(claims.get("jti")),
        issued_at=int(claims["iat"]),
        expires_at=int(claims["exp"]),
        username=claims.get("preferred_username"),
        sid=sid if isinstance(sid, str) else None,
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
            principal = principal_from_claims(claims)
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
    # The gateway's revocation list, when the service follows it (shared/revocations.py): dictionary lookups.
    revocations: RevocationList | None = getattr(request.app.state, "revocations", None)
    if revocations is not None:
        revocations.check(principal)
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
#: The same, as a parameter: the caller, refused with 403 when their role only reads.
WriterDep = Annotated[Principal, Depends(_writer)]
