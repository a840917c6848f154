"""Every SQL statement of webhooks: the subscriptions (scoped to their owner's login and region), their
deliveries, and the feed cursor of "now" a new subscription starts from.

A request's statements run in its unit of work (`ctx.session`); the deliverer's (webhooks/delivery.py) in short
transactions of its own. A subscription is visible only to its owner, and only while the owner's scope holds its
region: anyone else finds none.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select

from services.registry.changes.repository import snapshot_cursor
from services.registry.models import Webhook, WebhookDelivery
from shared.context import Context
from shared.db import execute, scope_filter

__all__ = ["WebhookRepository", "feed_head_cursor"]


async def feed_head_cursor(pool: Any) -> str:
    """The feed cursor of the current snapshot: a subscription starting "now" is delivered what follows."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await snapshot_cursor(conn)


class WebhookRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    def _mine(self) -> list[Any]:
        who = self.ctx.principal
        return [col(Webhook.owner_sub) == who.sub, scope_filter(who, col(Webhook.region_code))]

    # -- requests ---------------------------------------------------------------------------------------------
    async def get(self, webhook_id: uuid.UUID, *, lock: bool = False) -> Webhook | None:
        query = select(Webhook).where(col(Webhook.id) == webhook_id, *self._mine())
        if lock:
            query = query.with_for_update()
        return (await self.session.exec(query.execution_options(populate_existing=True))).first()

    async def page(self, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Webhook]:
        query = select(Webhook).where(*self._mine())
        if after is not None:
            query = query.where(sa.tuple_(col(Webhook.created_at), col(Webhook.id)) < sa.tuple_(*after))
        query = query.order_by(col(Webhook.created_at).desc(), col(Webhook.id).desc()).limit(limit)
        return list(await self.session.exec(query))

    async def save(self, webhook: Webhook | WebhookDelivery) -> None:
        self.session.add(webhook)
        await self.session.flush()

    async def delete(self, webhook_id: uuid.UUID) -> None:
        await execute(self.session, sa.delete(Webhook).where(col(Webhook.id) == webhook_id))

    async def deliveries(
        self, webhook_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[WebhookDelivery]:
        query = select(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook_id)
        if after is not None:
            query = query.where(
                sa.tuple_(col(WebhookDelivery.created_at), col(WebhookDelivery.id)) < sa.tuple_(*after)
            )
        query = query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc())
        return list(await self.session.exec(query.limit(limit)))

    async def supersede_pending(self, webhook_id: uuid.UUID) -> None:
        """A replay: the delivery not yet delivered is dropped from the order (kept, as `superseded`)."""
        await execute(
            self.session,
            sa.update(WebhookDelivery)
            .where(col(WebhookDelivery.webhook_id) == webhook_id, col(WebhookDelivery.status) == "pending")
            .values(status="superseded"),
        )

    # -- the deliverer ----------------------------------------------------------------------------------------
    async def due(self, now: datetime, limit: int) -> list[uuid.UUID]:
        """Active subscriptions whose next attempt is due, the longest waiting first."""
        query = (
            sa.select(col(Webhook.id))
            .where(col(Webhook.status) == "active", col(Webhook.next_attempt_at) <= now)
            .order_by(col(Webhook.next_attempt_at))
            .limit(limit)
        )
        return [row[0] for row in (await execute(self.session, query)).all()]

    async def prune(self, before: datetime) -> None:
        """Delete the deliveries that ended (delivered or superseded) before `before`; pending ones stay."""
        await execute(
            self.session,
            sa.delete(WebhookDelivery).where(
                col(WebhookDelivery.status) != "pending", col(WebhookDelivery.created_at) < before
            ),
        )

    async def claim(self, webhook_id: uuid.UUID, now: datetime) -> Webhook | None:
        """The subscription, locked, when it is still active and due and no other worker holds it."""
        query = (
            select(Webhook)
            .where(
                col(Webhook.id) == webhook_id,
                col(Webhook.status) == "active",
                col(Webhook.next_attempt_at) <= now,
            )
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def locked(self, webhook_id: uuid.UUID) -> Webhook | None:
        query = (
            select(Webhook)
            .where(col(Webhook.id) == webhook_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def pending(self, webhook_id: uuid.UUID) -> WebhookDelivery | None:
        """The subscription's delivery not yet delivered (at most one: they go one at a time, in feed order)."""
        query = (
            select(WebhookDelivery)
            .where(col(WebhookDelivery.webhook_id) == webhook_id, col(WebhookDelivery.status) == "pending")
            .order_by(col(WebhookDelivery.created_at), col(WebhookDelivery.id))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()

    async def delivery(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        query = (
            select(WebhookDelivery)
            .where(col(WebhookDelivery.id) == delivery_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.exec(query)).first()
