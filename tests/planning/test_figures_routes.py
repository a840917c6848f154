"""Assessment figure routes (考核数据, issue #12): `/figures/{subject_type}` and `/figures/catalogue` of planning.

One county year (2016) built through the planning and registry APIs (tests/planning/seed_fixtures.py loaders):

- 渠洋村: the seed fixture F5 (一低七有, seed 001#13) as the seed-fixture tests enter it — its 2016 exit plan, the
  actuals of 2015 and 2016, its approved road (1,750,000 yuan: 880,000 + 220,000 + 300,000 received, 350,000
  paid in 2016) and the projects the county has not approved.
- 旧州村 (`J`, hand-made): a 2015-2017 development plan with eight targets and their actuals (2015, 2016, and a
  2017 one that must not leak into 2016), a profile of 2016 (population 1,000, 900 with safe water, two clinics,
  12,345 yuan collective income) and five projects: P1 road (自治区财政厅 600,000 + 县交通运输局 400,000, accepted
  2016-11-15), P2 cooperative (自治区财政厅 200,000, accepted 2016-12-20), P3 clinic (广西电网公司 100,000, due in
  December, not accepted), P4 a 2017 road (自治区财政厅 50,000, received in December 2016), P5 a draft (某企业).
- 化峒村 (`K`, hand-made, the other township): a 2016 plan with two targets met and a road (自治区财政厅 300,000,
  received, nothing paid, not accepted).

Every figure of every row is checked against the value worked out by hand below. Then: JSON pages equal the NDJSON
stream, the year and role and region rules, a registry that is down, and the number of SQL statements does not
grow with the subjects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from services.planning.figures import repository as figure_repository
from services.planning.figures.domain import SubjectType, served
from services.planning.fixtures import F5, Entry, Line, Plan, Project, Target, VillageFixture
from services.planning.funds.domain import FundingSource
from services.planning.indicators.domain import Direction, Unit
from services.planning.plans import domain as plans_domain
from services.planning.plans.domain import PlanType
from services.planning.projects.domain import ProjectCategory, QuantityUnit
from shared import db
from shared.clock import CHINA_TIME
from shared.jwt import SigningKey
from shared.pagination import encode_cursor
from tests.factories import (
    COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    headers_for,
)
from tests.planning.seed_fixtures import Loaded, load_village, officials, post_ledger

pytestmark = pytest.mark.usefixtures("seed_regions")

YEAR = 2016
TODAY = datetime.now(UTC).astimezone(CHINA_TIME).date()
NDJSON = "application/x-ndjson"
#: A code inside the county that names no region.
MISSING = "451025100299"
Json = dict[str, Any]
_WAN = 1_000_000  # 1 万元 in fen
_S, _C, _U, _UP, _DOWN = FundingSource, ProjectCategory, Unit, Direction.increase, Direction.decrease
FINANCE, GRID, TRANSPORT = "自治区财政厅", "广西电网公司", "县交通运输局"


def _target(
    code: str, unit: Unit, direction: Direction, baseline: str, target: str, years: tuple[int, int]
) -> Target:
    return Target(code, unit, direction, Decimal(baseline), years[0], Decimal(target), years[1])


# == the hand-made villages ======================================================================================
J = VillageFixture(
    key="J",
    seed="hand-made",
    village_code=VILLAGE,
    village_name="旧州村",
    year=YEAR,
    profile={
        "population": 1000,
        "safe_water_people": 900,
        "infrastructure": {"clinics": 2},
        "collective_income_fen": 1_234_500,
    },
    plan=Plan(
        plan_type=PlanType.development,
        title="旧州村发展规划(2015-2017)",
        summary="通组道路、沼气、宽带、卫生室、一村一品",
        start_year=2015,
        end_year=2017,
        targets=(
            _target("cement_road_to_group_rate", _U.percent, _UP, "40", "80", (2015, 2017)),
            _target("biogas_household_rate", _U.percent, _UP, "20", "60", (2015, 2017)),
            _target("household_electricity", _U.bool, _UP, "1", "1", (2015, 2017)),
            _target("broadband_to_households", _U.bool, _UP, "0", "1", (2015, 2017)),
            _target("village_clinic", _U.bool, _UP, "0", "1", (2015, 2017)),
            _target("village_staff_roles", _U.bool, _UP, "0", "1", (2015, 2017)),
            _target("village_specialty", _U.bool, _UP, "0", "1", (2015, 2017)),
            _target("poverty_incidence", _U.percent, _DOWN, "10", "4", (2015, 2017)),
        ),
    ),
    actuals={
        2015: {"poverty_incidence": Decimal(12)},
        2016: {
            "cement_road_to_group_rate": Decimal(70),
            "biogas_household_rate": Decimal(30),
            "household_electricity": Decimal(1),
            "broadband_to_households": Decimal(0),
            "village_clinic": Decimal(1),
            "village_staff_roles": Decimal(1),
            "village_specialty": Decimal(0),
        },
        2017: {"poverty_incidence": Decimal(5)},  # a later year: never read for 2016
    },
    projects=(
        Project("P1", "道路", _C.road, "通组道路硬化3公里", 100 * _WAN, quantity=Decimal(3), unit=QuantityUnit.km,
                starts_on=date(2016, 3, 1), finishes_on=date(2016, 10, 31),
                lines=(Line(_S.helping_unit_fund, FINANCE, 60 * _WAN),
                       Line(_S.sector_department_fund, TRANSPORT, 40 * _WAN)), approve=True),
        Project("P2", "产业", _C.cooperative, "肉牛养殖专业合作社", 20 * _WAN,
                starts_on=date(2016, 4, 1), finishes_on=date(2016, 12, 31),
                lines=(Line(_S.helping_unit_fund, FINANCE, 20 * _WAN),), approve=True),
        Project("P3", "公共服务", _C.health_facility, "村卫生室60平方米", 10 * _WAN,
                starts_on=date(2016, 5, 1), finishes_on=date(2016, 12, 31),
                lines=(Line(_S.helping_unit_fund, f"  {GRID} ", 10 * _WAN),), approve=True),
        Project("P4", "道路", _C.road, "入户道路(2017年)", 5 * _WAN,
                starts_on=date(2017, 3, 1), finishes_on=date(2017, 12, 31),
                lines=(Line(_S.helping_unit_fund, FINANCE, 5 * _WAN),), approve=True),
        Project("P5", "道路", _C.road, "生产便道(草稿)", 9 * _WAN,
                starts_on=date(2016, 6, 1), finishes_on=date(2016, 12, 31),
                lines=(Line(_S.helping_unit_fund, "某企业", 9 * _WAN),)),
    ),
    ledger=(
        Entry("P1", 0, "receipt", 60 * _WAN, date(2016, 4, 1), "收-J-01"),
        Entry("P1", 1, "receipt", 40 * _WAN, date(2016, 5, 1), "收-J-02"),
        Entry("P1", 0, "disbursement", 30 * _WAN, date(2016, 6, 1), "付-J-01", "advance", "县路桥公司"),
        Entry("P1", 1, "disbursement", 40 * _WAN, date(2016, 7, 1), "付-J-02", "progress", "县路桥公司"),
        Entry("P2", 0, "receipt", 10 * _WAN, date(2016, 5, 1), "收-J-03"),
        Entry("P2", 0, "disbursement", 10 * _WAN, date(2016, 8, 1), "付-J-03", "advance", "肉牛养殖专业合作社"),
        Entry("P2", 0, "receipt", 5 * _WAN, date(2017, 1, 10), "收-J-04"),  # after the year
        Entry("P4", 0, "receipt", 5 * _WAN, date(2016, 12, 1), "收-J-07"),  # a 2017 project's money of 2016
        Entry("P3", 0, "receipt", 10 * _WAN, date(2016, 6, 1), "收-J-05"),  # reversed on 2016-06-15 (below)
    ),
)  # fmt: skip
#: P3's money after the reversal of its first receipt.
J_AFTER_REVERSAL = (
    Entry("P3", 0, "receipt", 8 * _WAN, date(2016, 7, 1), "收-J-06"),
    Entry("P3", 0, "disbursement", 2 * _WAN, date(2016, 9, 1), "付-J-04", "advance", "县建筑公司"),
)

K = VillageFixture(
    key="K",
    seed="hand-made",
    village_code=OTHER_VILLAGE,
    village_name="化峒村",
    year=YEAR,
    plan=Plan(
        plan_type=PlanType.exit,
        title="化峒村脱贫计划(2016)",
        summary="组组通硬化公路、通村道路",
        start_year=2016,
        end_year=2016,
        targets=(
            _target("hardened_road_all_groups", _U.bool, _UP, "0", "1", (2015, 2016)),
            _target("village_road_connected", _U.bool, _UP, "0", "1", (2015, 2016)),
        ),
    ),
    actuals={2016: {"hardened_road_all_groups": Decimal(1), "village_road_connected": Decimal(1)}},
    projects=(
        Project("K1", "道路", _C.road, "通村道路5公里", 30 * _WAN, starts_on=date(2016, 3, 1),
                finishes_on=date(2016, 12, 31), lines=(Line(_S.helping_unit_fund, FINANCE, 30 * _WAN),),
                approve=True),
    ),
    ledger=(Entry("K1", 0, "receipt", 30 * _WAN, date(2016, 3, 15), "收-K-01"),),
)  # fmt: skip


# == the figures, by hand ==========================================================================================
#: 旧州村 in 2016. Lines of the year: P1-P3 (P4 runs from 2017, P5 is a draft): received by 31 Dec 1,000,000 +
#: 100,000 + (100,000 - 100,000 + 80,000) = 1,180,000; paid 300,000 + 400,000 + 100,000 + 20,000 = 820,000.
J_2016 = {
    "road_to_group_coverage": "70.00",  # the actual of cement_road_to_group_rate
    "safe_water_coverage": "90.00",  # no actual: the profile's 900 of 1,000
    "power_and_broadband": False,  # electricity 1, broadband 0
    "biogas_coverage": "30.00",
    "clinic_with_doctor": True,  # village_clinic 1 and village_staff_roles 1
    "collective_income_fen": 1_234_500,  # no actual: the profile's 12,345.00 yuan
    "has_cooperative": True,  # P2 (cooperative) accepted on 2016-12-20, although village_specialty is 0
    "funds_disbursed_share": "69.49",  # 820,000 / 1,180,000
    "projects_accepted_share": "66.67",  # due in 2016: P1, P2, P3; accepted: P1, P2
}
#: 渠洋村 (F5) in 2016: its approved road alone counts (the other projects are not approved).
F5_2016 = {
    "road_to_group_coverage": None,  # no road-to-group indicator in the plan
    "safe_water_coverage": "100.00",
    "power_and_broadband": True,
    "biogas_coverage": None,
    "clinic_with_doctor": None,  # the clinic is built (1), but nothing says the village has its staff
    "collective_income_fen": 800_000,  # the actual: 8,000 yuan
    "has_cooperative": None,
    "funds_disbursed_share": "25.00",  # 350,000 / (880,000 + 220,000 + 300,000)
    "projects_accepted_share": "0.00",  # the road is due on 2016-12-31 and not accepted
}
#: 化峒村 in 2016.
K_2016 = {
    **{k: None for k in J_2016},
    "road_to_group_coverage": "100.00",  # no rate, but every group has its hardened road (1)
    "funds_disbursed_share": "0.00",  # 300,000 received, nothing paid
    "projects_accepted_share": "0.00",
}
#: 新靖镇 (旧州村 and 渠洋村) in 2016.
XINJING_2016 = {
    # received in 2016 on every approved line: J 1,000,000 + 100,000 + 80,000 + 50,000 (P4); F5 1,400,000
    "funds_raised_fen": 263_000_000,
    "funds_disbursed_share": "45.35",  # (820,000 + 350,000) / (1,180,000 + 1,400,000)
    "projects_accepted_share": "50.00",  # P1, P2 of P1, P2, P3 and F5's road
    # J's eight targets: road 75, biogas 25, electricity 100, broadband 0, clinic 100, staff 100, specialty 0,
    # incidence 0 (2015's 12 is worse than the baseline 10; 2017's 5 is not of 2016) = 400; F5's: incidence 0
    # (2015's 19.88 is the baseline) and seven met = 700: 1,100 / 16
    "village_indicator_progress": "68.75",
}
HUADONG_2016 = {
    "funds_raised_fen": 30_000_000,
    "funds_disbursed_share": "0.00",
    "projects_accepted_share": "0.00",
    "village_indicator_progress": "100.00",
}
#: 自治区财政厅 in the county: P1, P2, P4, K1 lines (P4's does not run in 2016).
FINANCE_2016 = {
    "funds_raised_fen": 105_000_000,  # 600,000 + 100,000 + 50,000 (P4, dated 2016) + 300,000
    "funds_pledged_completion": "90.91",  # (600,000 + 100,000 + 300,000) / (600,000 + 200,000 + 300,000)
    "funds_disbursed_share": "40.00",  # (300,000 + 100,000) / 1,000,000
    "projects_accepted_share": "66.67",  # due: P1, P2, K1; accepted P1, P2
    "village_indicator_progress": "60.00",  # 旧州村's 400 and 化峒村's 200 over ten targets
}
GRID_2016 = {
    "funds_raised_fen": 8_000_000,  # 100,000 - 100,000 (reversed) + 80,000
    "funds_pledged_completion": "80.00",
    "funds_disbursed_share": "25.00",
    "projects_accepted_share": "0.00",
    "village_indicator_progress": "50.00",
}


# == the world =====================================================================================================
@dataclass
class World:
    planning: httpx.AsyncClient
    db_url: str
    loaded: dict[str, Loaded]


def _ok(response: httpx.Response, status: int = 200) -> Json:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    body: Json = response.json() if response.content else {}
    return body


async def _accept(
    planning: httpx.AsyncClient, admin: Headers, clerk: Headers, project: Json, on: date
) -> None:
    """The project's one milestone done (it starts the implementation), then its passed acceptance."""
    _ok(
        await planning.post(
            f"/projects/{project['id']}/milestones",
            json={
                "name": "完工",
                "due_on": project["finishes_on"],
                "percent": 100,
                "done_on": on.isoformat(),
            },
            headers=clerk,
        ),
        201,
    )
    version = _ok(await planning.get(f"/projects/{project['id']}", headers=admin))["version"]
    body = {
        "accepted_on": on.isoformat(),
        "passed": True,
        "findings": "符合设计要求",
        "accepted_by": "县验收组",
    }
    response = await planning.post(
        f"/projects/{project['id']}/acceptance", json=body, headers={**admin, "If-Match": f'"{version}"'}
    )
    assert _ok(response, 201)["status"] == "accepted"


async def build_world(
    planning: httpx.AsyncClient, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
) -> World:
    db_url = db_urls["planning"]
    loaded = {}
    for fixture in (F5, J, K):
        loaded[fixture.key] = await load_village(
            planning, registry, officials(signing_key, fixture.village_code), fixture, db_urls
        )
    who = officials(signing_key, VILLAGE)
    j = loaded["J"]
    await _accept(planning, who.admin, who.clerk, j.projects["P1"], date(2016, 11, 15))
    await _accept(planning, who.admin, who.clerk, j.projects["P2"], date(2016, 12, 20))
    reversed_receipt = j.ledger[-1]
    assert reversed_receipt["voucher"] == "收-J-05"
    _ok(
        await planning.post(
            f"/ledger-entries/{reversed_receipt['id']}/reversals",
            json={"entry_date": "2016-06-15", "voucher": "冲-J-05", "reason": "重复入账"},
            headers=who.admin,
        ),
        201,
    )
    j.ledger += await post_ledger(planning, who.admin, j.lines, J_AFTER_REVERSAL)
    return World(planning=planning, db_url=db_url, loaded=loaded)


@pytest.fixture
async def world(
    planning: httpx.AsyncClient, registry: httpx.AsyncClient, signing_key: SigningKey, db_urls: dict[str, str]
) -> World:
    return await build_world(planning, registry, signing_key, db_urls)


@pytest.fixture
def service(signing_key: SigningKey) -> Headers:
    """The assessment's service token (role service, bound to the national root)."""
    return headers_for(signing_key, "service", "000000000000", "assessment-service")


async def rows(client: httpx.AsyncClient, subject: str, headers: Headers, **params: Any) -> list[Json]:
    """Every row of `subject`, page by page (limit 1: every cursor is used)."""
    out: list[Json] = []
    query: dict[str, Any] = {"year": YEAR, "limit": 1, **params}
    while True:
        page = _ok(await client.get(f"/figures/{subject}", params=query, headers=headers))
        out.extend(page["items"])
        if page["next_cursor"] is None:
            return out
        assert len(page["items"]) == 1
        query["cursor"] = page["next_cursor"]


async def streamed(client: httpx.AsyncClient, subject: str, headers: Headers, **params: Any) -> list[Json]:
    response = await client.get(
        f"/figures/{subject}", params={"year": YEAR, **params}, headers=headers | {"Accept": NDJSON}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(NDJSON)
    return [json.loads(line) for line in response.text.splitlines() if line]


def by_name(items: list[Json]) -> dict[str, Json]:
    return {item["name"]: item for item in items}


def _served_exactly(row: Json, subject: SubjectType) -> None:
    assert set(row["figures"]) == {f.code.value for f in served(subject)}


# == the routes ====================================================================================================
class TestVillageFigures:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get("/figures/village", params={"region": COUNTY, "year": YEAR}), 401)

    async def test_every_figure_of_the_county(self, world: World, service: Headers) -> None:
        items = await rows(world.planning, "village", service, region=COUNTY)
        assert [i["id"] for i in items] == [VILLAGE, SIBLING_VILLAGE, OTHER_VILLAGE]
        j, f5, k = items
        assert (j["subject_type"], j["year"], j["name"], j["parent_code"], j["parent_name"]) == (
            "village",
            YEAR,
            None,
            TOWNSHIP,
            None,
        )
        assert k["parent_code"] == OTHER_TOWNSHIP
        for row in items:
            _served_exactly(row, SubjectType.village)
        assert j["figures"] == J_2016
        assert f5["figures"] == F5_2016
        assert k["figures"] == K_2016

    async def test_the_year_before(self, world: World, service: Headers) -> None:
        """2015: 化峒村 holds nothing of 2015 (no row); nothing of 2016 leaks in — P2's acceptance, J's actuals."""
        items = await rows(world.planning, "village", service, region=COUNTY, year=2015)
        assert [i["id"] for i in items] == [VILLAGE, SIBLING_VILLAGE]
        j, f5 = items
        assert j["figures"] == {k: None for k in J_2016}  # the plan and an incidence actual, no figure
        assert f5["figures"] == {
            **{k: None for k in J_2016},
            "power_and_broadband": True,  # F5's 2015 actuals: electricity 1, broadband 1
            "clinic_with_doctor": False,  # no clinic (0) in 2015
        }

    async def test_the_year_under_way(self, world: World, service: Headers) -> None:
        """This year: nothing is held of it, so no row (absent, never a row of made-up zeros)."""
        assert await rows(world.planning, "village", service, region=COUNTY, year=TODAY.year) == []

    async def test_wrong_role(self, planning: httpx.AsyncClient, signing_key: SigningKey) -> None:
        for role, region in (("village_officer", VILLAGE), ("cadre", COUNTY)):
            problem = assert_problem(
                await planning.get(
                    "/figures/village",
                    params={"region": VILLAGE, "year": YEAR},
                    headers=headers_for(signing_key, role, region),
                ),
                403,
            )
            assert problem["code"] == "role_not_allowed"

    async def test_other_region(self, planning: httpx.AsyncClient, signing_key: SigningKey) -> None:
        other_township = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        other_county = headers_for(signing_key, "county_admin", "451026000000")
        other_province = headers_for(signing_key, "province_system", "440000000000")
        missing = assert_problem(
            await planning.get(
                "/figures/village",
                params={"region": MISSING, "year": YEAR},
                headers=headers_for(signing_key, "county_admin", COUNTY),
            ),
            404,
        )
        for who, region in ((other_township, TOWNSHIP), (other_township, COUNTY), (other_county, COUNTY),
                            (other_province, VILLAGE)):  # fmt: skip
            problem = assert_problem(
                await planning.get("/figures/village", params={"region": region, "year": YEAR}, headers=who),
                404,
            )
            assert set(problem) == set(missing)

    async def test_invalid(self, planning: httpx.AsyncClient, signing_key: SigningKey) -> None:
        admin = headers_for(signing_key, "county_admin", COUNTY)
        future = assert_problem(
            await planning.get(
                "/figures/village", params={"region": COUNTY, "year": TODAY.year + 1}, headers=admin
            ),
            422,
        )
        assert future["code"] == "value_out_of_range" and future["errors"][0]["parameter"] == "year"
        early = assert_problem(
            await planning.get("/figures/village", params={"region": COUNTY, "year": 2012}, headers=admin),
            422,
        )
        assert early["errors"][0]["parameter"] == "year"
        invalid: list[dict[str, str | int]] = [
            {"region": "4510", "year": YEAR},
            {"year": YEAR},
            {"region": COUNTY},
            {"region": COUNTY, "year": "2016a"},
            {"region": COUNTY, "year": YEAR, "limit": 0},
            {"region": COUNTY, "year": YEAR, "limit": 1001},
        ]
        for params in invalid:
            assert_problem(await planning.get("/figures/village", params=params, headers=admin), 422)
        unknown = assert_problem(
            await planning.get(
                "/figures/village",
                params={"region": COUNTY, "year": YEAR, "township": TOWNSHIP},
                headers=admin,
            ),
            400,
        )
        assert unknown["code"] == "unknown_parameter"
        bad_cursor = assert_problem(
            await planning.get(
                "/figures/village", params={"region": COUNTY, "year": YEAR, "cursor": "bm9wZQ"}, headers=admin
            ),
            400,
        )
        assert bad_cursor["code"] == "cursor_invalid"
        too_long: dict[str, str | int] = {"region": COUNTY, "year": YEAR, "cursor": "x" * 401}
        assert_problem(await planning.get("/figures/township", params=too_long, headers=admin), 422)
        village_cursor = encode_cursor("planning_figures_village", VILLAGE)  # another ordering's
        other = assert_problem(
            await planning.get(
                "/figures/township",
                params={"region": COUNTY, "year": YEAR, "cursor": village_cursor},
                headers=admin,
            ),
            400,
        )
        assert other["code"] == "cursor_invalid"
        assert_problem(
            await planning.get("/figures/cadre", params={"region": COUNTY, "year": YEAR}, headers=admin), 404
        )

    async def test_who_reads(self, world: World, signing_key: SigningKey) -> None:
        """Services, the province, the county's admin and the township's own officer read; each within scope."""
        township = headers_for(signing_key, "township_officer", TOWNSHIP)
        readers = {
            "county admin": (headers_for(signing_key, "county_admin", COUNTY), COUNTY),
            "province": (headers_for(signing_key, "province_system", "450000000000"), COUNTY),
            "township officer": (township, TOWNSHIP),
            "township officer, a village of theirs": (township, VILLAGE),
        }
        for who, (headers, region) in readers.items():
            items = await rows(world.planning, "village", headers, region=region)
            assert {i["id"]: i["figures"] for i in items}[VILLAGE] == J_2016, who
        township_only = await rows(world.planning, "village", township, region=TOWNSHIP)
        assert [i["id"] for i in township_only] == [VILLAGE, SIBLING_VILLAGE]

    async def test_registry_down(
        self, planning_registry_down: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        """Another region than the caller's own is the registry's to confirm: 503 when it does not answer; the
        caller's own region needs no confirmation."""
        service = headers_for(signing_key, "service", "000000000000", "assessment-service")
        problem = assert_problem(
            await planning_registry_down.get(
                "/figures/village", params={"region": COUNTY, "year": YEAR}, headers=service
            ),
            503,
        )
        assert problem["code"] == "registry_unavailable"
        own = _ok(
            await planning_registry_down.get(
                "/figures/village",
                params={"region": COUNTY, "year": YEAR},
                headers=headers_for(signing_key, "county_admin", COUNTY),
            )
        )
        assert own == {"items": [], "next_cursor": None}


class TestTownshipFigures:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get("/figures/township", params={"region": COUNTY, "year": YEAR}), 401)

    async def test_valid(self, world: World, service: Headers) -> None:
        items = await rows(world.planning, "township", service, region=COUNTY)
        assert [i["id"] for i in items] == [TOWNSHIP, OTHER_TOWNSHIP]
        xinjing, huadong = items
        assert (xinjing["name"], xinjing["parent_code"], xinjing["parent_name"]) == (None, COUNTY, None)
        for row in items:
            _served_exactly(row, SubjectType.township)
        assert xinjing["figures"] == XINJING_2016
        assert huadong["figures"] == HUADONG_2016

    async def test_the_year_before(self, world: World, service: Headers) -> None:
        """2015: 新靖镇's villages hold plans and actuals of 2015 but no line of the year and no receipt."""
        (xinjing,) = await rows(world.planning, "township", service, region=COUNTY, year=2015)
        assert xinjing["figures"] == {
            "funds_raised_fen": None,  # no line of the year, no receipt dated in 2015: absent, not 0
            "funds_disbursed_share": None,
            "projects_accepted_share": None,
            "village_indicator_progress": "0.00",  # J's plan of 2015: the incidence of 12 is worse than 10
        }

    async def test_wrong_role_and_other_region(
        self, planning: httpx.AsyncClient, signing_key: SigningKey
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        assert_problem(
            await planning.get("/figures/township", params={"region": TOWNSHIP, "year": YEAR}, headers=clerk),
            403,
        )
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        assert_problem(
            await planning.get("/figures/township", params={"region": TOWNSHIP, "year": YEAR}, headers=other),
            404,
        )


def _mean_progress(villages: tuple[VillageFixture, ...], year: int) -> str:
    """The mean progress of the villages' plan targets as plans/domain.py `progress` computes each, from the newest
    actual of a year from the target's baseline year to `year` (the rule the SQL mirrors)."""
    shares: list[Decimal] = []
    for village in villages:
        for t in village.plan.targets:
            years = [
                y
                for y, v in village.actuals.items()
                if t.baseline_year <= y <= year and t.indicator_code in v
            ]
            if not years:
                continue
            target = plans_domain.Target(
                t.indicator_code, t.unit, t.direction, t.baseline, t.baseline_year, t.target, t.target_year
            )
            found = plans_domain.progress(target, village.actuals[max(years)][t.indicator_code])
            assert found.percent is not None
            shares.append(found.percent)
    mean = sum(shares, Decimal(0)) / len(shares)
    return f"{mean.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):.2f}"


async def test_progress_is_the_plans_own_rule(world: World, service: Headers) -> None:
    """village_indicator_progress is the mean of plans/domain.py `progress` over the targets, computed in SQL."""
    xinjing, huadong = await rows(world.planning, "township", service, region=COUNTY)
    assert xinjing["figures"]["village_indicator_progress"] == _mean_progress((J, F5), YEAR) == "68.75"
    assert huadong["figures"]["village_indicator_progress"] == _mean_progress((K,), YEAR)
    finance = by_name(await rows(world.planning, "helping_unit", service, region=COUNTY, year=2017))[FINANCE]
    assert finance["figures"]["village_indicator_progress"] == _mean_progress((J,), 2017) == "60.42"


class TestHelpingUnitFigures:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(
            await planning.get("/figures/helping_unit", params={"region": COUNTY, "year": YEAR}), 401
        )

    async def test_valid(self, world: World, service: Headers) -> None:
        items = await rows(world.planning, "helping_unit", service, region=COUNTY)
        assert [i["id"] for i in items] == sorted(i["id"] for i in items)  # keyset order: by key
        found = by_name(items)
        assert set(found) == {FINANCE, GRID}  # the draft's funder and the sector department are no units
        for name, expected in ((FINANCE, FINANCE_2016), (GRID, GRID_2016)):
            row = found[name]
            _served_exactly(row, SubjectType.helping_unit)
            assert row["figures"] == expected, name
            assert (row["subject_type"], row["parent_code"], row["parent_name"]) == (
                "helping_unit",
                None,
                None,
            )
            assert len(row["id"]) == 32 and int(row["id"], 16) >= 0

    async def test_only_lines_in_the_region(self, world: World, signing_key: SigningKey) -> None:
        """Asked for 新靖镇, 自治区财政厅 has no 化峒村 road; asked for 化峒镇, only it."""
        township = headers_for(signing_key, "township_officer", TOWNSHIP)
        found = by_name(await rows(world.planning, "helping_unit", township, region=TOWNSHIP))
        assert found[FINANCE]["figures"] == {
            "funds_raised_fen": 75_000_000,  # 600,000 + 100,000 + 50,000
            "funds_pledged_completion": "87.50",  # 700,000 / 800,000
            "funds_disbursed_share": "57.14",  # 400,000 / 700,000
            "projects_accepted_share": "100.00",  # P1, P2
            "village_indicator_progress": "50.00",
        }
        assert found[GRID]["figures"] == GRID_2016
        other = headers_for(signing_key, "township_officer", OTHER_TOWNSHIP)
        (finance,) = await rows(world.planning, "helping_unit", other, region=OTHER_TOWNSHIP)
        assert (finance["name"], finance["id"]) == (
            FINANCE,
            found[FINANCE]["id"],
        )  # one key, whatever the region
        assert finance["figures"] == {
            "funds_raised_fen": 30_000_000,
            "funds_pledged_completion": "100.00",
            "funds_disbursed_share": "0.00",
            "projects_accepted_share": "0.00",
            "village_indicator_progress": "100.00",
        }
        assert_problem(
            await world.planning.get(
                "/figures/helping_unit", params={"region": TOWNSHIP, "year": YEAR}, headers=other
            ),
            404,
        )

    async def test_the_next_year(self, world: World, service: Headers) -> None:
        """2017: P4 runs and P2's January receipt is of 2017; the 2016 projects' lines are no longer of the year."""
        found = by_name(await rows(world.planning, "helping_unit", service, region=COUNTY, year=2017))
        assert set(found) == {FINANCE}
        assert found[FINANCE]["figures"] == {
            "funds_raised_fen": 5_000_000,  # P2's 50,000 of 2017-01-10
            "funds_pledged_completion": "100.00",  # P4: 50,000 of 50,000 (received in 2016)
            "funds_disbursed_share": "0.00",
            "projects_accepted_share": "0.00",  # P4 is due on 2017-12-31 and not accepted
            # J's plan runs to 2017: 2016's actuals stay the newest but the incidence, 5 in 2017: (10 - 5) / 6
            # of the way = 83.33; 75 + 25 + 100 + 0 + 100 + 100 + 0 + 83.33 = 483.33 over eight targets
            "village_indicator_progress": "60.42",
        }

    async def test_wrong_role(self, planning: httpx.AsyncClient, signing_key: SigningKey) -> None:
        cadre = headers_for(signing_key, "cadre", COUNTY)
        assert_problem(
            await planning.get(
                "/figures/helping_unit", params={"region": COUNTY, "year": YEAR}, headers=cadre
            ),
            403,
        )


class TestFigureCatalogue:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get("/figures/catalogue"), 401)

    async def test_valid(self, planning: httpx.AsyncClient, signing_key: SigningKey) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)  # static: any caller reads it
        body = _ok(await planning.get("/figures/catalogue", headers=clerk))
        subjects = {s["subject_type"]: s for s in body["subjects"]}
        assert list(subjects) == [s.value for s in SubjectType]
        village = subjects["village"]
        assert village["path"] == "/figures/village" and village["zh_cn"] == "行政村"
        assert [f["code"] for f in village["figures"]] == [f.code.value for f in served(SubjectType.village)]
        share = next(f for f in subjects["helping_unit"]["figures"] if f["code"] == "funds_disbursed_share")
        assert (share["zh_cn"], share["unit"], share["wire"], share["signed"]) == (
            "资金拨付率",
            "percent",
            "decimal",
            True,
        )
        assert all(s["unsupported"] == [] for s in body["subjects"])
        assert "31 December" in body["as_of"]
        assert_problem(await planning.get("/figures/catalogue", params={"year": 2016}, headers=clerk), 400)


# == one world, every way of reading it ===========================================================================
class TestPagingEqualsNdjson:
    async def test_every_subject_type(self, world: World, service: Headers) -> None:
        for subject in SubjectType:
            paged = await rows(world.planning, subject.value, service, region=COUNTY)
            assert paged, subject
            assert await streamed(world.planning, subject.value, service, region=COUNTY) == paged, subject
            whole = _ok(
                await world.planning.get(
                    f"/figures/{subject.value}", params={"region": COUNTY, "year": YEAR}, headers=service
                )
            )
            assert whole["items"] == paged and whole["next_cursor"] is None

    async def test_ndjson_continues_a_cursor(self, world: World, service: Headers) -> None:
        first = _ok(
            await world.planning.get(
                "/figures/village", params={"region": COUNTY, "year": YEAR, "limit": 1}, headers=service
            )
        )
        rest = await streamed(world.planning, "village", service, region=COUNTY, cursor=first["next_cursor"])
        assert [r["id"] for r in rest] == [SIBLING_VILLAGE, OTHER_VILLAGE]

    async def test_refusals_are_problems_before_the_stream(
        self, planning: httpx.AsyncClient, signing_key: SigningKey, service: Headers
    ) -> None:
        clerk = headers_for(signing_key, "village_officer", VILLAGE)
        ndjson = {"Accept": NDJSON}
        assert_problem(
            await planning.get(
                "/figures/village", params={"region": VILLAGE, "year": YEAR}, headers=clerk | ndjson
            ),
            403,
        )
        problem = assert_problem(
            await planning.get(
                "/figures/village",
                params={"region": COUNTY, "year": YEAR, "cursor": "bm9wZQ"},
                headers=service | ndjson,
            ),
            400,
        )
        assert problem["code"] == "cursor_invalid"


@dataclass
class StatementCounter:
    """Counts the statements the figures repository sends on its asyncpg connection."""

    count: int = 0

    def bump(self) -> None:
        self.count += 1


class _CountingConnection:
    def __init__(self, conn: Any, counter: StatementCounter) -> None:
        self._conn = conn
        self._counter = counter

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._conn, name)
        if name in ("fetch", "fetchrow", "fetchval", "execute", "cursor"):

            def counted(*args: Any, **kwargs: Any) -> Any:
                self._counter.bump()
                return attribute(*args, **kwargs)

            return counted
        return attribute


@pytest.fixture
def counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[StatementCounter]:
    found = StatementCounter()
    original = db.raw_connection

    async def counting(session: Any) -> Any:
        return _CountingConnection(await original(session), found)

    monkeypatch.setattr(figure_repository, "raw_connection", counting)
    yield found


class TestStatementCount:
    async def test_constant_whatever_the_number_of_subjects(
        self, world: World, service: Headers, counter: StatementCounter
    ) -> None:
        counts = {}
        for subject in SubjectType:
            for region in (SIBLING_VILLAGE, TOWNSHIP, COUNTY):  # one subject, a few, all of the county
                counter.count = 0
                _ok(
                    await world.planning.get(
                        f"/figures/{subject.value}", params={"region": region, "year": YEAR}, headers=service
                    )
                )
                counts[(subject, region)] = counter.count
        # BEGIN READ ONLY with SET LOCAL, the one statement of the figures, ROLLBACK
        assert set(counts.values()) == {3}, counts


async def test_benchmark_hook_runs_the_route_statement(world: World, service: Headers) -> None:
    """`fetch_figures` on a plain connection (for bench/assessment.py): the same rows as the route's."""
    conn = await asyncpg.connect(world.db_url)
    try:
        for subject in SubjectType:
            records = await figure_repository.fetch_figures(conn, subject, COUNTY, YEAR, date(2017, 3, 1))
            paged = await rows(world.planning, subject.value, service, region=COUNTY)
            assert [str(r["id"]) for r in records] == [p["id"] for p in paged], subject
    finally:
        await conn.close()
