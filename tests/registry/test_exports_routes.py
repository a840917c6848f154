"""`GET /exports/households` (issue #15): a region's households as one snapshot, NDJSON or CSV, masked, audited.

Households go through `POST /households` (so the card, masks and change-feed triggers are the real ones); the
snapshot test drives the app through raw ASGI so that it can write from another connection after the first
chunk of the body has been sent and before the next row is read.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
import zlib
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.registry.changes.schemas import decode_position
from services.registry.exports import domain, service
from services.registry.exports.repository import ExportRepository
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    create_household,
    issue,
)

pytestmark = pytest.mark.usefixtures("seed_regions")
PLAIN = {"Accept-Encoding": "identity"}
PATH = "/exports/households"


@pytest.fixture
async def db(db_urls: dict[str, str]) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        yield conn
    finally:
        await conn.close()


def headers(key: SigningKey, role: str, region: str) -> dict[str, str]:
    return auth(issue(key, role, region)) | PLAIN


@pytest.fixture
def clerk(signing_key: SigningKey) -> dict[str, str]:
    return headers(signing_key, "village_officer", VILLAGE)


@pytest.fixture
def township(signing_key: SigningKey) -> dict[str, str]:
    return headers(signing_key, "township_officer", TOWNSHIP)


@pytest.fixture
def admin(signing_key: SigningKey) -> dict[str, str]:
    return headers(signing_key, "county_admin", COUNTY)


def lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.text.endswith("\n")
    return [json.loads(line) for line in response.text.splitlines()]


async def put_income(registry: httpx.AsyncClient, clerk: dict[str, str], hid: str) -> None:
    income = {
        "wage": "3000",
        "operating": "2600",
        "property": "0",
        "transfer": "600",
        "operating_expenses": "1000",
    }
    card = await registry.get(f"/households/{hid}", headers=clerk)
    tag = '"' + str(card.json()["version"]) + '"'
    response = await registry.put(
        f"/households/{hid}/incomes/2013", json=income, headers=clerk | {"If-Match": tag}
    )
    assert response.status_code in (200, 201), response.text


class TestNdjson:
    async def test_rows_members_latest_income_and_trailer(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        township: dict[str, str],
        db: asyncpg.Connection,
    ) -> None:
        first = await create_household(registry, clerk, size=3)
        second = await create_household(registry, clerk, VILLAGE, head="韦国良", size=2)
        await put_income(registry, clerk, first)
        await create_household(
            registry, township, SIBLING_VILLAGE, head="外村人"
        )  # not in the village's export

        response = await registry.get(PATH, headers=clerk)
        body = lines(response)
        rows, trailer = body[:-1], body[-1]
        assert {r["id"] for r in rows} == {first, second}
        assert trailer["_trailer"]["rows"] == 2
        assert trailer["_trailer"]["feed_cursor"] == response.headers["x-feed-cursor"]
        cursor = decode_position(trailer["_trailer"]["feed_cursor"])  # the change feed's own: (xmin, 0)
        assert cursor.seq == 0 and 0 < cursor.txid <= int(
            await db.fetchval("SELECT pg_current_xact_id()::text")
        )
        assert trailer["_trailer"]["as_of"].endswith("Z")
        by_id = {r["id"]: r for r in rows}
        assert len(by_id[first]["members"]) == 3 and len(by_id[second]["members"]) == 2
        assert by_id[first]["latest_income"]["per_capita_net_income"] == "1733.33"
        assert by_id[second]["latest_income"] is None
        assert set(by_id[first]) == set(domain.HOUSEHOLD_FIELDS) | {"members", "latest_income"}

    async def test_left_members_are_not_exported(
        self, registry: httpx.AsyncClient, clerk: dict[str, str]
    ) -> None:
        hid = await create_household(registry, clerk, size=3)
        card = (await registry.get(f"/households/{hid}", headers=clerk)).json()
        son = next(m for m in card["members"] if m["relation"] == "son")
        leave = {"on": "2020-01-01", "reason": "death", "note": "病故"}
        response = await registry.post(
            f"/households/{hid}/members/{son['id']}/leave",
            json=leave,
            headers=clerk | {"If-Match": f'"{card["version"]}"'},
        )
        assert response.status_code == 200, response.text
        rows = lines(await registry.get(PATH, headers=clerk))[:-1]
        assert son["id"] not in {m["id"] for m in rows[0]["members"]}

    async def test_empty_region_is_just_the_trailer(
        self, registry: httpx.AsyncClient, clerk: dict[str, str]
    ) -> None:
        body = lines(await registry.get(PATH, headers=clerk))
        assert len(body) == 1 and body[0]["_trailer"]["rows"] == 0


class TestFields:
    async def test_nested_selection(self, registry: httpx.AsyncClient, clerk: dict[str, str]) -> None:
        hid = await create_household(registry, clerk, size=2)
        await put_income(registry, clerk, hid)
        fields = "id,head_name,members.name,latest_income.per_capita_net_income"
        rows = lines(await registry.get(PATH, params={"fields": fields}, headers=clerk))[:-1]
        assert rows == [
            {
                "id": hid,
                "head_name": "黄志强",
                "members": [{"name": "黄志强"}, {"name": "农秀兰"}],
                "latest_income": {"per_capita_net_income": "2600.00"},
            }
        ]

    async def test_whole_nested_object(self, registry: httpx.AsyncClient, clerk: dict[str, str]) -> None:
        await create_household(registry, clerk)
        rows = lines(await registry.get(PATH, params={"fields": "members"}, headers=clerk))[:-1]
        assert set(rows[0]) == {"members"}
        assert set(rows[0]["members"][0]) == set(domain.MEMBER_FIELDS)

    @pytest.mark.parametrize(
        "fields", ["id,nope", "members.id_number_enc", "id.x", "latest_income.secret", ","]
    )
    async def test_unknown_field(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], fields: str
    ) -> None:
        problem = assert_problem(await registry.get(PATH, params={"fields": fields}, headers=clerk), 422)
        assert problem["code"] == "unknown_export_field"

    async def test_unknown_format(self, registry: httpx.AsyncClient, clerk: dict[str, str]) -> None:
        assert_problem(await registry.get(PATH, params={"format": "xlsx"}, headers=clerk), 422)


class TestCsv:
    async def test_bom_header_members_column_and_injection_guard(
        self, registry: httpx.AsyncClient, clerk: dict[str, str]
    ) -> None:
        hid = await create_household(registry, clerk, natural_village="=HYPERLINK(1)", bank_name="@SUM(A1)")
        await put_income(registry, clerk, hid)
        fields = "id,natural_village,bank_name,head_name,members.name,latest_income.net_income"
        response = await registry.get(PATH, params={"format": "csv", "fields": fields}, headers=clerk)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.headers["x-feed-cursor"]
        raw = response.content
        assert raw.startswith(b"\xef\xbb\xbf")
        table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        # catalogue order, whatever the order asked
        assert table[0] == [
            "id",
            "natural_village",
            "head_name",
            "bank_name",
            "members",
            "latest_income.net_income",
        ]
        assert b"\r\n" in raw
        row = dict(zip(table[0], table[1], strict=True))
        assert row["id"] == hid
        assert row["natural_village"] == "'=HYPERLINK(1)"
        assert row["bank_name"] == "'@SUM(A1)"
        assert json.loads(row["members"]) == [{"name": "黄志强"}, {"name": "农秀兰"}, {"name": "黄小0"}]
        assert row["latest_income.net_income"] == "5200.00"
        assert len(table) == 2

    def test_guard_cells(self) -> None:
        assert [domain.csv_cell(v) for v in ("-1", "+1", "=1", "@a", "\tx", "ok", None, True, 3)] == [
            "'-1", "'+1", "'=1", "'@a", "'\tx", "ok", "", "true", "3",
        ]  # fmt: skip


class TestMasking:
    async def test_members_masked_as_the_card_for_village_officer_and_county_admin(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        admin: dict[str, str],
        signing_key: SigningKey,
    ) -> None:
        hid = await create_household(registry, clerk)
        province = headers(signing_key, "province_system", "450000000000")
        service_token = headers(signing_key, "service", "450000000000")
        for who in (clerk, admin, province, service_token):
            card = (await registry.get(f"/households/{hid}", headers=who)).json()
            rows = lines(await registry.get(PATH, headers=who))[:-1]
            exported = rows[0]
            assert exported["contact_phone"] == card["contact_phone"] and "*" in exported["contact_phone"]
            assert exported["bank_account"] == card["bank_account"] and "*" in exported["bank_account"]
            for ours, theirs in zip(exported["members"], card["members"], strict=True):
                assert ours["resident_id_number"] == theirs["resident_id_number"]
                assert "********" in ours["resident_id_number"]
                assert ours["phone"] == theirs["phone"]

    async def test_no_unmask_parameter(self, registry: httpx.AsyncClient, admin: dict[str, str]) -> None:
        problem = assert_problem(await registry.get(PATH, params={"unmask": "true"}, headers=admin), 400)
        assert problem["code"] == "unknown_parameter"


class TestScope:
    async def test_township_officer_exports_a_village_of_theirs(
        self, registry: httpx.AsyncClient, clerk: dict[str, str], township: dict[str, str]
    ) -> None:
        await create_household(registry, clerk)
        await create_household(registry, township, SIBLING_VILLAGE)
        assert len(lines(await registry.get(PATH, headers=township))) == 3
        assert len(lines(await registry.get(PATH, params={"region": VILLAGE}, headers=township))) == 2

    @pytest.mark.parametrize(
        ("role", "region", "asked"),
        [
            ("village_officer", VILLAGE, SIBLING_VILLAGE),
            ("county_admin", COUNTY, OTHER_COUNTY),
            ("county_admin", COUNTY, "451025100299"),  # inside the county, but no such region: alike
            ("township_officer", TOWNSHIP, COUNTY),
        ],
    )
    async def test_out_of_scope_region_is_404(
        self, registry: httpx.AsyncClient, signing_key: SigningKey, role: str, region: str, asked: str
    ) -> None:
        response = await registry.get(
            PATH, params={"region": asked}, headers=headers(signing_key, role, region)
        )
        assert_problem(response, 404, f"region {asked} not found")

    async def test_cadre_403(self, registry: httpx.AsyncClient, signing_key: SigningKey) -> None:
        response = await registry.get(PATH, headers=headers(signing_key, "cadre", COUNTY))
        assert assert_problem(response, 403)["code"] == "export_not_allowed"

    async def test_anonymous_401(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get(PATH), 401)


class TestAudit:
    async def test_one_entry_per_export(
        self,
        registry: httpx.AsyncClient,
        admin: dict[str, str],
        clerk: dict[str, str],
        db: asyncpg.Connection,
    ) -> None:
        await create_household(registry, clerk)
        await create_household(registry, clerk)
        response = await registry.get(PATH, params={"format": "csv", "fields": "id"}, headers=admin)
        assert response.status_code == 200
        rows = await db.fetch("SELECT * FROM registry_audit_event WHERE action = 'household.export'")
        assert len(rows) == 1
        entry = rows[0]
        assert entry["role"] == "county_admin" and entry["region_code"] == COUNTY
        detail = json.loads(entry["detail"]) if isinstance(entry["detail"], str) else entry["detail"]
        assert detail["format"] == "csv" and detail["rows"] == 2 and detail["complete"] is True
        assert detail["fields"] == ["id"] and detail["feed_cursor"] == response.headers["x-feed-cursor"]


class TestGzip:
    async def test_gzipped_when_asked(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, clerk: dict[str, str]
    ) -> None:
        await create_household(registry, clerk)
        ask = clerk | {"Accept-Encoding": "gzip"}
        start: dict[str, Any] = {}
        raw = await _raw_get(registry_app, PATH, "", ask, _nothing, start)
        assert dict(start["headers"])[b"content-encoding"] == b"gzip"
        text = zlib.decompress(raw, wbits=31).decode()
        assert json.loads(text.splitlines()[-1])["_trailer"]["rows"] == 1

    async def test_identity_when_not_asked(self, registry: httpx.AsyncClient, clerk: dict[str, str]) -> None:
        response = await registry.get(PATH, headers=clerk)
        assert "content-encoding" not in response.headers
        ask = clerk | {"Accept-Encoding": "gzip;q=0, identity"}
        assert "content-encoding" not in (await registry.get(PATH, headers=ask)).headers


async def _nothing(pieces: int) -> None:
    return None


async def _raw_get(
    app: FastAPI,
    path: str,
    query: str,
    hdrs: dict[str, str],
    on_chunk: Any,
    start: dict[str, Any] | None = None,
) -> bytes:
    """GET through the raw ASGI interface, awaiting `on_chunk(n)` after each non-empty body piece is sent."""
    done = asyncio.Event()
    body: list[bytes] = []
    sent = {"request": False}

    async def receive() -> dict[str, Any]:
        if not sent["request"]:
            sent["request"] = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200, message
            if start is not None:
                start.update(message)
        elif message["type"] == "http.response.body":
            if message.get("body"):
                body.append(message["body"])
                await on_chunk(len(body))
            if not message.get("more_body"):
                done.set()

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in hdrs.items()],
        "client": ("203.0.113.7", 50000),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    return b"".join(body)


class TestSnapshot:
    async def test_writes_during_a_slow_export_are_not_in_it(
        self,
        registry: httpx.AsyncClient,
        registry_app: FastAPI,
        clerk: dict[str, str],
        db: asyncpg.Connection,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        ids = sorted([await create_household(registry, clerk) for _ in range(4)])
        monkeypatch.setattr(ExportRepository, "CHUNK", 1)  # one row per round trip of the cursor …
        monkeypatch.setattr(service, "FLUSH_CHARS", 1)  # … and per body piece
        added: list[str] = []

        async def write_elsewhere(pieces: int) -> None:
            if pieces == 1:  # the first household is out; the others are not read yet
                added.append(await create_household(registry, clerk, head="新来户"))
                await db.execute(
                    "UPDATE registry_household SET head_name = '改过名' WHERE id = $1", uuid.UUID(ids[-1])
                )

        raw = await _raw_get(registry_app, PATH, "format=ndjson&fields=id,head_name", clerk, write_elsewhere)
        body = [json.loads(line) for line in raw.decode().splitlines()]
        assert len(body) == 5  # one piece per household, then the trailer
        rows, trailer = body[:-1], body[-1]["_trailer"]
        assert [r["id"] for r in rows] == ids and added and added[0] not in ids
        assert all(r["head_name"] == "黄志强" for r in rows)  # the rename committed after the snapshot
        assert trailer["rows"] == 4
        # The feed cursor is the snapshot's: the new household's change lies after it (the feed brings it).
        newer = await db.fetchval(
            "SELECT min(txid)::text::bigint FROM registry_change WHERE household_id = $1", uuid.UUID(added[0])
        )
        assert newer >= decode_position(trailer["feed_cursor"]).txid
        # The live state has both writes.
        live = lines(await registry.get(PATH, params={"fields": "id,head_name"}, headers=clerk))
        assert len(live) == 6 and {"改过名", "新来户"} <= {r.get("head_name") for r in live[:-1]}

    async def test_cursor_and_rows_share_one_snapshot(
        self,
        registry: httpx.AsyncClient,
        clerk: dict[str, str],
        db: asyncpg.Connection,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """A household committed after the feed position was read, before the rows' cursor opens, is in neither:
        the feed from the cursor brings it (one statement alone would have a snapshot of its own)."""
        await create_household(registry, clerk)
        added: list[str] = []
        region_exists = ExportRepository.region_exists

        async def write_between(repo: ExportRepository, code: str) -> bool:
            added.append(await create_household(registry, clerk, head="新来户"))
            return await region_exists(repo, code)

        monkeypatch.setattr(ExportRepository, "region_exists", write_between)
        body = lines(await registry.get(PATH, params={"fields": "id"}, headers=clerk))
        assert added and added[0] not in {r.get("id") for r in body[:-1]}
        assert body[-1]["_trailer"]["rows"] == 1
        newer = await db.fetchval(
            "SELECT min(txid)::text::bigint FROM registry_change WHERE household_id = $1", uuid.UUID(added[0])
        )
        assert newer >= decode_position(body[-1]["_trailer"]["feed_cursor"]).txid
