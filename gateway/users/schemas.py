"""API models of user administration (用户管理) and the identity audit log (身份审计日志)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from shared.roles import Role
from shared.schemas import RegionCode, RequestModel, ResponseModel

__all__ = [
    "USERNAME_ORDER",
    "AuditEventPublic",
    "PasswordReset",
    "UserCreate",
    "UserPublic",
    "UserRole",
]

#: The keyset ordering of user lists (the `kind` of their cursors, `shared.pagination`).
USERNAME_ORDER = "users.username"

Username = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$"),
    # Logins ignore case, so usernames are stored lower-case; fold before the pattern is checked.
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
    Field(
        description="3-64 characters: lower-case letters, digits, '.', '_' or '-'", examples=["cadre.wang"]
    ),
]
Password = Annotated[str, Field(min_length=10, max_length=256, description="At least 10 characters")]
#: The roles a person's account may hold (machine clients are configured, not created here).
UserRole = Literal["county_admin", "township_officer", "village_officer", "cadre"]


class UserCreate(RequestModel):
    username: Username
    display_name: Annotated[str, Field(min_length=1, max_length=128)]
    password: Password
    role: UserRole = Field(
        description="county_admin 县扶贫办 / township_officer 乡镇专干 / village_officer 村两委 / cadre 帮扶干部"
    )
    region_code: RegionCode


class PasswordReset(RequestModel):
    new_password: Password


class UserPublic(ResponseModel):
    """A user as administrators see them (never the password hash)."""

    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    region_code: str
    disabled: bool
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime


class AuditEventPublic(ResponseModel):
    """One identity event (登录、锁定、用户变更)."""

    id: int
    at: datetime
    actor: str | None
    actor_role: str | None
    action: str
    target: str | None
    request_id: str | None
    detail: dict[str, object]
