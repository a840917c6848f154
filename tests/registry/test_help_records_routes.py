"""Help record routes (帮扶记录, issue #4): offline sync, batches, versions, signatures, photos, evidence.

One class per route. Cadres, helping units and pairings are inserted directly (their own routes are tested
elsewhere); households are registered through the API by the village officer.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.registry.help_records.domain import haversine_km
from services.registry.help_records.fast import RecordWriter
from services.registry.help_records.schemas import HelpRecordPublic
from shared.jwt import SigningKey
from shared.pagination import encode_cursor
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    household_payload,
    issue,
)

#: Valid RFC 3339 times whose UTC value is in year 0 or year 10000 (issue #14, item 1).
OUT_OF_RANGE_TIMES = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00")

#: 旧州村, roughly; households are placed around it.
BASE = (Decimal("23.134000"), Decimal("106.417000"))

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64

pytestmark = pytest.mark.usefixtures("seed_regions")

Headers = dict[str, str]


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "village_officer", VILLAGE))


@pytest.fixture
def township(signing_key: SigningKey) -> Headers:
    return auth(issue(signing_key, "township_officer", TOWNSHIP))


class Db:
    """Direct rows for what the pairing API would do."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def run(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows
        finally:
            await conn.close()

    async def cadre(self, sub: str) -> uuid.UUID:
        unit, cadre_id = uuid.uuid4(), uuid.uuid4()
        await self.run(
            "INSERT INTO registry_helping_unit (id, name, kind, region_code, created_by)"
            " VALUES ($1, $2, 'government', $3, 'test')",
            unit,
            f"县农业局 {unit.hex[:6]}",
            COUNTY,
        )
        await self.run(
            "INSERT INTO registry_cadre (id, unit_id, name, position_level, user_sub, region_code, created_by)"
            " VALUES ($1, $2, '王干部', 'staff', $3, $4, 'test')",
            cadre_id,
            unit,
            sub,
            COUNTY,
        )
        return cadre_id

    async def pair(self, cadre_id: uuid.UUID, household_id: str, *, ended: bool = False) -> None:
        today = datetime.now(UTC).date()
        await self.run(
            "INSERT INTO registry_pairing (id, household_id, cadre_id, unit_id, role, valid_from, valid_to,"
            " recorded_at, recorded_by)"
            " SELECT $1, $2, c.id, c.unit_id, 'responsible', $3, $4, now(), 'test' FROM registry_cadre c"
            " WHERE c.id = $5",
            uuid.uuid4(),
            uuid.UUID(household_id),
            today - timedelta(days=400),
            (today - timedelta(days=1)) if ended else None,
            cadre_id,
        )

    async def locate(self, household_id: str, lat: Decimal, lon: Decimal) -> None:
        await self.run(
            "UPDATE registry_household SET gps_lat = $2, gps_lon = $3 WHERE id = $1",
            uuid.UUID(household_id),
            lat,
            lon,
        )


@pytest.fixture
def db(db_urls: dict[str, str]) -> Db:
    return Db(db_urls["registry"])


async def new_household(
    registry: httpx.AsyncClient,
    clerk: Headers,
    db: Db,
    *,
    lat: Decimal | None = None,
    lon: Decimal | None = None,
) -> str:
    response = await registry.post("/households", json=household_payload(), headers=clerk)
    assert response.status_code == 201, response.text
    hid: str = response.json()["id"]
    if lat is not None and lon is not None:
        await db.locate(hid, lat, lon)
    return hid


class Phone:
    """A cadre with a login and paired households."""

    def __init__(self, signing_key: SigningKey, db: Db) -> None:
        self.sub = str(uuid.uuid4())
        self.headers = auth(issue(signing_key, "cadre", COUNTY, sub=self.sub))
        self.db = db
        self.cadre_id: uuid.UUID | None = None

    async def register(self) -> None:
        self.cadre_id = await self.db.cadre(self.sub)

    async def pair(self, household_id: str, *, ended: bool = False) -> None:
        assert self.cadre_id is not None
        await self.db.pair(self.cadre_id, household_id, ended=ended)


@pytest.fixture
async def phone(signing_key: SigningKey, db: Db) -> Phone:
    p = Phone(signing_key, db)
    await p.register()
    return p


def record(household_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "household_id": household_id,
        "record_type": "visit",
        "device_time": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
        "device_id": "phone-1",
        "content": "入户走访了解种植情况",
        "money_yuan": "200.00",
        "goods": [{"item": "化肥", "quantity": "2", "value_yuan": "150.5"}],
        "measures": [{"measure": "planting", "note": "砂糖橘 2 亩"}],
    }
    body.update(overrides)
    return body


def correction(body: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A correction of `body`: the same fields again, with a reason."""
    fix = {k: v for k, v in body.items() if k not in ("id", "household_id")}
    return fix | {"correction_reason": "补充内容"} | overrides


async def count_versions(db: Db, version: int | None = 1) -> int:
    if version is None:
        rows = await db.run("SELECT count(*) AS n FROM registry_help_record")
    else:
        rows = await db.run("SELECT count(*) AS n FROM registry_help_record WHERE version = $1", version)
    return int(rows[0]["n"])


async def head_signature(registry: httpx.AsyncClient, phone: Phone, record_id: str) -> dict[str, Any]:
    """The household head's confirmation with its evidence: the head's signature image, captured on the phone
    and attached to the record first (issue #13 item 10)."""
    uploaded = await registry.post(
        f"/help-records/{record_id}/attachments",
        content=PNG + b"head-signature",
        headers=phone.headers | {"Content-Type": "image/png"},
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    return {
        "party": "household_head",
        "signatory": "黄志强",
        "signature_attachment_id": uploaded.json()["id"],
    }


async def posted(registry: httpx.AsyncClient, phone: Phone, body: dict[str, Any]) -> dict[str, Any]:
    response = await registry.post("/help-records", json=body, headers=phone.headers)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


async def read(registry: httpx.AsyncClient, headers: Headers, record_id: str) -> dict[str, Any]:
    response = await registry.get(f"/help-records/{record_id}", headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def public_keys() -> set[str]:
    return set(HelpRecordPublic.model_fields)


# == POST /help-records ==========================================================================================
class TestCreateHelpRecord:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.post("/help-records", json=record(str(uuid.uuid4()))), 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        assert_problem(await registry.post("/help-records", json=record(hid), headers=clerk), 403)
        province = auth(issue(signing_key, "province_system", "450000000000"))
        assert_problem(await registry.post("/help-records", json=record(hid), headers=province), 403)
        assert await count_versions(db) == 0

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        never = await new_household(registry, clerk, db)  # in the county, but never paired with this cadre
        assert_problem(await registry.post("/help-records", json=record(never), headers=phone.headers), 404)
        missing = await registry.post("/help-records", json=record(str(uuid.uuid4())), headers=phone.headers)
        assert_problem(missing, 404)
        assert await count_versions(db) == 0

    async def test_invalid(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        """`POST /help-records` is a plain route for speed: its refusals keep the shape of every other route."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        bad = await registry.post("/help-records", json=record(hid, money_yuan="-1"), headers=phone.headers)
        body = assert_problem(bad, 422)
        assert any("money_yuan" in str(e) for e in body["errors"]), body
        extra = await registry.post("/help-records", json=record(hid, unknown_field=1), headers=phone.headers)
        assert_problem(extra, 422)
        text = await registry.post(
            "/help-records", content=b"not json", headers=phone.headers | {"Content-Type": "text/plain"}
        )
        assert_problem(text, 415)
        broken = await registry.post(
            "/help-records", content=b"{", headers=phone.headers | {"Content-Type": "application/json"}
        )
        assert_problem(broken, 422)
        province = auth(issue(signing_key, "province_system", "450000000000"))
        assert_problem(await registry.post("/help-records", json=record(hid), headers=province), 403)
        assert_problem(await registry.post("/help-records", json=record(hid)), 401)
        assert_problem(
            await registry.post("/help-records", json=record(hid, gps_lat="23.1"), headers=phone.headers), 422
        )
        assert await count_versions(db) == 0
        paths = (await registry.get("/openapi.json")).json()["paths"]
        assert "post" in paths["/help-records"]

    @pytest.mark.parametrize("moment", OUT_OF_RANGE_TIMES)
    async def test_device_time_out_of_range(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, moment: str
    ) -> None:
        """A phone clock far off is a 422 naming `device_time`, not a 500."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        bad = await registry.post(
            "/help-records", json=record(hid, device_time=moment), headers=phone.headers
        )
        body = assert_problem(bad, 422)
        assert body["errors"][0]["pointer"] == "/device_time"
        assert body["errors"][0]["code"] == "datetime_out_of_range"
        edge = record(hid, device_time="0001-01-01T00:00:00Z")  # the first UTC second is stored as sent
        assert (await posted(registry, phone, edge))["device_time"] == "0001-01-01T00:00:00Z"
        assert await count_versions(db) == 1

    async def test_valid(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        first = await registry.post("/help-records", json=body, headers=phone.headers)
        assert first.status_code == 201, first.text
        assert first.headers["etag"] == '"1"' and first.headers["location"] == f"/help-records/{body['id']}"
        created = first.json()
        assert created["money_yuan"] == "200.00" and created["confirmation_status"] == "draft"
        assert created["flags"] == []
        assert created["goods"] == [{"item": "化肥", "quantity": "2.00", "value_yuan": "150.50"}]
        # The one shape: the answer of the POST is the record as every read shows it.
        assert set(created) == public_keys()
        assert created == await read(registry, phone.headers, body["id"])
        assert await count_versions(db) == 1

    async def test_same_id_same_payload_is_200_different_payload_is_409(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        first = await registry.post("/help-records", json=body, headers=phone.headers)
        assert first.status_code == 201, first.text
        assert first.headers["etag"] == '"1"' and first.headers["location"] == f"/help-records/{body['id']}"
        created = first.json()
        assert created["money_yuan"] == "200.00" and created["confirmation_status"] == "draft"
        assert created["flags"] == []
        assert created["goods"] == [{"item": "化肥", "quantity": "2.00", "value_yuan": "150.50"}]
        # The same content written differently (money without decimals, another time zone) is still a retry.
        again = dict(
            body,
            money_yuan="200",
            device_time=datetime.fromisoformat(body["device_time"])
            .astimezone(datetime.now().astimezone().tzinfo)
            .isoformat(),
        )
        retry = await registry.post("/help-records", json=again, headers=phone.headers)
        assert retry.status_code == 200, retry.text
        assert retry.json()["received_at"] == created["received_at"]
        assert retry.json() == created  # the retry answers the stored record, in the same shape
        changed = await registry.post("/help-records", json=dict(body, content="改了"), headers=phone.headers)
        assert assert_problem(changed, 409)["code"] == "id_reused"
        assert await count_versions(db) == 1

    async def test_an_id_held_by_another_cadre_reveals_nothing_and_is_audited(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        """Issue #14 item 9: another cadre sending an id that a record of this cadre holds gets, for a household
        out of its reach, exactly the answer a fresh id gets (404), and otherwise the same `id_reused` as the
        author's own reused id — never a word of the stored record; the collision is audited."""
        mine = await new_household(registry, clerk, db)
        await phone.pair(mine)
        body = record(mine)
        assert (await registry.post("/help-records", json=body, headers=phone.headers)).status_code == 201
        other = Phone(signing_key, db)
        await other.register()
        theirs = await new_household(registry, clerk, db)
        await other.pair(theirs)
        # For the first cadre's household (not the other's): the same 404 as with a fresh id.
        held = await registry.post("/help-records", json=dict(body, content="x"), headers=other.headers)
        fresh = await registry.post(
            "/help-records", json=dict(body, id=str(uuid.uuid4()), content="x"), headers=other.headers
        )
        assert held.status_code == fresh.status_code == 404
        assert assert_problem(held, 404)["code"] == assert_problem(fresh, 404)["code"]
        # For its own household: the plain refusal, word for word the author's own (but for the instance).
        collided = await registry.post(
            "/help-records", json=record(theirs, id=body["id"]), headers=other.headers
        )
        own = await registry.post("/help-records", json=dict(body, content="改了"), headers=phone.headers)
        theirs_problem, own_problem = assert_problem(collided, 409), assert_problem(own, 409)
        assert theirs_problem["code"] == own_problem["code"] == "id_reused"
        assert theirs_problem["detail"] == own_problem["detail"]
        assert mine not in collided.text and "created_by" not in collided.text
        batch = await registry.post(
            "/help-records/batch", json={"records": [record(theirs, id=body["id"])]}, headers=other.headers
        )
        assert batch.status_code == 200 and batch.json()["results"][0]["code"] == "id_reused"
        audited = await db.run(
            "SELECT record_id, detail->>'sent_by' AS by FROM registry_audit_event WHERE action = 'help_record.id_collision'"
        )
        assert [(str(r["record_id"]), r["by"]) for r in audited] == [(body["id"], other.sub)] * 2
        stored = await db.run(
            "SELECT created_by FROM registry_help_record WHERE id = $1", uuid.UUID(body["id"])
        )
        assert [r["created_by"] for r in stored] == [phone.sub]

    async def test_offline_phone_retries_everything_three_times_out_of_order(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        households = []
        for i in range(3):
            hid = await new_household(registry, clerk, db, lat=BASE[0] + Decimal("0.01") * i, lon=BASE[1])
            await phone.pair(hid)
            households.append(hid)
        start = datetime.now(UTC) - timedelta(days=3)
        records = [
            record(
                households[i % 3],
                device_time=(start + timedelta(hours=2 * i)).isoformat(),
                content=f"第{i}次走访",
                money_yuan=f"{i}.50",
                gps_lat=str(BASE[0] + Decimal("0.01") * (i % 3)),
                gps_lon=str(BASE[1]),
            )
            for i in range(50)
        ]
        requests: list[tuple[str, Any]] = [("one", r) for r in records]
        # Batches overlap each other and the single posts.
        for lo in range(0, 50, 15):
            requests.append(("batch", records[lo : lo + 20]))
        requests = requests * 3
        random.Random(2014).shuffle(requests)

        async def send(kind: str, body: Any) -> None:
            if kind == "one":
                response = await registry.post("/help-records", json=body, headers=phone.headers)
                assert response.status_code in (200, 201), response.text
                assert response.json()["content"] == body["content"]
            else:
                response = await registry.post(
                    "/help-records/batch", json={"records": body}, headers=phone.headers
                )
                assert response.status_code == 200, response.text
                results = response.json()["results"]
                assert [r["id"] for r in results] == [b["id"] for b in body]
                assert {r["outcome"] for r in results} <= {"created", "already_present"}, results

        # The phone fires its queue a few requests at a time once the network is back.
        for lo in range(0, len(requests), 6):
            await asyncio.gather(*(send(k, b) for k, b in requests[lo : lo + 6]))

        assert await count_versions(db) == 50
        assert await count_versions(db, None) == 50
        stored = {
            str(r["id"]): r
            for r in await db.run("SELECT id, content, money_fen, device_time FROM registry_help_record")
        }
        for r in records:
            row = stored[r["id"]]
            assert row["content"] == r["content"]
            assert row["money_fen"] == int(Decimal(r["money_yuan"]) * 100)
            assert row["device_time"] == datetime.fromisoformat(r["device_time"])
        listing = await registry.get(
            f"/households/{households[0]}/help-records?limit=10", headers=phone.headers
        )
        assert listing.status_code == 200
        page = listing.json()
        assert len(page["items"]) == 10 and page["next_cursor"]
        times = [i["device_time"] for i in page["items"]]
        assert times == sorted(times, reverse=True)
        rest = await registry.get(
            f"/households/{households[0]}/help-records?limit=10&cursor={page['next_cursor']}",
            headers=phone.headers,
        )
        assert len(rest.json()["items"]) == 7 and rest.json()["next_cursor"] is None

    async def test_cadre_needs_an_active_pairing(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        paired = await new_household(registry, clerk, db)
        ended = await new_household(registry, clerk, db)
        never = await new_household(registry, clerk, db)
        await phone.pair(paired)
        body = record(ended)
        await phone.pair(ended)
        assert (await registry.post("/help-records", json=body, headers=phone.headers)).status_code == 201
        # The pairing ends (superseded by an ended row): old records stay readable, new ones are refused.
        await db.run(
            "UPDATE registry_pairing SET superseded_at = now() WHERE household_id = $1", uuid.UUID(ended)
        )
        await phone.pair(ended, ended=True)
        refused = await registry.post("/help-records", json=record(ended), headers=phone.headers)
        assert assert_problem(refused, 403)["code"] == "pairing_not_active"
        assert (await registry.get(f"/help-records/{body['id']}", headers=phone.headers)).status_code == 200
        listed = await registry.get(f"/households/{ended}/help-records", headers=phone.headers)
        assert listed.status_code == 200
        assert_problem(await registry.post("/help-records", json=record(never), headers=phone.headers), 404)
        assert_problem(await registry.get(f"/households/{never}/help-records", headers=phone.headers), 404)
        assert_problem(
            await registry.post("/help-records", json=record(str(uuid.uuid4())), headers=phone.headers), 404
        )
        # Another cadre never paired with the household sees nothing of it.
        other = Phone(signing_key, db)
        await other.register()
        assert_problem(await registry.get(f"/help-records/{body['id']}", headers=other.headers), 404)
        # A cadre token without a cadre row, and officers, may not record.
        stray = auth(issue(signing_key, "cadre", COUNTY))
        assert (
            assert_problem(await registry.post("/help-records", json=record(paired), headers=stray), 403)[
                "code"
            ]
            == "not_a_cadre"
        )
        assert_problem(await registry.post("/help-records", json=record(paired), headers=clerk), 403)
        assert (
            await registry.post("/help-records", json=record(paired), headers=phone.headers)
        ).status_code == 201

    async def test_pairing_is_active_by_the_app_clock(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        clerk: Headers,
        db: Db,
        phone: Phone,
    ) -> None:
        """Whether the pairing is active is decided on the app clock's China date, not the database's."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)  # started 400 days ago, open-ended
        later = datetime.now(UTC) - timedelta(days=500)  # before the pairing started
        registry_app.state.clock = lambda: later
        refused = await registry.post(
            "/help-records", json=record(hid, device_time=later.isoformat()), headers=phone.headers
        )
        assert assert_problem(refused, 403)["code"] == "pairing_not_active"
        assert await count_versions(db) == 0

    async def test_help_records_change_feed(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        count = "SELECT count(*) AS n FROM registry_change WHERE kind = 'help_record'"
        before = (await db.run(count))[0]["n"]
        assert (
            await registry.post("/help-records", json=record(hid), headers=phone.headers)
        ).status_code == 201
        after = (await db.run(count))[0]["n"]
        assert after == before + 1

    # -- evidence checks -----------------------------------------------------------------------------------
    async def test_clock_skew_is_flagged(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        skewed = record(hid, device_time=(datetime.now(UTC) - timedelta(hours=25)).isoformat())
        fine = record(hid, device_time=(datetime.now(UTC) - timedelta(hours=23)).isoformat())
        future = record(hid, device_time=(datetime.now(UTC) + timedelta(days=2)).isoformat())
        flags = []
        for body in (skewed, fine, future):
            response = await registry.post("/help-records", json=body, headers=phone.headers)
            assert response.status_code == 201
            flags.append(response.json()["flags"])
        # Without X-Device-Time (the fallback, issue #13 item 14): a phone offline for a day is not skewed; a
        # visit in the future is.
        assert flags == [[], [], ["clock_skew"]]
        row = (
            await db.run(
                "SELECT device_time, received_at FROM registry_help_record WHERE id = $1",
                uuid.UUID(skewed["id"]),
            )
        )[0]
        assert row["received_at"] - row["device_time"] > timedelta(hours=24)

    async def test_far_from_household(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db, lat=BASE[0], lon=BASE[1])
        await phone.pair(hid)
        near = record(hid, gps_lat=str(BASE[0] + Decimal("0.02")), gps_lon=str(BASE[1]))  # ~2.2 km
        far = record(
            hid,
            gps_lat=str(BASE[0] + Decimal("0.06")),
            gps_lon=str(BASE[1]),  # ~6.7 km
            device_time=(datetime.now(UTC) - timedelta(hours=12)).isoformat(),
        )
        r1 = await registry.post("/help-records", json=near, headers=phone.headers)
        r2 = await registry.post("/help-records", json=far, headers=phone.headers)
        assert r1.json()["flags"] == [] and r2.json()["flags"] == ["far_from_household"]
        unlocated = await new_household(registry, clerk, db)
        await phone.pair(unlocated)
        anywhere = record(
            unlocated,
            gps_lat="40.000000",
            gps_lon="116.000000",
            device_time=(datetime.now(UTC) - timedelta(days=5)).isoformat(),
        )
        flagged = await registry.post("/help-records", json=anywhere, headers=phone.headers)
        assert flagged.json()["flags"] == []  # 5 days offline is no clock skew (issue #13 item 14)
        assert_problem(
            await registry.post("/help-records", json=record(hid, gps_lat="23.1"), headers=phone.headers), 422
        )

    async def test_impossible_speed(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        a = await new_household(registry, clerk, db, lat=BASE[0], lon=BASE[1])
        b = await new_household(
            registry, clerk, db, lat=BASE[0] + Decimal("0.9"), lon=BASE[1]
        )  # ~100 km north
        await phone.pair(a)
        await phone.pair(b)
        assert 95 < haversine_km(float(BASE[0]), float(BASE[1]), float(BASE[0]) + 0.9, float(BASE[1])) < 105
        t0 = datetime.now(UTC) - timedelta(hours=6)
        at_a = record(a, device_time=t0.isoformat(), gps_lat=str(BASE[0]), gps_lon=str(BASE[1]))
        # 100 km in 30 minutes: 200 km/h.
        rushed = record(
            b,
            device_time=(t0 + timedelta(minutes=30)).isoformat(),
            gps_lat=str(BASE[0] + Decimal("0.9")),
            gps_lon=str(BASE[1]),
        )
        # 100 km back in 3 hours: fine.
        calm = record(
            a,
            device_time=(t0 + timedelta(hours=3, minutes=30)).isoformat(),
            gps_lat=str(BASE[0]),
            gps_lon=str(BASE[1]),
        )
        flags = []
        for body in (at_a, rushed, calm):
            response = await registry.post("/help-records", json=body, headers=phone.headers)
            assert response.status_code == 201, response.text
            flags.append(response.json()["flags"])
        assert flags == [[], ["impossible_speed"], []]
        # A record synced late that lands between two others is checked against both neighbours.
        late = record(
            b,
            device_time=(t0 + timedelta(hours=3)).isoformat(),
            gps_lat=str(BASE[0] + Decimal("0.9")),
            gps_lon=str(BASE[1]),
        )
        assert (await registry.post("/help-records", json=late, headers=phone.headers)).json()["flags"] == [
            "impossible_speed"
        ]

        # Both ends of each impossible trip are flagged, whichever was synced first: the records stored before
        # their too-fast neighbour arrived now carry the flag as well (raised on them, the rows stay untouched).
        async def flags_of(body: dict[str, Any]) -> list[str]:
            return list((await read(registry, phone.headers, body["id"]))["flags"])

        assert [await flags_of(b) for b in (at_a, rushed, calm, late)] == [["impossible_speed"]] * 4
        raised = await db.run(
            "SELECT record_id, because_of FROM registry_help_record_flag ORDER BY raised_at"
        )
        assert [(str(r["record_id"]), str(r["because_of"])) for r in raised] == [
            (at_a["id"], rushed["id"]),
            (calm["id"], late["id"]),
        ]
        # The phone's download carries them too.
        download = (await registry.get("/sync/download", headers=phone.headers)).json()
        synced = {r["id"]: r["flags"] for h in download["households"] for r in h["help_records"]}
        assert synced[at_a["id"]] == ["impossible_speed"] and synced[calm["id"]] == ["impossible_speed"]

    # -- group commit (help_records/fast.py) -------------------------------------------------------------------
    async def test_concurrent_posts_share_transactions_and_each_gets_its_answer(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        other = await new_household(registry, clerk, db)  # never paired: 404
        await phone.pair(hid)
        writer: RecordWriter = registry_app.state.record_writer
        groups_before = writer.groups
        bodies = [record(hid) for _ in range(40)]
        twin = dict(bodies[0])  # the same record twice at once: one 201, one 200
        clash = {**bodies[1], "content": "另一条记录"}  # the same id with other content: 409
        stranger = record(other)
        sent = [*bodies, twin, clash, stranger]
        responses = await asyncio.gather(
            *(registry.post("/help-records", json=b, headers=phone.headers) for b in sent)
        )
        codes = [r.status_code for r in responses]
        assert codes[2:40] == [201] * 38
        assert sorted([codes[0], codes[40]]) == [200, 201]
        assert sorted([codes[1], codes[41]]) == [201, 409]
        assert_problem(responses[41] if codes[41] == 409 else responses[1], 409)
        assert_problem(responses[42], 404)
        for body, response in zip(bodies[2:], responses[2:40], strict=True):
            assert response.json()["id"] == body["id"] and response.headers["location"].endswith(body["id"])
        assert await count_versions(db) == 40
        # Forty-odd POSTs arrived together: they were stored in fewer transactions than records.
        assert 1 <= writer.groups - groups_before < 40
        metrics = (await registry.get("/metrics")).text
        assert "jingzhun_help_record_group_size_count" in metrics  # how well grouping works, for operators

    async def test_a_record_the_database_refuses_fails_alone(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        # A real refusal from PostgreSQL for one record of the group (a rule the API does not know about).
        await db.run(
            "CREATE FUNCTION test_refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
            " IF NEW.content = 'poison' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$"
        )
        await db.run(
            "CREATE TRIGGER test_refuse_poison BEFORE INSERT ON registry_help_record"
            " FOR EACH ROW EXECUTE FUNCTION test_refuse_poison()"
        )
        try:
            bodies = [record(hid) for _ in range(12)]
            bodies[5]["content"] = "poison"
            # A client that gets the 500 answer instead of the exception the in-process transport re-raises.
            transport = httpx.ASGITransport(app=registry_app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                responses = await asyncio.gather(
                    *(client.post("/help-records", json=b, headers=phone.headers) for b in bodies)
                )
        finally:
            await db.run("DROP TRIGGER test_refuse_poison ON registry_help_record")
            await db.run("DROP FUNCTION test_refuse_poison()")
        codes = [r.status_code for r in responses]
        assert codes[:5] + codes[6:] == [201] * 11
        assert_problem(responses[5], 500)
        assert await count_versions(db) == 11


# == POST /help-records/batch ======================================================================================
class TestBatchHelpRecords:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        one = [record(str(uuid.uuid4()))]
        assert_problem(await registry.post("/help-records/batch", json={"records": one}), 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, clerk: Headers, signing_key: SigningKey
    ) -> None:
        one = [record(str(uuid.uuid4()))]
        assert_problem(await registry.post("/help-records/batch", json={"records": one}, headers=clerk), 403)
        stray = auth(issue(signing_key, "cadre", COUNTY))  # a cadre login with no cadre row
        refused = await registry.post("/help-records/batch", json={"records": one}, headers=stray)
        assert assert_problem(refused, 403)["code"] == "not_a_cadre"

    async def test_invalid(self, registry: httpx.AsyncClient, phone: Phone) -> None:
        too_many = [record(str(uuid.uuid4())) for _ in range(501)]
        assert_problem(
            await registry.post("/help-records/batch", json={"records": too_many}, headers=phone.headers), 422
        )
        assert_problem(
            await registry.post("/help-records/batch", json={"records": []}, headers=phone.headers), 422
        )

    async def test_device_time_out_of_range_is_rejected_alone(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        """One record with an impossible phone time is rejected with its reason; the rest are stored, and the
        phone's resend answers the same (it no longer fails forever)."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        records = [record(hid) for _ in range(4)]
        records[1]["device_time"], records[3]["device_time"] = OUT_OF_RANGE_TIMES
        for attempt in range(2):
            response = await registry.post(
                "/help-records/batch", json={"records": records}, headers=phone.headers
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert (body["created"], body["already_present"], body["rejected"]) == (
                (2, 0, 2) if attempt == 0 else (0, 2, 2)
            )
            for index in (1, 3):
                rejected = body["results"][index]
                assert rejected["outcome"] == "rejected" and rejected["status_code"] == 422
                assert rejected["errors"][0]["pointer"] == "/device_time"
                assert rejected["errors"][0]["code"] == "datetime_out_of_range"
                assert "device_time" in rejected["detail"]
        assert await count_versions(db) == 2

    async def test_valid(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        """A batch of 500 answers per record."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        stranger = await new_household(registry, clerk, db)
        start = datetime.now(UTC) - timedelta(days=1)
        records = [record(hid, device_time=(start + timedelta(minutes=i)).isoformat()) for i in range(500)]
        records[17]["money_yuan"] = "-1.00"  # invalid
        records[42]["household_id"] = stranger  # not paired: 404
        records[99]["measures"] = [{"measure": "teleportation"}]
        records[123]["content"] = "bad\u0000byte"
        started = asyncio.get_running_loop().time()
        response = await registry.post(
            "/help-records/batch", json={"records": records}, headers=phone.headers
        )
        elapsed = asyncio.get_running_loop().time() - started
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["created"], body["already_present"], body["rejected"]) == (496, 0, 4)
        results = body["results"]
        assert [r["id"] for r in results] == [r["id"] for r in records]
        assert results[17]["outcome"] == "rejected" and results[17]["status_code"] == 422
        assert "money_yuan" in results[17]["detail"]
        assert results[42]["status_code"] == 404 and results[99]["status_code"] == 422
        assert results[123]["status_code"] == 422
        assert results[0] == {
            "index": 0,
            "id": records[0]["id"],
            "outcome": "created",
            "status_code": 201,
            "detail": None,
            "version": 1,
        }
        # A rejected record carries its problem's code (null for validation errors) and the field errors.
        assert results[17]["code"] is None and results[17]["errors"][0]["pointer"].startswith("/money_yuan")
        assert results[42]["code"] == "not_found" and results[42]["errors"] == []
        # Each accepted result references the record: read it at its id, at the version given.
        stored = await read(registry, phone.headers, records[0]["id"])
        assert stored["version"] == results[0]["version"] and set(stored) == public_keys()
        assert await count_versions(db) == 496
        print(f"500-record batch: {elapsed:.3f} s")
        # Sending it again: everything already present, the bad ones still rejected.
        again = (
            await registry.post("/help-records/batch", json={"records": records}, headers=phone.headers)
        ).json()
        assert (again["created"], again["already_present"], again["rejected"]) == (0, 496, 4)

    async def test_impossible_speed_within_one_batch_flags_both(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        a = await new_household(registry, clerk, db, lat=BASE[0], lon=BASE[1])
        b = await new_household(registry, clerk, db, lat=BASE[0] + Decimal("0.9"), lon=BASE[1])  # ~100 km
        await phone.pair(a)
        await phone.pair(b)
        t0 = datetime.now(UTC) - timedelta(hours=6)
        first = record(a, device_time=t0.isoformat(), gps_lat=str(BASE[0]), gps_lon=str(BASE[1]))
        rushed = record(
            b,
            device_time=(t0 + timedelta(minutes=30)).isoformat(),
            gps_lat=str(BASE[0] + Decimal("0.9")),
            gps_lon=str(BASE[1]),
        )
        calm = (
            record(  # 3 hours later back at the first household: fine against `rushed`... but not `first`'s
                a,
                device_time=(t0 + timedelta(hours=3, minutes=30)).isoformat(),
                gps_lat=str(BASE[0]),
                gps_lon=str(BASE[1]),
            )
        )
        response = await registry.post(
            "/help-records/batch", json={"records": [calm, rushed, first]}, headers=phone.headers
        )
        assert response.json()["created"] == 3, response.text
        flags = {}
        for body in (first, rushed, calm):
            flags[body["id"]] = (await read(registry, phone.headers, body["id"]))["flags"]
        # Both ends of the rushed trip are flagged, whichever order the phone sent them in.
        assert flags == {
            first["id"]: ["impossible_speed"],
            rushed["id"]: ["impossible_speed"],
            calm["id"]: [],
        }


# == GET /help-records/{record_id} ===============================================================================
class TestReadHelpRecord:
    async def test_anonymous(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        assert_problem(await registry.get(f"/help-records/{body['id']}"), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        for headers in (
            auth(issue(signing_key, "township_officer", OTHER_TOWNSHIP)),
            auth(issue(signing_key, "village_officer", OTHER_VILLAGE)),
        ):
            assert_problem(await registry.get(f"/help-records/{body['id']}", headers=headers), 404)
        assert_problem(await registry.get(f"/help-records/{uuid.uuid4()}", headers=clerk), 404)

    async def test_valid(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        db: Db,
        phone: Phone,
        signing_key: SigningKey,
    ) -> None:
        """Officers read in scope only."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        assert (await registry.post("/help-records", json=body, headers=phone.headers)).status_code == 201
        for headers in (clerk, township, auth(issue(signing_key, "county_admin", COUNTY))):
            response = await registry.get(f"/help-records/{body['id']}", headers=headers)
            assert response.status_code == 200 and response.headers["etag"] == '"1"'
            assert set(response.json()) == public_keys()
            listed = await registry.get(f"/households/{hid}/help-records", headers=headers)
            assert len(listed.json()["items"]) == 1
        for headers in (
            auth(issue(signing_key, "township_officer", OTHER_TOWNSHIP)),
            auth(issue(signing_key, "village_officer", OTHER_VILLAGE)),
        ):
            assert_problem(await registry.get(f"/help-records/{body['id']}", headers=headers), 404)
            assert_problem(await registry.get(f"/households/{hid}/help-records", headers=headers), 404)
            assert_problem(
                await registry.post(
                    f"/help-records/{body['id']}/confirmations",
                    json={"party": "unit_responsible", "signatory": "x"},
                    headers=headers,
                ),
                404,
            )
        assert_problem(await registry.get(f"/help-records/{body['id']}"), 401)
        assert_problem(await registry.get(f"/households/{hid}/help-records?cursor=!!!", headers=clerk), 400)


# == POST /help-records/{record_id}/versions ===================================================================
class TestCorrectHelpRecord:
    @pytest.mark.parametrize("moment", OUT_OF_RANGE_TIMES)
    async def test_device_time_out_of_range(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, moment: str
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        refused = await registry.post(
            f"/help-records/{body['id']}/versions",
            json=correction(body, device_time=moment),
            headers=phone.headers | {"If-Match": '"1"'},
        )
        assert assert_problem(refused, 422)["errors"][0]["code"] == "datetime_out_of_range"
        assert await count_versions(db, None) == 1

    async def test_anonymous(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        anonymous = await registry.post(
            f"/help-records/{body['id']}/versions", json=correction(body), headers={"If-Match": '"1"'}
        )
        assert_problem(anonymous, 401)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        refused = await registry.post(
            f"/help-records/{body['id']}/versions", json=correction(body), headers=clerk | {"If-Match": '"1"'}
        )
        assert_problem(refused, 403)
        assert await count_versions(db, None) == 1

    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        no_reason = {k: v for k, v in correction(body).items() if k != "correction_reason"}
        refused = await registry.post(
            f"/help-records/{body['id']}/versions",
            json=no_reason,
            headers=phone.headers | {"If-Match": '"1"'},
        )
        assert_problem(refused, 422)
        assert await count_versions(db, None) == 1

    async def test_valid(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        """Corrections are versions."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        rid = body["id"]
        assert (await registry.post("/help-records", json=body, headers=phone.headers)).status_code == 201
        fix = {k: v for k, v in body.items() if k not in ("id", "household_id")}
        fix |= {"content": "入户走访送化肥两袋", "correction_reason": "补充内容"}
        assert_problem(
            await registry.post(f"/help-records/{rid}/versions", json=fix, headers=phone.headers), 428
        )
        stale = await registry.post(
            f"/help-records/{rid}/versions", json=fix, headers=phone.headers | {"If-Match": '"7"'}
        )
        assert assert_problem(stale, 412)["current_version"] == 1 and stale.headers["etag"] == '"1"'
        ok = await registry.post(
            f"/help-records/{rid}/versions", json=fix, headers=phone.headers | {"If-Match": '"1"'}
        )
        assert ok.status_code == 201, ok.text
        assert ok.headers["etag"] == '"2"' and ok.json()["content"] == "入户走访送化肥两袋"
        assert ok.json()["correction_reason"] == "补充内容" and set(ok.json()) == public_keys()
        lost = await registry.post(
            f"/help-records/{rid}/versions", json=fix, headers=phone.headers | {"If-Match": '"1"'}
        )
        assert_problem(lost, 412)
        view = await read(registry, phone.headers, rid)
        assert view["version"] == 2
        assert [(v["version"], v["correction_reason"]) for v in view["versions"]] == [
            (1, None),
            (2, "补充内容"),
        ]
        rows = await db.run(
            "SELECT version, content FROM registry_help_record WHERE id = $1 ORDER BY version", uuid.UUID(rid)
        )
        assert [r["content"] for r in rows] == [body["content"], "入户走访送化肥两袋"]
        # The phone retrying the original POST still gets "already present" (now showing the newest version).
        retry = await registry.post("/help-records", json=body, headers=phone.headers)
        assert retry.status_code == 200 and retry.json()["version"] == 2
        # Only the record's cadre corrects.
        assert_problem(
            await registry.post(
                f"/help-records/{rid}/versions", json=fix, headers=clerk | {"If-Match": '"2"'}
            ),
            403,
        )
        # The list shows one entry per record (the newest version).
        items = (await registry.get(f"/households/{hid}/help-records", headers=clerk)).json()["items"]
        assert [(i["id"], i["version"]) for i in items] == [(rid, 2)]

    async def test_a_correction_keeps_the_photo_reuse_flag(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        a, b = await new_household(registry, clerk, db), await new_household(registry, clerk, db)
        await phone.pair(a)
        await phone.pair(b)
        ra, rb = record(a), record(b)
        for body in (ra, rb):
            await posted(registry, phone, body)
            png = phone.headers | {"Content-Type": "image/png"}
            attached = await registry.post(
                f"/help-records/{body['id']}/attachments", content=PNG, headers=png
            )
            assert attached.status_code == 201, attached.text
        fixed = await registry.post(
            f"/help-records/{ra['id']}/versions",
            json=correction(ra),
            headers=phone.headers | {"If-Match": '"1"'},
        )
        assert fixed.status_code == 201, fixed.text
        assert fixed.json()["version"] == 2 and fixed.json()["flags"] == ["photo_reused"]


# == POST /help-records/{record_id}/confirmations ==============================================================
class TestConfirmHelpRecord:
    async def test_anonymous(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        head = {"party": "household_head", "signatory": "黄志强"}
        assert_problem(await registry.post(f"/help-records/{body['id']}/confirmations", json=head), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        far_clerk = auth(issue(signing_key, "village_officer", OTHER_VILLAGE))
        director = {"party": "village_director", "signatory": "韦主任"}
        url = f"/help-records/{body['id']}/confirmations"
        assert_problem(await registry.post(url, json=director, headers=far_clerk), 404)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        head = {"party": "household_head", "signatory": "黄志强"}
        refused = await registry.post(f"/help-records/{body['id']}/confirmations", json=head, headers=clerk)
        assert assert_problem(refused, 403)["code"] == "may_not_confirm"

    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        url = f"/help-records/{body['id']}/confirmations"
        assert_problem(
            await registry.post(url, json={"party": "mayor", "signatory": "x"}, headers=clerk), 422
        )

    async def test_valid(
        self,
        registry: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        db: Db,
        phone: Phone,
        signing_key: SigningKey,
    ) -> None:
        """Confirmed only with all three signatures; a signed record takes no correction."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        rid = body["id"]
        assert (await registry.post("/help-records", json=body, headers=phone.headers)).status_code == 201
        url = f"/help-records/{rid}/confirmations"
        head = await head_signature(registry, phone, rid)
        assert_problem(await registry.post(url, json=head, headers=clerk), 403)
        first = await registry.post(url, json=head, headers=phone.headers)
        assert first.status_code == 201 and first.json()["confirmation_status"] == "partially_confirmed"
        assert (await registry.post(url, json=head, headers=phone.headers)).status_code == 200
        other = await registry.post(url, json=head | {"signatory": "别人"}, headers=phone.headers)
        assert assert_problem(other, 409)["code"] == "already_confirmed"
        director = {"party": "village_director", "signatory": "韦主任"}
        assert_problem(await registry.post(url, json=director, headers=phone.headers), 403)
        assert_problem(await registry.post(url, json=director, headers=township), 403)
        far_clerk = auth(issue(signing_key, "village_officer", OTHER_VILLAGE))
        assert_problem(await registry.post(url, json=director, headers=far_clerk), 404)
        second = await registry.post(url, json=director, headers=clerk)
        assert second.status_code == 201 and second.json()["confirmation_status"] == "partially_confirmed"
        third = await registry.post(
            url, json={"party": "unit_responsible", "signatory": "李局长"}, headers=township
        )
        assert third.status_code == 201, third.text
        view = third.json()
        assert view["confirmation_status"] == "confirmed"
        assert {c["party"]: c["signatory"] for c in view["confirmations"]} == {
            "household_head": "黄志强",
            "village_director": "韦主任",
            "unit_responsible": "李局长",
        }
        assert all(c["confirmed_at"] for c in view["confirmations"])
        fix = {k: v for k, v in body.items() if k not in ("id", "household_id")} | {"correction_reason": "改"}
        late = await registry.post(
            f"/help-records/{rid}/versions", json=fix, headers=phone.headers | {"If-Match": '"1"'}
        )
        assert assert_problem(late, 409)["code"] == "record_confirmed"
        province = auth(issue(signing_key, "province_system", "450000000000"))
        assert (await read(registry, province, rid))["confirmation_status"] == "confirmed"
        assert_problem(await registry.post(url, json=director, headers=province), 403)

    async def test_one_signature_already_blocks_corrections(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        head = await head_signature(registry, phone, body["id"])
        signed = await registry.post(
            f"/help-records/{body['id']}/confirmations", json=head, headers=phone.headers
        )
        assert signed.status_code == 201
        late = await registry.post(
            f"/help-records/{body['id']}/versions",
            json=correction(body),
            headers=phone.headers | {"If-Match": '"1"'},
        )
        assert assert_problem(late, 409)["code"] == "record_confirmed"


# == POST /help-records/{record_id}/attachments ================================================================
class TestAddAttachment:
    async def test_anonymous(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        anonymous = await registry.post(
            f"/help-records/{body['id']}/attachments", content=PNG, headers={"Content-Type": "image/png"}
        )
        assert_problem(anonymous, 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        other = Phone(signing_key, db)
        await other.register()
        refused = await registry.post(
            f"/help-records/{body['id']}/attachments",
            content=PNG,
            headers=other.headers | {"Content-Type": "image/png"},
        )
        assert_problem(refused, 404)

    async def test_valid(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, township: Headers
    ) -> None:
        """Limits (type, size, count) and the hash."""
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        rid = body["id"]
        assert (await registry.post("/help-records", json=body, headers=phone.headers)).status_code == 201
        url = f"/help-records/{rid}/attachments"
        png = phone.headers | {"Content-Type": "image/png"}
        first = await registry.post(url, content=PNG, headers=png)
        assert first.status_code == 201, first.text
        meta = first.json()
        assert meta["sha256"] == hashlib.sha256(PNG).hexdigest() and meta["size"] == len(PNG)
        assert first.headers["location"] == f"{url}/{meta['id']}"
        again = await registry.post(url, content=PNG, headers=png)
        assert again.status_code == 200 and again.json()["id"] == meta["id"]
        assert_problem(
            await registry.post(
                url, content=b"GIF89a....", headers=phone.headers | {"Content-Type": "image/gif"}
            ),
            415,
        )
        assert_problem(
            await registry.post(url, content=PNG, headers=phone.headers | {"Content-Type": "image/jpeg"}), 415
        )
        big = b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024)
        assert_problem(
            await registry.post(url, content=big, headers=phone.headers | {"Content-Type": "image/jpeg"}), 413
        )
        assert_problem(
            await registry.post(url, content=PNG + b"x", headers=township | {"Content-Type": "image/png"}),
            403,
        )
        for i in range(9):
            ok = await registry.post(
                url, content=JPEG + bytes([i]), headers=phone.headers | {"Content-Type": "image/jpeg"}
            )
            assert ok.status_code == 201, ok.text
        eleventh = await registry.post(
            url, content=JPEG + b"\xff\xff", headers=phone.headers | {"Content-Type": "image/jpeg"}
        )
        assert assert_problem(eleventh, 422)["code"] == "too_many_attachments"
        photo = await registry.get(f"{url}/{meta['id']}", headers=township)
        assert photo.status_code == 200 and photo.content == PNG
        assert photo.headers["content-type"] == "image/png"
        assert photo.headers["etag"] == f'"{meta["sha256"]}"'
        view = await read(registry, clerk, rid)
        assert len(view["attachments"]) == 10 and view["attachments"][0]["sha256"] == meta["sha256"]
        assert view["attachments"][0] == meta  # the upload answers the same metadata the record shows
        assert_problem(await registry.get(f"{url}/{uuid.uuid4()}", headers=clerk), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        empty = await registry.post(
            f"/help-records/{body['id']}/attachments",
            content=b"",
            headers=phone.headers | {"Content-Type": "image/png"},
        )
        assert assert_problem(empty, 422)["code"] == "empty_attachment"

    async def test_photo_reused_across_households(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        a = await new_household(registry, clerk, db)
        b = await new_household(registry, clerk, db)
        await phone.pair(a)
        await phone.pair(b)
        ra, rb, rc = record(a), record(b), record(a)
        for body in (ra, rb, rc):
            assert (await registry.post("/help-records", json=body, headers=phone.headers)).status_code == 201
        png = phone.headers | {"Content-Type": "image/png"}
        assert (
            await registry.post(f"/help-records/{ra['id']}/attachments", content=PNG, headers=png)
        ).status_code == 201
        view = await read(registry, phone.headers, ra["id"])
        assert view["flags"] == []
        # The same photo on the same household's other record is fine; on another household's record it is not.
        assert (
            await registry.post(f"/help-records/{rc['id']}/attachments", content=PNG, headers=png)
        ).status_code == 201
        assert (await read(registry, phone.headers, rc["id"]))["flags"] == []
        assert (
            await registry.post(f"/help-records/{rb['id']}/attachments", content=PNG, headers=png)
        ).status_code == 201
        for rid in (ra["id"], rb["id"]):
            assert (await read(registry, phone.headers, rid))["flags"] == ["photo_reused"]
        items = (await registry.get(f"/households/{b}/help-records", headers=clerk)).json()["items"]
        assert items[0]["flags"] == ["photo_reused"]
        # Every record carrying the photo is flagged, and the phone's download says so too.
        assert (await read(registry, phone.headers, rc["id"]))["flags"] == ["photo_reused"]
        download = (await registry.get("/sync/download", headers=phone.headers)).json()
        synced = {r["id"]: r["flags"] for h in download["households"] for r in h["help_records"]}
        assert synced == {ra["id"]: ["photo_reused"], rb["id"]: ["photo_reused"], rc["id"]: ["photo_reused"]}


# == GET /help-records/{record_id}/attachments/{attachment_id} =================================================
class TestReadAttachment:
    async def _photo(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> str:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        await posted(registry, phone, body)
        url = f"/help-records/{body['id']}/attachments"
        attached = await registry.post(
            url, content=PNG, headers=phone.headers | {"Content-Type": "image/png"}
        )
        assert attached.status_code == 201, attached.text
        return f"{url}/{attached.json()['id']}"

    async def test_anonymous(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        assert_problem(await registry.get(await self._photo(registry, clerk, db, phone)), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone, signing_key: SigningKey
    ) -> None:
        url = await self._photo(registry, clerk, db, phone)
        far_clerk = auth(issue(signing_key, "village_officer", OTHER_VILLAGE))
        assert_problem(await registry.get(url, headers=far_clerk), 404)

    async def test_valid(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        url = await self._photo(registry, clerk, db, phone)
        photo = await registry.get(url, headers=clerk)
        assert photo.status_code == 200 and photo.content == PNG
        assert photo.headers["cache-control"] == "private, max-age=86400, immutable"
        assert photo.headers["x-content-type-options"] == "nosniff"  # issue #14 item 9: never sniffed as HTML
        cached = await registry.get(url, headers=clerk | {"If-None-Match": photo.headers["etag"]})
        assert cached.status_code == 304 and cached.content == b""


# == GET /households/{household_id}/help-records ===============================================================
class TestListHelpRecords:
    async def test_anonymous(self, registry: httpx.AsyncClient, clerk: Headers, db: Db) -> None:
        hid = await new_household(registry, clerk, db)
        assert_problem(await registry.get(f"/households/{hid}/help-records"), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, signing_key: SigningKey
    ) -> None:
        hid = await new_household(registry, clerk, db)
        far_clerk = auth(issue(signing_key, "village_officer", OTHER_VILLAGE))
        assert_problem(await registry.get(f"/households/{hid}/help-records", headers=far_clerk), 404)
        assert_problem(await registry.get(f"/households/{uuid.uuid4()}/help-records", headers=clerk), 404)

    async def test_invalid(self, registry: httpx.AsyncClient, clerk: Headers, db: Db) -> None:
        hid = await new_household(registry, clerk, db)
        url = f"/households/{hid}/help-records"
        assert_problem(await registry.get(f"{url}?cursor=!!!", headers=clerk), 400)
        # A cursor of another list (shared.pagination: the kind names the ordering) is not one of these.
        foreign = encode_cursor("households.village", "451025100201", str(uuid.uuid4()))
        assert (
            assert_problem(await registry.get(url, params={"cursor": foreign}, headers=clerk), 400)["code"]
            == "cursor_invalid"
        )
        assert_problem(await registry.get(f"{url}?limit=0", headers=clerk), 422)

    async def test_valid(self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        start = datetime.now(UTC) - timedelta(days=1)
        bodies = [record(hid, device_time=(start + timedelta(minutes=i)).isoformat()) for i in range(5)]
        for body in bodies:
            await posted(registry, phone, body)
        first = (await registry.get(f"/households/{hid}/help-records?limit=3", headers=clerk)).json()
        assert [i["id"] for i in first["items"]] == [b["id"] for b in reversed(bodies[2:])]
        rest = await registry.get(
            f"/households/{hid}/help-records",
            params={"limit": 3, "cursor": first["next_cursor"]},
            headers=clerk,
        )
        assert [i["id"] for i in rest.json()["items"]] == [bodies[1]["id"], bodies[0]["id"]]
        assert rest.json()["next_cursor"] is None
        # Every item is the record's one shape.
        for item in first["items"]:
            assert item == await read(registry, clerk, item["id"])


# == the database keeps records append-only ===================================================================
class TestAppendOnly:
    async def test_records_are_append_only(
        self, registry: httpx.AsyncClient, clerk: Headers, db: Db, phone: Phone
    ) -> None:
        hid = await new_household(registry, clerk, db)
        await phone.pair(hid)
        body = record(hid)
        assert (await registry.post("/help-records", json=body, headers=phone.headers)).status_code == 201
        confirm = await head_signature(registry, phone, body["id"])
        assert (
            await registry.post(
                f"/help-records/{body['id']}/confirmations", json=confirm, headers=phone.headers
            )
        ).status_code == 201
        for sql in (
            "UPDATE registry_help_record SET content = 'rewritten' WHERE id = $1",
            "DELETE FROM registry_help_record WHERE id = $1",
            "UPDATE registry_help_confirmation SET signatory = 'x' WHERE record_id = $1",
            "DELETE FROM registry_help_confirmation WHERE record_id = $1",
        ):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await db.run(sql, uuid.UUID(body["id"]))
        await db.run(
            "INSERT INTO registry_help_record_flag (record_id, version, flag, because_of, household_id)"
            " VALUES ($1, 1, 'impossible_speed', $2, $3)",
            uuid.UUID(body["id"]),
            uuid.uuid4(),
            uuid.UUID(hid),
        )
        for sql in (
            "UPDATE registry_help_record_flag SET flag = 'x' WHERE record_id = $1",
            "DELETE FROM registry_help_record_flag WHERE record_id = $1",
        ):
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await db.run(sql, uuid.UUID(body["id"]))
        assert (await db.run("SELECT content FROM registry_help_record"))[0]["content"] == body["content"]
