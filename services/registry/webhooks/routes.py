"""Webhook routes (变更推送, issue #15): `POST /webhooks` (201, the secret shown once), `GET /webhooks`,
`GET|PATCH|DELETE /webhooks/{webhook_id}`, `POST /webhooks/{webhook_id}/rotate-secret`,
`POST /webhooks/{webhook_id}/replay`, `GET /webhooks/{webhook_id}/deliveries`. A subscription is its owner's:
anyone else gets 404, as for one that does not exist."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response

from services.registry.webhooks.schemas import (
    DEFAULT_PAGE,
    MAX_PAGE,
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookPublic,
    WebhookReplay,
    WebhookSecret,
    WebhookUpdate,
)
from services.registry.webhooks.service import WebhookService
from shared.context import Context, ContextDep, ReadContextDep
from shared.pagination import MAX_CURSOR_LENGTH
from shared.problems import AppError
from shared.routing import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

WebhookId = Annotated[uuid.UUID, Path(description="The subscription's id")]
Cursor = Annotated[
    str | None, Query(max_length=MAX_CURSOR_LENGTH, description="`next_cursor` of the last page")
]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
_MISSING: dict[int | str, dict[str, Any]] = {404: {"description": "No such subscription of yours"}}
#: The answers of a change to a subscription: not a subscribing role, or not one of yours.
_WRITE: dict[int | str, dict[str, Any]] = {
    **_MISSING,
    403: {"description": "Not a province system or county admin (`webhook_not_allowed`)"},
}


class NotConfigured(AppError):
    status, slug, title = 503, "service-unavailable", "Not configured"


def _service(ctx: Context, request: Request) -> WebhookService:
    key = request.app.state.settings.webhook_signing_key()
    if key is None:
        raise NotConfigured(
            "webhooks are not configured on this installation (REGISTRY_WEBHOOK_KEY)",
            code="webhooks_not_configured",
        )
    return WebhookService(ctx, key)


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    summary="Subscribe a URL to the change feed of your region: signed deliveries, the secret shown once",
    responses={
        403: {"description": "Not a province system or county admin (`webhook_not_allowed`)"},
        404: {"description": "The region is not in your scope"},
        422: {
            "description": "Not an https URL (`invalid_webhook_url`), a malformed cursor (`invalid_cursor`)"
        },
    },
)
async def create_webhook(
    body: WebhookCreate, ctx: ContextDep, request: Request, response: Response
) -> WebhookCreated:
    """The feed of `types` in `region` (default: yours) is POSTed to `url` page by page, from `after` (default:
    now), each delivery signed as Standard Webhooks says (`webhook-id`, `webhook-timestamp`,
    `webhook-signature`). Keep `secret`: it is never shown again."""
    created = await _service(ctx, request).create(body, request.app.state.read_pool)
    response.headers["Location"] = f"/webhooks/{created.id}"
    return created


@router.get("", response_model=WebhookPage, summary="Your subscriptions, newest first")
async def list_webhooks(
    ctx: ReadContextDep, request: Request, cursor: Cursor = None, limit: Limit = DEFAULT_PAGE
) -> WebhookPage:
    """The subscriptions your login made (keyset pages: `cursor`, `limit`), with status, URL, types, region and
    the feed cursor delivered up to; never their secrets."""
    return await _service(ctx, request).page(cursor, limit)


@router.get("/{webhook_id}", response_model=WebhookPublic, summary="One subscription", responses=_MISSING)
async def get_webhook(webhook_id: WebhookId, ctx: ReadContextDep, request: Request) -> WebhookPublic:
    """One subscription of yours: status (with the reason when `failing`), URL, types, region, cursor and the
    next attempt; never its secret. Another login's subscription answers 404, as a missing one."""
    return await _service(ctx, request).get(webhook_id)


@router.patch(
    "/{webhook_id}",
    response_model=WebhookPublic,
    summary="Pause or resume a subscription, change its URL or types",
    responses={**_WRITE, 422: {"description": "Not an https URL (`invalid_webhook_url`)"}},
)
async def update_webhook(
    webhook_id: WebhookId, body: WebhookUpdate, ctx: ContextDep, request: Request
) -> WebhookPublic:
    """`status=paused` stops deliveries; `status=active` resumes them (also after `failing`), starting with the
    delivery that was pending."""
    return await _service(ctx, request).update(webhook_id, body)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    response_model=None,
    summary="Delete a subscription and its deliveries",
    responses=_WRITE,
)
async def delete_webhook(webhook_id: WebhookId, ctx: ContextDep, request: Request) -> Response:
    """The subscription and its deliveries are deleted: nothing more is sent (a POST in flight may still land)."""
    await _service(ctx, request).delete(webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookSecret,
    summary="A new signing secret (shown once); for a day, deliveries are signed with both",
    responses=_WRITE,
)
async def rotate_secret(webhook_id: WebhookId, ctx: ContextDep, request: Request) -> WebhookSecret:
    """A new secret (the next generation, derived, never stored), shown once; for a day deliveries carry a
    signature by the old secret too, so the receiver can switch without losing a delivery."""
    return await _service(ctx, request).rotate(webhook_id)


@router.post(
    "/{webhook_id}/replay",
    response_model=WebhookPublic,
    summary="Deliver again every change after a cursor",
    responses={**_WRITE, 422: {"description": "A malformed cursor (`invalid_cursor`)"}},
)
async def replay_webhook(
    webhook_id: WebhookId, body: WebhookReplay, ctx: ContextDep, request: Request
) -> WebhookPublic:
    """The subscription goes back to `after` (a delivery's `cursor`, an export's `X-Feed-Cursor`): the delivery
    pending is superseded and the changes after `after` are delivered again, in order."""
    return await _service(ctx, request).replay(webhook_id, body)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=DeliveryPage,
    summary="A subscription's deliveries, newest first: attempts, status codes, next attempt",
    responses=_MISSING,
)
async def list_deliveries(
    webhook_id: WebhookId,
    ctx: ReadContextDep,
    request: Request,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_PAGE,
) -> DeliveryPage:
    """Each delivery: its feed cursor range, status (pending, delivered, superseded), every attempt (time, status
    code or error, duration) and the next attempt; delivered ones are kept 30 days."""
    return await _service(ctx, request).deliveries(webhook_id, cursor, limit)
