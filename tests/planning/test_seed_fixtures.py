"""The seed fixtures of DOMAIN.md §9 (F4-F8) entered through the APIs (issue #11, "Done when"): village profiles
checked against the registry, plans with targets and actuals, F5's exit checklist (一低七有) against the region's
4 % threshold, projects with funding lines, county allocations and ledger entries — and their sums read back.

The data is services/planning/fixtures.py (integer fen throughout); tests/planning/seed_fixtures.py enters it.
One test per fixture, against the real planning app whose registry is a live in-process registry reached over
HTTP; the fixtures' own arithmetic (and the seeds' inconsistencies the API has no field for) is checked first,
with no database.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from services.planning import fixtures
from services.planning.fixtures import F4, F5, F6, F7, F8
from shared.clock import CHINA_TIME
from shared.jwt import SigningKey
from tests.factories import assert_problem, exited_since
from tests.planning.seed_fixtures import (
    Officials,
    budget_execution,
    create_project,
    fen_of,
    load_county,
    load_village,
    officials,
    plan_projects,
    post_ledger,
    project_lines,
    set_earmarks,
)

Json = dict[str, Any]
_with_regions = pytest.mark.usefixtures("seed_regions")


def _flags(profile: Json) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {
        (f["code"], f["field"]): (Decimal(f["value"]), Decimal(f["compared_with"])) for f in profile["flags"]
    }


async def _by_source(planning: httpx.AsyncClient, who: Officials, projects: list[Json]) -> dict[str, int]:
    """Σ commitments of the projects' funding lines by source, read back from the API."""
    out: Counter[str] = Counter()
    for project in projects:
        for line in await project_lines(planning, who.admin, project["id"]):
            out[line["source"]] += fen_of(line["committed_yuan"])
    return dict(out)


async def _funding(planning: httpx.AsyncClient, who: Officials, project_id: str) -> Json:
    response = await planning.get(f"/projects/{project_id}/funding", headers=who.admin)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


# == the fixtures' arithmetic (no database) ===================================================================
def test_the_fixtures_add_up_as_the_seeds_say() -> None:
    # F4: 4 categories, 7 projects, 6,994,000 yuan; poverty funds 1,030,000 = industry 630,000 + water 400,000.
    assert len(F4.projects) == 7 and len({p.group for p in F4.projects}) == 4
    assert fixtures.total_fen(F4.projects) == fixtures.F4_TOTAL_FEN == 699_400_000
    poverty = {
        p.category.value: sum(
            line.committed_fen for line in p.lines if line.source == "fiscal_special_poverty_fund"
        )
        for p in F4.projects
    }
    assert {k: v for k, v in poverty.items() if v} == {
        "industry_breeding": 63_000_000,
        "water_drinking": 40_000_000,
    }
    assert (
        fixtures.committed_by_source(F4.projects)["fiscal_special_poverty_fund"]
        == fixtures.F4_POVERTY_FUNDS_FEN
    )
    assert all(p.funding_gap_fen == 0 for p in F4.projects)
    # F5: 1,750,000 = 880,000 + 650,000 + 220,000; the measure rows add up to 89 / 285, not 87 / 270.
    road = F5.project("f5-road")
    assert [line.committed_fen for line in road.lines] == [88_000_000, 65_000_000, 22_000_000]
    assert road.budget_fen == fixtures.F5_ROAD_FEN == road.committed_fen == 175_000_000
    assert F5.profile is not None
    rows = F5.profile["poor_by_measure"]
    assert (sum(r["households"] for r in rows), sum(r["people"] for r in rows)) == (89, 285)
    assert fixtures.household_sizes(87, 270) == [4] * 9 + [3] * 78
    # F6: section 六 12,050,000 (DOMAIN.md's check holds) + co-ops 2,900,000; the appended list 12,710,000.
    assert fixtures.budget_by_group(F6.projects) == fixtures.F6_GROUPS
    assert fixtures.F6_GROUPS == {
        "六、主要目标任务和措施": 1_205_000_000,
        "六(三)、农民专业合作组织": 290_000_000,
        "附: 脱贫规划项目一览表": 1_271_000_000,
    }
    assert fixtures.total_fen(F6.projects) == 2_766_000_000
    # The seed's inconsistencies with no field in the API: each pair differs.
    assert fixtures.F6_SEED_INCONSISTENCIES == {
        "cooperatives_declared_vs_itemised": (2, 5),
        "labour_economy_people": (150, 200),
        "labour_economy_income_wan": (2100, 2880),
    }
    # F7: 14,570,000 over ten items (two in kind, without a cash budget).
    assert fixtures.total_fen(F7.projects) == fixtures.F7_TOTAL_FEN == 1_457_000_000
    assert [p.key for p in F7.projects if p.budget_fen == 0] == ["f7-cement", "f7-oil-tea"]
    # F8: 152 x 150,000, 5000 x 10,000, 300 x 20,000; 103,800,000 in all (>= 80 M, also without the loans).
    for a in F8.allocations:
        if a.count is not None:
            assert a.unit_fen is not None and a.count * a.unit_fen == a.amount_fen
    total = sum(a.amount_fen for a in F8.allocations)
    assert total == fixtures.F8_TOTAL_FEN == 10_380_000_000
    assert total - 1_400_000_000 == fixtures.F8_WITHOUT_CREDIT_FEN >= F8.stated_minimum_fen == 8_000_000_000


# == F4: the whole-village exit plan (seed 001#7) ===============================================================
@_with_regions
async def test_f4_whole_village_plan(
    planning: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    signing_key: SigningKey,
    db_urls: dict[str, str],
) -> None:
    who = officials(signing_key, F4.village_code)
    loaded = await load_village(planning, registry, who, F4, db_urls)

    # The profile: "78 %" of the district's income flagged (5,463 / 5,185 = 105.36 %); incidence 242 / 1,718.
    assert loaded.profile is not None
    profile = loaded.profile
    assert _flags(profile) == {
        ("income_ratio_inconsistent", "income_ratio_to_district_percent"): (Decimal(78), Decimal("105.36"))
    }
    assert Decimal(profile["derived"]["income_ratio_percent"]) == Decimal("105.36")
    assert Decimal(profile["derived"]["incidence_percent"]) == Decimal("14.09")
    registered = profile["registry"]
    assert (registered["poor_households"], registered["poor_people"], registered["population"]) == (
        107,
        242,
        1718,
    )
    assert Decimal(registered["incidence_percent"]) == Decimal("14.09")
    assert round(Decimal(242) * 100 / 1146, 2) == Decimal("21.12")  # of the resident population
    stored = await planning.get(f"/villages/{F4.village_code}/profiles/2014", headers=who.admin)
    assert stored.status_code == 200 and stored.json()["flags"] == profile["flags"]

    # The plan in force, its targets and the seed's own year as actuals.
    plan = loaded.plan
    assert plan["status"] == "active" and len(plan["targets"]) == 7
    progress = {p["indicator_code"]: p["progress"]["state"] for p in loaded.actuals[2014]["progress"]}
    assert progress["forest_cover"] == "met" and progress["per_capita_net_income"] == "in_progress"

    # Σ budgets 6,994,000; by source, the poverty funds 1,030,000 (630,000 + 400,000) — read back.
    projects = await plan_projects(planning, who.admin, plan["id"])
    assert len(projects) == 7 and {p["status"] for p in projects} == {"approved"}
    assert sum(fen_of(p["budget_yuan"]) for p in projects) == fixtures.F4_TOTAL_FEN == 699_400_000
    by_source = await _by_source(planning, who, projects)
    assert sum(by_source.values()) == 699_400_000
    assert by_source["fiscal_special_poverty_fund"] == fixtures.F4_POVERTY_FUNDS_FEN == 103_000_000
    poverty_by_category = {
        p["category"]: fen_of(line["committed_yuan"])
        for p in projects
        for line in await project_lines(planning, who.admin, p["id"])
        if line["source"] == "fiscal_special_poverty_fund"
    }
    assert poverty_by_category == {"industry_breeding": 63_000_000, "water_drinking": 40_000_000}
    for p in projects:
        summary = await _funding(planning, who, p["id"])
        assert fen_of(summary["funding_gap_yuan"]) == 0 and summary["flags"] == []

    # The approvals drew the two poverty-fund lines from the county's allocation: all of it.
    allocation = loaded.allocations[fixtures.F4_POVERTY_FUND_DOCUMENT]
    response = await planning.get(f"/allocations/{allocation['id']}", headers=who.admin)
    assert response.status_code == 200, response.text
    drawn = response.json()
    assert (fen_of(drawn["drawn_yuan"]), fen_of(drawn["remaining_yuan"])) == (103_000_000, 0)

    # The ledger: the poverty funds received and half the industry money paid in advance; the mutual-aid money
    # paid on the road once the county allowed it (the default matrix keeps mutual aid for productive projects).
    industry = await project_lines(planning, who.admin, loaded.projects["f4-industry"]["id"])
    fiscal = next(line for line in industry if line["source"] == "fiscal_special_poverty_fund")
    assert (fen_of(fiscal["received_yuan"]), fen_of(fiscal["disbursed_yuan"])) == (63_000_000, 31_500_000)
    mutual = loaded.lines["f4-road"][1]
    response = await planning.get(f"/funding-lines/{mutual['id']}", headers=who.admin)
    assert response.status_code == 200 and fen_of(response.json()["disbursed_yuan"]) == 30_000_000

    # The county's budget-execution report (reports/, from the ledger), by source for the village: the same sums.
    report = await budget_execution(
        planning, who.admin, F4.county_code, 2015, group_by="source", village=F4.village_code
    )
    totals = report["totals"]
    assert (totals["projects"], fen_of(totals["committed_yuan"])) == (7, 699_400_000)
    assert (fen_of(totals["received_yuan"]), fen_of(totals["disbursed_yuan"])) == (133_000_000, 81_500_000)
    rows = {r["key"]: r for r in report["rows"]}
    assert {k: fen_of(r["committed_yuan"]) for k, r in rows.items()} == by_source
    poverty_row = rows["fiscal_special_poverty_fund"]
    assert (poverty_row["projects"], poverty_row["received_yuan"], poverty_row["disbursed_yuan"]) == (
        2,
        "1030000.00",
        "515000.00",
    )
    # At county level the source's row also shows the county's allocation of the year.
    county = await budget_execution(planning, who.admin, F4.county_code, 2015, group_by="source")
    county_rows = {r["key"]: r for r in county["rows"]}
    assert fen_of(county_rows["fiscal_special_poverty_fund"]["allocated_yuan"]) == 103_000_000


# == F5: the village exit plan "一低七有" (seed 001#13) =============================================================
@_with_regions
async def test_f5_exit_plan_and_checklist(
    planning: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    signing_key: SigningKey,
    db_urls: dict[str, str],
) -> None:
    who = officials(signing_key, F5.village_code)
    loaded = await load_village(planning, registry, who, F5, db_urls)
    assert len(loaded.households) == 87 and sum(h["household_size"] for h in loaded.households) == 270

    # The measure rows (89 households / 285 people) against 87 / 270: stored and flagged, not refused.
    assert loaded.profile is not None
    assert _flags(loaded.profile) == {
        ("measure_breakdown_differs", "poor_by_measure.households"): (Decimal(89), Decimal(87)),
        ("measure_breakdown_differs", "poor_by_measure.people"): (Decimal(285), Decimal(270)),
    }
    derived = loaded.profile["derived"]
    assert (Decimal(derived["incidence_percent"]), Decimal(derived["per_capita_arable_mu"])) == (
        Decimal("19.88"),
        Decimal("0.65"),
    )
    assert len(loaded.profile["declared"]["poor_by_measure"]) == 5

    # The road: 1,750,000 = 880,000 transport + 650,000 self-raised + 220,000 donations, gap 0 — and every other
    # project fully split too.
    road = loaded.projects["f5-road"]
    lines = await project_lines(planning, who.admin, road["id"])
    assert sorted((line["source"], fen_of(line["committed_yuan"])) for line in lines) == [
        ("beneficiary_self_raised", 65_000_000),
        ("sector_department_fund", 88_000_000),
        ("social_donation", 22_000_000),
    ]
    summary = await _funding(planning, who, road["id"])
    assert (fen_of(summary["budget_yuan"]), fen_of(summary["committed_yuan"])) == (175_000_000, 175_000_000)
    assert fen_of(summary["funding_gap_yuan"]) == 0 and summary["flags"] == []
    assert (fen_of(summary["received_yuan"]), fen_of(summary["disbursed_yuan"])) == (140_000_000, 35_000_000)
    for key in ("f5-water", "f5-clinic", "f5-land", "f5-ponds", "f5-credit"):
        assert fen_of((await _funding(planning, who, loaded.projects[key]["id"]))["funding_gap_yuan"]) == 0
    projects = await plan_projects(planning, who.admin, loaded.plan["id"])
    assert sum(fen_of(p["budget_yuan"]) for p in projects) == 467_000_000

    # The micro-credit reaches 40 of the registered poor households (counted from the registry's statuses).
    credit = loaded.projects["f5-credit"]
    response = await planning.put(
        f"/projects/{credit['id']}/beneficiaries",
        json={"household_ids": [h["id"] for h in loaded.households[: fixtures.F5_CREDIT_HOUSEHOLDS]]},
        headers={**who.clerk, "If-Match": f'"{credit["version"]}"'},
    )
    assert response.status_code == 200, response.text
    assert (response.json()["beneficiaries_count"], response.json()["poor_beneficiaries_count"]) == (40, 40)

    # The checklist of the seed's year: incidence 19.88 % is not below the region's 4 %; no road, no clinic.
    checklist = await _checklist(planning, who, 2015)
    assert checklist["result"] == "not_met"
    low = checklist["items"]["low_incidence"]
    assert (low["result"], Decimal(low["figure"]), Decimal(low["threshold"]), low["comparison"]) == (
        "not_met",
        Decimal("19.88"),
        Decimal(4),
        "<",
    )
    assert low["source"] == "registry"
    assert {item: v["result"] for item, v in checklist["items"].items() if item != "low_incidence"} == {
        "collective_income": "unknown",  # no figure for the year
        "road": "not_met",
        "drinking_water": "unknown",
        "electricity": "met",
        "clinic": "not_met",
        "culture_room": "met",
        "broadband": "met",
    }

    # The exit year with the plan fulfilled: households exit in the registry until 54 poor people remain
    # (3.98 % < 4 %), the road, the water stations and the clinic are built, the collective earns 8,000 yuan.
    sizes = Counter(h["household_size"] for h in loaded.households)
    assert sizes == {4: 9, 3: 78}
    leaving = [h["id"] for h in loaded.households if h["household_size"] == 4]
    leaving += [h["id"] for h in loaded.households if h["household_size"] == 3][:60]
    # Exits of the exit year count for it (as of 31 December 2016: the registry's figures of the year).
    await exited_since(db_urls, leaving, datetime(2016, 11, 1, 10, tzinfo=CHINA_TIME))
    checklist = await _checklist(planning, who, 2016)
    low = checklist["items"]["low_incidence"]
    assert (low["result"], Decimal(low["figure"]), Decimal(low["threshold"])) == (
        "met",
        Decimal("3.98"),
        Decimal(4),
    )
    income = checklist["items"]["collective_income"]
    assert (income["result"], Decimal(income["figure"]), Decimal(income["threshold"])) == (
        "met",
        Decimal(8000),
        Decimal(8000),
    )
    assert {v["result"] for v in checklist["items"].values()} == {"met"} and checklist["result"] == "met"

    # The threshold is the region's parameter: a stricter one (Sichuan's 3 %, §5.4) fails the same village.
    response = await registry.put(
        f"/regions/{F5.county_code}/policy/2016/village_exit_incidence_max_percent",
        json={"value": "3.00", "reason": "四川省版本 < 3 %"},
        headers=who.admin,
    )
    assert response.status_code == 200, response.text
    checklist = await _checklist(planning, who, 2016)
    assert checklist["items"]["low_incidence"]["result"] == "not_met" and checklist["result"] == "not_met"


async def _checklist(planning: httpx.AsyncClient, who: Officials, year: int) -> Json:
    response = await planning.get(f"/villages/{F5.village_code}/exit-checklist/{year}", headers=who.township)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return {**body, "items": {i["item"]: i for i in body["items"]}}


# == F6: the village project list (seed 001#12) ==================================================================
@_with_regions
async def test_f6_project_list(
    planning: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    signing_key: SigningKey,
    db_urls: dict[str, str],
) -> None:
    who = officials(signing_key, F6.village_code)
    loaded = await load_village(planning, registry, who, F6, db_urls)

    # NCMS 1,680 participants in a village of 1,560 people: stored, and flagged (invariants 10, 41).
    assert loaded.profile is not None
    assert _flags(loaded.profile) == {
        ("coverage_above_population", "ncms_participants"): (Decimal(1680), Decimal(1560))
    }
    response = await planning.get(f"/villages/{F6.village_code}/profiles/2015", headers=who.township)
    assert response.status_code == 200 and response.json()["declared"]["ncms_participants"] == 1680

    # Every budget line a project with its amount; by the seed's grouping 12,050,000 + 2,900,000 (DOMAIN.md's
    # check holds) and the appended list 12,710,000.
    projects = await plan_projects(planning, who.admin, loaded.plan["id"])
    assert len(projects) == len(F6.projects) == 33  # 9 + 2 + 22
    key_of = {p["id"]: key for key, p in loaded.projects.items()}
    budgets = {key_of[p["id"]]: fen_of(p["budget_yuan"]) for p in projects}
    assert budgets == {p.key: p.budget_fen for p in F6.projects}
    by_group: Counter[str] = Counter()
    for seed in F6.projects:
        by_group[seed.group] += budgets[seed.key]
    assert dict(by_group) == fixtures.F6_GROUPS
    assert sum(budgets.values()) == 2_766_000_000
    assert budgets["f6-ponds"] == 240_000_000 and budgets["f6-clinic"] == 2_000_000
    quantities = {key_of[p["id"]]: (p["quantity"], p["unit"]) for p in projects}
    assert quantities["f6-ncms"] == ("1680.00", "person") and quantities["f6-poultry"] == ("5000.00", "head")

    # The seed names sources only for the cooperatives (产业协调资金): every other line shows its funding gap.
    for seed in F6.projects:
        summary = await _funding(planning, who, loaded.projects[seed.key]["id"])
        if seed.lines:
            assert summary["flags"] == [] and fen_of(summary["funding_gap_yuan"]) == 0
        else:
            assert summary["flags"] == ["funding_gap"]
            assert fen_of(summary["funding_gap_yuan"]) == seed.budget_fen
    assert await _by_source(planning, who, projects) == {"integrated_fund": 290_000_000}


# == F7: the Guangxi village annual plan (seed 001#14) ===========================================================
@_with_regions
async def test_f7_annual_plan_schedule(
    planning: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    signing_key: SigningKey,
    db_urls: dict[str, str],
) -> None:
    who = officials(signing_key, F7.village_code)
    loaded = await load_village(planning, registry, who, F7, db_urls)
    plan = loaded.plan
    assert (plan["plan_type"], plan["start_year"], plan["end_year"], plan["status"]) == (
        "annual",
        2015,
        2015,
        "active",
    )

    # The ten items with their months, within the plan's year; 14,570,000 in all.
    response = await planning.get("/projects", params={"plan": plan["id"], "year": 2015}, headers=who.clerk)
    assert response.status_code == 200, response.text
    projects = response.json()["items"]
    assert len(projects) == 10
    key_of = {p["id"]: key for key, p in loaded.projects.items()}
    months = {key_of[p["id"]]: date.fromisoformat(p["finishes_on"]).month for p in projects}
    assert months == fixtures.F7_MONTHS
    assert sum(fen_of(p["budget_yuan"]) for p in projects) == fixtures.F7_TOTAL_FEN == 1_457_000_000
    budgets = {key_of[p["id"]]: fen_of(p["budget_yuan"]) for p in projects}
    assert (budgets["f7-channels"], budgets["f7-dike"], budgets["f7-hamlet-roads"]) == (
        480_000_000,
        600_000_000,
        92_000_000,
    )
    units = {key_of[p["id"]]: (p["quantity"], p["unit"]) for p in projects}
    assert units["f7-cement"] == ("50.00", "ton") and units["f7-oil-tea"] == ("500.00", "mu")
    assert units["f7-hamlet-roads"] == ("4.60", "km")  # 0.3 + 3 + 0.5 + 0.8

    # The service centre starts in March with its structure due in June; its money arrives and is paid.
    centre = loaded.projects["f7-service-centre"]
    response = await planning.get(f"/projects/{centre['id']}", headers=who.township)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["starts_on"] == "2015-03-01" and detail["status"] == "approved"
    assert [(m["name"], m["due_on"]) for m in detail["milestones"]] == [("主体工程完成", "2015-06-30")]
    money = detail["funding"]
    assert (fen_of(money["received_yuan"]), fen_of(money["disbursed_yuan"])) == (35_000_000, 10_000_000)
    # Cash items fully funded; the in-kind ones (cement, oil-tea) have no budget and no gap.
    for seed in F7.projects:
        summary = await _funding(planning, who, loaded.projects[seed.key]["id"])
        assert fen_of(summary["funding_gap_yuan"]) == 0 and summary["lines"] == len(seed.lines)


# == F8: the county annual plan (seed 001#15) ====================================================================
@_with_regions
async def test_f8_county_allocations(
    planning: httpx.AsyncClient, registry: httpx.AsyncClient, signing_key: SigningKey
) -> None:
    who = officials(signing_key, F8.sample_village_code)
    loaded = await load_county(planning, registry, who, F8)

    response = await planning.get(
        f"/counties/{F8.county_code}/allocations", params={"year": 2015}, headers=who.admin
    )
    assert response.status_code == 200, response.text
    allocations = {a["document_number"]: a for a in response.json()["items"]}
    assert len(allocations) == 7
    amounts = {doc: fen_of(a["amount_yuan"]) for doc, a in allocations.items()}
    for seed in F8.allocations:
        assert amounts[seed.document_number] == seed.amount_fen
        if seed.count is not None:
            assert seed.unit_fen is not None and amounts[seed.document_number] == seed.count * seed.unit_fen
    assert amounts[fixtures.F8_WHOLE_VILLAGE_DOCUMENT] == 152 * 15_000_000 == 2_280_000_000
    by_source: Counter[str] = Counter()
    for a in allocations.values():
        by_source[a["source"]] += fen_of(a["amount_yuan"])
    assert dict(by_source) == {
        "programme_fund": 3_080_000_000,  # 整村推进 22.8 M + 整乡推进 8 M
        "fiscal_special_poverty_fund": 5_800_000_000,  # thatched houses 50 M + relocation 6 M + industry 2 M
        "credit": 1_400_000_000,
        "interest_subsidy": 100_000_000,
    }
    total = sum(amounts.values())
    assert total == fixtures.F8_TOTAL_FEN == 10_380_000_000
    assert total >= F8.stated_minimum_fen and total - by_source["credit"] >= F8.stated_minimum_fen

    # One of the 152 whole-village projects draws its 150,000 on approval; money arrives and is paid.
    whole_village = allocations[fixtures.F8_WHOLE_VILLAGE_DOCUMENT]
    assert (fen_of(whole_village["drawn_yuan"]), fen_of(whole_village["remaining_yuan"])) == (
        15_000_000,
        2_265_000_000,
    )
    project = loaded.projects["f8-whole-village"]
    summary = await _funding(planning, who, project["id"])
    assert (fen_of(summary["received_yuan"]), fen_of(summary["disbursed_yuan"])) == (15_000_000, 5_000_000)
    response = await planning.get(f"/projects/{project['id']}/ledger", headers=who.admin)
    assert response.status_code == 200, response.text
    assert [(e["kind"], e["voucher"]) for e in response.json()["items"]] == [
        ("receipt", "收-F8-001"),
        ("disbursement", "付-F8-001"),
    ]

    # The county's budget execution by source: the whole-village programme's allocations (22.8 M + 8 M) beside
    # what the approved project commits, received and paid.
    report = await budget_execution(planning, who.admin, F8.county_code, 2015, group_by="source")
    row = {r["key"]: r for r in report["rows"]}["programme_fund"]
    assert (row["allocated_yuan"], row["committed_yuan"], row["received_yuan"], row["disbursed_yuan"]) == (
        "30800000.00",
        "150000.00",
        "150000.00",
        "50000.00",
    )
    assert report["totals"]["projects"] == 1


# == focused: what the seeds hold that the defaults would refuse ==================================================
@_with_regions
async def test_f4_mutual_aid_pays_the_road_only_with_the_countys_override(
    planning: httpx.AsyncClient, registry: httpx.AsyncClient, signing_key: SigningKey
) -> None:
    """F4's new road is paid from the mutual-aid fund (互助会资金, seed 001#7); the shipped earmark matrix keeps
    mutual aid for productive projects (专款专用), so the payment is refused until the county allows the cell —
    with the seed as its reason — and then goes through; the override is the county's, not a change of the
    default."""
    who = officials(signing_key, F4.village_code)
    seed = F4.project("f4-road")
    project, lines = await create_project(planning, who, F4.village_code, seed, plan_id=None, allocations={})
    receipt, payment = (e for e in F4.ledger if e.project == "f4-road")
    await post_ledger(planning, who.admin, {"f4-road": lines}, (receipt,))
    refused = await planning.post(
        f"/funding-lines/{lines[1]['id']}/disbursements", json=payment.body(), headers=who.admin
    )
    assert assert_problem(refused, 409)["code"] == "not_earmarked"
    await set_earmarks(planning, who.admin, F4.county_code, F4.earmarks)
    (paid,) = await post_ledger(planning, who.admin, {"f4-road": lines}, (payment,))
    assert (paid["kind"], fen_of(paid["amount_yuan"]), paid["stage"]) == (
        "disbursement",
        30_000_000,
        "progress",
    )
    response = await planning.get(f"/counties/{F4.county_code}/earmark-matrix", headers=who.admin)
    cells = {(c["source"], c["category"]): c for c in response.json()["cells"]}
    assert (cells[("mutual_aid_fund", "road")]["allowed"], cells[("mutual_aid_fund", "road")]["origin"]) == (
        True,
        "county",
    )
    assert project["status"] == "approved"
