"""Entering the seed fixtures of services/planning/fixtures.py (DOMAIN.md §9 F4-F8) through the APIs, as a client
would: the registry's side (the village, its population, its registered households, the county's policy
parameters) through the registry's API, everything of planning through planning's.

The loaders take the in-process clients of tests/planning/conftest.py (`planning`, `registry`) and the callers'
headers; they assert each answer, so a refusal of something the seed legitimately holds fails where it happens.
The read-back helpers (`plan_projects`, `project_lines`, `fen_of` …) are what the tests assert with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from services.planning.fixtures import (
    Allocation,
    CountyFixture,
    Earmark,
    Entry,
    Plan,
    Project,
    VillageFixture,
    household_sizes,
    profile_body,
)
from shared.clock import CHINA_TIME
from shared.jwt import SigningKey
from tests.factories import Headers, headers_for, household_payload, put_population, registered_since

__all__ = [
    "Loaded",
    "Officials",
    "approve_project",
    "budget_execution",
    "create_allocations",
    "create_plan",
    "create_project",
    "ensure_village",
    "fen_of",
    "load_county",
    "load_village",
    "officials",
    "plan_in_force",
    "plan_projects",
    "post_ledger",
    "project_lines",
    "record_actuals",
    "register_households",
    "set_earmarks",
    "set_policy",
]

Json = dict[str, Any]


def fen_of(value: str | None) -> int:
    """The wire's yuan text as integer fen."""
    assert value is not None
    amount = Decimal(value) * 100
    assert amount == amount.to_integral_value(), value
    return int(amount)


def _ok(response: httpx.Response, status: int = 200) -> Json:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url}: {response.text}"
    )
    body: Json = response.json()
    return body


@dataclass(frozen=True)
class Officials:
    """Who acts for a village: its officer, its township's and its county's."""

    clerk: Headers
    township: Headers
    admin: Headers


def officials(signing_key: SigningKey, village_code: str) -> Officials:
    county = village_code[:6] + "000000"
    return Officials(
        clerk=headers_for(signing_key, "village_officer", village_code, f"clerk-{village_code}"),
        township=headers_for(signing_key, "township_officer", village_code[:9] + "000", "township-officer"),
        admin=headers_for(signing_key, "county_admin", county, "county-admin"),
    )


# -- the registry's side ---------------------------------------------------------------------------------------
async def ensure_village(registry: httpx.AsyncClient, admin: Headers, code: str, name: str) -> None:
    """The village exists in the registry (added below its township by the county admin when missing)."""
    if (await registry.get(f"/regions/{code}", headers=admin)).status_code == 200:
        return
    _ok(await registry.post("/regions", json={"code": code, "name": name}, headers=admin), 201)


async def register_households(
    registry: httpx.AsyncClient, admin: Headers, village: str, households: int, people: int
) -> list[Json]:
    """`households` registered households holding `people` people in the village (one NDJSON import); the
    village's households as the registry lists them (id, size)."""
    lines = [
        household_payload(village, size=size, status="registered")
        for size in household_sizes(households, people)
    ]
    body = "\n".join(json.dumps(line, ensure_ascii=False) for line in lines).encode()
    result = _ok(
        await registry.post(
            "/households/import",
            params={"mode": "migration", "source_document": "test migration"},
            content=body,
            headers={**admin, "Content-Type": "application/x-ndjson"},
        )
    )
    assert (result["households"], result["members"], result["registered"]) == (households, people, households)
    listed = _ok(
        await registry.get(
            "/households",
            params={"region": village, "limit": 500, "fields": "id,household_size,status"},
            headers=admin,
        )
    )
    items: list[Json] = listed["items"]
    assert len(items) == households and listed["next_cursor"] is None
    return items


async def set_policy(
    registry: httpx.AsyncClient, admin: Headers, region: str, year: int, name: str, value: str
) -> None:
    response = await registry.put(
        f"/regions/{region}/policy/{year}/{name}",
        json={"value": value, "reason": "seed fixture"},
        headers=admin,
    )
    _ok(response)


# -- planning: plans -------------------------------------------------------------------------------------------
ASSEMBLY = {"representatives": 45, "present": 38, "votes_for": 35, "votes_against": 2, "votes_abstaining": 1}


async def create_plan(planning: httpx.AsyncClient, clerk: Headers, village: str, plan: Plan) -> Json:
    return _ok(await planning.post(f"/villages/{village}/plans", json=plan.body(), headers=clerk), 201)


async def plan_in_force(planning: httpx.AsyncClient, who: Officials, plan_id: str, start_year: int) -> Json:
    """The plan through the assembly, the township review, the county approval and the activation."""
    held_on = date(start_year - 1, 12, 1).isoformat()
    chain: tuple[tuple[str, Json, Headers], ...] = (
        ("assembly", {"held_on": held_on, **ASSEMBLY}, who.clerk),
        ("township-review", {"opinion": "同意上报"}, who.township),
        ("county-approval", {"document_number": f"县扶发[{start_year - 1}]12号"}, who.admin),
        ("activation", {"note": "启动实施"}, who.admin),
    )
    plan: Json = {}
    for route, body, headers in chain:
        plan = _ok(await planning.post(f"/plans/{plan_id}/{route}", json=body, headers=headers))
    assert plan["status"] == "active", plan
    return plan


async def record_actuals(
    planning: httpx.AsyncClient, clerk: Headers, plan_id: str, year: int, values: dict[str, Decimal]
) -> Json:
    body = {"values": [{"indicator_code": k, "value": str(v), "source": "seed"} for k, v in values.items()]}
    return _ok(await planning.put(f"/plans/{plan_id}/actuals/{year}", json=body, headers=clerk))


# -- planning: money and projects ------------------------------------------------------------------------------
async def create_allocations(
    planning: httpx.AsyncClient, admin: Headers, county: str, allocations: tuple[Allocation, ...]
) -> dict[str, Json]:
    """The county's allocations, by 文号."""
    out: dict[str, Json] = {}
    for allocation in allocations:
        response = await planning.post(
            f"/counties/{county}/allocations", json=allocation.body(), headers=admin
        )
        out[allocation.document_number] = _ok(response, 201)
    return out


async def set_earmarks(
    planning: httpx.AsyncClient, admin: Headers, county: str, earmarks: tuple[Earmark, ...]
) -> None:
    for cell in earmarks:
        response = await planning.put(
            f"/counties/{county}/earmark-matrix/{cell.source.value}/{cell.category.value}",
            json={"allowed": cell.allowed, "reason": cell.reason},
            headers=admin,
        )
        _ok(response)


def _chain(year: int) -> list[Json]:
    """四议两公开, the township review and the county approval, dated in December before the project's year."""
    on = date(year - 1, 12, 1)

    def day(n: int) -> str:
        return (on + timedelta(days=n)).isoformat()

    return [
        {"step": "party_branch_proposal", "held_on": day(0), "minutes_ref": "支部会议记录"},
        {"step": "committees_discussion", "held_on": day(2), "attendees": 9},
        {"step": "party_members_review", "held_on": day(4), "attendees": 31},
        {
            "step": "villagers_resolution",
            "held_on": day(6),
            "attendees": 45,
            "votes_for": 41,
            "votes_against": 2,
        },
        {"step": "resolution_disclosure", "posted_on": day(7), "place": "村务公开栏"},
        {"step": "township_review", "approve": True, "decided_on": day(14)},
        {"step": "county_approval", "approve": True, "decided_on": day(20)},
    ]


async def approve_project(planning: httpx.AsyncClient, who: Officials, project: Json) -> Json:
    """The project through its approval chain (the county approval draws its lines on their allocations)."""
    version = int(project["version"])
    year = date.fromisoformat(project["starts_on"]).year if project["starts_on"] else date.today().year
    for body in _chain(year):
        headers = {"township_review": who.township, "county_approval": who.admin}.get(body["step"], who.clerk)
        response = await planning.post(
            f"/projects/{project['id']}/steps", json=body, headers={**headers, "If-Match": f'"{version}"'}
        )
        version = int(_ok(response, 201)["version"])
    approved = _ok(await planning.get(f"/projects/{project['id']}", headers=who.admin))
    assert approved["status"] == "approved", approved
    return approved


async def create_project(
    planning: httpx.AsyncClient,
    who: Officials,
    village: str,
    seed: Project,
    *,
    plan_id: str | None,
    allocations: dict[str, Json],
) -> tuple[Json, list[Json]]:
    """The project with its funding lines (and, when the seed says so, approved with its milestones)."""
    project = _ok(
        await planning.post(f"/villages/{village}/projects", json=seed.body(plan_id), headers=who.clerk), 201
    )
    lines = []
    for line in seed.lines:
        allocation_id = None if line.allocation is None else str(allocations[line.allocation]["id"])
        response = await planning.post(
            f"/projects/{project['id']}/funding-lines", json=line.body(allocation_id), headers=who.clerk
        )
        lines.append(_ok(response, 201))
    if seed.approve:
        project = await approve_project(planning, who, project)
        for milestone in seed.milestones:
            response = await planning.post(
                f"/projects/{project['id']}/milestones", json=milestone.body(), headers=who.clerk
            )
            _ok(response, 201)
    return project, lines


async def post_ledger(
    planning: httpx.AsyncClient, admin: Headers, lines: dict[str, list[Json]], entries: tuple[Entry, ...]
) -> list[Json]:
    """The ledger entries, in order (receipts before the disbursements they pay)."""
    out = []
    for entry in entries:
        line_id = lines[entry.project][entry.line]["id"]
        route = "receipts" if entry.kind == "receipt" else "disbursements"
        response = await planning.post(f"/funding-lines/{line_id}/{route}", json=entry.body(), headers=admin)
        out.append(_ok(response, 201))
    return out


@dataclass
class Loaded:
    """What a fixture's load wrote, as the API answered it."""

    profile: Json | None = None
    plan: Json = field(default_factory=dict)
    projects: dict[str, Json] = field(default_factory=dict)
    lines: dict[str, list[Json]] = field(default_factory=dict)
    allocations: dict[str, Json] = field(default_factory=dict)
    ledger: list[Json] = field(default_factory=list)
    households: list[Json] = field(default_factory=list)
    actuals: dict[int, Json] = field(default_factory=dict)


def registration_day(fixture: VillageFixture) -> datetime:
    """When the fixture's households were registered: 1 January (10:00 China time) of the first year its profile
    or plan reads, so the registry's figures of every such year (as of 31 December) count them."""
    year = min(fixture.year, fixture.plan.start_year)
    return datetime(year, 1, 1, 10, tzinfo=CHINA_TIME)


async def load_village(
    planning: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    who: Officials,
    fixture: VillageFixture,
    db_urls: dict[str, str],
) -> Loaded:
    """A village fixture through the APIs: registry figures and policy, profile, plan in force with its actuals,
    allocations and earmark overrides, projects with lines (approved where the seed says), the ledger. The
    households are registered on `registration_day` (the import's events dated then, in the registry's
    database)."""
    loaded = Loaded()
    village = fixture.village_code
    await ensure_village(registry, who.admin, village, fixture.village_name)
    if fixture.population is not None:
        plan = fixture.plan
        for year in sorted({fixture.year, *range(plan.start_year, plan.end_year + 1)}):
            response = await put_population(registry, who.admin, village, year, fixture.population)
            assert response.status_code == 204, response.text
    if fixture.registered is not None:
        loaded.households = await register_households(registry, who.admin, village, *fixture.registered)
        await registered_since(db_urls, [h["id"] for h in loaded.households], registration_day(fixture))
    for year, parameters in fixture.policy.items():
        for name, value in parameters.items():
            await set_policy(registry, who.admin, fixture.county_code, year, name, value)
    if fixture.profile is not None:
        response = await planning.put(
            f"/villages/{village}/profiles/{fixture.year}",
            json=profile_body(fixture.profile),
            headers=who.clerk,
        )
        loaded.profile = _ok(response, 201)
    loaded.plan = await create_plan(planning, who.clerk, village, fixture.plan)
    loaded.plan = await plan_in_force(planning, who, loaded.plan["id"], fixture.plan.start_year)
    for year, values in sorted(fixture.actuals.items()):
        loaded.actuals[year] = await record_actuals(
            planning, who.clerk, loaded.plan["id"], year, dict(values)
        )
    loaded.allocations = await create_allocations(
        planning, who.admin, fixture.county_code, fixture.allocations
    )
    await set_earmarks(planning, who.admin, fixture.county_code, fixture.earmarks)
    for seed in fixture.projects:
        project, lines = await create_project(
            planning, who, village, seed, plan_id=loaded.plan["id"], allocations=loaded.allocations
        )
        loaded.projects[seed.key], loaded.lines[seed.key] = project, lines
    loaded.ledger = await post_ledger(planning, who.admin, loaded.lines, fixture.ledger)
    return loaded


async def load_county(
    planning: httpx.AsyncClient, registry: httpx.AsyncClient, who: Officials, fixture: CountyFixture
) -> Loaded:
    """A county fixture: its allocations, and the sample project drawing on one of them (approved, with its
    ledger)."""
    loaded = Loaded()
    loaded.allocations = await create_allocations(
        planning, who.admin, fixture.county_code, fixture.allocations
    )
    seed = fixture.sample_project
    project, lines = await create_project(
        planning, who, fixture.sample_village_code, seed, plan_id=None, allocations=loaded.allocations
    )
    loaded.projects[seed.key], loaded.lines[seed.key] = project, lines
    loaded.ledger = await post_ledger(planning, who.admin, loaded.lines, fixture.ledger)
    return loaded


# -- read-back -------------------------------------------------------------------------------------------------
async def plan_projects(planning: httpx.AsyncClient, headers: Headers, plan_id: str) -> list[Json]:
    """The plan's projects as the project list answers them."""
    page = _ok(await planning.get("/projects", params={"plan": plan_id, "limit": 500}, headers=headers))
    assert page["next_cursor"] is None
    items: list[Json] = page["items"]
    return items


async def project_lines(planning: httpx.AsyncClient, headers: Headers, project_id: str) -> list[Json]:
    page = _ok(await planning.get(f"/projects/{project_id}/funding-lines", headers=headers))
    items: list[Json] = page["items"]
    return items


async def budget_execution(
    planning: httpx.AsyncClient, headers: Headers, county: str, year: int, **params: str
) -> Json:
    """The county's budget-execution report of the year (`GET /reports/budget-execution`, JSON; money as `*_yuan`
    strings, read back with `fen_of`)."""
    response = await planning.get(
        "/reports/budget-execution", params={"county": county, "year": year, **params}, headers=headers
    )
    return _ok(response)
