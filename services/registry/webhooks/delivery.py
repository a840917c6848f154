"""Webhook delivery (变更推送的投递), run by the registry worker (services/registry/worker.py): a loop that, every
`POLL_SECONDS`, gives each due subscription its next delivery. Each step is a short transaction of its own
(`session.begin()`: the deliverer's commit point, as jobs/runner.py is the jobs'), and no transaction is held
while the receiver answers.

1. **claim** (one transaction): the subscription, locked `SKIP LOCKED` (several workers never deliver for one
   subscription at once), active and due. Its pending delivery is retried if it has one; otherwise the next page
   of the feed after its cursor is read **as its owner** (their role, the subscription's region: the feed's own
   scope, tombstones and masking, changes/service.py) and becomes a new delivery with its exact body. The
   subscription is leased (`LEASE`) while the POST runs: a worker that dies leaves it to be retried after that.
2. **POST** the body, signed (webhooks/domain.py `sign`), `webhook-id` the delivery's (the same on retries).
3. **record** (one transaction): the attempt (time, status or error, duration). 2xx: the delivery is delivered
   and the cursor advances to its `next_cursor` (the next page follows at once); otherwise it is tried again
   after `backoff`, and a delivery failing for a day takes the subscription to `failing` with the reason.

A page with no items only moves the cursor. Deliveries of a subscription go one at a time, in feed order. Each
round first deletes the deliveries delivered or superseded more than `DELIVERY_RETENTION` ago.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.changes.service import ChangeService
from services.registry.models import Webhook, WebhookDelivery
from services.registry.webhooks import domain
from services.registry.webhooks.domain import DeliveryStatus, WebhookStatus
from services.registry.webhooks.repository import WebhookRepository
from services.registry.webhooks.schemas import attempt_json
from shared.clock import rfc3339
from shared.context import Context
from shared.problems import AppError
from shared.roles import NATIONAL_CODE, Principal, Role

__all__ = ["DELIVERER", "LEASE", "POLL_SECONDS", "WebhookDeliverer", "deliver_forever"]

_log = logging.getLogger("jingzhun.registry.webhooks")

DELIVERER = Principal(sub="registry-webhook-deliverer", role=Role.service, region=NATIONAL_CODE)
POLL_SECONDS = 2.0
LEASE = timedelta(seconds=60)
PAGE_SIZE = 200
TIMEOUT_SECONDS = 10.0
USER_AGENT = "jingzhun-registry-webhooks/1"


async def _resolve(host: str, port: int) -> list[str]:
    """The addresses a receiver's name resolves to (the system resolver, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class _Send:
    webhook_id: uuid.UUID
    delivery_id: uuid.UUID
    url: str
    secrets: tuple[bytes, ...]  # the current first; the previous too for a day after a rotation
    body: bytes


class WebhookDeliverer:
    """Delivers the due subscriptions' next pages. `transport` replaces the network (tests), `rand` the jitter."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        read_pool: Any,
        key: bytes,
        clock: Callable[[], datetime],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rand: Callable[[], float] = random.random,
        page_size: int = PAGE_SIZE,
        allow_private: bool = False,
        resolve: Callable[[str, int], Awaitable[list[str]]] | None = None,
    ) -> None:
        self.sessions = sessions
        self.read_pool = read_pool
        self.key = key
        self.clock = clock
        self.transport = transport
        self.rand = rand
        self.page_size = page_size
        #: Outside production (`REGISTRY_WEBHOOK_ALLOW_PRIVATE_NETWORKS`) receivers may be on this network.
        self.allow_private = allow_private
        self.resolve = resolve or _resolve

    @contextlib.asynccontextmanager
    async def _tx(self) -> AsyncIterator[Context]:
        async with self.sessions() as session, session.begin():
            yield Context(principal=DELIVERER, session=session, now=self.clock(), request_id="webhooks")

    async def run_once(self, *, max_steps: int = 20) -> int:
        """One round: each due subscription gets deliveries until it is caught up, fails, or `max_steps`.
        Returns how many POSTs were attempted."""
        async with self._tx() as ctx:
            repo = WebhookRepository(ctx)
            await repo.prune(ctx.now - domain.DELIVERY_RETENTION)
            due = await repo.due(ctx.now, 100)
        attempted = 0
        async with httpx.AsyncClient(
            transport=self.transport, timeout=TIMEOUT_SECONDS, follow_redirects=False
        ) as client:
            for webhook_id in due:
                for _ in range(max_steps):
                    outcome = await self._step(client, webhook_id)
                    if outcome is None:
                        break
                    attempted += 1
                    if not outcome:
                        break
        return attempted

    async def _step(self, client: httpx.AsyncClient, webhook_id: uuid.UUID) -> bool | None:
        """One delivery attempt: True delivered, False failed, None nothing to send."""
        send = await self._claim(webhook_id)
        if send is None:
            return None
        started = time.monotonic()
        timestamp = int(self.clock().timestamp())
        msg_id = domain.message_id(send.delivery_id)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(domain.sign(k, msg_id, timestamp, send.body) for k in send.secrets),
        }
        status_code: int | None = None
        error = None if self.allow_private else await self._refused_destination(send.url)
        if error is None:
            try:
                response = await client.post(send.url, content=send.body, headers=headers)
                status_code = response.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        duration_ms = int((time.monotonic() - started) * 1000)
        return await self._record(send, status_code, error, duration_ms)

    async def _refused_destination(self, url: str) -> str | None:
        """Why the receiver may not be called (its name resolves to a non-public address), or None. Checked before
        every attempt, so a name re-pointed at an internal host after subscribing is refused too."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        try:
            addresses = await self.resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
        except OSError as exc:
            return f"destination_unresolved: {host}: {exc}"[:500]
        if not domain.public_destination(addresses):
            return f"destination_not_public: {host} resolves to {', '.join(sorted(set(addresses)))}"[:500]
        return None

    async def _claim(self, webhook_id: uuid.UUID) -> _Send | None:
        async with self._tx() as ctx:
            repo = WebhookRepository(ctx)
            webhook = await repo.claim(webhook_id, ctx.now)
            if webhook is None:
                return None
            delivery = await repo.pending(webhook_id)
            if delivery is None:
                delivery = await self._next_page(ctx, webhook)
                if delivery is None:
                    await repo.save(webhook)
                    return None
                await repo.save(delivery)
            webhook.next_attempt_at = ctx.now + LEASE
            await repo.save(webhook)
            secrets = tuple(
                domain.derive_secret(self.key, webhook.id, generation)
                for generation in domain.signing_generations(webhook.generation, webhook.rotated_at, ctx.now)
            )
            return _Send(webhook.id, delivery.id, webhook.url, secrets, delivery.body.encode())

    async def _next_page(self, ctx: Context, webhook: Webhook) -> WebhookDelivery | None:
        """The next page of the owner's feed after the cursor as a new delivery; None when it has no items (the
        cursor moves on) or the feed refuses the cursor (the subscription is `failing`)."""
        owner = Principal(sub=webhook.owner_sub, role=Role(webhook.role), region=webhook.region_code)
        feed = ChangeService(Context(principal=owner, session=ctx.session, now=ctx.now), self.read_pool)
        try:
            page = await feed.read(
                after=webhook.cursor, types=",".join(webhook.types), limit=self.page_size, wait=0
            )
        except AppError as exc:
            webhook.status = WebhookStatus.failing.value
            webhook.status_reason = f"{exc.extensions.get('code', exc.slug)}: {exc.detail}"
            webhook.updated_at = ctx.now
            return None
        if not page.items:
            webhook.cursor = page.next_cursor
            webhook.next_attempt_at = ctx.now
            return None
        body = {
            "items": [item.model_dump(mode="json") for item in page.items],
            "cursor": webhook.cursor,
            "next_cursor": page.next_cursor,
        }
        return WebhookDelivery(
            id=uuid.uuid4(),
            webhook_id=webhook.id,
            cursor=webhook.cursor,
            next_cursor=page.next_cursor,
            item_count=len(page.items),
            body=json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            status=DeliveryStatus.pending.value,
            attempts=[],
            attempt_count=0,
            first_attempt_at=None,
            next_attempt_at=ctx.now,
            created_at=ctx.now,
            delivered_at=None,
        )

    async def _record(
        self, send: _Send, status_code: int | None, error: str | None, duration_ms: int
    ) -> bool | None:
        async with self._tx() as ctx:
            repo = WebhookRepository(ctx)
            webhook = await repo.locked(send.webhook_id)
            delivery = await repo.delivery(send.delivery_id)
            if webhook is None or delivery is None:
                return None  # deleted meanwhile
            now = ctx.now
            ok = status_code is not None and 200 <= status_code < 300
            delivery.attempts = [
                *delivery.attempts,
                attempt_json(rfc3339(now), status_code, error, duration_ms),
            ]
            delivery.attempt_count += 1
            delivery.first_attempt_at = delivery.first_attempt_at or now
            current = delivery.status == DeliveryStatus.pending.value  # not superseded by a replay meanwhile
            if ok:
                if current:
                    delivery.status = DeliveryStatus.delivered.value
                    webhook.cursor = delivery.next_cursor
                delivery.delivered_at = now
                webhook.next_attempt_at = now
                webhook.status_reason = None
            else:
                wait = domain.backoff(delivery.attempt_count, self.rand())
                delivery.next_attempt_at = now + wait
                if current:
                    webhook.next_attempt_at = now + wait
                    reason = f"HTTP {status_code}" if status_code is not None else (error or "no answer")
                    if domain.is_failing(delivery.attempt_count, delivery.first_attempt_at, now):
                        webhook.status = WebhookStatus.failing.value
                        webhook.status_reason = (
                            f"delivery {domain.message_id(delivery.id)} failed {delivery.attempt_count} times "
                            f"since {rfc3339(delivery.first_attempt_at)}; last: {reason}"
                        )
                else:
                    webhook.next_attempt_at = now
            webhook.updated_at = now
            await repo.save(delivery)
            await repo.save(webhook)
            return ok if current else None


async def deliver_forever(deliverer: WebhookDeliverer, *, interval: float = POLL_SECONDS) -> None:
    """The worker's loop: a round every `interval` seconds; an error is logged and the loop goes on."""
    while True:
        try:
            await deliverer.run_once()
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("webhook delivery round failed; trying again in %.0f s", interval)
        await asyncio.sleep(interval)
