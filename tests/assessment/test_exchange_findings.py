"""The `findings` export and the findings in the assessment's change feed (issue #15) against a real PostgreSQL,
with the registry in process (tests/assessment/test_inspections_routes.py's `api` and `world`): a row is
`GET /findings/{id}` with its rectifications as `GET /rectifications/{id}` answers them (overdue as of the
assessment's date), export + feed from its cursor = the live state as the rectification moves on, and the region
scope."""

# ruff: noqa: F811 - `api`, `people`, `clock` and `world` are the imported fixtures

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.assessment.test_inspections_routes import (  # noqa: F401 - the fixtures
    PNG,
    Clock,
    People,
    api,
    clock,
    confirm,
    finding_body,
    people,
    report,
    world,
)
from tests.factories import VILLAGE, Headers

pytestmark = pytest.mark.usefixtures("seed_regions")

ORDER = {
    "owner": {"kind": "region_office", "id": VILLAGE, "name": "旧州村两委"},
    "deadline": "2016-06-30",
    "requirement": "补齐帮扶手册收入核算页",
}


async def _export(api: httpx.AsyncClient, headers: Headers) -> tuple[list[dict[str, Any]], str]:
    response = await api.get("/exports/findings", headers=headers)
    assert response.status_code == 200, response.text
    *rows, trailer = [json.loads(line) for line in response.text.splitlines()]
    return rows, trailer["_trailer"]["feed_cursor"]


async def _ordered(api: httpx.AsyncClient, people: People, world: dict[str, Any]) -> tuple[str, str]:
    """A confirmed village finding with evidence, and its rectification ordered: their ids."""
    found = await report(api, people.township, world["inspection"]["id"], finding_body("village", VILLAGE))
    png = {**people.inspector, "Content-Type": "image/png"}
    assert (await api.post(f"/findings/{found['id']}/evidence", content=PNG, headers=png)).status_code == 201
    await confirm(api, people.township2, found["id"])
    task = await api.post(f"/findings/{found['id']}/rectifications", json=ORDER, headers=people.township)
    assert task.status_code == 201, task.text
    return found["id"], task.json()["id"]


async def _rest(api: httpx.AsyncClient, headers: Headers, finding_id: str) -> dict[str, Any]:
    """A finding as the REST reads answer it, with its rectifications (without their `finding`) nested."""
    finding: dict[str, Any] = (await api.get(f"/findings/{finding_id}", headers=headers)).json()
    page = (await api.get("/rectifications", headers=headers)).json()
    tasks = [t for t in page["items"] if t["finding_id"] == finding_id]
    finding["rectifications"] = [{k: v for k, v in t.items() if k != "finding"} for t in tasks]
    return finding


async def test_a_finding_is_its_rest_answer_with_its_rectifications(
    api: httpx.AsyncClient, people: People, world: dict[str, Any], clock: Clock
) -> None:
    finding_id, _ = await _ordered(api, people, world)
    clock.now = datetime(2016, 7, 5, 2, 0, tzinfo=UTC)  # five days past the deadline
    rows, _ = await _export(api, people.admin)
    (row,) = rows
    rest = await _rest(api, people.admin, finding_id)
    assert row == rest
    task = row["rectifications"][0]
    assert (task["overdue"], task["days_overdue"]) == (True, 5)
    assert row["evidence"][0]["size"] == len(PNG) and [s["step"] for s in task["history"]] == ["ordered"]


async def test_export_then_feed_is_the_live_state(
    api: httpx.AsyncClient, people: People, world: dict[str, Any]
) -> None:
    finding_id, task_id = await _ordered(api, people, world)
    rows, cursor = await _export(api, people.admin)
    submitted = await api.post(
        f"/rectifications/{task_id}/submission", json={"response": "已补齐"}, headers=people.clerk
    )
    assert submitted.status_code == 200, submitted.text
    page = (
        await api.get("/changes", params={"after": cursor, "types": "finding"}, headers=people.admin)
    ).json()
    (item,) = page["items"]
    assert (item["type"], item["id"], item["op"]) == ("finding", finding_id, "upsert")
    assert item["record"]["rectifications"][0]["status"] == "submitted"
    live, _ = await _export(api, people.admin)
    assert {**{r["id"]: r for r in rows}, item["id"]: item["record"]} == {r["id"]: r for r in live}


async def test_the_region_scope(api: httpx.AsyncClient, people: People, world: dict[str, Any]) -> None:
    finding_id, _ = await _ordered(api, people, world)
    assert [r["id"] for r in (await _export(api, people.province))[0]] == [
        finding_id
    ]  # read-only, the province
    assert [r["id"] for r in (await _export(api, people.township))[0]] == [finding_id]
    assert (await _export(api, people.other_township))[0] == []
    assert (await _export(api, people.other_admin))[0] == []
    page = (await api.get("/changes", params={"types": "finding"}, headers=people.other_admin)).json()
    assert page["items"] == []
