"""Factories and assertions every test module shares: tokens, problems, resident IDs, household payloads."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import asyncpg
import httpx

from shared.exchange.feed_sql import BOUND_SQL
from shared.jwt import SigningKey

#: The password of every user the fixtures make.
PASSWORD = "correct horse battery"


@dataclass
class User:
    id: str
    username: str
    role: str
    region: str
    password: str = PASSWORD


class MakeUser(Protocol):
    """The `make_user` fixture: a user of the gateway, straight in its database."""

    async def __call__(
        self, role: str, region: str, username: str | None = None, *, disabled: bool = False
    ) -> User: ...


class MakeClient(Protocol):
    """The `make_client` fixture: a machine client; returns its secret."""

    async def __call__(
        self, client_id: str, role: str, region: str, secret: str = "s3cret-client-secret"
    ) -> str: ...


ALL_AUDIENCES = ["jingzhun-gateway", "jingzhun-registry", "jingzhun-planning", "jingzhun-assessment"]


def issue(
    signing_key: SigningKey, role: str, region: str, *, sub: str | None = None, **overrides: Any
) -> str:
    """A valid access token signed by the real key (what the gateway would issue)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "jingzhun-gateway",
        "aud": ALL_AUDIENCES,
        "sub": sub or str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "role": role,
        "region": region,
    }
    claims.update(overrides)
    return signing_key.sign(claims)


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


def assert_problem(response: httpx.Response, status: int, detail: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with `status` (and `detail` inside its detail, when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://jingzhun.example/problems/") and body["title"]
    assert "Traceback" not in response.text
    if detail is not None:
        assert detail in body["detail"], body
    return body


async def disable_client(database_url: str, client_id: str) -> None:
    """Disable a machine client directly in the gateway database (as an operator would)."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE gateway_client SET disabled_at = now() WHERE client_id = $1", client_id)
    finally:
        await conn.close()


_ID_SEQ = iter(range(1, 10**6))


def resident_id(birth: str = "19680415", sex: str = "male", region: str = "451025") -> str:
    """A valid, unique 18-character resident ID number (ISO 7064 check character)."""
    from services.registry.households.domain import check_character

    n = next(_ID_SEQ) % 499  # the sequence has three digits: 2 * 498 + 2 = 998
    seq = 2 * n + (1 if sex == "male" else 2)  # odd = male, even = female
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + check_character(first17)


def household_payload(
    village: str = "451025100201", *, size: int = 3, year: int = 2014, **extra: Any
) -> dict[str, Any]:
    """A household as a village officer would enter it: a head, a spouse and children."""
    members: list[dict[str, Any]] = [
        {
            "name": "黄志强",
            "relation": "head",
            "sex": "male",
            "birth_year_month": "1968-04",
            "resident_id_number": resident_id("19680415", "male"),
            "labor_capacity": "ordinary",
            "health_status": "healthy",
            "phone": "13907761234",
            "details": {"insurance": {"ncms_enrolled": True}},
        },
        {
            "name": "农秀兰",
            "relation": "spouse",
            "sex": "female",
            "birth_year_month": "1970-09",
            "resident_id_number": resident_id("19700902", "female"),
            "labor_capacity": "none",
            "health_status": "chronic_illness",
            "details": {"insurance": {"ncms_enrolled": True}, "disease": "高血压"},
        },
    ]
    for i in range(size - 2):
        members.append(
            {
                "name": f"黄小{i}",
                "relation": "son",
                "sex": "male",
                "birth_year_month": "2005-03",
                "resident_id_number": resident_id("20050311", "male"),
                "labor_capacity": "none",
                "school_status": "junior_middle",
                "details": {"insurance": {"ncms_enrolled": True}},
            }
        )
    body: dict[str, Any] = {
        "village_code": village,
        "identification_year": year,
        "natural_village": "那坡屯",
        "poverty_cause_primary": "illness",
        "poverty_causes_other": ["lack_of_capital"],
        "poverty_attribute": "general_poor",
        "main_income_source": "farming",
        "dangerous_house_grade": "B",
        "contact_phone": "13907761234",
        "bank_account": "6228 4801 2345 6789 012",
        "bank_name": "农村信用社",
        "members": members[:size],
    }
    body.update(extra)
    return body


# -- logins ---------------------------------------------------------------------------------------------------
async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"grant_type": "password", "username": username, "password": password}
    )


async def token_for(client: httpx.AsyncClient, user: User) -> str:
    response = await login(client, user.username, user.password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -- the demo county (ops/seed.py DEMO_REGIONS), loaded by the `seed_regions` fixture ----------------------------
PROVINCE = "450000000000"  # 广西壮族自治区
PREFECTURE = "451000000000"  # 百色市
COUNTY = "451025000000"  # 靖西县
TOWNSHIP = "451025100000"  # 新靖镇
VILLAGE = "451025100201"  # 旧州村
SIBLING_VILLAGE = "451025100202"  # 渠洋村
OTHER_TOWNSHIP = "451025101000"  # 化峒镇
OTHER_VILLAGE = "451025101201"  # 化峒村
#: Not in the demo tree: tests that need a second county add it (那坡县 and a township and village of it).
OTHER_COUNTY = "451026000000"
OTHER_COUNTY_TOWNSHIP = "451026100000"
OTHER_COUNTY_VILLAGE = "451026100201"

Headers = dict[str, str]


def headers_for(signing_key: SigningKey, role: str, region: str, sub: str | None = None) -> Headers:
    """Bearer headers of a caller with `role` bound to `region` (a token as the gateway would issue it)."""
    return auth(issue(signing_key, role, region, sub=sub))


# -- the registry's database, for checks the API does not expose -------------------------------------------------
async def sql(db_urls: dict[str, str], statement: str, *args: Any) -> list[asyncpg.Record]:
    """Rows of a statement on the registry's database."""
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def count_rows(db_urls: dict[str, str], table: str) -> int:
    """Rows in a registry table, or of `table WHERE …` (to prove a refused request changed nothing)."""
    rows = await sql(db_urls, f"SELECT count(*) FROM {table}")  # noqa: S608 - table names from the tests
    return int(rows[0][0])


async def set_household_status(db_urls: dict[str, str], household_id: str, status: str) -> None:
    """Put a household in a workflow status without walking the workflow (for tests of other features)."""
    await sql(db_urls, "UPDATE registry_household SET status = $2 WHERE id = $1", household_id, status)


async def registered_since(db_urls: dict[str, str], household_ids: list[str], at: datetime) -> None:
    """Date the households' registration (their first workflow event, an `import` when they have none) at `at`:
    the registry's figures of a year count a household as of 31 December, by the events taken by then. The
    event log is append-only (a trigger): the test rewrites history with triggers off for its transaction."""
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute(
                "INSERT INTO registry_workflow_event (household_id, seq, command, at, actor, role, data,"
                " status_after) SELECT id, 1, 'import', $2, 'test', 'county_admin', '{}', 'registered'"
                " FROM registry_household WHERE id = ANY($1::uuid[])"
                " ON CONFLICT (household_id, seq) DO UPDATE SET at = EXCLUDED.at",
                household_ids,
                at,
            )
    finally:
        await conn.close()


async def exited_since(db_urls: dict[str, str], household_ids: list[str], at: datetime) -> None:
    """Registered households whose exit was county-reviewed and announced at `at` (two events after their last
    one: `exit_county_reviewed`, then `exited`), without walking the exit chain."""
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        async with conn.transaction():
            for command, status in (("county_review", "exit_county_reviewed"), ("announce", "exited")):
                await conn.execute(
                    "INSERT INTO registry_workflow_event (household_id, seq, command, at, actor, role, data,"
                    " status_after) SELECT h, coalesce((SELECT max(e.seq) FROM registry_workflow_event e"
                    " WHERE e.household_id = h), 0) + 1, $3, $2, 'test', 'county_admin', '{}', $4"
                    " FROM unnest($1::uuid[]) AS h",
                    household_ids,
                    at,
                    command,
                    status,
                )
            await conn.execute(
                "UPDATE registry_household SET status = 'exited' WHERE id = ANY($1::uuid[])", household_ids
            )
    finally:
        await conn.close()


# -- registry builders ---------------------------------------------------------------------------------------
async def create_household(
    registry: httpx.AsyncClient, headers: Headers, village: str = VILLAGE, *, head: str = "黄志强", **kw: Any
) -> str:
    """A new household (status candidate) through the API; its id."""
    payload = household_payload(village, **kw)
    payload["members"][0]["name"] = head
    response = await registry.post("/households", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    household_id: str = response.json()["id"]
    return household_id


async def registered_household(
    registry: httpx.AsyncClient,
    clerk: Headers,
    db_urls: dict[str, str],
    *,
    village: str = VILLAGE,
    headers: Headers | None = None,
) -> str:
    """A household created through the API and set to `registered` (建档立卡) in the database."""
    household_id = await create_household(registry, headers or clerk, village)
    await set_household_status(db_urls, household_id, "registered")
    return household_id


#: A helping unit of the demo county.
UNIT = {"name": "靖西市财政局", "kind": "government_department", "region_code": COUNTY}


async def unit_and_cadres(
    registry: httpx.AsyncClient, admin: Headers, *levels: str, subs: tuple[str, ...] = ()
) -> tuple[str, list[str]]:
    """A helping unit and one cadre per position level (the first `subs` get logins); their ids."""
    unit = await registry.post("/helping-units", json=UNIT, headers=admin)
    assert unit.status_code == 201, unit.text
    cadres = []
    for i, level in enumerate(levels):
        body = {
            "unit_id": unit.json()["id"],
            "name": f"干部{i}",
            "position_level": level,
            "phone": "13800001234",
        }
        if i < len(subs):
            body["user_sub"] = subs[i]
        response = await registry.post("/cadres", json=body, headers=admin)
        assert response.status_code == 201, response.text
        cadres.append(response.json()["id"])
    return unit.json()["id"], cadres


async def pair(
    registry: httpx.AsyncClient,
    admin: Headers,
    household_id: str,
    cadre_id: str,
    valid_from: str,
    **extra: str,
) -> dict[str, Any]:
    """A pairing of a cadre with a household from `valid_from`; the answer."""
    body = {"household_id": household_id, "cadre_id": cadre_id, "valid_from": valid_from, **extra}
    response = await registry.post("/pairings", json=body, headers=admin)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def put_population(
    registry: httpx.AsyncClient,
    headers: Headers,
    code: str,
    year: int,
    population: int,
    households: int | None = None,
) -> httpx.Response:
    """Record a region's population for a year (the base of incidence)."""
    body = {"population": population} | ({"households": households} if households is not None else {})
    return await registry.put(f"/regions/{code}/population/{year}", json=body, headers=headers)


async def scalar(db_urls: dict[str, str], statement: str, *args: Any) -> Any:
    """The first value of a statement on the registry's database."""
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        return await conn.fetchval(statement, *args)
    finally:
        await conn.close()


async def settle_feed(url: str, change_table: str, patience: float = 60.0) -> None:
    """Wait until every committed row of `change_table` is final (below the feed's bound, shared/exchange/feed_sql.py
    `BOUND_SQL`: a transaction of this database still open holds the feed back, never loses a change; other
    databases' transactions do not), so a feed read now sees everything committed before."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + patience
        sql = f"SELECT coalesce(max(txid), '0'::xid8)::text::bigint < {BOUND_SQL} FROM {change_table}"  # noqa: S608 - constant SQL
        while not await conn.fetchval(sql):
            assert time.monotonic() < deadline, "a transaction of this database stayed open too long"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()


async def settle(db_urls: dict[str, str], patience: float = 60.0) -> None:
    """`settle_feed` of the registry's change feed."""
    await settle_feed(db_urls["registry"], "registry_change", patience)
