"""Household help plans (一户一策) and monitoring rounds (issue #4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.factories import assert_problem, auth, issue
from tests.test_pairing import COUNTY, TODAY, TOWNSHIP, registered_household, unit_and_cadres

pytestmark = pytest.mark.usefixtures("seed_regions")


@pytest.fixture
def admin(signing_key):
    return auth(issue(signing_key, "county_admin", COUNTY, sub="county-1"))


@pytest.fixture
def township(signing_key):
    return auth(issue(signing_key, "township_officer", TOWNSHIP, sub="township-1"))


@pytest.fixture
def clerk(signing_key):
    return auth(issue(signing_key, "village_officer", "451025100201", sub="clerk-1"))


def plan(cadre_id: str, **extra) -> dict:
    body = {
        "year_from": 2015,
        "year_to": 2016,
        "target_exit_year": 2016,
        "items": [
            {
                "measure": "breeding",
                "description": "养山羊 10 只 (到户增收项目 + 小额贷款)",
                "responsible_cadre_id": cadre_id,
                "due_date": "2015-09-30",
                "expected_income_gain_yuan": "3000.00",
                "cost_yuan": "8000.00",
                "funding_source": "credit",
                "funding_amount_yuan": "8000.00",
            },
            {
                "measure": "public_welfare_job",
                "description": "村级保洁员, 月工资 500 元",
                "responsible_cadre_id": cadre_id,
                "due_date": "2015-05-31",
                "expected_income_gain_yuan": "6000.00",
            },
        ],
    }
    body.update(extra)
    return body


async def test_help_plan_versions_acknowledgement_and_progress(registry, admin, clerk, db_urls, signing_key):
    _, (wang,) = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
    hid = await registered_household(registry, clerk, db_urls)
    cadre_h = auth(issue(signing_key, "cadre", COUNTY, sub="cadre-wang"))
    url = f"/households/{hid}/help-plan"
    # Only the paired cadre (or officers in scope) writes the plan.
    assert_problem(await registry.put(url, json=plan(wang), headers=cadre_h), 404)
    await registry.post(
        "/pairings", json={"household_id": hid, "cadre_id": wang, "valid_from": str(TODAY)}, headers=admin
    )
    first = await registry.put(url, json=plan(wang), headers=cadre_h)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (
        first.headers["etag"] == '"1"'
        and body["expected_income_gain_yuan"] == "9000"
        and body["cost_yuan"] == "8000"
    )
    item_id = body["items"][0]["item_id"]
    # Invariants 34 and 35.
    bad_year = plan(wang, target_exit_year=2013)
    assert_problem(await registry.put(url, json=bad_year, headers=cadre_h | {"If-Match": '"1"'}), 422)
    unfunded = plan(wang)
    unfunded["items"][0].pop("funding_source")
    assert_problem(await registry.put(url, json=unfunded, headers=cadre_h | {"If-Match": '"1"'}), 422)
    late = plan(wang)
    late["items"][0]["due_date"] = "2018-01-01"
    assert_problem(await registry.put(url, json=late, headers=cadre_h | {"If-Match": '"1"'}), 422)
    unknown = plan(wang)
    unknown["items"][0]["measure"] = "lottery"
    assert_problem(await registry.put(url, json=unknown, headers=cadre_h | {"If-Match": '"1"'}), 422)
    # A new version needs the current one's tag, and keeps item ids.
    assert_problem(await registry.put(url, json=plan(wang), headers=cadre_h), 428)
    second_body = plan(wang)
    second_body["items"][0]["item_id"] = item_id
    second_body["items"][0]["description"] = "养山羊 15 只"
    second = await registry.put(url, json=second_body, headers=cadre_h | {"If-Match": '"1"'})
    assert second.status_code == 200 and second.json()["version"] == 2
    assert_problem(await registry.put(url, json=second_body, headers=cadre_h | {"If-Match": '"1"'}), 412)
    # The head acknowledges the current version only; progress is appended per item.
    ack = {"version": 1, "signatory": "黄志强", "acknowledged_on": "2015-03-02"}
    assert_problem(await registry.post(f"{url}/acknowledgement", json=ack, headers=cadre_h), 409)
    ok = await registry.post(f"{url}/acknowledgement", json=ack | {"version": 2}, headers=cadre_h)
    assert ok.json()["acknowledged"]["signatory"] == "黄志强"
    await registry.post(
        f"{url}/items/{item_id}/progress", json={"percent": 40, "note": "已购羊 6 只"}, headers=cadre_h
    )
    done = await registry.post(
        f"{url}/items/{item_id}/progress",
        json={"percent": 100, "completed_on": "2015-09-20"},
        headers=cadre_h,
    )
    item = next(i for i in done.json()["items"] if i["item_id"] == item_id)
    assert item["progress"]["percent"] == 100 and len(item["progress_history"]) == 2
    old = (await registry.get(f"{url}?version=1", headers=admin)).json()
    assert old["items"][0]["description"].startswith("养山羊 10") and old["acknowledged"] is None
    card = (await registry.get(f"/households/{hid}", headers=admin)).json()
    assert card["planned_exit_year"] == 2016
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await conn.execute("UPDATE registry_help_plan SET note = 'x'")
    finally:
        await conn.close()
    # Province reads, never writes; another cadre sees nothing.
    province = auth(issue(signing_key, "province_system", "450000000000"))
    assert (await registry.get(url, headers=province)).status_code == 200
    assert_problem(await registry.put(url, json=plan(wang), headers=province | {"If-Match": '"2"'}), 403)
    other = auth(issue(signing_key, "cadre", COUNTY, sub="someone-else"))
    assert_problem(await registry.get(url, headers=other), 404)


async def insert_visits(db_urls, household_id: str, cadre_id: str, times: list[datetime]) -> None:
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        for t in times:
            await conn.execute(
                "INSERT INTO registry_help_record (id, version, household_id, cadre_id, record_type, device_time,"
                " received_at, content, payload_hash, created_by) VALUES ($1, 1, $2, $3, 'visit', $4, $4, '走访', 'h', 'x')",
                uuid.uuid4(),
                uuid.UUID(household_id),
                uuid.UUID(cadre_id),
                t,
            )
    finally:
        await conn.close()


async def test_monitoring_round_findings_and_visit_frequency(
    registry, registry_app, admin, township, clerk, db_urls, signing_key
):
    _, (wang, li) = await unit_and_cadres(registry, admin, "staff", "staff")
    a, b = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
    pa = (
        await registry.post(
            "/pairings", json={"household_id": a, "cadre_id": wang, "valid_from": "2015-01-01"}, headers=admin
        )
    ).json()
    pb = (
        await registry.post(
            "/pairings", json={"household_id": b, "cadre_id": li, "valid_from": "2015-01-01"}, headers=admin
        )
    ).json()
    quarterly = [datetime(2015, m, 10, 2, tzinfo=UTC) for m in (2, 5, 8, 11)]
    await insert_visits(db_urls, a, wang, quarterly)
    await insert_visits(db_urls, b, li, quarterly[:1])
    registry_app.state.clock = lambda: datetime(2015, 12, 20, 2, tzinfo=UTC)  # the December round, on time
    opened = await registry.post(
        "/monitoring/rounds", json={"township_code": TOWNSHIP, "year": 2015, "half": "H2"}, headers=township
    )
    assert opened.status_code == 201, opened.text
    rid = opened.json()["id"]
    assert_problem(
        await registry.post(
            "/monitoring/rounds",
            json={"township_code": TOWNSHIP, "year": 2015, "half": "H2"},
            headers=township,
        ),
        409,
    )
    assert_problem(
        await registry.post(
            "/monitoring/rounds", json={"township_code": TOWNSHIP, "year": 2015, "half": "H1"}, headers=clerk
        ),
        403,
    )
    finding = {"projects": "养羊项目", "funds_yuan": "8000.00", "results": "人均增收 1000 元"}
    fa = await registry.post(
        f"/monitoring/rounds/{rid}/findings", json=finding | {"pairing_id": pa["id"]}, headers=township
    )
    fb = await registry.post(
        f"/monitoring/rounds/{rid}/findings", json=finding | {"pairing_id": pb["id"]}, headers=township
    )
    assert fa.json()["visits_in_year"] == 4 and fa.json()["flags"] == []
    assert fb.json()["visits_in_year"] == 1 and fb.json()["flags"] == ["visits_below_minimum"]
    assert_problem(
        await registry.post(
            f"/monitoring/rounds/{rid}/findings", json=finding | {"pairing_id": pa["id"]}, headers=township
        ),
        409,
    )
    closed = await registry.post(
        f"/monitoring/rounds/{rid}/close", json={"summary": "两户均按计划推进"}, headers=township
    )
    assert closed.json()["closed_at"].startswith("2015-12-20"), closed.text
    assert closed.status_code == 200 and closed.json()["closed_at"] and len(closed.json()["findings"]) == 2
    assert_problem(
        await registry.post(
            f"/monitoring/rounds/{rid}/findings", json=finding | {"pairing_id": pb["id"]}, headers=township
        ),
        409,
    )
    # Overdue: the 2015 June round of 新靖镇 never happened; 化峒镇 has none at all.
    overdue = (
        await registry.get(f"/monitoring/overdue?region={COUNTY}&on=2016-01-15", headers=admin)
    ).json()["items"]
    states = {(o["township_code"], o["year"], o["half"]): o["state"] for o in overdue}
    assert states[(TOWNSHIP, 2015, "H1")] == "missing" and (TOWNSHIP, 2015, "H2") not in states
    assert states[("451025101000", 2015, "H2")] == "missing"
    freq = (
        await registry.get(f"/monitoring/visit-frequency?region={COUNTY}&year=2015", headers=admin)
    ).json()
    assert freq["minimum_visits"] == 4 and [i["household_id"] for i in freq["items"]] == [b]
    cadre_h = auth(issue(signing_key, "cadre", COUNTY))
    assert_problem(await registry.get(f"/monitoring/rounds/{rid}", headers=cadre_h), 404)
    other_township = auth(issue(signing_key, "township_officer", "451025101000"))
    assert_problem(await registry.get(f"/monitoring/rounds/{rid}", headers=other_township), 404)
