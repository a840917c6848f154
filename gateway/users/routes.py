"""Routes of user administration (用户管理) and of the identity audit log.

An administrator acts only inside their own region subtree and only on roles strictly below their own
(county_admin > township_officer > village_officer > cadre). Users outside the subtree answer 404 exactly like
missing ones.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Query, Response

from gateway.deps import IdentityDep, ManagerContextDep, ReadCallerContextDep, ReadManagerContextDep
from gateway.users.schemas import AuditEventPublic, PasswordReset, UserCreate, UserPublic
from gateway.users.service import IdentityAuditService, UserService
from shared.pagination import Page
from shared.roles import Role
from shared.routing import APIRouter
from shared.schemas import QueryDatetime

router = APIRouter(prefix="/users", tags=["users"])
audit_router = APIRouter(tags=["audit"])

_MANAGED: dict[int | str, dict[str, Any]] = {
    403: {"description": "Not a user administrator, or the user's role is not below yours"},
    404: {"description": "No such user in your subtree"},
}


@router.post(
    "",
    status_code=201,
    response_model=UserPublic,
    summary="Create a user in your subtree",
    responses={403: {"description": "Role not below yours"}, 409: {"description": "Username taken"}},
)
async def create_user(
    payload: UserCreate, ctx: ManagerContextDep, identity: IdentityDep, response: Response
) -> UserPublic:
    """Create a user in your region subtree with a role below yours (用户管理); `Location` is the user."""
    user = await UserService(ctx, identity).create(payload)
    response.headers["Location"] = f"/users/{user.id}"
    return user


@router.get(
    "",
    response_model=Page[UserPublic],
    responses={403: {"description": "Not a user administrator"}},
    summary="List users in your subtree (keyset pages by username)",
)
async def list_users(
    ctx: ReadManagerContextDep,
    identity: IdentityDep,
    role: Role | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    include_disabled: bool = True,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Page[UserPublic]:
    """The users of your region subtree, by username (keyset pages)."""
    return await UserService(ctx, identity).page(
        role=role, region_code=region_code, include_disabled=include_disabled, cursor=cursor, limit=limit
    )


@router.get("/{user_id}", response_model=UserPublic, responses=_MANAGED, summary="One user of your subtree")
async def get_user(user_id: uuid.UUID, ctx: ReadManagerContextDep, identity: IdentityDep) -> UserPublic:
    """One user of your region subtree."""
    return await UserService(ctx, identity).get(user_id)


@router.post(
    "/{user_id}/disable",
    response_model=UserPublic,
    responses=_MANAGED,
    summary="Disable a user and revoke their tokens",
)
async def disable_user(user_id: uuid.UUID, ctx: ManagerContextDep, identity: IdentityDep) -> UserPublic:
    """Disable a user and revoke their tokens."""
    return await UserService(ctx, identity).disable(user_id)


@router.post(
    "/{user_id}/enable", response_model=UserPublic, responses=_MANAGED, summary="Re-enable a disabled user"
)
async def enable_user(user_id: uuid.UUID, ctx: ManagerContextDep, identity: IdentityDep) -> UserPublic:
    """Re-enable a disabled user."""
    return await UserService(ctx, identity).enable(user_id)


@router.post(
    "/{user_id}/reset-password",
    response_model=UserPublic,
    responses=_MANAGED,
    summary="Set a new password, unlock, and revoke existing tokens",
)
async def reset_password(
    user_id: uuid.UUID, payload: PasswordReset, ctx: ManagerContextDep, identity: IdentityDep
) -> UserPublic:
    """Set a new password, unlock the account and revoke existing tokens."""
    return await UserService(ctx, identity).reset_password(user_id, payload)


@audit_router.get(
    "/audit",
    response_model=list[AuditEventPublic],
    responses={403: {"description": "Only county administrators read the identity audit log"}},
    summary="Identity audit events (county admins; newest first, keyset by id)",
)
async def list_identity_audit(
    ctx: ReadCallerContextDep,
    target: Annotated[str | None, Query(max_length=128)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    since: QueryDatetime | None = None,
    until: QueryDatetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEventPublic]:
    """Identity audit events (登录与用户管理审计): logins, token refreshes, user changes; newest first (county
    administrators)."""
    return await IdentityAuditService(ctx).events(
        target=target, actor=actor, since=since, until=until, before_id=before_id, limit=limit
    )
