"""Issue #13 item 6 (last part): the exit income line can no longer be set below the identification line."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from services.registry.regions.domain import check_income_lines
from shared.errors import DomainError
from shared.jwt import SigningKey
from tests.factories import COUNTY, VILLAGE, assert_problem, auth, issue


class TestCheckIncomeLines:
    def test_an_exit_line_below_the_identification_line(self) -> None:
        with pytest.raises(DomainError) as caught:
            check_income_lines(
                "exit_income_line_yuan", Decimal(2000), {"identification_income_line_yuan": 2736}
            )
        assert caught.value.code == "exit_line_below_identification_line"

    def test_an_identification_line_raised_above_the_exit_line(self) -> None:
        with pytest.raises(DomainError):
            check_income_lines(
                "identification_income_line_yuan", Decimal(3500), {"exit_income_line_yuan": 3000}
            )

    @pytest.mark.parametrize(
        ("name", "value", "effective"),
        [
            ("exit_income_line_yuan", 2736, {"identification_income_line_yuan": 2736}),
            ("exit_income_line_yuan", 3000, {"identification_income_line_yuan": 2736}),
            ("exit_income_line_yuan", 1000, {"identification_income_line_yuan": None}),
            ("identification_income_line_yuan", 3500, {"exit_income_line_yuan": None}),
            ("notice_days", 10, {"exit_income_line_yuan": 1, "identification_income_line_yuan": 2736}),
        ],
    )
    def test_allowed(self, name: str, value: int, effective: dict[str, int | None]) -> None:
        check_income_lines(name, Decimal(value), dict(effective))


@pytest.mark.usefixtures("seed_regions")
class TestPutPolicyIncomeLines:
    async def test_the_route_refuses_and_changes_nothing(
        self, registry: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        admin = auth(issue(signing_key, "county_admin", COUNTY))
        url = f"/regions/{COUNTY}/policy/2016"
        body = assert_problem(
            await registry.put(
                f"{url}/exit_income_line_yuan", json={"value": 2000, "reason": "县定"}, headers=admin
            ),
            422,
        )
        assert (body["code"], body["identification_income_line_yuan"]) == (
            "exit_line_below_identification_line",
            2736,
        )
        policy = (await registry.get(f"/regions/{VILLAGE}/policy/2016", headers=admin)).json()
        exit_line = next(p for p in policy["parameters"] if p["name"] == "exit_income_line_yuan")
        assert exit_line["value"] is None  # nothing was stored
        ok = await registry.put(
            f"{url}/exit_income_line_yuan", json={"value": 3100, "reason": "县定"}, headers=admin
        )
        assert ok.status_code == 200, ok.text
        # Raising the identification line above it is refused the same way.
        raised = await registry.put(
            f"{url}/identification_income_line_yuan", json={"value": 3200, "reason": "县定"}, headers=admin
        )
        assert assert_problem(raised, 422)["code"] == "exit_line_below_identification_line"
