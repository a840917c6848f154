"""Issue #13 item 17 (deadlines): the end-January update and the end-February upload of a year's data (invariant
20), reported per township; uploads recorded by township officers and county administrators."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest
from fastapi import FastAPI

from services.registry.deadlines.domain import DeadlineState, update_state, upload_due, upload_state
from shared.jwt import SigningKey
from tests.factories import COUNTY, TOWNSHIP, VILLAGE, Headers, assert_problem, headers_for

pytestmark = pytest.mark.usefixtures("seed_regions")


class TestDomain:
    def test_due_days(self) -> None:
        assert upload_due(2015) == date(2016, 2, 29) and upload_due(2014) == date(2015, 2, 28)

    def test_upload_states(self) -> None:
        on_time = datetime(2015, 2, 28, 15, 59, tzinfo=UTC)  # 23:59 on 28 Feb in China
        late = datetime(2015, 2, 28, 16, 0, tzinfo=UTC)  # 00:00 on 1 March in China
        assert upload_state(2014, on_time, late) is DeadlineState.met
        assert upload_state(2014, late, late) is DeadlineState.late
        assert upload_state(2014, None, late) is DeadlineState.overdue
        assert upload_state(2014, None, on_time) is DeadlineState.pending

    def test_update_states(self) -> None:
        before = datetime(2015, 1, 31, 15, 59, tzinfo=UTC)
        after = datetime(2015, 1, 31, 16, 0, tzinfo=UTC)
        assert update_state(2014, True, before) is DeadlineState.pending
        assert update_state(2014, True, after) is DeadlineState.met
        assert update_state(2014, False, after) is DeadlineState.missed
        assert update_state(2014, None, after) is DeadlineState.unknown


@pytest.fixture
def roles(signing_key: SigningKey) -> dict[str, Headers]:
    return {
        "township": headers_for(signing_key, "township_officer", TOWNSHIP),
        "county": headers_for(signing_key, "county_admin", COUNTY),
        "village": headers_for(signing_key, "village_officer", VILLAGE),
        "other_township": headers_for(signing_key, "township_officer", "451025101000"),
    }


class TestReportUpload:
    async def test_valid_and_the_first_report_stands(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, roles: dict[str, Headers]
    ) -> None:
        registry_app.state.clock = lambda: datetime(2015, 2, 10, 2, tzinfo=UTC)
        url = f"/regions/{TOWNSHIP}/uploads/2014"
        first = await registry.put(url, json={"reference": "回执 0031"}, headers=roles["township"])
        assert first.status_code == 200, first.text
        assert (first.json()["uploaded_at"], first.json()["reference"]) == (
            "2015-02-10T02:00:00Z",
            "回执 0031",
        )
        again = await registry.put(url, json={"reference": "另一个"}, headers=roles["county"])
        assert again.json()["reference"] == "回执 0031"
        report = (await registry.get(f"/regions/{COUNTY}/deadlines/2014", headers=roles["county"])).json()
        rows = {t["region_code"]: t for t in report["townships"]}
        assert rows[TOWNSHIP]["upload"]["state"] == "met" and rows[TOWNSHIP]["upload"]["due"] == "2015-02-28"
        assert rows["451025101000"]["upload"]["state"] == "pending"
        assert rows[TOWNSHIP]["update"]["state"] in ("met", "missed", "unknown")

    async def test_refusals(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, roles: dict[str, Headers]
    ) -> None:
        registry_app.state.clock = lambda: datetime(2015, 2, 10, 2, tzinfo=UTC)
        body = {"reference": "回执"}
        assert_problem(
            await registry.put(f"/regions/{VILLAGE}/uploads/2014", json=body, headers=roles["village"]), 403
        )
        assert_problem(
            await registry.put(
                f"/regions/{TOWNSHIP}/uploads/2014", json=body, headers=roles["other_township"]
            ),
            404,
        )
        year = assert_problem(
            await registry.put(f"/regions/{TOWNSHIP}/uploads/2015", json=body, headers=roles["township"]), 422
        )
        assert year["code"] == "upload_year_not_over"
        village = assert_problem(
            await registry.put(f"/regions/{VILLAGE}/uploads/2014", json=body, headers=roles["county"]), 422
        )
        assert village["code"] == "not_a_township"
        blank = await registry.put(
            f"/regions/{TOWNSHIP}/uploads/2014", json={"reference": "  "}, headers=roles["township"]
        )
        assert assert_problem(blank, 422)["code"] == "reference_required"


class TestGetDeadlines:
    async def test_overdue_after_february(
        self, registry: httpx.AsyncClient, registry_app: FastAPI, roles: dict[str, Headers]
    ) -> None:
        registry_app.state.clock = lambda: datetime(2015, 3, 2, 2, tzinfo=UTC)
        report = (await registry.get(f"/regions/{TOWNSHIP}/deadlines/2014", headers=roles["township"])).json()
        [row] = report["townships"]
        assert (row["upload"]["state"], row["upload"]["state_label"]) == ("overdue", "已逾期未完成")
        assert row["update"]["due"] == "2015-01-31"

    async def test_scope_and_level(self, registry: httpx.AsyncClient, roles: dict[str, Headers]) -> None:
        assert_problem(
            await registry.get(f"/regions/{TOWNSHIP}/deadlines/2014", headers=roles["other_township"]), 404
        )
        assert_problem(await registry.get(f"/regions/{VILLAGE}/deadlines/2014", headers=roles["county"]), 422)
