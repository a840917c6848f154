"""Gateway API models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from shared.roles import Role
from shared.schemas import RegionCode, RequestModel, ResponseModel

__all__ = [
    "AuditEventPublic",
    "PasswordReset",
    "TokenResponse",
    "UserCreate",
    "UserPage",
    "UserPublic",
    "WhoAmI",
]

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
UserRole = Literal["county_admin", "township_officer", "village_officer", "cadre"]


class TokenResponse(ResponseModel):
    """OAuth 2.0 token response (RFC 6749 §5.1)."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int
    refresh_token: str | None = None
    scope: str | None = None


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
    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    region_code: str
    disabled: bool
    locked_until: datetime | None
    created_at: datetime
    updated_at: datetime


class UserPage(ResponseModel):
    items: list[UserPublic]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null at the end"
    )


class WhoAmI(ResponseModel):
    sub: str
    username: str | None
    role: Role
    region: str
    scope_prefix: str
    expires_at: int


class AuditEventPublic(ResponseModel):
    id: int
    at: datetime
    actor: str | None
    actor_role: str | None
    action: str
    target: str | None
    request_id: str | None
    detail: dict[str, object]
