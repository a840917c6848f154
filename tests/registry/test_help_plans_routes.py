"""Household help plan routes (一户一策, issue #4): versions, acknowledgement, progress, who may write."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from shared.clock import CHINA_TIME
from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_VILLAGE,
    VILLAGE,
    Headers,
    assert_problem,
    headers_for,
    pair,
    registered_household,
    unit_and_cadres,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

TODAY = datetime.now(UTC).astimezone(CHINA_TIME).date()


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", COUNTY, "county-1")


@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", VILLAGE, "clerk-1")


def plan(cadre_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
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


@dataclass
class Planned:
    """A registered household paired with cadre 王 (who logs in as `cadre-wang`)."""

    household_id: str
    wang: str
    cadre: Headers
    url: str

    def second_version(self, item_id: str) -> dict[str, Any]:
        body = plan(self.wang)
        body["items"][0]["item_id"] = item_id
        body["items"][0]["description"] = "养山羊 15 只"
        return body


async def planned(
    registry: httpx.AsyncClient,
    admin: Headers,
    clerk: Headers,
    db_urls: dict[str, str],
    signing_key: SigningKey,
    *,
    paired: bool = True,
) -> Planned:
    _, (wang,) = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
    hid = await registered_household(registry, clerk, db_urls)
    if paired:
        await pair(registry, admin, hid, wang, str(TODAY))
    return Planned(
        hid, wang, headers_for(signing_key, "cadre", COUNTY, "cadre-wang"), f"/households/{hid}/help-plan"
    )


async def first_version(registry: httpx.AsyncClient, p: Planned) -> dict[str, Any]:
    r = await registry.put(p.url, json=plan(p.wang), headers=p.cadre)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


class TestPutPlan:
    async def test_anonymous(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        assert_problem(await registry.put(p.url, json=plan(p.wang)), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key, paired=False)
        # Only the paired cadre (or officers in scope) writes the plan.
        assert_problem(await registry.put(p.url, json=plan(p.wang), headers=p.cadre), 404)
        other = headers_for(signing_key, "village_officer", OTHER_VILLAGE)
        assert_problem(await registry.put(p.url, json=plan(p.wang), headers=other), 404)

    async def test_wrong_role(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        await first_version(registry, p)
        second = await registry.put(p.url, json=plan(p.wang), headers=p.cadre | {"If-Match": '"1"'})
        assert second.status_code == 200
        # Province reads, never writes.
        province = headers_for(signing_key, "province_system", "450000000000")
        assert_problem(
            await registry.put(p.url, json=plan(p.wang), headers=province | {"If-Match": '"2"'}), 403
        )
        service = headers_for(signing_key, "service", "000000000000")
        assert_problem(
            await registry.put(p.url, json=plan(p.wang), headers=service | {"If-Match": '"2"'}), 403
        )

    async def test_invalid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        await first_version(registry, p)
        headers = p.cadre | {"If-Match": '"1"'}
        # Invariants 34 and 35.
        bad_year = plan(p.wang, target_exit_year=2013)
        assert assert_problem(await registry.put(p.url, json=bad_year, headers=headers), 422)["code"] == (
            "exit_year_out_of_range"
        )
        unfunded = plan(p.wang)
        unfunded["items"][0].pop("funding_source")
        assert assert_problem(await registry.put(p.url, json=unfunded, headers=headers), 422)["field"] == (
            "/items/0/funding_source"
        )
        late = plan(p.wang)
        late["items"][0]["due_date"] = "2018-01-01"
        assert assert_problem(await registry.put(p.url, json=late, headers=headers), 422)["field"] == (
            "/items/0/due_date"
        )
        unknown = plan(p.wang)
        unknown["items"][0]["measure"] = "lottery"
        assert_problem(await registry.put(p.url, json=unknown, headers=headers), 422)
        stranger = plan(p.wang)
        stranger["items"][1]["item_id"] = str(uuid.uuid4())
        assert assert_problem(await registry.put(p.url, json=stranger, headers=headers), 422)["code"] == (
            "unknown_item"
        )
        nobody = plan(str(uuid.uuid4()))
        assert assert_problem(await registry.put(p.url, json=nobody, headers=headers), 422)["code"] == (
            "unknown_cadre"
        )

    async def test_valid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        first = await registry.put(p.url, json=plan(p.wang, note="户主同意"), headers=p.cadre)
        assert first.status_code == 200, first.text
        body = first.json()
        assert (
            first.headers["etag"] == '"1"'
            and body["expected_income_gain_yuan"] == "9000.00"
            and body["cost_yuan"] == "8000.00"
        )
        assert body["household_id"] == p.household_id and body["version"] == 1 and body["note"] == "户主同意"
        assert body["acknowledged"] is None and body["created_by"] == "cadre-wang"
        goats, cleaner = body["items"]
        assert goats["cost_yuan"] == "8000.00" and goats["funding_source"] == "credit"
        assert cleaner["cost_yuan"] == "0.00" and cleaner["funding_amount_yuan"] is None
        assert goats["progress"] is None and goats["progress_history"] == []
        card = (await registry.get(f"/households/{p.household_id}", headers=admin)).json()
        assert card["planned_exit_year"] == 2016

    async def test_versions(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        item_id = (await first_version(registry, p))["items"][0]["item_id"]
        # A new version needs the current one's tag, and keeps item ids.
        assert_problem(await registry.put(p.url, json=plan(p.wang), headers=p.cadre), 428)
        second_body = p.second_version(item_id)
        second = await registry.put(p.url, json=second_body, headers=p.cadre | {"If-Match": '"1"'})
        assert second.status_code == 200 and second.json()["version"] == 2
        assert second.headers["etag"] == '"2"' and second.json()["items"][0]["item_id"] == item_id
        assert_problem(
            await registry.put(p.url, json=second_body, headers=p.cadre | {"If-Match": '"1"'}), 412
        )
        conn = await asyncpg.connect(db_urls["registry"])
        try:
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("UPDATE registry_help_plan SET note = 'x'")
        finally:
            await conn.close()


class TestGetPlan:
    async def test_anonymous(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        await first_version(registry, p)
        assert_problem(await registry.get(p.url), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        await first_version(registry, p)
        # Another cadre sees nothing.
        other = headers_for(signing_key, "cadre", COUNTY, "someone-else")
        assert_problem(await registry.get(p.url, headers=other), 404)
        assert_problem(
            await registry.get(p.url, headers=headers_for(signing_key, "village_officer", OTHER_VILLAGE)), 404
        )

    async def test_invalid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        assert_problem(await registry.get(f"{p.url}?version=0", headers=admin), 422)
        assert_problem(await registry.get(p.url, headers=admin), 404)  # no plan yet
        await first_version(registry, p)
        assert_problem(await registry.get(f"{p.url}?version=9", headers=admin), 404)

    async def test_valid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        item_id = (await first_version(registry, p))["items"][0]["item_id"]
        await registry.put(p.url, json=p.second_version(item_id), headers=p.cadre | {"If-Match": '"1"'})
        ack = {"version": 2, "signatory": "黄志强", "acknowledged_on": "2015-03-02"}
        assert (await registry.post(f"{p.url}/acknowledgement", json=ack, headers=p.cadre)).status_code == 200
        old = (await registry.get(f"{p.url}?version=1", headers=admin)).json()
        assert old["items"][0]["description"].startswith("养山羊 10") and old["acknowledged"] is None
        current = await registry.get(p.url, headers=admin)
        assert (
            current.headers["etag"] == '"2"' and current.json()["items"][0]["description"] == "养山羊 15 只"
        )
        # Province reads.
        province = headers_for(signing_key, "province_system", "450000000000")
        assert (await registry.get(p.url, headers=province)).status_code == 200


class TestAcknowledge:
    async def test_anonymous(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        ack = {"version": 1, "signatory": "黄志强", "acknowledged_on": "2015-03-02"}
        assert_problem(await registry.post(f"{p.url}/acknowledgement", json=ack), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        await first_version(registry, p)
        ack = {"version": 1, "signatory": "黄志强", "acknowledged_on": "2015-03-02"}
        other = headers_for(signing_key, "cadre", COUNTY, "someone-else")
        assert_problem(await registry.post(f"{p.url}/acknowledgement", json=ack, headers=other), 404)

    async def test_invalid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        await first_version(registry, p)
        ack = {"version": 1, "signatory": "", "acknowledged_on": "2015-03-02"}
        assert_problem(await registry.post(f"{p.url}/acknowledgement", json=ack, headers=p.cadre), 422)
        missing = {"version": 3, "signatory": "黄志强", "acknowledged_on": "2015-03-02"}
        assert_problem(await registry.post(f"{p.url}/acknowledgement", json=missing, headers=p.cadre), 404)

    async def test_valid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        item_id = (await first_version(registry, p))["items"][0]["item_id"]
        await registry.put(p.url, json=p.second_version(item_id), headers=p.cadre | {"If-Match": '"1"'})
        # The head acknowledges the current version only, once.
        ack = {"version": 1, "signatory": "黄志强", "acknowledged_on": "2015-03-02"}
        problem = assert_problem(
            await registry.post(f"{p.url}/acknowledgement", json=ack, headers=p.cadre), 409
        )
        assert problem["code"] == "not_current" and problem["current_version"] == 2
        ok = await registry.post(f"{p.url}/acknowledgement", json=ack | {"version": 2}, headers=p.cadre)
        assert ok.json()["acknowledged"]["signatory"] == "黄志强"
        assert ok.json()["acknowledged"] == {
            "signatory": "黄志强",
            "acknowledged_on": "2015-03-02",
            "recorded_by": "cadre-wang",
        }
        again = await registry.post(f"{p.url}/acknowledgement", json=ack | {"version": 2}, headers=p.cadre)
        assert assert_problem(again, 409)["code"] == "already_acknowledged"


class TestProgress:
    async def test_anonymous(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        item_id = (await first_version(registry, p))["items"][0]["item_id"]
        assert_problem(await registry.post(f"{p.url}/items/{item_id}/progress", json={"percent": 40}), 401)

    async def test_other_region(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        item_id = (await first_version(registry, p))["items"][0]["item_id"]
        other = headers_for(signing_key, "village_officer", OTHER_VILLAGE)
        url = f"{p.url}/items/{item_id}/progress"
        assert_problem(await registry.post(url, json={"percent": 40}, headers=other), 404)
        assert_problem(
            await registry.post(
                f"{p.url}/items/{uuid.uuid4()}/progress", json={"percent": 40}, headers=p.cadre
            ),
            404,
        )

    async def test_invalid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        item_id = (await first_version(registry, p))["items"][0]["item_id"]
        url = f"{p.url}/items/{item_id}/progress"
        below = await registry.post(url, json={"percent": 90, "completed_on": "2015-09-20"}, headers=p.cadre)
        assert assert_problem(below, 422)["field"] == "/percent"
        future = await registry.post(
            url, json={"percent": 100, "completed_on": "2099-01-01"}, headers=p.cadre
        )
        assert assert_problem(future, 422)["field"] == "/completed_on"
        assert_problem(await registry.post(url, json={"percent": 101}, headers=p.cadre), 422)

    async def test_valid(
        self, registry: httpx.AsyncClient, admin: Headers, clerk: Headers, db_urls: dict[str, str],
        signing_key: SigningKey,
    ) -> None:  # fmt: skip
        p = await planned(registry, admin, clerk, db_urls, signing_key)
        item_id = (await first_version(registry, p))["items"][0]["item_id"]
        await registry.put(p.url, json=p.second_version(item_id), headers=p.cadre | {"If-Match": '"1"'})
        # Progress is appended per item; the latest shows on the plan.
        await registry.post(
            f"{p.url}/items/{item_id}/progress", json={"percent": 40, "note": "已购羊 6 只"}, headers=p.cadre
        )
        done = await registry.post(
            f"{p.url}/items/{item_id}/progress",
            json={"percent": 100, "completed_on": "2015-09-20"},
            headers=p.cadre,
        )
        assert done.status_code == 200 and done.headers["etag"] == '"2"'
        item = next(i for i in done.json()["items"] if i["item_id"] == item_id)
        assert item["progress"]["percent"] == 100 and len(item["progress_history"]) == 2
        assert (
            item["progress"]["completed_on"] == "2015-09-20"
            and item["progress"]["recorded_by"] == "cadre-wang"
        )
        assert [e["note"] for e in item["progress_history"]] == ["已购羊 6 只", None]
        other = next(i for i in done.json()["items"] if i["item_id"] != item_id)
        assert other["progress"] is None and other["progress_history"] == []
