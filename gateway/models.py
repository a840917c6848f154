"""Gateway tables: users, machine clients, refresh-token families, revoked access tokens, login throttles, audit."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from shared.clock import utcnow
from shared.db import CODE_COLLATION

__all__ = [
    "GatewayAuditEvent",
    "GatewayUser",
    "LoginThrottle",
    "RefreshToken",
    "RevokedAccessToken",
    "ServiceClient",
]


def _ts(nullable: bool = False, **kw: Any) -> Any:
    return Field(default=None, sa_type=sa.DateTime(timezone=True), nullable=nullable, **kw)


class GatewayUser(SQLModel, table=True):
    __tablename__ = "gateway_user"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    display_name: str = Field(max_length=128)
    password_hash: str
    role: str = Field(max_length=32)
    region_code: str = Field(sa_type=sa.String(12, collation=CODE_COLLATION), index=True)
    failed_logins: int = 0
    locked_until: datetime | None = _ts(nullable=True)
    disabled_at: datetime | None = _ts(nullable=True)
    tokens_not_before: datetime | None = _ts(nullable=True)
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class ServiceClient(SQLModel, table=True):
    """A machine client using the client-credentials grant (province systems, internal services)."""

    __tablename__ = "gateway_client"

    client_id: str = Field(primary_key=True, max_length=64)
    secret_hash: str
    role: str = Field(max_length=32)
    region_code: str = Field(sa_type=sa.String(12, collation=CODE_COLLATION))
    description: str = Field(default="", max_length=256)
    disabled_at: datetime | None = _ts(nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))


class RefreshToken(SQLModel, table=True):
    """One refresh token; tokens rotated from one login share a family, revoked together on reuse."""

    __tablename__ = "gateway_refresh_token"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    family_id: uuid.UUID = Field(index=True)
    user_id: uuid.UUID = Field(foreign_key="gateway_user.id", index=True)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    issued_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True))
    rotated_at: datetime | None = _ts(nullable=True)
    #: Indexed: the revocation list reads the families revoked in the last access-token lifetime.
    revoked_at: datetime | None = _ts(nullable=True, index=True)


class RevokedAccessToken(SQLModel, table=True):
    """Access tokens revoked before expiry (logout); rows are useless after `expires_at`."""

    __tablename__ = "gateway_revoked_access_token"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=sa.DateTime(timezone=True), index=True)


class LoginThrottle(SQLModel, table=True):
    """Failed logins of one account (`user:<username>` or `client:<client_id>`) from one client address: enough in
    a row lock that pair, and only that pair, for LOGIN_LOCKOUT_SECONDS. A success deletes the row."""

    __tablename__ = "gateway_login_throttle"

    account: str = Field(primary_key=True, max_length=80)
    address: str = Field(primary_key=True, max_length=64)
    failed_logins: int = 0
    locked_until: datetime | None = _ts(nullable=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)


class GatewayAuditEvent(SQLModel, table=True):
    """Append-only record of identity events (logins, user administration)."""

    __tablename__ = "gateway_audit_event"

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.BigInteger)
    at: datetime = Field(default_factory=utcnow, sa_type=sa.DateTime(timezone=True), index=True)
    actor: str | None = Field(default=None, max_length=64)
    actor_role: str | None = Field(default=None, max_length=32)
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=128, index=True)
    request_id: str | None = Field(default=None, max_length=128)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONB)
