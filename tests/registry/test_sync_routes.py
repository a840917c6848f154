"""Phone download `GET /sync/download` (issue #4): full and incremental sync for a cadre, removals, scoping.

Units, cadres, pairings and help records are written straight into the database (their own APIs are tested
elsewhere); households go through `POST /households` so the change-feed triggers see real writes. The pure
cursor rules are in test_sync_domain.py.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.registry.help_records.schemas import HelpRecordPublic
from services.registry.sync.domain import SyncCursor
from services.registry.sync.schemas import SyncDownload, decode_cursor, encode_cursor
from shared.jwt import SigningKey
from shared.pagination import encode_cursor as encode_keyset
from tests.factories import (
    COUNTY,
    VILLAGE,
    assert_problem,
    auth,
    household_payload,
    issue,
)

START = date(2026, 1, 1)

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
async def db(db_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def clerk(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "village_officer", VILLAGE))


class World:
    """A helping unit with two cadres (A and B) who log in as `sub_a` / `sub_b`."""

    def __init__(
        self,
        db: asyncpg.Connection,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        signing_key: SigningKey,
    ) -> None:
        self.db, self.registry, self.clerk, self.key = db, registry, clerk, signing_key
        self.unit = uuid.uuid4()
        self.cadre_a, self.cadre_b = uuid.uuid4(), uuid.uuid4()
        self.sub_a, self.sub_b = str(uuid.uuid4()), str(uuid.uuid4())

    async def setup(self) -> None:
        await self.db.execute(
            "INSERT INTO registry_helping_unit (id, name, kind, region_code, created_by)"
            " VALUES ($1, '靖西市财政局', 'government_department', $2, 'test')",
            self.unit,
            COUNTY,
        )
        for cadre, sub, name in ((self.cadre_a, self.sub_a, "李明"), (self.cadre_b, self.sub_b, "王芳")):
            await self.db.execute(
                "INSERT INTO registry_cadre (id, unit_id, name, position_level, user_sub, region_code, created_by)"
                " VALUES ($1, $2, $3, 'staff', $4, $5, 'test')",
                cadre,
                self.unit,
                name,
                sub,
                COUNTY,
            )

    def headers(self, sub: str) -> dict[str, str]:
        return auth(issue(self.key, "cadre", COUNTY, sub=sub))

    async def household(self) -> uuid.UUID:
        response = await self.registry.post("/households", json=household_payload(), headers=self.clerk)
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["id"])

    async def today(self) -> date:
        today: date = await self.db.fetchval("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")
        return today

    async def pair(
        self,
        household: uuid.UUID,
        cadre: uuid.UUID,
        *,
        valid_from: date = START,
        valid_to: date | None = None,
    ) -> uuid.UUID:
        pairing_id = uuid.uuid4()
        await self.db.execute(
            "INSERT INTO registry_pairing (id, household_id, cadre_id, unit_id, role, valid_from, valid_to,"
            " recorded_at, recorded_by) VALUES ($1, $2, $3, $4, 'primary', $5, $6, now(), 'test')",
            pairing_id,
            household,
            cadre,
            self.unit,
            valid_from,
            valid_to,
        )
        return pairing_id

    async def end_pairing(self, pairing_id: uuid.UUID) -> None:
        """Supersede the current row with one ending today (the only rewrite the trigger allows)."""
        async with self.db.transaction():
            row = await self.db.fetchrow(
                "UPDATE registry_pairing SET superseded_at = now() WHERE id = $1 AND superseded_at IS NULL"
                " RETURNING household_id, cadre_id, valid_from",
                pairing_id,
            )
            assert row is not None
            await self.db.execute(
                "INSERT INTO registry_pairing (id, household_id, cadre_id, unit_id, role, valid_from, valid_to,"
                " end_reason, recorded_at, recorded_by)"
                " VALUES ($1, $2, $3, $4, 'primary', $5, $6, 'handover', now(), 'test')",
                pairing_id,
                row["household_id"],
                row["cadre_id"],
                self.unit,
                row["valid_from"],
                await self.today(),
            )

    async def record(
        self,
        household: uuid.UUID,
        *,
        at: datetime,
        version: int = 1,
        record_id: uuid.UUID | None = None,
        content: str = "走访",
        conn: asyncpg.Connection | None = None,
    ) -> uuid.UUID:
        record_id = record_id or uuid.uuid4()
        await (conn or self.db).execute(
            "INSERT INTO registry_help_record (id, version, household_id, cadre_id, record_type, device_time,"
            " received_at, content, money_fen, payload_hash, created_by)"
            " VALUES ($1, $2, $3, $4, 'visit', $5, now(), $6, 12345, 'h', 'test')",
            record_id,
            version,
            household,
            self.cadre_a,
            at,
            content,
        )
        return record_id

    async def download(self, sub: str, cursor: str | None = None, **params: Any) -> dict[str, Any]:
        query = dict(params) | ({"cursor": cursor} if cursor is not None else {})
        response = await self.registry.get("/sync/download", params=query, headers=self.headers(sub))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        SyncDownload.model_validate(body)  # every download keeps the documented shape, exactly
        return body


@pytest.fixture
async def world(
    db: asyncpg.Connection, registry: httpx.AsyncClient, clerk: dict[str, str], signing_key: SigningKey
) -> World:
    w = World(db, registry, clerk, signing_key)
    await w.setup()
    return w


def ids(body: dict[str, Any]) -> set[uuid.UUID]:
    return {uuid.UUID(h["id"]) for h in body["households"]}


class TestFullSync:
    async def test_exactly_the_active_pairings(self, world: World) -> None:
        active, second, ended, other, future = [await world.household() for _ in range(5)]
        await world.pair(active, world.cadre_a)
        await world.pair(second, world.cadre_a)
        await world.pair(ended, world.cadre_a, valid_to=date(2026, 3, 1))
        await world.pair(other, world.cadre_b)
        await world.pair(future, world.cadre_a, valid_from=date(2099, 1, 1))
        body = await world.download(world.sub_a)
        assert body["full"] is True and body["removed"] == []
        assert ids(body) == {active, second}
        card = next(h for h in body["households"] if h["id"] == str(active))
        assert card["card"]["id"] == str(active) and card["card"]["head_name"] == "黄志强"
        assert card["card"]["members"][0]["resident_id_number"].count("*") == 8  # masked as on the card
        assert card["card"]["pairings"][0]["cadre_name"] == "李明" and card["help_records"] == []
        assert datetime.fromisoformat(body["server_time"]).tzinfo is not None
        assert decode_cursor(body["cursor"]).seq > 0

    async def test_cadre_without_pairings_gets_nothing(self, world: World) -> None:
        await world.pair(await world.household(), world.cadre_a)
        body = await world.download(str(uuid.uuid4()))  # a cadre login with no registry_cadre row
        assert body["households"] == [] and body["full"] is True

    @pytest.mark.parametrize(
        "role", ["village_officer", "county_admin", "township_officer", "province_system"]
    )
    async def test_other_roles(self, world: World, role: str) -> None:
        region = {
            "village_officer": VILLAGE,
            "township_officer": "451025100000",
            "province_system": "450000000000",
        }
        token = issue(world.key, role, region.get(role, COUNTY))
        response = await world.registry.get("/sync/download", headers=auth(token))
        assert_problem(response, 403)

    async def test_anonymous(self, world: World) -> None:
        assert_problem(await world.registry.get("/sync/download"), 401)


class TestIncremental:
    async def test_only_the_changed_household(self, world: World) -> None:
        first, second = await world.household(), await world.household()
        for household in (first, second):
            await world.pair(household, world.cadre_a)
        cursor = (await world.download(world.sub_a))["cursor"]
        unchanged = await world.download(world.sub_a, cursor)
        assert unchanged["full"] is False and unchanged["households"] == [] and unchanged["removed"] == []

        url = f"/households/{first}"
        patched = await world.registry.patch(
            url, json={"main_income_source": "breeding"}, headers=world.clerk | {"If-Match": '"1"'}
        )
        assert patched.status_code == 200, patched.text
        body = await world.download(world.sub_a, cursor)
        assert body["full"] is False and ids(body) == {first} and body["removed"] == []
        assert body["households"][0]["card"]["main_income_source"] == "breeding"
        assert body["households"][0]["card"]["version"] == 2
        again = await world.download(world.sub_a, body["cursor"])
        assert again["households"] == [] and again["removed"] == []

    async def test_help_record_brings_its_household(self, world: World) -> None:
        first, second = await world.household(), await world.household()
        for household in (first, second):
            await world.pair(household, world.cadre_a)
        cursor = (await world.download(world.sub_a))["cursor"]
        record = await world.record(second, at=datetime(2026, 11, 20, 9, tzinfo=UTC))
        body = await world.download(world.sub_a, cursor)
        assert ids(body) == {second}
        assert [r["id"] for r in body["households"][0]["help_records"]] == [str(record)]
        await world.db.execute(
            "INSERT INTO registry_help_confirmation (record_id, party, confirmed_at, confirmed_by, signatory)"
            " VALUES ($1, 'household_head', now(), 'test', '黄志强')",
            record,
        )
        confirmed = await world.download(world.sub_a, body["cursor"])
        assert ids(confirmed) == {second}
        assert confirmed["households"][0]["help_records"][0]["confirmation_status"] == "partially_confirmed"

    async def test_ended_pairing_is_removed(self, world: World) -> None:
        kept, ending = await world.household(), await world.household()
        await world.pair(kept, world.cadre_a)
        pairing_id = await world.pair(ending, world.cadre_a)
        cursor = (await world.download(world.sub_a))["cursor"]
        await world.end_pairing(pairing_id)
        body = await world.download(world.sub_a, cursor)
        assert body["removed"] == [str(ending)] and body["households"] == []
        assert (await world.download(world.sub_a, body["cursor"]))["removed"] == []
        full = await world.download(world.sub_a)
        assert ids(full) == {kept}

    async def test_pairing_ended_by_date_is_removed(self, world: World) -> None:
        household = await world.household()
        today = await world.today()
        await world.pair(household, world.cadre_a, valid_to=today)  # ends today: not active any more
        yesterday = SyncCursor(
            seq=await world.db.fetchval("SELECT max(seq) FROM registry_change"),
            horizon=None,
            day=today - timedelta(days=1),
            issued_at=int(time.time()) - 86400,
        )
        body = await world.download(world.sub_a, encode_cursor(yesterday))
        assert body["full"] is False and body["removed"] == [str(household)]

    async def test_new_pairing_comes_in_full(self, world: World) -> None:
        mine, newly = await world.household(), await world.household()
        await world.pair(mine, world.cadre_a)
        record = await world.record(newly, at=datetime(2026, 11, 1, 9, tzinfo=UTC))
        cursor = (await world.download(world.sub_a))["cursor"]
        await world.pair(newly, world.cadre_a)
        body = await world.download(world.sub_a, cursor)
        assert ids(body) == {newly} and body["removed"] == []
        entry = body["households"][0]
        assert entry["card"]["members"] and entry["card"]["head_name"] == "黄志强"
        assert [r["id"] for r in entry["help_records"]] == [str(record)]  # older history comes too

    async def test_other_cadres_households_never_appear(self, world: World) -> None:
        mine, theirs = await world.household(), await world.household()
        await world.pair(mine, world.cadre_a)
        await world.pair(theirs, world.cadre_b)
        cursor_a = (await world.download(world.sub_a))["cursor"]
        cursor_b = (await world.download(world.sub_b))["cursor"]
        patched = await world.registry.patch(
            f"/households/{theirs}", json={"bank_name": "农商行"}, headers=world.clerk | {"If-Match": '"1"'}
        )
        assert patched.status_code == 200, patched.text
        await world.record(theirs, at=datetime(2026, 11, 2, tzinfo=UTC))
        a = await world.download(world.sub_a, cursor_a)
        assert a["households"] == [] and a["removed"] == []
        b = await world.download(world.sub_b, cursor_b)
        assert ids(b) == {theirs}
        assert ids(await world.download(world.sub_b)) == {theirs}

    async def test_change_committed_during_a_download_is_not_lost(
        self, world: World, db_urls: dict[str, str]
    ) -> None:
        """A writer holding a lower seq commits after a download's snapshot: the next download has it."""
        slow_household, fast_household = await world.household(), await world.household()
        for household in (slow_household, fast_household):
            await world.pair(household, world.cadre_a)
        cursor = (await world.download(world.sub_a))["cursor"]
        slow = await asyncpg.connect(db_urls["registry"])
        try:
            async with slow.transaction():  # the slow writer commits when the block ends
                await world.record(
                    slow_household, at=datetime(2026, 11, 3, tzinfo=UTC), conn=slow
                )  # lower seq
                await world.record(
                    fast_household, at=datetime(2026, 11, 3, tzinfo=UTC)
                )  # higher seq, committed
                during = await world.download(world.sub_a, cursor)
                assert ids(during) == {fast_household}
        finally:
            await slow.close()
        after = await world.download(world.sub_a, during["cursor"])
        assert slow_household in ids(after)


class TestToday:
    async def test_pairings_are_active_by_the_app_clock(self, world: World, registry_app: FastAPI) -> None:
        """Which pairings are active is decided on the app clock's China date, never the database's."""
        household = await world.household()
        await world.pair(household, world.cadre_a)  # from 2026-01-01
        before = datetime(2025, 12, 1, 4, tzinfo=UTC)
        registry_app.state.clock = lambda: before
        early = await world.download(world.sub_a)
        assert early["households"] == [] and early["full"] is True
        assert datetime.fromisoformat(early["server_time"]) == before
        assert decode_cursor(early["cursor"]).day == date(2025, 12, 1)
        registry_app.state.clock = lambda: datetime.now(UTC)
        assert ids(await world.download(world.sub_a)) == {household}


class TestCursor:
    @pytest.mark.parametrize(
        "cursor",
        [
            "not a cursor!",
            base64.urlsafe_b64encode(b"[1, 2]").decode(),
            base64.urlsafe_b64encode(b'{"v": 1, "seq": -1, "x": null, "d": "2026-11-23", "t": 1}').decode(),
            base64.urlsafe_b64encode(b'{"v": 2, "seq": 1, "x": null, "d": "2026-11-23", "t": 1}').decode(),
            base64.urlsafe_b64encode(b'{"v": 1, "seq": "1", "x": null, "d": "2026-11-23", "t": 1}').decode(),
            base64.urlsafe_b64encode(b'{"v": 1, "seq": 1, "x": null, "d": "yesterday", "t": 1}').decode(),
            base64.urlsafe_b64encode(
                b'{"v": 1, "seq": 1, "x": null, "d": "2026-11-23", "t": 1, "z": 0}'
            ).decode(),
            # The same faults in the shared codec's form (shared/pagination.py: [kind, values...]).
            encode_keyset("sync", -1, None, date(2026, 11, 23), 1),
            encode_keyset("sync", "1", None, date(2026, 11, 23), 1),
            encode_keyset("sync", 1, None, "yesterday", 1),
            encode_keyset("sync", 1, None, date(2026, 11, 23), 1, 0),
            encode_keyset("sync", None, None, date(2026, 11, 23), 1),
            encode_keyset("sync", 1, -7, date(2026, 11, 23), 1),
            encode_keyset("help_records.device_time", datetime(2026, 11, 23, tzinfo=UTC), uuid.uuid4()),
        ],
    )
    async def test_tampered_cursor(self, world: World, cursor: str) -> None:
        response = await world.registry.get(
            "/sync/download", params={"cursor": cursor}, headers=world.headers(world.sub_a)
        )
        assert assert_problem(response, 400, "invalid sync cursor")["code"] == "cursor_invalid"

    async def test_too_old_cursor_gives_a_full_sync(self, world: World) -> None:
        household = await world.household()
        await world.pair(household, world.cadre_a)
        old = SyncCursor(seq=1, horizon=None, day=date(2026, 8, 1), issued_at=int(time.time()) - 91 * 86400)
        body = await world.download(world.sub_a, encode_cursor(old))
        assert body["full"] is True and ids(body) == {household}

    async def test_pruned_feed_gives_a_full_sync(self, world: World) -> None:
        household = await world.household()
        await world.pair(household, world.cadre_a)
        cursor = (await world.download(world.sub_a))["cursor"]
        await world.record(household, at=datetime(2026, 11, 4, tzinfo=UTC))
        await world.db.execute("DELETE FROM registry_change")  # retention pruned everything
        await world.record(household, at=datetime(2026, 11, 5, tzinfo=UTC))
        body = await world.download(world.sub_a, cursor)
        assert body["full"] is True and ids(body) == {household}

    async def test_housekeeping_prunes_only_what_no_cursor_needs(
        self, world: World, registry_app: FastAPI
    ) -> None:
        from services.registry.main import housekeeping

        household = await world.household()
        await world.pair(household, world.cadre_a)
        cursor = (await world.download(world.sub_a))["cursor"]
        # Everything so far is made older than the oldest cursor honoured; then a record arrives today.
        await world.db.execute("UPDATE registry_change SET at = now() - interval '91 days'")
        aged = await world.db.fetchval("SELECT count(*) FROM registry_change")
        await world.record(household, at=datetime(2026, 11, 20, tzinfo=UTC))
        assert (await housekeeping(registry_app))["changes"] == aged
        assert await world.db.fetchval("SELECT count(*) FROM registry_change") == 1
        # The phone's cursor continues incrementally past the pruned rows.
        body = await world.download(world.sub_a, cursor)
        assert body["full"] is False and ids(body) == {household}

    async def test_cursor_from_the_future_gives_a_full_sync(self, world: World) -> None:
        await world.pair(await world.household(), world.cadre_a)
        future = SyncCursor(seq=10**12, horizon=None, day=date(2026, 11, 1), issued_at=int(time.time()))
        assert (await world.download(world.sub_a, encode_cursor(future)))["full"] is True


class TestHelpRecords:
    async def test_limited_to_the_newest_latest_versions(self, world: World) -> None:
        household = await world.household()
        await world.pair(household, world.cadre_a)
        days = [await world.record(household, at=datetime(2026, 11, d, 9, tzinfo=UTC)) for d in range(1, 6)]
        # A correction of the newest record: the download shows version 2 only.
        await world.record(
            household,
            at=datetime(2026, 11, 5, 9, tzinfo=UTC),
            version=2,
            record_id=days[-1],
            content="更正: 走访",
        )
        for party in ("household_head", "village_director", "unit_responsible"):
            await world.db.execute(
                "INSERT INTO registry_help_confirmation (record_id, party, confirmed_at, confirmed_by, signatory)"
                " VALUES ($1, $2, now(), 'test', '签字人')",
                days[-2],
                party,
            )
        body = await world.download(world.sub_a, records=3)
        records = body["households"][0]["help_records"]
        assert [r["id"] for r in records] == [str(d) for d in reversed(days[-3:])]
        assert records[0]["version"] == 2 and records[0]["content"] == "更正: 走访"
        assert records[0]["confirmation_status"] == "draft" and records[0]["money_yuan"] == "123.45"
        assert records[1]["confirmation_status"] == "confirmed" and len(records[1]["confirmations"]) == 3
        assert len((await world.download(world.sub_a))["households"][0]["help_records"]) == 5

    async def test_records_are_the_one_shape_of_a_help_record(self, world: World) -> None:
        """Each downloaded record is `HelpRecordPublic`, key for key, and equal to the REST read of it."""
        household = await world.household()
        await world.pair(household, world.cadre_a)
        plain = await world.record(household, at=datetime(2026, 11, 1, 9, tzinfo=UTC))
        corrected = await world.record(household, at=datetime(2026, 11, 2, 9, 30, 15, 250000, tzinfo=UTC))
        await world.record(
            household,
            at=datetime(2026, 11, 2, 9, 30, 15, 250000, tzinfo=UTC),
            version=2,
            record_id=corrected,
            content="更正: 走访",
        )
        await world.db.execute(
            "INSERT INTO registry_help_confirmation (record_id, party, confirmed_at, confirmed_by, signatory, note)"
            " VALUES ($1, 'household_head', now(), 'test', '黄志强', '当面签字')",
            plain,
        )
        await world.db.execute(
            "INSERT INTO registry_help_record_flag (record_id, version, flag, because_of, household_id)"
            " VALUES ($1, 2, 'impossible_speed', $2, $3)",
            corrected,
            uuid.uuid4(),
            household,
        )
        headers = world.headers(world.sub_a)
        photo = await world.registry.post(
            f"/help-records/{plain}/attachments",
            content=b"\x89PNG\r\n\x1a\n" + b"\x00" * 16,
            headers=headers | {"Content-Type": "image/png"},
        )
        assert photo.status_code == 201, photo.text
        downloaded = (await world.download(world.sub_a))["households"][0]["help_records"]
        assert [r["id"] for r in downloaded] == [str(corrected), str(plain)]
        for entry in downloaded:
            assert set(entry) == set(HelpRecordPublic.model_fields)
            HelpRecordPublic.model_validate(entry)
            rest = await world.registry.get(f"/help-records/{entry['id']}", headers=headers)
            assert rest.status_code == 200, rest.text
            assert entry == rest.json()
        assert downloaded[0]["flags"] == ["impossible_speed"] and downloaded[0]["version"] == 2
        assert [v["version"] for v in downloaded[0]["versions"]] == [1, 2]
        assert (
            downloaded[1]["confirmations"][0]["note"] == "当面签字" and len(downloaded[1]["attachments"]) == 1
        )

    @pytest.mark.parametrize("records", [0, 101, "x"])
    async def test_records_bounds(self, world: World, records: int | str) -> None:
        response = await world.registry.get(
            "/sync/download", params={"records": records}, headers=world.headers(world.sub_a)
        )
        assert_problem(response, 422)


async def test_download_carries_the_help_plan(world: World) -> None:
    """Plans travel with the card: a new plan version brings the household again."""
    hid = await world.household()
    await world.db.execute("UPDATE registry_household SET status = 'registered' WHERE id = $1", hid)
    await world.pair(hid, world.cadre_a)
    headers = world.headers(world.sub_a)
    first = (await world.registry.get("/sync/download", headers=headers)).json()
    assert first["households"][0]["help_plan"] is None
    plan = {
        "year_from": 2014,
        "year_to": 2027,
        "target_exit_year": 2027,
        "items": [
            {
                "measure": "breeding",
                "description": "养山羊",
                "responsible_cadre_id": str(world.cadre_a),
                "due_date": "2026-12-31",
            }
        ],
    }
    r = await world.registry.put(f"/households/{hid}/help-plan", json=plan, headers=headers)
    assert r.status_code == 200, r.text
    again = (await world.registry.get(f"/sync/download?cursor={first['cursor']}", headers=headers)).json()
    assert [h["id"] for h in again["households"]] == [str(hid)]
    assert again["households"][0]["help_plan"]["version"] == 1
    assert again["households"][0]["help_plan"]["items"][0]["measure"] == "breeding"
