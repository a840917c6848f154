"""Test setup the identification rules of issue #13 need (items 1 and 4): the reference-year income an approving
village review reads, and a resident work-team login (a cadre with a login, assigned to the village)."""

from __future__ import annotations

from typing import Any

import httpx

from shared.jwt import SigningKey
from tests.factories import COUNTY, VILLAGE, auth, issue

Headers = dict[str, str]

#: 2013 income components: 2,000 yuan net, under the 2,736 line per person whatever the household's size.
POOR_INCOME: dict[str, Any] = {
    "wage": "1500",
    "operating": "600",
    "property": "0",
    "transfer": "200",
    "operating_expenses": "300",
}
#: The reference year of the tests' identification year 2014 (§2.8, invariant 13).
REFERENCE_YEAR = 2013


async def record_income(
    registry: httpx.AsyncClient,
    headers: Headers,
    household_id: str,
    version: int,
    *,
    year: int = REFERENCE_YEAR,
    income: dict[str, Any] | None = None,
) -> int:
    """Record the household's income for `year` (by default under the line); the household's new version."""
    response = await registry.put(
        f"/households/{household_id}/incomes/{year}",
        json=income or POOR_INCOME,
        headers=headers | {"If-Match": f'"{version}"'},
    )
    assert response.status_code == 200, response.text
    new_version: int = response.json()["version"]
    return new_version


async def work_team_login(
    registry: httpx.AsyncClient,
    signing_key: SigningKey,
    *,
    village: str = VILLAGE,
    sub: str = "team-1",
    starts_on: str = "2014-01-01",
) -> Headers:
    """A village officer login that is a cadre assigned to `village`'s resident work team (驻村工作队)."""
    admin = auth(issue(signing_key, "county_admin", COUNTY, sub=f"setup-{sub}"))
    unit = {"name": f"工作队派出单位 {sub}", "kind": "government_department", "region_code": COUNTY}
    r = await registry.post("/helping-units", json=unit, headers=admin)
    assert r.status_code == 201, r.text
    body = {"unit_id": r.json()["id"], "name": "韦队员", "position_level": "staff", "user_sub": sub}
    r = await registry.post("/cadres", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assignment = {
        "village_code": village,
        "cadre_id": r.json()["id"],
        "role": "work_team_member",
        "starts_on": starts_on,
    }
    r = await registry.post("/village-assignments", json=assignment, headers=admin)
    assert r.status_code == 201, r.text
    return auth(issue(signing_key, "village_officer", village, sub=sub))
