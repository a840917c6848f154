"""Household search, keyset pages, field selection, statistics, population and the audit log (issue #3).

Runs against the real registry app and PostgreSQL. Households are created through `POST /households`; the
statuses, incomes and timestamps the queries need are then set directly in the table (the workflow and the
income computation have their own tests), so each case states exactly what it expects to find.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from tests.factories import assert_problem, auth, household_payload, issue

COUNTY = "451025000000"
TOWNSHIP = "451025100000"
OTHER_TOWNSHIP = "451025101000"
VILLAGE = "451025100201"
SIBLING_VILLAGE = "451025100202"
OTHER_VILLAGE = "451025101201"
OTHER_COUNTY = "451026000000"
OTHER_COUNTY_TOWNSHIP = "451026100000"
OTHER_COUNTY_VILLAGE = "451026100201"

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def clerk(signing_key):
    return auth(issue(signing_key, "village_officer", VILLAGE, sub="clerk-jiuzhou"))


@pytest.fixture
def township(signing_key):
    return auth(issue(signing_key, "township_officer", TOWNSHIP, sub="officer-xinjing"))


@pytest.fixture
def admin(signing_key):
    return auth(issue(signing_key, "county_admin", COUNTY, sub="admin-jingxi"))


# -- helpers ------------------------------------------------------------------------------------------------
async def create(registry, headers, village=VILLAGE, *, head="黄志强", size=3, **kw) -> str:
    payload = household_payload(village, size=size, **kw)
    payload["members"][0]["name"] = head
    response = await registry.post("/households", json=payload, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def sql(db_urls, statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        return await conn.fetch(statement, *args)
    finally:
        await conn.close()


SETTABLE = frozenset({"status", "objection_open", "returned", "per_capita_net_income", "updated_at"})


async def set_columns(db_urls, hid: str, **columns: Any) -> None:
    """Put a household in the state a test needs (status, income, ...) without walking the workflow."""
    assert set(columns) <= SETTABLE, columns
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=2))
    await sql(
        db_urls,
        f"UPDATE registry_household SET {assignments} WHERE id = $1",  # noqa: S608 - names from SETTABLE
        uuid.UUID(hid),
        *columns.values(),
    )


async def ids(registry, headers, params: dict[str, Any] | list[tuple[str, Any]]) -> set[str]:
    response = await registry.get("/households", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None, body
    return {item["id"] for item in body["items"]}


async def all_pages(registry, headers, params: dict[str, Any], limit: int = 7) -> tuple[list[str], list[int]]:
    """Follow next_cursor to the end; the ids in the order served and the size of every page."""
    seen: list[str] = []
    sizes: list[int] = []
    cursor = None
    for _ in range(50):
        query = params | {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await registry.get("/households", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [item["id"] for item in body["items"]]
        sizes.append(len(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, sizes
    raise AssertionError("pagination did not end")


def make_cursor(*parts: Any) -> str:
    raw = json.dumps(list(parts), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_cursor(cursor: str) -> list[Any]:
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


async def add_other_county(db_urls) -> None:
    await sql(
        db_urls,
        "INSERT INTO registry_region (code, name, level, parent_code) VALUES"
        " ($1, '德保县', 'county', '451000000000'), ($2, '城关镇', 'township', $1), ($3, '那甲村', 'village', $2)",
        OTHER_COUNTY,
        OTHER_COUNTY_TOWNSHIP,
        OTHER_COUNTY_VILLAGE,
    )


# -- 1. filters ---------------------------------------------------------------------------------------------
@pytest.fixture
async def four(registry, admin, db_urls) -> dict[str, str]:
    """Four households with distinct regions, statuses, causes, attributes, incomes, names and flags."""
    a = await create(
        registry,
        admin,
        VILLAGE,
        head="黄志强",
        poverty_cause_primary="illness",
        poverty_causes_other=["lack_of_capital"],
        poverty_attribute="general_poor",
    )
    b = await create(
        registry,
        admin,
        SIBLING_VILLAGE,
        head="黄明",
        year=2015,
        poverty_cause_primary="disability",
        poverty_causes_other=["illness", "lack_of_skills"],
        poverty_attribute="dibao_poor",
    )
    c_payload = household_payload(
        OTHER_VILLAGE,
        poverty_cause_primary="lack_of_land",
        poverty_causes_other=[],
        poverty_attribute="wubao_poor",
    )
    c_payload["members"][0] |= {"name": "农秀英", "labor_capacity": "lost"}  # nobody can work
    response = await registry.post("/households", json=c_payload, headers=admin)
    assert response.status_code == 201, response.text
    c = response.json()["id"]
    d_payload = household_payload(
        VILLAGE,
        poverty_cause_primary="schooling",
        poverty_causes_other=["disaster"],
        poverty_attribute="general_poor",
    )
    d_payload["members"][0]["name"] = "李四"
    for m in d_payload["members"]:
        m["resident"] = False  # raises the nobody_resident flag
    response = await registry.post("/households", json=d_payload, headers=admin)
    assert response.status_code == 201, response.text
    d = response.json()["id"]
    await set_columns(db_urls, a, status="registered", per_capita_net_income=Decimal("2500.00"))
    await set_columns(db_urls, b, per_capita_net_income=Decimal("3200.00"), returned=True)
    await set_columns(db_urls, c, status="exited")
    await set_columns(
        db_urls, d, status="registered", objection_open=True, per_capita_net_income=Decimal("4000.00")
    )
    return {"a": a, "b": b, "c": c, "d": d}


FILTER_CASES: list[tuple[str, list[tuple[str, Any]], set[str]]] = [
    ("no filter", [], {"a", "b", "c", "d"}),
    ("county", [("region", COUNTY)], {"a", "b", "c", "d"}),
    ("township", [("region", TOWNSHIP)], {"a", "b", "d"}),
    ("other township", [("region", OTHER_TOWNSHIP)], {"c"}),
    ("village", [("region", VILLAGE)], {"a", "d"}),
    ("sibling village", [("region", SIBLING_VILLAGE)], {"b"}),
    ("status", [("status", "registered")], {"a", "d"}),
    ("status repeated", [("status", "registered"), ("status", "exited")], {"a", "c", "d"}),
    ("objection_pending", [("status", "objection_pending")], {"d"}),
    ("candidate or objection", [("status", "candidate"), ("status", "objection_pending")], {"b", "d"}),
    ("unknown status", [("status", "nonsense")], set()),
    ("cause primary or other", [("cause", "illness")], {"a", "b"}),
    ("cause in others only", [("cause", "disaster")], {"d"}),
    ("cause primary only", [("cause", "lack_of_land")], {"c"}),
    ("cause nobody has", [("cause", "old_age")], set()),
    ("attribute", [("attribute", "general_poor")], {"a", "d"}),
    ("attribute dibao", [("attribute", "dibao_poor")], {"b"}),
    ("income_min inclusive", [("income_min", "3200")], {"b", "d"}),
    ("income_max inclusive", [("income_max", "3200.00")], {"a", "b"}),
    ("income range", [("income_min", "2500"), ("income_max", "3999.99")], {"a", "b"}),
    ("income_min 0 skips no income", [("income_min", "0")], {"a", "b", "d"}),
    ("name prefix", [("name", "黄")], {"a", "b"}),
    ("longer name prefix", [("name", "黄志")], {"a"}),
    ("whole name", [("name", "李四")], {"d"}),
    ("name is a prefix, not a substring", [("name", "志强")], set()),
    ("name wildcard escaped", [("name", "%")], set()),
    ("name underscore escaped", [("name", "_")], set()),
    ("flag", [("flag", "nobody_resident")], {"d"}),
    ("year", [("year", 2015)], {"b"}),
    ("year 2014", [("year", 2014)], {"a", "c", "d"}),
    ("has labour", [("has_labor_capacity", "true")], {"a", "b", "d"}),
    ("no labour", [("has_labor_capacity", "false")], {"c"}),
    ("returned", [("returned", "true")], {"b"}),
    (
        "township + status + cause",
        [("region", TOWNSHIP), ("status", "registered"), ("cause", "illness")],
        {"a"},
    ),
    ("village + income", [("region", VILLAGE), ("income_min", "3000")], {"d"}),
    ("year + labour", [("year", 2014), ("has_labor_capacity", "true")], {"a", "d"}),
    ("name + attribute", [("name", "黄"), ("attribute", "general_poor")], {"a"}),
    ("objection + flag", [("status", "objection_pending"), ("flag", "nobody_resident")], {"d"}),
    ("contradiction", [("region", OTHER_TOWNSHIP), ("name", "黄")], set()),
]


async def test_list_filters(registry, admin, four):
    for name, params, expected in FILTER_CASES:
        assert await ids(registry, admin, params) == {four[k] for k in expected}, name


async def test_list_items_carry_the_raw_status_and_the_objection(registry, admin, four):
    items = (await registry.get("/households", params={"status": "objection_pending"}, headers=admin)).json()[
        "items"
    ]
    assert len(items) == 1
    assert items[0]["status"] == "registered" and items[0]["objection_open"] is True
    assert items[0]["head_name"] == "李四" and items[0]["per_capita_net_income"] == "4000.00"


async def test_region_outside_the_callers_scope_is_empty(registry, signing_key, township, clerk, four):
    # The township officer sees only their township, whatever region is asked for.
    assert await ids(registry, township, {}) == {four["a"], four["b"], four["d"]}
    assert await ids(registry, township, {"region": OTHER_TOWNSHIP}) == set()
    assert await ids(registry, township, {"region": OTHER_VILLAGE}) == set()
    assert await ids(registry, township, {"region": COUNTY}) == {four["a"], four["b"], four["d"]}
    assert await ids(registry, clerk, {"region": SIBLING_VILLAGE}) == set()
    assert await ids(registry, clerk, {"region": TOWNSHIP}) == {four["a"], four["d"]}
    other_admin = auth(issue(signing_key, "county_admin", OTHER_COUNTY))
    assert await ids(registry, other_admin, {"region": COUNTY}) == set()
    assert await ids(registry, other_admin, {"region": VILLAGE}) == set()
    cadre = auth(issue(signing_key, "cadre", COUNTY))
    assert await ids(registry, cadre, {"region": VILLAGE}) == set()


async def test_invalid_filter_values_are_422(registry, admin):
    for params in (
        {"region": "4510251002"},
        {"income_min": "-1"},
        {"year": 1999},
        {"limit": 0},
        {"limit": 501},
        {"order": "sideways"},
        {"sort": "population"},
        {"has_labor_capacity": "maybe"},
    ):
        assert_problem(await registry.get("/households", params=params, headers=admin), 422)


# -- 2. keyset pages ----------------------------------------------------------------------------------------
NAMES = ["黄志强", "农秀兰", "李四", "王五", "赵六", "黄明", "韦小宝", "陆军", "黄志强", "农丽"]
VILLAGES = [VILLAGE, SIBLING_VILLAGE, OTHER_VILLAGE]


@pytest.fixture
async def many(registry, admin, db_urls) -> list[asyncpg.Record]:
    """25 households; names, villages, incomes and update times repeat so the id breaks ties."""
    created = [
        await create(registry, admin, VILLAGES[i % 3], head=NAMES[i % len(NAMES)], size=2) for i in range(25)
    ]
    base = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    changes = [
        (
            uuid.UUID(hid),
            None if i % 6 == 5 else Decimal(1000 + 250 * (i % 5)) + Decimal("0.50"),
            base + timedelta(minutes=i // 3, microseconds=17 * (i % 2)),
        )
        for i, hid in enumerate(created)
    ]
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.executemany(
            "UPDATE registry_household SET per_capita_net_income = $2, updated_at = $3 WHERE id = $1", changes
        )
        return await conn.fetch(
            "SELECT id, village_code, head_name, per_capita_net_income, updated_at FROM registry_household"
        )
    finally:
        await conn.close()


SORTS = {
    "village": "village_code",
    "head_name": "head_name",
    "income": "per_capita_net_income",
    "updated": "updated_at",
}


async def test_keyset_pages_serve_every_household_once_in_order(registry, admin, many):
    for sort, column in SORTS.items():
        for order in ("asc", "desc"):
            rows = [r for r in many if r[column] is not None]
            # PostgreSQL compares uuids bytewise and head_name under collation "C" (code points), as Python.
            ordered = sorted(rows, key=lambda r, c=column: (r[c], r["id"]), reverse=order == "desc")
            served, sizes = await all_pages(registry, admin, {"sort": sort, "order": order})
            assert served == [str(r["id"]) for r in ordered], (sort, order)
            assert len(set(served)) == len(served)
            if sort == "income":
                assert len(rows) == 21 and sizes == [7, 7, 7], order  # an exact multiple ends on a full page
            else:
                assert len(rows) == 25 and sizes == [7, 7, 7, 4], (sort, order)
    # Pages combine with filters.
    served, _ = await all_pages(registry, admin, {"sort": "head_name", "region": TOWNSHIP}, limit=3)
    rows = [r for r in many if r["village_code"].startswith("451025100")]
    assert served == [str(r["id"]) for r in sorted(rows, key=lambda r: (r["head_name"], r["id"]))]
    served, _ = await all_pages(
        registry, admin, {"sort": "income", "order": "desc", "income_max": "1500"}, limit=4
    )
    rows = [r for r in many if r["per_capita_net_income"] is not None and r["per_capita_net_income"] <= 1500]
    ordered = sorted(rows, key=lambda r: (r["per_capita_net_income"], r["id"]), reverse=True)
    assert served == [str(r["id"]) for r in ordered] and len(served) == 8
    # fields= selects the keys of every page; the sort key need not be among them for paging to work.
    seen: list[str] = []
    cursor = None
    while True:
        params = {"fields": " head_name ", "sort": "income", "order": "desc", "limit": 7}
        response = await registry.get(
            "/households", params=params | ({"cursor": cursor} if cursor else {}), headers=admin
        )
        body = response.json()
        assert all(set(i) == {"id", "head_name"} for i in body["items"]), body
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 21


async def test_invalid_cursors_are_400(registry, admin):
    for head in ("黄志强", "李四"):
        await create(registry, admin, head=head)
    first = (await registry.get("/households", params={"sort": "village", "limit": 1}, headers=admin)).json()
    cursor = first["next_cursor"]
    kind, value, ident = read_cursor(cursor)
    assert kind == "village" and value == VILLAGE and ident == first["items"][0]["id"]
    bad = [
        "not a cursor!",
        "%%%",
        base64.urlsafe_b64encode(b"garbage").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        make_cursor("village", value),
        make_cursor("village", 12, ident),  # tampered value type
        make_cursor("village", value, "not-a-uuid"),
        make_cursor("updated", "yesterday", ident),
        cursor[:-3],
    ]
    for tampered in bad:
        response = await registry.get(
            "/households", params={"sort": "village", "cursor": tampered, "limit": 1}, headers=admin
        )
        body = assert_problem(response, 400, "invalid cursor")
        assert "Traceback" not in body["detail"]
    # A cursor is bound to its sort order.
    for other in ("head_name", "income", "updated"):
        response = await registry.get("/households", params={"sort": other, "cursor": cursor}, headers=admin)
        assert_problem(response, 400, "another sort")
    # The genuine cursor still works: the second household, and the end.
    again = await registry.get(
        "/households", params={"sort": "village", "cursor": cursor, "limit": 1}, headers=admin
    )
    assert again.status_code == 200 and again.json()["next_cursor"] is None
    assert {again.json()["items"][0]["id"], first["items"][0]["id"]} == await ids(registry, admin, {})
    assert_problem(await registry.get("/households", params={"cursor": "x" * 401}, headers=admin), 422)


async def test_tampered_income_cursor_is_400(registry, admin):
    cursor = make_cursor("income", "abc", str(uuid.uuid4()))
    response = await registry.get("/households", params={"sort": "income", "cursor": cursor}, headers=admin)
    assert_problem(response, 400, "invalid cursor")


async def test_cursor_with_a_non_string_id_is_400(registry, admin):
    cursor = make_cursor("village", VILLAGE, 123)
    response = await registry.get("/households", params={"sort": "village", "cursor": cursor}, headers=admin)
    assert_problem(response, 400, "invalid cursor")


# -- 3. fields ----------------------------------------------------------------------------------------------
async def test_fields_select_the_item_keys(registry, admin, four):
    body = (await registry.get("/households", params={"fields": "id,status"}, headers=admin)).json()
    assert len(body["items"]) == 4 and all(set(i) == {"id", "status"} for i in body["items"])
    assert sorted(i["status"] for i in body["items"]) == ["candidate", "exited", "registered", "registered"]
    # id is always included; blanks are trimmed; filters and sorts still apply.
    params = {"fields": "head_name, per_capita_net_income", "sort": "income", "order": "desc"}
    body = (await registry.get("/households", params=params, headers=admin)).json()
    assert body["items"] == [
        {"id": four["d"], "head_name": "李四", "per_capita_net_income": "4000.00"},
        {"id": four["b"], "head_name": "黄明", "per_capita_net_income": "3200.00"},
        {"id": four["a"], "head_name": "黄志强", "per_capita_net_income": "2500.00"},
    ]
    body = (
        await registry.get(
            "/households", params={"fields": "status", "region": OTHER_TOWNSHIP}, headers=admin
        )
    ).json()
    assert body["items"] == [{"id": four["c"], "status": "exited"}]
    # Without fields every list field is there, and no personal data.
    full = (await registry.get("/households", params={"limit": 1}, headers=admin)).json()["items"][0]
    assert set(full) == {
        "id",
        "village_code",
        "natural_village",
        "status",
        "objection_open",
        "returned",
        "identification_year",
        "head_name",
        "household_size",
        "labor_count",
        "has_labor_capacity",
        "poverty_cause_primary",
        "poverty_causes_other",
        "poverty_attribute",
        "dangerous_house_grade",
        "income_year",
        "per_capita_net_income",
        "flags",
        "version",
        "updated_at",
    }


async def test_unknown_fields_are_422_with_the_allowed_list(registry, admin):
    for fields in ("id,status,bogus", "contact_phone_enc", "details"):
        response = await registry.get("/households", params={"fields": fields}, headers=admin)
        body = assert_problem(response, 422, "unknown fields")
        assert (
            "id" in body["allowed"]
            and "status" in body["allowed"]
            and body["allowed"] == sorted(body["allowed"])
        )
        assert "contact_phone_enc" not in body["allowed"]
    body = assert_problem(await registry.get("/households?fields=id,bogus,nope", headers=admin), 422)
    assert "bogus" in body["detail"] and "nope" in body["detail"]


# -- 4. statistics ------------------------------------------------------------------------------------------
STATS_HOUSEHOLDS = [
    # (village, size, status, returned)
    (VILLAGE, 3, "registered", False),
    (VILLAGE, 2, "exit_proposed", False),
    (SIBLING_VILLAGE, 4, "exit_county_reviewed", False),
    (SIBLING_VILLAGE, 3, "exited", False),
    (VILLAGE, 3, "applied", False),
    (SIBLING_VILLAGE, 3, "county_reviewed", False),
    (VILLAGE, 3, "candidate", False),
    (VILLAGE, 1, "removed", False),
    (VILLAGE, 3, "registered", True),
    (OTHER_VILLAGE, 2, "registered", False),
    (OTHER_VILLAGE, 3, "exit_second_notice", False),
    (OTHER_VILLAGE, 3, "exited", False),
    (OTHER_VILLAGE, 3, "second_notice", False),
    (OTHER_VILLAGE, 4, "return_applied", False),
    (OTHER_VILLAGE, 2, "exit_first_notice", False),
    (OTHER_VILLAGE, 2, "exit_township_reviewed", False),
]


@pytest.fixture
async def stats_data(registry, admin, db_urls) -> None:
    changes = [
        (uuid.UUID(await create(registry, admin, village, size=size)), status, returned)
        for village, size, status, returned in STATS_HOUSEHOLDS
    ]
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.executemany(
            "UPDATE registry_household SET status = $2, returned = $3 WHERE id = $1", changes
        )
    finally:
        await conn.close()


#: queries.py calls Result.tuples(), deprecated in SQLAlchemy 2.1; with filterwarnings = error every stats request
#: raises (see test_stats_does_not_use_deprecated_sqlalchemy_api). Ignored here so the figures are still checked.


def counts(entry: dict[str, Any]) -> tuple[int, ...]:
    keys = (
        "poor_households",
        "poor_people",
        "exited_households",
        "exited_people",
        "in_identification_households",
        "returned_households",
    )
    return tuple(entry[k] for k in keys)


async def put_population(registry, headers, code, year, population, households=None):
    body = {"population": population} | ({"households": households} if households is not None else {})
    return await registry.put(f"/regions/{code}/population/{year}", json=body, headers=headers)


async def test_stats_counts_per_child_region(registry, admin, stats_data):
    response = await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["year"] == 2014
    assert (body["region"]["region_code"], body["region"]["level"], body["region"]["name"]) == (
        COUNTY,
        "county",
        "靖西县",
    )
    children = {c["region_code"]: c for c in body["children"]}
    assert list(children) == [TOWNSHIP, OTHER_TOWNSHIP]
    assert children[TOWNSHIP]["level"] == "township" and children[TOWNSHIP]["name"] == "新靖镇"
    # poor = registered + exit chain (not exited); people = household sizes; in identification = applied..county.
    assert counts(children[TOWNSHIP]) == (4, 3 + 2 + 4 + 3, 1, 3, 2, 1)
    assert counts(children[OTHER_TOWNSHIP]) == (4, 2 + 3 + 2 + 2, 1, 3, 2, 0)
    assert counts(body["region"]) == (8, 21, 2, 6, 4, 1)
    for entry in [body["region"], *body["children"]]:
        assert entry["population"] is None and entry["incidence_percent"] is None
    # A township's children are its villages.
    body = (
        await registry.get("/households/stats", params={"region": TOWNSHIP, "year": 2014}, headers=admin)
    ).json()
    villages = {c["region_code"]: c for c in body["children"]}
    assert list(villages) == [VILLAGE, SIBLING_VILLAGE] and all(
        c["level"] == "village" for c in body["children"]
    )
    assert counts(villages[VILLAGE]) == (3, 8, 0, 0, 1, 1)
    assert counts(villages[SIBLING_VILLAGE]) == (1, 4, 1, 3, 1, 0)
    body = (
        await registry.get("/households/stats", params={"region": VILLAGE, "year": 2014}, headers=admin)
    ).json()
    assert body["children"] == [] and counts(body["region"]) == (3, 8, 0, 0, 1, 1)


async def test_stats_population_and_incidence(registry, admin, stats_data):
    for code, year, population in (
        (VILLAGE, 2014, 1000),
        (SIBLING_VILLAGE, 2014, 500),
        (OTHER_TOWNSHIP, 2014, 1440),
        (OTHER_VILLAGE, 2014, 650),  # the township's own row wins over its villages'
        (TOWNSHIP, 2015, 2000),
    ):
        assert (await put_population(registry, admin, code, year, population)).status_code == 204
    body = (
        await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin)
    ).json()
    children = {c["region_code"]: c for c in body["children"]}
    # 新靖镇 has no row of its own for 2014: its villages' 1000 + 500; 12 poor people -> 0.80 %.
    assert children[TOWNSHIP]["population"] == 1500 and children[TOWNSHIP]["incidence_percent"] == "0.80"
    # 化峒镇: 9 / 1440 x 100 = 0.625 -> rounded half up to 0.63.
    assert children[OTHER_TOWNSHIP]["population"] == 1440
    assert children[OTHER_TOWNSHIP]["incidence_percent"] == "0.63"
    body = (
        await registry.get("/households/stats", params={"region": TOWNSHIP, "year": 2014}, headers=admin)
    ).json()
    assert body["region"]["population"] == 1500 and body["region"]["incidence_percent"] == "0.80"
    villages = {c["region_code"]: c for c in body["children"]}
    assert (villages[VILLAGE]["population"], villages[VILLAGE]["incidence_percent"]) == (1000, "0.80")
    assert (villages[SIBLING_VILLAGE]["population"], villages[SIBLING_VILLAGE]["incidence_percent"]) == (
        500,
        "0.80",
    )
    # Populations are per year; counts are the current records.
    body = (
        await registry.get("/households/stats", params={"region": COUNTY, "year": 2015}, headers=admin)
    ).json()
    children = {c["region_code"]: c for c in body["children"]}
    assert children[TOWNSHIP]["population"] == 2000 and children[TOWNSHIP]["incidence_percent"] == "0.60"
    assert (
        children[OTHER_TOWNSHIP]["population"] is None
        and children[OTHER_TOWNSHIP]["incidence_percent"] is None
    )
    assert counts(children[TOWNSHIP])[:2] == (4, 12)
    # An upsert changes the base; a population of 0 gives no incidence rather than a division by zero.
    assert (await put_population(registry, admin, OTHER_TOWNSHIP, 2014, 900)).status_code == 204
    assert (await put_population(registry, admin, VILLAGE, 2014, 0)).status_code == 204
    body = (
        await registry.get("/households/stats", params={"region": TOWNSHIP, "year": 2014}, headers=admin)
    ).json()
    villages = {c["region_code"]: c for c in body["children"]}
    assert villages[VILLAGE]["population"] == 0 and villages[VILLAGE]["incidence_percent"] is None
    assert body["region"]["population"] == 500 and body["region"]["incidence_percent"] == "2.40"
    body = (
        await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin)
    ).json()
    children = {c["region_code"]: c for c in body["children"]}
    assert (
        children[OTHER_TOWNSHIP]["population"] == 900
        and children[OTHER_TOWNSHIP]["incidence_percent"] == "1.00"
    )


async def test_county_population_counts_each_township_once(registry, admin, stats_data):
    for code, population in (
        (VILLAGE, 1000),
        (SIBLING_VILLAGE, 500),
        (OTHER_TOWNSHIP, 1440),
        (OTHER_VILLAGE, 650),
    ):
        assert (await put_population(registry, admin, code, 2014, population)).status_code == 204
    body = (
        await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin)
    ).json()
    # 新靖镇 1500 (from its villages) + 化峒镇 1440 (its own row); 21 poor people.
    assert body["region"]["population"] == 1500 + 1440
    assert body["region"]["incidence_percent"] == "0.71"


async def test_stats_scope(registry, signing_key, admin, township, clerk, stats_data):
    ok = await registry.get("/households/stats", params={"region": TOWNSHIP, "year": 2014}, headers=township)
    assert ok.status_code == 200 and counts(ok.json()["region"])[:2] == (4, 12)
    ok = await registry.get("/households/stats", params={"region": VILLAGE, "year": 2014}, headers=clerk)
    assert ok.status_code == 200 and counts(ok.json()["region"])[:2] == (3, 8)
    province = auth(issue(signing_key, "province_system", "450000000000"))
    ok = await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}, headers=province)
    assert ok.status_code == 200 and counts(ok.json()["region"])[:2] == (8, 21)
    for headers, region in (
        (township, OTHER_TOWNSHIP),
        (township, COUNTY),
        (township, OTHER_VILLAGE),
        (clerk, SIBLING_VILLAGE),
        (clerk, TOWNSHIP),
        (auth(issue(signing_key, "county_admin", OTHER_COUNTY)), COUNTY),
        (admin, "451025199000"),  # in scope but missing
        (auth(issue(signing_key, "cadre", COUNTY)), COUNTY),
        (auth(issue(signing_key, "cadre", COUNTY)), VILLAGE),
    ):
        response = await registry.get(
            "/households/stats", params={"region": region, "year": 2014}, headers=headers
        )
        body = assert_problem(response, 404)
        assert "poor_households" not in body
    assert_problem(await registry.get("/households/stats", params={"region": COUNTY}, headers=admin), 422)
    assert_problem(
        await registry.get("/households/stats", params={"region": "45", "year": 2014}, headers=admin), 422
    )


async def test_stats_does_not_use_deprecated_sqlalchemy_api(registry, admin):
    response = await registry.get("/households/stats", params={"region": COUNTY, "year": 2014}, headers=admin)
    assert response.status_code == 200, response.text


# -- 5. population ------------------------------------------------------------------------------------------
async def test_put_population(registry, signing_key, admin, township, clerk, db_urls):
    assert (await put_population(registry, clerk, VILLAGE, 2014, 1200, 300)).status_code == 204
    rows = await sql(
        db_urls,
        "SELECT region_code, year, population, households, updated_by FROM registry_region_population",
    )
    assert [tuple(r) for r in rows] == [(VILLAGE, 2014, 1200, 300, "clerk-jiuzhou")]
    # Upsert: the same region and year is replaced, not duplicated.
    response = await put_population(registry, township, VILLAGE, 2014, 1250)
    assert response.status_code == 204 and response.content == b""
    rows = await sql(
        db_urls,
        "SELECT region_code, year, population, households, updated_by FROM registry_region_population",
    )
    assert [tuple(r) for r in rows] == [(VILLAGE, 2014, 1250, None, "officer-xinjing")]
    assert (await put_population(registry, township, TOWNSHIP, 2015, 5000)).status_code == 204
    assert (await put_population(registry, admin, COUNTY, 2014, 0)).status_code == 204
    assert len(await sql(db_urls, "SELECT 1 FROM registry_region_population")) == 3
    events = await sql(
        db_urls,
        "SELECT record_id, region_code, detail FROM registry_audit_event WHERE action = 'population.set' ORDER BY id",
    )
    assert [(e["record_id"], e["region_code"]) for e in events] == [
        (VILLAGE, VILLAGE),
        (VILLAGE, VILLAGE),
        (TOWNSHIP, TOWNSHIP),
        (COUNTY, COUNTY),
    ]
    assert json.loads(events[1]["detail"]) == {"year": 2014, "population": 1250, "households": None}
    # Roles that may not record population.
    for role, region in (("province_system", "450000000000"), ("cadre", COUNTY)):
        headers = auth(issue(signing_key, role, region))
        assert_problem(await put_population(registry, headers, VILLAGE, 2014, 1), 403)
    # Regions outside the caller's scope, or missing, are 404.
    for headers, code in (
        (clerk, SIBLING_VILLAGE),
        (clerk, TOWNSHIP),
        (township, OTHER_TOWNSHIP),
        (township, OTHER_VILLAGE),
        (township, COUNTY),
        (auth(issue(signing_key, "county_admin", OTHER_COUNTY)), VILLAGE),
        (admin, "451025100299"),
    ):
        assert_problem(await put_population(registry, headers, code, 2014, 1), 404)
    # Invalid values.
    for body, year in (
        ({"population": -1}, 2014),
        ({"population": 10, "households": -1}, 2014),
        ({"population": "many"}, 2014),
        ({}, 2014),
        ({"population": 10, "extra": 1}, 2014),
        ({"population": 10}, 1999),
    ):
        assert_problem(
            await registry.put(f"/regions/{VILLAGE}/population/{year}", json=body, headers=admin), 422
        )
    assert_problem(
        await registry.put("/regions/4510/population/2014", json={"population": 1}, headers=admin), 422
    )
    # Nothing refused changed anything.
    rows = await sql(
        db_urls, "SELECT population FROM registry_region_population WHERE region_code = $1", VILLAGE
    )
    assert [r["population"] for r in rows] == [1250]


# -- 6. audit -----------------------------------------------------------------------------------------------
async def test_audit_is_for_county_admins(registry, signing_key, township, clerk):
    for headers in (
        township,
        clerk,
        auth(issue(signing_key, "province_system", "450000000000")),
        auth(issue(signing_key, "cadre", COUNTY)),
    ):
        assert_problem(await registry.get("/audit", headers=headers), 403)


async def test_audit_filters_and_pages(registry, signing_key, admin, township, clerk, db_urls):
    await add_other_county(db_urls)
    h1 = await create(registry, clerk)
    h2 = await create(registry, clerk, head="李四")
    patched = await registry.patch(
        f"/households/{h1}", json={"bank_name": "邮政储蓄"}, headers=township | {"If-Match": '"1"'}
    )
    assert patched.status_code == 200, patched.text
    assert (await registry.get(f"/households/{h1}?unmask=true", headers=admin)).status_code == 200
    assert (await put_population(registry, admin, VILLAGE, 2014, 1000)).status_code == 204
    other_admin = auth(issue(signing_key, "county_admin", OTHER_COUNTY, sub="admin-debao"))
    foreign = await create(registry, other_admin, OTHER_COUNTY_VILLAGE)
    assert (await put_population(registry, other_admin, OTHER_COUNTY_TOWNSHIP, 2014, 10)).status_code == 204

    everything = (await registry.get("/audit", headers=admin)).json()
    assert everything["next_cursor"] is None
    log = everything["items"]
    assert [e["action"] for e in log] == [
        "population.set",
        "pii.read",
        "household.update",
        "household.create",
        "household.create",
    ]
    assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)  # newest first
    assert all(e["region_code"].startswith("451025") for e in log)
    assert foreign not in {e["record_id"] for e in log} and "admin-debao" not in {e["actor"] for e in log}
    update = log[2]
    assert update["actor"] == "officer-xinjing" and update["role"] == "township_officer"
    assert update["household_id"] == h1 and update["record_type"] == "household"
    datetime.fromisoformat(update["at"])

    async def audit(params: dict[str, Any], headers=admin) -> list[dict[str, Any]]:
        response = await registry.get("/audit", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()["items"]

    assert [e["action"] for e in await audit({"record_id": h1})] == [
        "pii.read",
        "household.update",
        "household.create",
    ]
    assert [e["action"] for e in await audit({"household_id": h2})] == ["household.create"]
    assert [e["record_id"] for e in await audit({"record_id": VILLAGE})] == [VILLAGE]
    assert {e["record_id"] for e in await audit({"actor": "clerk-jiuzhou"})} == {h1, h2}
    assert [e["record_id"] for e in await audit({"action": "household.create"})] == [h2, h1]
    assert await audit({"action": "household.create", "actor": "officer-xinjing"}) == []
    assert [e["action"] for e in await audit({"household_id": h1, "actor": "admin-jingxi"})] == ["pii.read"]
    # The other county's events are invisible here, even when asked for by name, and visible there.
    assert await audit({"household_id": foreign}) == []
    assert await audit({"record_id": foreign}) == []
    assert await audit({"actor": "admin-debao"}) == []
    theirs = await audit({}, headers=other_admin)
    assert [e["action"] for e in theirs] == ["population.set", "household.create"]
    assert all(e["region_code"].startswith("451026") for e in theirs)

    # Time windows: since is inclusive, until exclusive; timezones are required.
    ats = [datetime.fromisoformat(e["at"]) for e in log]
    middle = ats[2]
    assert [e["id"] for e in await audit({"since": middle.isoformat()})] == [
        e["id"] for e in log if datetime.fromisoformat(e["at"]) >= middle
    ]
    assert [e["id"] for e in await audit({"until": middle.isoformat()})] == [
        e["id"] for e in log if datetime.fromisoformat(e["at"]) < middle
    ]
    window = await audit({"since": ats[-1].isoformat(), "until": (ats[0] + timedelta(seconds=1)).isoformat()})
    assert len(window) == 5
    assert await audit({"since": (ats[0] + timedelta(seconds=1)).isoformat()}) == []
    assert await audit({"until": "2000-01-01T00:00:00Z"}) == []
    since_z = (ats[-1] - timedelta(hours=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(await audit({"since": since_z})) == 5
    for params in (
        {"since": "2026-01-01T00:00:00"},
        {"until": "2026-01-01T00:00:00"},
        {"since": "2026-01-02T00:00:00+08:00", "until": "2026-01-01T00:00:00+08:00"},
        {"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
        {"since": "yesterday"},
        {"household_id": "not-a-uuid"},
        {"cursor": 0},
        {"limit": 0},
    ):
        assert_problem(await registry.get("/audit", params=params, headers=admin), 422)

    # Keyset pages: newest first, next_cursor until the last page.
    pages: list[list[int]] = []
    cursor = None
    while True:
        body = (
            await registry.get(
                "/audit", params={"limit": 2} | ({"cursor": cursor} if cursor else {}), headers=admin
            )
        ).json()
        pages.append([e["id"] for e in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert cursor == pages[-1][-1]
    assert pages == [[e["id"] for e in log[i : i + 2]] for i in range(0, 5, 2)]
    # Paging combines with a filter; an exact multiple ends without a dangling cursor.
    first = (
        await registry.get("/audit", params={"action": "household.create", "limit": 1}, headers=admin)
    ).json()
    assert [e["record_id"] for e in first["items"]] == [h2] and first["next_cursor"] is not None
    second = (
        await registry.get(
            "/audit",
            params={"action": "household.create", "limit": 1, "cursor": first["next_cursor"]},
            headers=admin,
        )
    ).json()
    assert [e["record_id"] for e in second["items"]] == [h1] and second["next_cursor"] is None
    exact = (await registry.get("/audit", params={"limit": 5}, headers=admin)).json()
    assert len(exact["items"]) == 5 and exact["next_cursor"] is None
