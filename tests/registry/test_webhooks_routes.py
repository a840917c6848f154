"""Signed webhooks on the change feed (issue #15): subscribe, signed deliveries that verify, retries with backoff
in order, replay from a cursor, pause, scope, the secret shown once.

The deliverer (services/registry/webhooks/delivery.py) runs in process, one round at a time, on a clock the test
moves; the receiver is outside the project, so it is an `httpx.MockTransport` that records what it is sent and
answers the statuses the test gives it. Households go through the API, so the feed rows are the real triggers'.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from services.registry.changes.schemas import decode_position
from services.registry.webhooks import domain
from services.registry.webhooks.delivery import WebhookDeliverer, deliver_forever
from services.registry.worker import deliverer_for
from shared.clock import utcnow
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_COUNTY_TOWNSHIP,
    OTHER_COUNTY_VILLAGE,
    VILLAGE,
    assert_problem,
    count_rows,
    create_household,
    headers_for,
    settle,
)

pytestmark = pytest.mark.usefixtures("seed_regions")
HOOK = "https://sjk.gxfp.example/hooks/jingzhun"


@pytest.fixture
def province(signing_key: SigningKey) -> dict[str, str]:
    return headers_for(signing_key, "province_system", COUNTY, "province-gx")


@pytest.fixture
def clerk(signing_key: SigningKey) -> dict[str, str]:
    return headers_for(signing_key, "village_officer", VILLAGE)


@dataclass
class Receiver:
    """The province's endpoint: every request it got, and the statuses it answers next (then 200)."""

    statuses: list[int] = field(default_factory=list)
    got: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.got.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    #: What the receiver's name resolves to (DNS is outside the project): a public address by default.
    addresses: list[str] = field(default_factory=lambda: ["93.184.216.34"])

    async def resolve(self, host: str, port: int) -> list[str]:
        return self.addresses

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.got]


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture
def clock() -> Clock:
    return Clock(utcnow() + timedelta(seconds=1))


@pytest.fixture
async def deliverer(
    registry: httpx.AsyncClient, registry_app: FastAPI, receiver: Receiver, clock: Clock
) -> WebhookDeliverer:
    real = deliverer_for(registry_app)  # the worker's own wiring, with the network and the clock replaced
    assert real is not None
    return WebhookDeliverer(
        real.sessions,
        real.read_pool,
        real.key,
        clock,
        transport=httpx.MockTransport(receiver.handle),
        rand=lambda: 0.5,
        resolve=receiver.resolve,
    )


async def subscribe(registry: httpx.AsyncClient, owner: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await registry.post("/webhooks", json={"url": HOOK, **body}, headers=owner)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert response.headers["Location"] == f"/webhooks/{created['id']}"
    return created


def verified(request: httpx.Request, secret: str, clock: Clock) -> dict[str, Any]:
    domain.verify(secret, dict(request.headers), request.content, now=clock.now.timestamp())
    body: dict[str, Any] = json.loads(request.content)
    return body


class TestDelivery:
    async def test_signed_delivery_that_verifies(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        province: dict[str, str],
        clerk: dict[str, str],
        deliverer: WebhookDeliverer,
        receiver: Receiver,
        clock: Clock,
    ) -> None:
        hook = await subscribe(registry, province, types=["household"])
        assert hook["secret"].startswith("whsec_") and hook["status"] == "active"
        hid = await create_household(registry, clerk, size=2)
        await settle(db_urls)
        assert await deliverer.run_once() == 1
        [request] = receiver.got
        assert request.url == HOOK and request.headers["content-type"] == "application/json"
        assert request.headers["webhook-id"].startswith("msg_")
        assert request.headers["webhook-timestamp"] == str(int(clock.now.timestamp()))
        body = verified(request, hook["secret"], clock)
        assert set(body) == {"items", "cursor", "next_cursor"} and body["cursor"] == hook["cursor"]
        assert [(i["type"], i["id"], i["op"]) for i in body["items"]] == [("household", hid, "upsert")]
        # The same items the owner reads from the feed (its scope and masking), and the cursor advanced.
        feed = (await registry.get("/changes", params={"after": hook["cursor"]}, headers=province)).json()
        assert body["items"] == feed["items"] and "*" in json.dumps(body["items"], ensure_ascii=False)
        current = (await registry.get(f"/webhooks/{hook['id']}", headers=province)).json()
        # Delivered up to `next_cursor`; a round that finds nothing more moves it on to the feed's head.
        assert decode_position(current["cursor"]) >= decode_position(body["next_cursor"])
        assert await deliverer.run_once() == 0  # caught up: nothing more
        deliveries = (await registry.get(f"/webhooks/{hook['id']}/deliveries", headers=province)).json()
        [delivery] = deliveries["items"]
        assert delivery["id"] == request.headers["webhook-id"] and delivery["status"] == "delivered"
        assert [a["status_code"] for a in delivery["attempts"]] == [200]
        assert delivery["next_attempt_at"] is None
        clock.advance(31 * 86400)  # delivered deliveries are kept 30 days
        await deliverer.run_once()
        gone = (await registry.get(f"/webhooks/{hook['id']}/deliveries", headers=province)).json()
        assert gone["items"] == []

    async def test_retried_with_backoff_delivered_once_in_order(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        province: dict[str, str],
        clerk: dict[str, str],
        deliverer: WebhookDeliverer,
        receiver: Receiver,
        clock: Clock,
    ) -> None:
        hook = await subscribe(registry, province, types=["household"])
        first = await create_household(registry, clerk)
        await settle(db_urls)
        receiver.statuses = [500]
        assert await deliverer.run_once() == 1
        second = await create_household(registry, clerk, head="韦国良")
        await settle(db_urls)
        clock.advance(4)
        assert await deliverer.run_once() == 0  # not due: 5 s (jitter at its middle)
        pending = (await registry.get(f"/webhooks/{hook['id']}/deliveries", headers=province)).json()["items"]
        assert pending[0]["status"] == "pending" and pending[0]["next_attempt_at"] is not None
        assert [a["status_code"] for a in pending[0]["attempts"]] == [500]
        clock.advance(1.5)
        assert await deliverer.run_once() == 2  # the retry, then the next page at once
        ids = [r.headers["webhook-id"] for r in receiver.got]
        assert ids[0] == ids[1] != ids[2]  # the retry keeps its webhook-id
        assert receiver.got[0].content == receiver.got[1].content  # and its exact body
        bodies = [verified(r, hook["secret"], clock) for r in receiver.got[1:]]
        assert [[i["id"] for i in b["items"]] for b in bodies] == [[first], [second]]
        assert bodies[1]["cursor"] == bodies[0]["next_cursor"]  # in feed order, no gap
        deliveries = (await registry.get(f"/webhooks/{hook['id']}/deliveries", headers=province)).json()
        assert [d["status"] for d in deliveries["items"]] == ["delivered", "delivered"]
        assert [a["status_code"] for a in deliveries["items"][1]["attempts"]] == [500, 200]

    async def test_replay_from_an_older_cursor_delivers_again(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        province: dict[str, str],
        clerk: dict[str, str],
        deliverer: WebhookDeliverer,
        receiver: Receiver,
        clock: Clock,
    ) -> None:
        hook = await subscribe(registry, province)
        hid = await create_household(registry, clerk)
        await settle(db_urls)
        await deliverer.run_once()
        bad = await registry.post(f"/webhooks/{hook['id']}/replay", json={"after": "nope"}, headers=province)
        assert_problem(bad, 422)
        replay = await registry.post(
            f"/webhooks/{hook['id']}/replay", json={"after": hook["cursor"]}, headers=province
        )
        assert replay.status_code == 200, replay.text
        assert replay.json()["cursor"] == hook["cursor"]
        assert await deliverer.run_once() == 1
        again, before = receiver.got[1], receiver.got[0]
        assert again.headers["webhook-id"] != before.headers["webhook-id"]
        assert hid in [i["id"] for i in verified(again, hook["secret"], clock)["items"]]

    async def test_paused_delivers_nothing_until_resumed(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        province: dict[str, str],
        clerk: dict[str, str],
        deliverer: WebhookDeliverer,
        receiver: Receiver,
    ) -> None:
        hook = await subscribe(registry, province)
        paused = await registry.patch(f"/webhooks/{hook['id']}", json={"status": "paused"}, headers=province)
        assert paused.status_code == 200 and paused.json()["status"] == "paused"
        await create_household(registry, clerk)
        await settle(db_urls)
        assert await deliverer.run_once() == 0 and receiver.got == []
        resumed = await registry.patch(f"/webhooks/{hook['id']}", json={"status": "active"}, headers=province)
        assert resumed.json()["status"] == "active"
        assert await deliverer.run_once() == 1

    async def test_failing_after_a_day_of_failures(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        province: dict[str, str],
        clerk: dict[str, str],
        deliverer: WebhookDeliverer,
        receiver: Receiver,
        clock: Clock,
    ) -> None:
        hook = await subscribe(registry, province)
        await create_household(registry, clerk)
        await settle(db_urls)
        receiver.statuses = [503] * 100
        for _ in range(40):
            await deliverer.run_once()
            clock.advance(3600 * 1.2)
        current = (await registry.get(f"/webhooks/{hook['id']}", headers=province)).json()
        assert current["status"] == "failing" and "HTTP 503" in current["status_reason"]
        tried = len(receiver.got)
        assert domain.MIN_FAILURES <= tried < 40
        assert await deliverer.run_once() == 0 and len(receiver.got) == tried
        assert len({r.headers["webhook-id"] for r in receiver.got}) == 1

    @pytest.mark.parametrize("address", ["10.0.0.5", "127.0.0.1", "169.254.169.254", "::1", "fd00::1"])
    async def test_a_receiver_on_an_internal_address_is_never_called(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        province: dict[str, str],
        clerk: dict[str, str],
        deliverer: WebhookDeliverer,
        receiver: Receiver,
        address: str,
    ) -> None:
        """SSRF guard: a subscriber's name that resolves (now, not only when it subscribed) into the registry's
        own network is refused before any request; the attempt records why and is retried later."""
        hook = await subscribe(registry, province, types=["household"])
        await create_household(registry, clerk)
        await settle(db_urls)
        receiver.addresses = ["93.184.216.34", address]  # one internal address is enough to refuse
        assert await deliverer.run_once() == 1
        assert receiver.got == []
        [delivery] = (await registry.get(f"/webhooks/{hook['id']}/deliveries", headers=province)).json()[
            "items"
        ]
        [attempt] = delivery["attempts"]
        assert delivery["status"] == "pending" and attempt["status_code"] is None
        assert attempt["error"].startswith("destination_not_public")

    def test_only_public_addresses_pass(self) -> None:
        assert domain.public_destination(["93.184.216.34", "2606:2800:220:1::1"])
        for internal in (
            "10.1.2.3",
            "192.168.0.1",
            "172.16.0.1",
            "100.64.0.1",
            "0.0.0.0",  # noqa: S104 - an address to refuse, not one to bind
            "224.0.0.1",
            "fe80::1%eth0",
        ):
            assert not domain.public_destination([internal])
        assert not domain.public_destination([])


class TestScope:
    async def test_another_countys_changes_are_never_delivered(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        signing_key: SigningKey,
        clerk: dict[str, str],
        deliverer: WebhookDeliverer,
        receiver: Receiver,
    ) -> None:
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            await conn.execute(
                "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, '德保县', 'county',"
                " '451000000000'), ($2, '城关镇', 'township', $1), ($3, '那甲村', 'village', $2)",
                OTHER_COUNTY,
                OTHER_COUNTY_TOWNSHIP,
                OTHER_COUNTY_VILLAGE,
            )
        finally:
            await conn.close()
        admin = headers_for(signing_key, "county_admin", COUNTY, "admin-jingxi")
        await subscribe(registry, admin)
        other_clerk = headers_for(signing_key, "village_officer", OTHER_COUNTY_VILLAGE)
        theirs = await create_household(registry, other_clerk, OTHER_COUNTY_VILLAGE)
        ours = await create_household(registry, clerk)
        await settle(db_urls)
        await deliverer.run_once()
        delivered = {i["id"] for b in receiver.bodies() for i in b["items"]}
        assert ours in delivered and theirs not in delivered

    async def test_another_clients_subscription_answers_like_missing(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, province: dict[str, str]
    ) -> None:
        hook = await subscribe(registry, province)
        same_region_other_login = headers_for(signing_key, "province_system", COUNTY, "province-other")
        other_county = headers_for(signing_key, "county_admin", OTHER_COUNTY, "province-gx")
        for outsider in (same_region_other_login, other_county):
            for method, path, body in (
                ("GET", f"/webhooks/{hook['id']}", None),
                ("GET", f"/webhooks/{hook['id']}/deliveries", None),
                ("PATCH", f"/webhooks/{hook['id']}", {"status": "paused"}),
                ("POST", f"/webhooks/{hook['id']}/rotate-secret", None),
                ("DELETE", f"/webhooks/{hook['id']}", None),
            ):
                response = await registry.request(method, path, json=body, headers=outsider)
                assert_problem(response, 404)
            listed = (await registry.get("/webhooks", headers=outsider)).json()
            assert listed["items"] == []
        assert (await registry.get(f"/webhooks/{hook['id']}", headers=province)).json()["status"] == "active"

    async def test_who_subscribes_and_bad_input_changes_nothing(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        signing_key: SigningKey,
        clerk: dict[str, str],
        province: dict[str, str],
    ) -> None:
        assert_problem(await registry.post("/webhooks", json={"url": HOOK}, headers=clerk), 403)
        for body in (
            {"url": "http://sjk.gxfp.example/hook"},
            {"url": HOOK, "types": []},
            {"url": HOOK, "types": ["poverty"]},
            {"url": HOOK, "after": "not-a-cursor"},
        ):
            assert_problem(await registry.post("/webhooks", json=body, headers=province), 422)
        assert_problem(
            await registry.post("/webhooks", json={"url": HOOK, "region": OTHER_COUNTY}, headers=province),
            404,
        )
        assert await count_rows(db_urls, "registry_webhook") == 0
        local = await registry.post("/webhooks", json={"url": "http://localhost:9000/h"}, headers=province)
        assert local.status_code == 201


class TestSecret:
    async def test_never_readable_after_creation_and_rotation(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        province: dict[str, str],
        clerk: dict[str, str],
        deliverer: WebhookDeliverer,
        receiver: Receiver,
        clock: Clock,
    ) -> None:
        hook = await subscribe(registry, province)
        secret = hook["secret"]
        reads = [
            await registry.get(f"/webhooks/{hook['id']}", headers=province),
            await registry.get("/webhooks", headers=province),
            await registry.get(f"/webhooks/{hook['id']}/deliveries", headers=province),
        ]
        for response in reads:
            assert (
                response.status_code == 200 and secret not in response.text and "secret" not in response.text
            )
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            row = await conn.fetchrow("SELECT * FROM registry_webhook")
            assert row is not None and secret[6:] not in json.dumps({k: str(v) for k, v in row.items()})
        finally:
            await conn.close()
        rotated = await registry.post(f"/webhooks/{hook['id']}/rotate-secret", headers=province)
        assert rotated.status_code == 200
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != secret
        await create_household(registry, clerk)
        await settle(db_urls)
        await deliverer.run_once()
        [request] = receiver.got
        assert len(request.headers["webhook-signature"].split(" ")) == 2  # both, for a day
        verified(request, new, clock)
        verified(request, secret, clock)
        clock.advance(86400 + 1)
        await create_household(registry, clerk, head="韦国良")
        await settle(db_urls)
        await deliverer.run_once()
        later = receiver.got[-1]
        verified(later, new, clock)
        with pytest.raises(domain.WebhookVerificationError):
            verified(later, secret, clock)

    async def test_delete_removes_it(
        self, registry: httpx.AsyncClient, db_urls: dict[str, str], province: dict[str, str]
    ) -> None:
        hook = await subscribe(registry, province)
        assert (await registry.delete(f"/webhooks/{hook['id']}", headers=province)).status_code == 204
        assert_problem(await registry.get(f"/webhooks/{hook['id']}", headers=province), 404)
        assert await count_rows(db_urls, "registry_webhook") == 0


class TestWorker:
    async def test_the_worker_loop_delivers(
        self,
        registry: httpx.AsyncClient,
        db_urls: dict[str, str],
        province: dict[str, str],
        clerk: dict[str, str],
        deliverer: WebhookDeliverer,
        receiver: Receiver,
    ) -> None:
        await subscribe(registry, province)
        await create_household(registry, clerk)
        await settle(db_urls)
        loop = asyncio.create_task(deliver_forever(deliverer, interval=0.05))
        try:
            deadline = time.monotonic() + 20
            while not receiver.got:
                assert time.monotonic() < deadline, "the loop delivered nothing"
                await asyncio.sleep(0.05)
        finally:
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        assert len(receiver.got) == 1

    async def test_off_without_a_key_in_production(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, province: dict[str, str]
    ) -> None:
        settings = registry_app.state.settings
        assert settings.webhook_signing_key() is not None  # development and tests: a fixed key
        keyed = settings.model_copy(update={"webhook_key": SecretStr("k" * 40)})
        assert keyed.webhook_signing_key() == b"k" * 40
        registry_app.state.settings = settings.model_copy(update={"environment": "production"})
        try:
            assert deliverer_for(registry_app) is None
            body = assert_problem(await registry.post("/webhooks", json={"url": HOOK}, headers=province), 503)
            assert body["code"] == "webhooks_not_configured"
        finally:
            registry_app.state.settings = settings
