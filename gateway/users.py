"""User administration: create, list, read, disable, enable, reset password; and the identity audit log.

An administrator acts only inside their own region subtree and only on roles strictly below their own
(county_admin > township_officer > village_officer > cadre). Users outside the subtree answer 404 exactly like
missing ones.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from gateway.deps import CallerDep, IdentityDep
from gateway.identity import audit
from gateway.models import GatewayAuditEvent, GatewayUser
from gateway.schemas import AuditEventPublic, PasswordReset, UserCreate, UserPage, UserPublic
from shared.clock import utcnow
from shared.db import SessionDep, scope_filter
from shared.problems import BadRequest, Conflict, Forbidden, NotFound, UnprocessableEntity
from shared.roles import (
    MANAGER_ROLES,
    ROLE_LEVEL,
    ROLE_RANK,
    Principal,
    Role,
    is_region_code,
    level_of,
    scope_prefix,
)

router = APIRouter(prefix="/users", tags=["users"])
audit_router = APIRouter(tags=["audit"])


async def _manager(caller: CallerDep) -> Principal:
    if caller.role not in MANAGER_ROLES:
        raise Forbidden(f"role '{caller.role}' does not administer users")
    return caller


ManagerDep = Annotated[Principal, Depends(_manager)]


def _public(user: GatewayUser) -> UserPublic:
    return UserPublic(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        region_code=user.region_code,
        disabled=user.disabled_at is not None,
        locked_until=user.locked_until,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


def _check_may_manage(manager: Principal, role: Role) -> None:
    if ROLE_RANK[role] >= ROLE_RANK[manager.role]:
        raise Forbidden(f"a {manager.role} may only manage roles below their own, not '{role}'")


async def _user_in_scope(
    session: SessionDep, manager: Principal, user_id: uuid.UUID, *, for_update: bool = False
) -> GatewayUser:
    """The user if inside the manager's subtree; 404 otherwise (out of scope looks like missing)."""
    query = select(GatewayUser).where(
        GatewayUser.id == user_id, scope_filter(manager, col(GatewayUser.region_code))
    )
    user = (await session.exec(query.with_for_update() if for_update else query)).first()
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def _managed_user(session: SessionDep, manager: Principal, user_id: uuid.UUID) -> GatewayUser:
    """The user, locked for change, if in scope and of a rank below the manager's."""
    user = await _user_in_scope(session, manager, user_id, for_update=True)
    _check_may_manage(manager, Role(user.role))
    return user


@router.post(
    "",
    status_code=201,
    response_model=UserPublic,
    summary="Create a user in your subtree",
    responses={403: {"description": "Role not below yours"}, 409: {"description": "Username taken"}},
)
async def create_user(
    payload: UserCreate, request: Request, session: SessionDep, manager: ManagerDep, identity: IdentityDep
) -> UserPublic:
    role = Role(payload.role)
    _check_may_manage(manager, role)
    if not is_region_code(payload.region_code):
        raise UnprocessableEntity("region_code is not a valid statistical division code", field="region_code")
    if not manager.covers(payload.region_code):
        raise Forbidden("region_code lies outside your region")
    expected = ROLE_LEVEL[role]
    if expected is not None and level_of(payload.region_code) != expected:
        raise UnprocessableEntity(f"a {role} must be bound to a {expected}-level region", field="region_code")
    user = GatewayUser(
        username=payload.username,
        display_name=payload.display_name,
        password_hash=await identity.passwords.hash(payload.password),
        role=role,
        region_code=payload.region_code,
        created_by=uuid.UUID(manager.sub) if _is_uuid(manager.sub) else None,
    )
    session.add(user)
    await audit(
        session,
        "user_created",
        actor=manager,
        target=f"user:{user.id}",
        request_id=request.state.request_id,
        role=str(role),
        region_code=payload.region_code,
        username=payload.username,
    )
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"username '{payload.username}' is taken") from exc
    return _public(user)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _decode_cursor(cursor: str) -> str:
    try:
        raw = base64.b64decode(cursor.encode(), altchars=b"-_", validate=True)
        return raw.decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("invalid cursor") from exc


@router.get("", response_model=UserPage, summary="List users in your subtree (keyset pages by username)")
async def list_users(
    session: SessionDep,
    manager: ManagerDep,
    role: Role | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
    include_disabled: bool = True,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> UserPage:
    query = select(GatewayUser).where(scope_filter(manager, col(GatewayUser.region_code)))
    if role is not None:
        query = query.where(GatewayUser.role == role)
    if region_code is not None:
        query = query.where(
            col(GatewayUser.region_code).startswith(scope_prefix(region_code), autoescape=True)
        )
    if not include_disabled:
        query = query.where(col(GatewayUser.disabled_at).is_(None))
    if cursor:
        query = query.where(col(GatewayUser.username) > _decode_cursor(cursor))
    rows = list((await session.exec(query.order_by(col(GatewayUser.username)).limit(limit + 1))).all())
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = base64.urlsafe_b64encode(rows[-1].username.encode()).decode()
    return UserPage(items=[_public(u) for u in rows], next_cursor=next_cursor)


@router.get("/{user_id}", response_model=UserPublic, summary="One user of your subtree")
async def get_user(user_id: uuid.UUID, session: SessionDep, manager: ManagerDep) -> UserPublic:
    return _public(await _user_in_scope(session, manager, user_id))


@router.post(
    "/{user_id}/disable", response_model=UserPublic, summary="Disable a user and revoke their tokens"
)
async def disable_user(
    user_id: uuid.UUID, request: Request, session: SessionDep, manager: ManagerDep, identity: IdentityDep
) -> UserPublic:
    user = await _managed_user(session, manager, user_id)
    if user.disabled_at is None:
        user.disabled_at = utcnow()
        user.updated_at = utcnow()
        await identity.revoke_user_tokens(session, user)
        await audit(
            session,
            "user_disabled",
            actor=manager,
            target=f"user:{user.id}",
            request_id=request.state.request_id,
        )
        await session.commit()
    identity.revocations.revoke_subject(str(user.id), float("inf"))
    return _public(user)


@router.post("/{user_id}/enable", response_model=UserPublic, summary="Re-enable a disabled user")
async def enable_user(
    user_id: uuid.UUID, request: Request, session: SessionDep, manager: ManagerDep, identity: IdentityDep
) -> UserPublic:
    user = await _managed_user(session, manager, user_id)
    if user.disabled_at is not None:
        user.disabled_at = None
        user.failed_logins = 0
        user.locked_until = None
        user.updated_at = utcnow()
        await audit(
            session,
            "user_enabled",
            actor=manager,
            target=f"user:{user.id}",
            request_id=request.state.request_id,
        )
        await session.commit()
        # Tokens issued before the disable stay dead: not_before is the disable's revocation time.
        not_before = user.tokens_not_before.timestamp() if user.tokens_not_before else 0.0
        identity.revocations.set_subject(str(user.id), not_before)
    return _public(user)


@router.post(
    "/{user_id}/reset-password",
    response_model=UserPublic,
    summary="Set a new password, unlock, and revoke existing tokens",
)
async def reset_password(
    user_id: uuid.UUID,
    payload: PasswordReset,
    request: Request,
    session: SessionDep,
    manager: ManagerDep,
    identity: IdentityDep,
) -> UserPublic:
    user = await _managed_user(session, manager, user_id)
    user.password_hash = await identity.passwords.hash(payload.new_password)
    user.failed_logins = 0
    user.locked_until = None
    user.updated_at = utcnow()
    await identity.revoke_user_tokens(session, user)
    await audit(
        session,
        "password_reset",
        actor=manager,
        target=f"user:{user.id}",
        request_id=request.state.request_id,
    )
    await session.commit()
    if user.disabled_at is None and user.tokens_not_before is not None:
        identity.revocations.revoke_subject(str(user.id), user.tokens_not_before.timestamp())
    return _public(user)


@audit_router.get(
    "/audit",
    response_model=list[AuditEventPublic],
    summary="Identity audit events (county admins; newest first, keyset by id)",
)
async def list_audit(
    session: SessionDep,
    caller: CallerDep,
    target: Annotated[str | None, Query(max_length=128)] = None,
    actor: Annotated[str | None, Query(max_length=64)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEventPublic]:
    if caller.role is not Role.county_admin:
        raise Forbidden("only county administrators read the identity audit log")
    # Scope: events about users of the caller's subtree, or done by them.
    in_scope_users = select(sa.cast(GatewayUser.id, sa.String)).where(
        scope_filter(caller, col(GatewayUser.region_code))
    )
    query = select(GatewayAuditEvent).where(
        sa.or_(
            col(GatewayAuditEvent.actor).in_(in_scope_users),
            sa.func.replace(col(GatewayAuditEvent.target), "user:", "").in_(in_scope_users),
        )
    )
    if target:
        query = query.where(GatewayAuditEvent.target == target)
    if actor:
        query = query.where(GatewayAuditEvent.actor == actor)
    if since:
        query = query.where(col(GatewayAuditEvent.at) >= since)
    if until:
        query = query.where(col(GatewayAuditEvent.at) < until)
    if before_id:
        query = query.where(col(GatewayAuditEvent.id) < before_id)
    rows = (await session.exec(query.order_by(col(GatewayAuditEvent.id).desc()).limit(limit))).all()
    return [AuditEventPublic.model_validate(r) for r in rows]
