"""Every household route against every out-of-scope principal (issue #3 "Access"), and each role's reach.

A village officer of the next village, a township officer of the next township, the admin of another county,
the province system of another province and a cadre (no pairings before issue #4) must neither see nor change
a household: reads answer 404 exactly as for a missing record, writes answer 404 (officers) or 403 (roles
that never write households), and nothing changes.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    assert_problem,
    auth,
    household_payload,
    issue,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

OUTSIDERS = {
    "sibling village officer": ("village_officer", SIBLING_VILLAGE),
    "other township officer": ("township_officer", "451025101000"),
    "other county admin": ("county_admin", "451026000000"),
    "other province system": ("province_system", "440000000000"),
    "cadre without pairing": ("cadre", COUNTY),
}
NEVER_WRITE = {"province_system", "cadre"}


def routes(h: dict[str, Any], other: dict[str, Any]) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
    """(method, url, body, is_write) for every route that names a household."""
    hid, flag = h["id"], h["flags_detail"][0]["id"]
    mid, leaver, mover = (h["members"][i]["id"] for i in (1, 3, 2))
    income = {"wage": "1", "operating": "0", "property": "0", "transfer": "0", "operating_expenses": "0"}
    return [
        ("GET", f"/households/{hid}", None, False),
        ("GET", f"/households/{hid}?unmask=true", None, False),
        ("PATCH", f"/households/{hid}", {"bank_name": "x"}, True),
        ("POST", f"/households/{hid}/members", household_payload()["members"][2] | {"relation": "son"}, True),
        ("PATCH", f"/households/{hid}/members/{mid}", {"name": "x"}, True),
        ("POST", f"/households/{hid}/members/{leaver}/leave", {"reason": "death", "on": "2014-01-01"}, True),
        (
            "POST",
            f"/households/{hid}/members/{mover}/move",
            {
                "to_household_id": other["id"],
                "to_version": other["version"],
                "relation": "other",
                "reason": "x",
            },
            True,
        ),
        (
            "POST",
            f"/households/{hid}/head",
            {"member_id": mid, "former_head_relation": "spouse", "reason": "x"},
            True,
        ),
        ("POST", f"/households/{hid}/split", {"member_ids": [mid], "new_head_id": mid, "reason": "x"}, True),
        (
            "POST",
            f"/households/{other['id']}/merge",
            {
                "from_household_id": hid,
                "from_version": h["version"],
                "relations": {mid: "other"},
                "reason": "x",
            },
            True,
        ),
        ("PUT", f"/households/{hid}/incomes/2013", income, True),
        ("POST", f"/households/{hid}/flags/{flag}/clear", {"reason": "x"}, True),
        ("POST", f"/households/{hid}/workflow/apply", {"data": {}}, True),
        ("POST", f"/households/{hid}/quota-override", {"household_id": hid, "reason": "x"}, True),
    ]


@pytest.fixture
async def targets(registry: httpx.AsyncClient, signing_key: SigningKey) -> list[dict[str, Any]]:
    clerk = auth(issue(signing_key, "village_officer", VILLAGE))
    made: list[dict[str, Any]] = []
    for _ in range(2):
        payload = household_payload(formed_on="2026-01-01", size=4)
        r = await registry.post("/households", json=payload, headers=clerk)
        assert r.status_code == 201, r.text
        made.append((await registry.get(f"/households/{r.json()['id']}", headers=clerk)).json())
    return made


@pytest.mark.parametrize("who", sorted(OUTSIDERS))
async def test_outsiders_neither_see_nor_change(
    registry: httpx.AsyncClient,
    signing_key: SigningKey,
    targets: list[dict[str, Any]],
    db_urls: dict[str, str],
    who: str,
) -> None:
    role, region = OUTSIDERS[who]
    headers = auth(issue(signing_key, role, region, sub=f"outsider-{role}"))
    h, other = targets
    for method, url, body, is_write in routes(h, other):
        expected = 403 if is_write and role in NEVER_WRITE else 404
        if url.endswith("unmask=true") and role not in ("county_admin", "province_system"):
            expected = 403  # asking for unmasked data is refused before any lookup
        if url.endswith("quota-override") and role != "county_admin" and role not in NEVER_WRITE:
            expected = 403
        if url.endswith("/merge") or url.endswith("/move"):
            # Both households are out of scope: the first one looked up is missing.
            expected = 403 if role in NEVER_WRITE else 404
        response = await registry.request(
            method, url, json=body, headers=headers | {"If-Match": f'"{h["version"]}"'}
        )
        assert_problem(response, expected)
    # Lists, statistics and the population of the village are out of reach too.
    assert (await registry.get("/households", headers=headers)).json()["items"] == []
    assert (await registry.get(f"/households?region={VILLAGE}", headers=headers)).json()["items"] == []
    assert_problem(await registry.get(f"/households/stats?region={VILLAGE}&year=2014", headers=headers), 404)
    population = await registry.put(
        f"/regions/{VILLAGE}/population/2014", json={"population": 10}, headers=headers
    )
    assert_problem(population, 403 if role in NEVER_WRITE else 404)
    batch = await registry.post(
        "/households/workflow/village_review/batch",
        json={"items": [{"household_id": h["id"]}], "data": {}},
        headers=headers,
    )
    if role in NEVER_WRITE:
        assert_problem(batch, 403)
    else:
        assert batch.status_code == 200 and batch.json()["items"][0]["status_code"] == 404
    # Nothing changed, and the outsider left no trace but refusals.
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        versions = await conn.fetch("SELECT version FROM registry_household ORDER BY created_at")
        assert [r["version"] for r in versions] == [h["version"], other["version"]] or sorted(
            r["version"] for r in versions
        ) == sorted([h["version"], other["version"]])
        assert (
            await conn.fetchval("SELECT count(*) FROM registry_audit_event WHERE actor LIKE 'outsider-%'")
            == 0
        )
        assert await conn.fetchval("SELECT count(*) FROM registry_workflow_event") == 0
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("role", "region"),
    [
        ("village_officer", VILLAGE),
        ("township_officer", "451025100000"),
        ("county_admin", COUNTY),
    ],
)
async def test_insiders_reach_every_route(
    registry: httpx.AsyncClient,
    signing_key: SigningKey,
    targets: list[dict[str, Any]],
    role: str,
    region: str,
) -> None:
    """The same routes are reachable for each officer level of the household's own chain."""
    headers = auth(issue(signing_key, role, region))
    h, other = targets
    for method, url, body, _is_write in routes(h, other):
        current = (await registry.get(f"/households/{h['id']}", headers=headers)).json()
        response = await registry.request(
            method, url, json=body, headers=headers | {"If-Match": f'"{current["version"]}"'}
        )
        assert response.status_code not in (404, 401), (url, response.text)
        if response.status_code == 403:
            # Only role rules may refuse an insider: unmasking, clearing flags (village), overrides (county) and
            # the workflow's levels (only the village applies).
            assert url.endswith(("unmask=true", "/clear", "quota-override", "/workflow/apply")), (
                url,
                response.text,
            )


async def test_scope_per_role(
    registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
) -> None:
    clerk = auth(issue(signing_key, "village_officer", VILLAGE))
    r = await registry.post("/households", json=household_payload(), headers=clerk)
    assert r.status_code == 201, r.text
    hid, tag = r.json()["id"], r.headers["etag"]
    url = f"/households/{hid}"
    in_scope = {
        "village": clerk,
        "township": auth(issue(signing_key, "township_officer", TOWNSHIP)),
        "county": auth(issue(signing_key, "county_admin", COUNTY)),
        "province": auth(issue(signing_key, "province_system", "450000000000")),
    }
    out_of_scope = {
        "sibling village": auth(issue(signing_key, "village_officer", SIBLING_VILLAGE)),
        "other township": auth(issue(signing_key, "township_officer", OTHER_TOWNSHIP)),
        "other county": auth(issue(signing_key, "county_admin", "451026000000")),
        "cadre (no pairing yet)": auth(issue(signing_key, "cadre", COUNTY)),
    }
    for name, headers in in_scope.items():
        assert (await registry.get(url, headers=headers)).status_code == 200, name
        items = (await registry.get("/households", headers=headers)).json()["items"]
        assert [i["id"] for i in items] == [hid], name
    for name, headers in out_of_scope.items():
        assert_problem(await registry.get(url, headers=headers), 404)
        assert (await registry.get("/households", headers=headers)).json()["items"] == [], name
        assert_problem(
            await registry.patch(url, json={"bank_name": "x"}, headers=headers | {"If-Match": tag}),
            403 if name.startswith("cadre") else 404,
        )
    # Province reads but never writes; nobody creates outside their scope.
    assert_problem(
        await registry.patch(url, json={"bank_name": "x"}, headers=in_scope["province"] | {"If-Match": tag}),
        403,
    )
    assert_problem(
        await registry.post("/households", json=household_payload(OTHER_VILLAGE), headers=clerk), 404
    )
    assert_problem(
        await registry.post(
            "/households", json=household_payload(), headers=out_of_scope["cadre (no pairing yet)"]
        ),
        403,
    )
    rows = await _count_households(db_urls)
    assert rows == 1


async def _count_households(db_urls: dict[str, str]) -> int:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        return int(await conn.fetchval("SELECT count(*) FROM registry_household"))
    finally:
        await conn.close()
