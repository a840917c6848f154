"""Webhook use cases for requests: subscribe (the secret shown once), list, read, change (pause, resume, URL,
types), delete, rotate the secret, replay from a cursor, list deliveries. No SQL (webhooks/repository.py) and no
commit (the request's unit of work)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.registry.changes.schemas import decode_position
from services.registry.models import Webhook, WebhookDelivery
from services.registry.webhooks import domain
from services.registry.webhooks.domain import DeliveryStatus, WebhookStatus
from services.registry.webhooks.repository import WebhookRepository, feed_head_cursor
from services.registry.webhooks.schemas import (
    DeliveryAttempt,
    DeliveryPage,
    DeliveryPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookPublic,
    WebhookReplay,
    WebhookSecret,
    WebhookUpdate,
)
from shared.context import Context
from shared.errors import DomainError
from shared.pagination import decode_cursor, encode_cursor
from shared.problems import NotFound, from_domain

__all__ = ["WebhookService", "delivery_public", "public"]


def public(webhook: Webhook) -> WebhookPublic:
    return WebhookPublic(
        id=webhook.id,
        url=webhook.url,
        types=webhook.types,
        region=webhook.region_code,
        status=WebhookStatus(webhook.status),
        status_reason=webhook.status_reason,
        cursor=webhook.cursor,
        next_attempt_at=webhook.next_attempt_at,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
    )


def delivery_public(delivery: WebhookDelivery) -> DeliveryPublic:
    pending = delivery.status == DeliveryStatus.pending.value
    return DeliveryPublic(
        id=domain.message_id(delivery.id),
        cursor=delivery.cursor,
        next_cursor=delivery.next_cursor,
        item_count=delivery.item_count,
        status=DeliveryStatus(delivery.status),
        attempts=[DeliveryAttempt.model_validate(a) for a in delivery.attempts],
        next_attempt_at=delivery.next_attempt_at if pending else None,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


def _checked(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except DomainError as exc:
        raise from_domain(exc) from None


def _keyset(cursor: str | None, kind: str) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    at, last = decode_cursor(cursor, kind, (datetime, uuid.UUID))
    assert isinstance(at, datetime) and isinstance(last, uuid.UUID)
    return at, last


class WebhookService:
    """`key` is the registry's webhook key (settings `webhook_signing_key()`): secrets are derived from it."""

    def __init__(self, ctx: Context, key: bytes) -> None:
        self.ctx = ctx
        self.key = key
        self.repo = WebhookRepository(ctx)

    def _secret(self, webhook: Webhook) -> str:
        return domain.secret_text(domain.derive_secret(self.key, webhook.id, webhook.generation))

    async def create(self, request: WebhookCreate, read_pool: Any) -> WebhookCreated:
        principal = self.ctx.principal
        _checked(domain.check_owner, principal.role)
        url = _checked(domain.check_url, request.url)
        types = _checked(domain.check_types, [t.value for t in request.types])
        region = request.region or principal.region
        if not region.startswith(principal.prefix):
            raise NotFound(f"region {region} not found")
        if request.after is not None:
            cursor = request.after
            _checked(decode_position, cursor)
        else:
            cursor = await feed_head_cursor(read_pool)
        now = self.ctx.now
        webhook = Webhook(
            id=uuid.uuid4(),
            owner_sub=principal.sub,
            role=principal.role.value,
            region_code=region,
            url=url,
            types=types,
            status=WebhookStatus.active.value,
            status_reason=None,
            cursor=cursor,
            generation=1,
            rotated_at=None,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        await self.repo.save(webhook)
        return WebhookCreated(**public(webhook).model_dump(), secret=self._secret(webhook))

    async def webhook(self, webhook_id: uuid.UUID, *, lock: bool = False) -> Webhook:
        webhook = await self.repo.get(webhook_id, lock=lock)
        if webhook is None:
            raise NotFound(f"webhook {webhook_id} not found")
        return webhook

    async def get(self, webhook_id: uuid.UUID) -> WebhookPublic:
        return public(await self.webhook(webhook_id))

    async def page(self, cursor: str | None, limit: int) -> WebhookPage:
        rows = await self.repo.page(_keyset(cursor, "webhooks"), limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor("webhooks", rows[-1].created_at, rows[-1].id) if more else None
        return WebhookPage(items=[public(w) for w in rows], next_cursor=next_cursor)

    async def update(self, webhook_id: uuid.UUID, change: WebhookUpdate) -> WebhookPublic:
        webhook = await self.webhook(webhook_id, lock=True)
        url = _checked(domain.check_url, change.url) if change.url is not None else None
        types = _checked(domain.check_types, [t.value for t in change.types]) if change.types else None
        if url is not None:
            webhook.url = url
        if types is not None:
            webhook.types = types
        if change.status is not None and change.status != webhook.status:
            webhook.status = change.status
            webhook.status_reason = None
            if change.status == WebhookStatus.active.value:
                webhook.next_attempt_at = self.ctx.now  # resumed: the pending delivery is tried at once
        webhook.updated_at = self.ctx.now
        await self.repo.save(webhook)
        return public(webhook)

    async def delete(self, webhook_id: uuid.UUID) -> None:
        await self.webhook(webhook_id, lock=True)
        await self.repo.delete(webhook_id)

    async def rotate(self, webhook_id: uuid.UUID) -> WebhookSecret:
        webhook = await self.webhook(webhook_id, lock=True)
        webhook.generation += 1
        webhook.rotated_at = self.ctx.now
        webhook.updated_at = self.ctx.now
        await self.repo.save(webhook)
        return WebhookSecret(id=webhook.id, secret=self._secret(webhook))

    async def replay(self, webhook_id: uuid.UUID, request: WebhookReplay) -> WebhookPublic:
        """Deliver again from `after`: the pending delivery is superseded, the cursor goes back, due now."""
        webhook = await self.webhook(webhook_id, lock=True)
        _checked(decode_position, request.after)
        await self.repo.supersede_pending(webhook_id)
        webhook.cursor = request.after
        webhook.next_attempt_at = self.ctx.now
        webhook.updated_at = self.ctx.now
        await self.repo.save(webhook)
        return public(webhook)

    async def deliveries(self, webhook_id: uuid.UUID, cursor: str | None, limit: int) -> DeliveryPage:
        await self.webhook(webhook_id)
        rows = await self.repo.deliveries(webhook_id, _keyset(cursor, "webhook_deliveries"), limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = encode_cursor("webhook_deliveries", rows[-1].created_at, rows[-1].id) if more else None
        return DeliveryPage(items=[delivery_public(d) for d in rows], next_cursor=next_cursor)
