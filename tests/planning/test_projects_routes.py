"""Project library routes (项目库, issue #11 Projects): one class per route — anonymous 401, another region 404, a
role that may not act 403, bad input 422 (nothing changed), valid 2xx — against the real planning app, whose
registry is a live in-process registry reached over HTTP with planning's service token.

The registry's households are created through the registry's own API (tests/factories.py); F5's road (seed
001#13: 1,750,000 yuan = 880,000 transport + 650,000 self-raised + 220,000 donations) goes through the whole
chain with its funding lines (the funds feature's API) and its beneficiaries.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    OTHER_TOWNSHIP,
    OTHER_VILLAGE,
    PROVINCE,
    SIBLING_VILLAGE,
    TOWNSHIP,
    VILLAGE,
    Headers,
    assert_problem,
    create_household,
    headers_for,
    pair,
    registered_household,
    unit_and_cadres,
)

pytestmark = pytest.mark.usefixtures("seed_regions")

Json = dict[str, Any]

#: F5's road (seed 001#13): 3.5 km of cement road to the village committee, 1,750,000 yuan.
ROAD: Json = {
    "category": "road",
    "name": "通村水泥路(村委会至那坡屯)",
    "natural_village": "那坡屯",
    "quantity": "3.50",
    "unit": "km",
    "starts_on": "2016-05-01",
    "finishes_on": "2016-10-31",
    "implementing_party": "县交通局",
    "responsible_person": "黄建国",
    "expected_outputs": "组组通硬化路, 受益群众出行",
    "budget_yuan": "1750000.00",
}
#: 四议两公开 before the township review: four meetings, then the resolution made public.
VILLAGE_RECORD: list[Json] = [
    {"step": "party_branch_proposal", "held_on": "2016-03-01", "minutes_ref": "支部会议记录 3 号"},
    {"step": "committees_discussion", "held_on": "2016-03-05", "attendees": 9},
    {"step": "party_members_review", "held_on": "2016-03-10", "attendees": 31},
    {
        "step": "villagers_resolution",
        "held_on": "2016-03-15",
        "attendees": 45,
        "votes_for": 41,
        "votes_against": 2,
    },
    {"step": "resolution_disclosure", "posted_on": "2016-03-16", "place": "村务公开栏"},
]
APPROVE_TOWNSHIP: Json = {"step": "township_review", "approve": True, "decided_on": "2016-04-01"}
APPROVE_COUNTY: Json = {"step": "county_approval", "approve": True, "decided_on": "2016-04-20"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"0" * 64
SERVICE_REGION = "000000000000"


# -- the people ------------------------------------------------------------------------------------------------------
@pytest.fixture
def clerk(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", VILLAGE, "clerk-jiuzhou")


@pytest.fixture
def sibling_clerk(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "village_officer", SIBLING_VILLAGE, "clerk-quyang")


@pytest.fixture
def township(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "township_officer", TOWNSHIP, "officer-xinjing")


@pytest.fixture
def other_township(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "township_officer", OTHER_TOWNSHIP, "officer-huadong")


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", COUNTY, "admin-jingxi")


@pytest.fixture
def other_admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", OTHER_COUNTY, "admin-napo")


@pytest.fixture
def cadre(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "cadre", COUNTY, "cadre-wang")


@pytest.fixture
def province(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "province_system", PROVINCE, "guangxi")


# -- builders --------------------------------------------------------------------------------------------------------
async def planning_sql(db_urls: dict[str, str], statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_urls["planning"])
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


async def rows(db_urls: dict[str, str], table: str) -> int:
    """Rows of a planning table (to show that a refused request changed nothing)."""
    found = await planning_sql(db_urls, f"SELECT count(*) FROM {table}")  # noqa: S608 - names from the tests
    return int(found[0][0])


async def snapshot(db_urls: dict[str, str]) -> dict[str, int]:
    tables = (
        "planning_project",
        "planning_project_event",
        "planning_project_beneficiary",
        "planning_milestone",
        "planning_project_attachment",
        "planning_acceptance",
        "planning_asset",
        "planning_audit_event",
    )
    counts = {t: await rows(db_urls, t) for t in tables}
    versions = await planning_sql(db_urls, "SELECT coalesce(sum(version), 0) FROM planning_project")
    return {**counts, "versions": int(versions[0][0])}


async def create(planning: httpx.AsyncClient, clerk: Headers, **extra: Any) -> Json:
    """A draft project of 旧州村 (F5's road unless told otherwise)."""
    response = await planning.post(f"/villages/{VILLAGE}/projects", json={**ROAD, **extra}, headers=clerk)
    assert response.status_code == 201, response.text
    body: Json = response.json()
    return body


async def detail(planning: httpx.AsyncClient, headers: Headers, project_id: str) -> Json:
    response = await planning.get(f"/projects/{project_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: Json = response.json()
    return body


async def step(
    planning: httpx.AsyncClient, headers: Headers, project_id: str, version: int, body: Json
) -> httpx.Response:
    return await planning.post(
        f"/projects/{project_id}/steps", json=body, headers={**headers, "If-Match": f'"{version}"'}
    )


async def steps(
    planning: httpx.AsyncClient, project_id: str, version: int, *taken: tuple[Headers, Json]
) -> int:
    """Take each step in turn; the project's version after the last."""
    for headers, body in taken:
        response = await step(planning, headers, project_id, version, body)
        assert response.status_code == 201, response.text
        version = response.json()["version"]
    return version


async def approved(
    planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers, **extra: Any
) -> tuple[str, int]:
    """A project through 四议两公开, the township review and the county approval; its id and version."""
    project = await create(planning, clerk, **extra)
    version = await steps(
        planning,
        project["id"],
        project["version"],
        *[(clerk, s) for s in VILLAGE_RECORD],
        (township, APPROVE_TOWNSHIP),
        (admin, APPROVE_COUNTY),
    )
    return project["id"], version


async def started(
    planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
) -> tuple[str, str, int]:
    """An approved project with one milestone reported at 50 % (so in progress); ids and the version."""
    project_id, _ = await approved(planning, clerk, township, admin)
    milestone = await planning.post(
        f"/projects/{project_id}/milestones",
        json={"name": "路基", "due_on": "2016-07-31", "percent": 50},
        headers=clerk,
    )
    assert milestone.status_code == 201, milestone.text
    project = await detail(planning, clerk, project_id)
    assert project["status"] == "in_progress"
    return project_id, milestone.json()["id"], project["version"]


async def accepted(planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers) -> str:
    project_id, milestone_id, version = await started(planning, clerk, township, admin)
    done = await planning.patch(
        f"/projects/{project_id}/milestones/{milestone_id}",
        json={"percent": 100, "done_on": "2016-10-20"},
        headers=clerk,
    )
    assert done.status_code == 200, done.text
    version = (await detail(planning, clerk, project_id))["version"]
    response = await planning.post(
        f"/projects/{project_id}/acceptance",
        json={"accepted_on": "2016-10-30", "passed": True, "findings": "路面合格", "accepted_by": "县验收组"},
        headers={**admin, "If-Match": f'"{version}"'},
    )
    assert response.status_code == 201, response.text
    return project_id


async def insert_project(db_urls: dict[str, str], *, status: str = "draft", village: str = VILLAGE) -> str:
    """A project row straight in the database (for an app whose registry is down)."""
    project_id = uuid.uuid4()
    await planning_sql(
        db_urls,
        "INSERT INTO planning_project (id, village_code, category, name, budget_fen, status, created_by)"
        " VALUES ($1, $2, 'road', '通村路', 175000000, $3, 'clerk-jiuzhou')",
        project_id,
        village,
        status,
    )
    return str(project_id)


def if_match(headers: Headers, version: int) -> Headers:
    return {**headers, "If-Match": f'"{version}"'}


# == projects =========================================================================================================
class TestCreateProject:
    URL = f"/villages/{VILLAGE}/projects"

    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.post(self.URL, json=ROAD), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, sibling_clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        body = assert_problem(await planning.post(self.URL, json=ROAD, headers=sibling_clerk), 404)
        missing = await planning.post("/villages/451025100299/projects", json=ROAD, headers=sibling_clerk)
        assert_problem(missing, 404)
        assert body["title"] == missing.json()["title"]
        assert await rows(db_urls, "planning_project") == 0

    async def test_wrong_role(
        self,
        planning: httpx.AsyncClient,
        township: Headers,
        admin: Headers,
        cadre: Headers,
        province: Headers,
    ) -> None:
        for headers in (township, admin, cadre):
            body = assert_problem(await planning.post(self.URL, json=ROAD, headers=headers), 403)
            assert body["code"] == "role_may_not"
        assert_problem(await planning.post(self.URL, json=ROAD, headers=province), 403)  # read-only

    async def test_invalid(
        self, planning: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        for change, pointer in (
            ({"budget_yuan": "-1.00"}, "/budget_yuan"),
            ({"budget_yuan": "1750000.001"}, "/budget_yuan"),  # a fraction of a fen
            ({"budget_yuan": "abc"}, "/budget_yuan"),
            ({"category": "roads"}, "/category"),
            ({"unit": "furlong"}, "/unit"),
            ({"quantity": "-3.50"}, "/quantity"),
            ({"name": ""}, "/name"),
            ({"finishes_on": "2016-04-30"}, "/finishes_on"),  # before the start
            ({"status": "approved"}, "/status"),  # not a field: no mass assignment
            ({"plan_id": str(uuid.uuid4())}, "/plan_id"),
        ):
            response = await planning.post(self.URL, json={**ROAD, **change}, headers=clerk)
            body = assert_problem(response, 422)
            where = [e.get("pointer") for e in body.get("errors", [])] + [body.get("field")]
            assert pointer in where, (change, body)
        assert await rows(db_urls, "planning_project") == 0

    async def test_not_a_village(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        assert_problem(await planning.post(f"/villages/{TOWNSHIP}/projects", json=ROAD, headers=clerk), 404)
        assert_problem(await planning.post("/villages/4510/projects", json=ROAD, headers=clerk), 422)

    async def test_unknown_village(self, planning: httpx.AsyncClient, signing_key: SigningKey) -> None:
        nowhere = headers_for(signing_key, "village_officer", "451025100299")
        response = await planning.post("/villages/451025100299/projects", json=ROAD, headers=nowhere)
        assert_problem(response, 404)  # the registry does not know it

    async def test_valid(self, planning: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]) -> None:
        response = await planning.post(self.URL, json=ROAD, headers=clerk)
        assert response.status_code == 201, response.text
        project = response.json()
        assert response.headers["location"] == f"/projects/{project['id']}"
        assert response.headers["etag"] == '"1"'
        assert {k: project[k] for k in ROAD} == ROAD
        assert (project["status"], project["version"], project["village_code"]) == ("draft", 1, VILLAGE)
        assert project["created_by"] == "clerk-jiuzhou" and project["created_at"].endswith("Z")
        stored = await planning_sql(db_urls, "SELECT budget_fen FROM planning_project")
        assert stored[0]["budget_fen"] == 175_000_000  # integer fen
        audit = await planning_sql(
            db_urls, "SELECT action, project_id, region_code FROM planning_audit_event"
        )
        assert [(a["action"], str(a["project_id"]), a["region_code"]) for a in audit] == [
            ("project.create", project["id"], VILLAGE)
        ]

    async def test_valid_minimal(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        body = {"category": "health_facility", "name": "村卫生室 60 m²", "budget_yuan": 120000}
        response = await planning.post(self.URL, json=body, headers=clerk)
        assert response.status_code == 201, response.text
        assert response.json()["budget_yuan"] == "120000.00" and response.json()["unit"] is None

    async def test_registry_down(
        self, planning_registry_down: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        response = await planning_registry_down.post(self.URL, json=ROAD, headers=clerk)
        body = assert_problem(response, 503)
        assert body["code"] == "registry_unavailable" and response.headers["retry-after"]
        assert await rows(db_urls, "planning_project") == 0


class TestListProjects:
    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get("/projects"), 401)

    async def test_other_region(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        sibling_clerk: Headers,
        other_township: Headers,
        other_admin: Headers,
    ) -> None:
        await create(planning, clerk)
        for headers in (sibling_clerk, other_township, other_admin):
            response = await planning.get("/projects", headers=headers)
            assert response.status_code == 200 and response.json() == {"items": [], "next_cursor": None}
        # Asking for a region outside yours finds nothing (as if it had no projects).
        outside = await planning.get("/projects", params={"region": VILLAGE}, headers=sibling_clerk)
        assert outside.json()["items"] == []

    async def test_wrong_role(self, planning: httpx.AsyncClient, clerk: Headers, cadre: Headers) -> None:
        """Every role reads; a cadre reads only the projects of households paired with them (none here)."""
        await create(planning, clerk)
        response = await planning.get("/projects", headers=cadre)
        assert response.status_code == 200 and response.json()["items"] == []

    async def test_invalid(self, planning: httpx.AsyncClient, admin: Headers) -> None:
        for params in (
            {"status": "finished"},
            {"category": "roads"},
            {"region": "4510"},
            {"year": "1999"},
            {"plan": "x"},
            {"limit": "0"},
        ):
            assert_problem(await planning.get("/projects", params=params, headers=admin), 422)
        assert_problem(await planning.get("/projects", params={"cursor": "bm9wZQ"}, headers=admin), 400)
        assert_problem(await planning.get("/projects", params={"sort": "name"}, headers=admin), 400)

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        province: Headers,
        signing_key: SigningKey,
    ) -> None:
        road = await create(planning, clerk)
        clinic = await create(
            planning,
            clerk,
            category="health_facility",
            name="村卫生室",
            starts_on="2017-03-01",
            finishes_on="2017-09-30",
        )
        other_clerk = headers_for(signing_key, "village_officer", OTHER_VILLAGE)
        other = await planning.post(f"/villages/{OTHER_VILLAGE}/projects", json=ROAD, headers=other_clerk)
        assert other.status_code == 201, other.text
        every = await planning.get("/projects", headers=admin)
        expected_order = [*sorted([road["id"], clinic["id"]]), other.json()["id"]]  # by village, then id
        assert [p["id"] for p in every.json()["items"]] == expected_order
        assert (await planning.get("/projects", headers=province)).json()["items"] == every.json()["items"]
        for params, expected in (
            ({"region": TOWNSHIP}, {road["id"], clinic["id"]}),
            ({"category": "health_facility"}, {clinic["id"]}),
            ({"year": "2016"}, {road["id"], other.json()["id"]}),
            ({"year": "2017"}, {clinic["id"]}),
            ({"status": "draft", "region": VILLAGE}, {road["id"], clinic["id"]}),
            ({"status": "approved"}, set()),
            ({"plan": str(uuid.uuid4())}, set()),
        ):
            response = await planning.get("/projects", params=params, headers=admin)
            assert response.status_code == 200, response.text
            assert {p["id"] for p in response.json()["items"]} == expected, params
        # Keyset pages.
        first = (await planning.get("/projects", params={"limit": 2}, headers=admin)).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        rest = await planning.get(
            "/projects", params={"limit": 2, "cursor": first["next_cursor"]}, headers=admin
        )
        assert [p["id"] for p in first["items"] + rest.json()["items"]] == [
            p["id"] for p in every.json()["items"]
        ]
        assert rest.json()["next_cursor"] is None


class TestListOverdueMilestones:
    URL = "/projects/overdue-milestones"

    async def test_anonymous(self, planning: httpx.AsyncClient) -> None:
        assert_problem(await planning.get(self.URL), 401)

    async def test_other_region(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        other_township: Headers,
        sibling_clerk: Headers,
    ) -> None:
        await started(planning, clerk, township, admin)
        for headers in (other_township, sibling_clerk):
            response = await planning.get(self.URL, headers=headers)
            assert response.status_code == 200 and response.json()["items"] == []

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers, cadre: Headers
    ) -> None:
        """Every role reads; a cadre only of the projects benefiting their paired households (none here)."""
        await started(planning, clerk, township, admin)
        response = await planning.get(self.URL, headers=cadre)
        assert response.status_code == 200 and response.json()["items"] == []

    async def test_invalid(self, planning: httpx.AsyncClient, admin: Headers) -> None:
        for params in ({"on": "2016-13-01"}, {"region": "x"}, {"limit": "501"}):
            assert_problem(await planning.get(self.URL, params=params, headers=admin), 422)

    async def test_valid(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
    ) -> None:
        project_id, milestone_id, _ = await started(planning, clerk, township, admin)
        done = await planning.post(
            f"/projects/{project_id}/milestones",
            json={"name": "排水沟", "due_on": "2016-06-30", "percent": 100, "done_on": "2016-06-28"},
            headers=clerk,
        )
        assert done.status_code == 201, done.text
        response = await planning.get(
            self.URL, params={"on": "2016-08-01", "region": TOWNSHIP}, headers=township
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "items": [
                {
                    "project_id": project_id,
                    "project_name": ROAD["name"],
                    "village_code": VILLAGE,
                    "milestone_id": milestone_id,
                    "name": "路基",
                    "due_on": "2016-07-31",
                    "percent": 50,
                    "days_overdue": 1,
                }
            ],
            "next_cursor": None,
        }
        not_yet = await planning.get(self.URL, params={"on": "2016-07-31"}, headers=admin)
        assert not_yet.json()["items"] == []  # due that day: not overdue yet
        today = await planning.get(self.URL, headers=admin)  # default: today in China, years later
        assert [m["milestone_id"] for m in today.json()["items"]] == [milestone_id]


class TestGetProject:
    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        assert_problem(await planning.get(f"/projects/{project['id']}"), 401)

    async def test_other_region(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        sibling_clerk: Headers,
        other_township: Headers,
        other_admin: Headers,
    ) -> None:
        project = await create(planning, clerk)
        for headers in (sibling_clerk, other_township, other_admin):
            seen = assert_problem(await planning.get(f"/projects/{project['id']}", headers=headers), 404)
            missing = assert_problem(await planning.get(f"/projects/{uuid.uuid4()}", headers=headers), 404)
            assert seen["title"] == missing["title"] and seen["type"] == missing["type"]

    async def test_wrong_role(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        admin: Headers,
        cadre: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        """A cadre reads the projects benefiting a household paired with them today, and no other."""
        project = await create(planning, clerk)
        assert_problem(await planning.get(f"/projects/{project['id']}", headers=cadre), 404)
        household = await registered_household(registry, clerk, db_urls)
        _, (wang,) = await unit_and_cadres(registry, admin, "staff", subs=("cadre-wang",))
        await pair(registry, admin, household, wang, "2015-03-01")
        response = await planning.put(
            f"/projects/{project['id']}/beneficiaries",
            json={"household_ids": [household]},
            headers=if_match(clerk, project["version"]),
        )
        assert response.status_code == 200, response.text
        assert (await detail(planning, cadre, project["id"]))["beneficiaries_count"] == 1
        listed = await planning.get("/projects", headers=cadre)
        assert [p["id"] for p in listed.json()["items"]] == [project["id"]]
        stranger = headers_for(signing_key, "cadre", COUNTY, "cadre-li")
        assert_problem(await planning.get(f"/projects/{project['id']}", headers=stranger), 404)

    async def test_invalid(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        assert_problem(await planning.get("/projects/not-a-uuid", headers=clerk), 422)

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        province: Headers,
    ) -> None:
        project = await create(planning, clerk)
        version = await steps(planning, project["id"], 1, (clerk, VILLAGE_RECORD[0]))
        response = await planning.get(f"/projects/{project['id']}", headers=township)
        assert response.status_code == 200, response.text
        body = response.json()
        assert response.headers["etag"].startswith(f'"{version}-')
        assert body["status"] == "village_deciding" and body["next_steps"] == ["committees_discussion"]
        assert body["funding"]["budget_yuan"] == "1750000.00"
        assert (
            body["funding"]["funding_gap_yuan"] == "1750000.00" and "funding_gap" in body["funding"]["flags"]
        )
        assert (body["beneficiaries_count"], body["poor_beneficiaries_count"]) == (0, 0)
        [event] = body["events"]
        assert event["step"] == "party_branch_proposal" and event["on"] == "2016-03-01"
        assert event["minutes_ref"] == "支部会议记录 3 号" and event["actor"] == "clerk-jiuzhou"
        assert body["milestones"] == [] and body["attachments"] == [] and body["assets"] == []
        assert body["acceptance"] is None
        assert (await planning.get(f"/projects/{project['id']}", headers=province)).status_code == 200


class TestUpdateProject:
    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        assert_problem(await planning.patch(f"/projects/{project['id']}", json={"name": "x"}), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, clerk: Headers, sibling_clerk: Headers
    ) -> None:
        project = await create(planning, clerk)
        response = await planning.patch(
            f"/projects/{project['id']}", json={"name": "x"}, headers=if_match(sibling_clerk, 1)
        )
        assert_problem(response, 404)

    async def test_wrong_role(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        cadre: Headers,
        province: Headers,
    ) -> None:
        project = await create(planning, clerk)
        for headers in (township, cadre, province):
            response = await planning.patch(
                f"/projects/{project['id']}", json={"name": "x"}, headers=if_match(headers, 1)
            )
            assert_problem(response, 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        project = await create(planning, clerk)
        url = f"/projects/{project['id']}"
        for change in (
            {"budget_yuan": "-100.00"},
            {"budget_yuan": "0.001"},
            {"name": None},
            {"category": None},
            {"finishes_on": "2016-01-01"},  # before the start
            {"village_code": SIBLING_VILLAGE},
        ):
            assert_problem(await planning.patch(url, json=change, headers=if_match(clerk, 1)), 422)
        assert_problem(await planning.patch(url, json={"name": "x"}, headers=clerk), 428)
        stale = assert_problem(await planning.patch(url, json={"name": "x"}, headers=if_match(clerk, 9)), 412)
        assert stale["current_version"] == 1
        stored = await planning_sql(db_urls, "SELECT name, budget_fen, version FROM planning_project")
        assert [tuple(r) for r in stored] == [(ROAD["name"], 175_000_000, 1)]

    async def test_not_editable_once_the_village_decides(
        self, planning: httpx.AsyncClient, clerk: Headers
    ) -> None:
        project = await create(planning, clerk)
        version = await steps(planning, project["id"], 1, (clerk, VILLAGE_RECORD[0]))
        response = await planning.patch(
            f"/projects/{project['id']}", json={"budget_yuan": "1.00"}, headers=if_match(clerk, version)
        )
        assert assert_problem(response, 409)["code"] == "project_not_editable"

    async def test_valid(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        response = await planning.patch(
            f"/projects/{project['id']}",
            json={"budget_yuan": "1800000.50", "natural_village": None, "quantity": "3.60"},
            headers=if_match(clerk, 1),
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert response.headers["etag"] == '"2"' and body["version"] == 2
        assert (body["budget_yuan"], body["natural_village"], body["quantity"]) == (
            "1800000.50",
            None,
            "3.60",
        )
        assert body["name"] == ROAD["name"]


# == beneficiaries ====================================================================================================
class TestReplaceProjectBeneficiaries:
    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        response = await planning.put(f"/projects/{project['id']}/beneficiaries", json={"household_ids": []})
        assert_problem(response, 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, clerk: Headers, sibling_clerk: Headers
    ) -> None:
        project = await create(planning, clerk)
        response = await planning.put(
            f"/projects/{project['id']}/beneficiaries",
            json={"household_ids": []},
            headers=if_match(sibling_clerk, 1),
        )
        assert_problem(response, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, clerk: Headers, admin: Headers, cadre: Headers
    ) -> None:
        project = await create(planning, clerk)
        for headers in (admin, cadre):
            response = await planning.put(
                f"/projects/{project['id']}/beneficiaries",
                json={"household_ids": []},
                headers=if_match(headers, 1),
            )
            assert_problem(response, 403)

    async def test_invalid(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project = await create(planning, clerk)
        url = f"/projects/{project['id']}/beneficiaries"
        bad: list[Json] = [
            {"household_ids": ["x"]},
            {"household_ids": [str(uuid.uuid4()) for _ in range(501)]},
            {"households": []},
        ]
        for payload in bad:
            assert_problem(await planning.put(url, json=payload, headers=if_match(clerk, 1)), 422)
        unknown = str(uuid.uuid4())
        body = assert_problem(
            await planning.put(url, json={"household_ids": [unknown]}, headers=if_match(clerk, 1)), 422
        )
        assert (body["code"], body["household_id"], body["field"]) == (
            "household_unknown",
            unknown,
            "/household_ids/0",
        )
        before = await snapshot(db_urls)
        response = await planning.put(url, json={"household_ids": [unknown]}, headers=if_match(clerk, 1))
        assert_problem(response, 422)
        assert await snapshot(db_urls) == before

    async def test_a_household_of_another_village(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        sibling_clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project = await create(planning, clerk)
        mine = await registered_household(registry, clerk, db_urls)
        theirs = await create_household(registry, sibling_clerk, SIBLING_VILLAGE)
        before = await snapshot(db_urls)
        response = await planning.put(
            f"/projects/{project['id']}/beneficiaries",
            json={"household_ids": [mine, theirs]},
            headers=if_match(clerk, 1),
        )
        body = assert_problem(response, 422)
        # The sibling village's household is outside the clerk's region: it answers exactly like an unknown one
        # (its village is not told; tests/planning/test_access_matrix.py compares the two answers).
        assert (body["code"], body["field"]) == ("household_unknown", "/household_ids/1")
        assert body["household_id"] == theirs
        assert "household_village" not in body and SIBLING_VILLAGE not in response.text
        assert await snapshot(db_urls) == before  # nothing changed, not even the one of the village

    async def test_not_editable_once_the_village_decides(
        self, planning: httpx.AsyncClient, clerk: Headers
    ) -> None:
        project = await create(planning, clerk)
        version = await steps(planning, project["id"], 1, (clerk, VILLAGE_RECORD[0]))
        response = await planning.put(
            f"/projects/{project['id']}/beneficiaries",
            json={"household_ids": []},
            headers=if_match(clerk, version),
        )
        assert assert_problem(response, 409)["code"] == "project_not_editable"

    async def test_registry_down(
        self, planning_registry_down: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        project_id = await insert_project(db_urls)
        before = await snapshot(db_urls)
        response = await planning_registry_down.put(
            f"/projects/{project_id}/beneficiaries",
            json={"household_ids": [str(uuid.uuid4())]},
            headers=if_match(clerk, 1),
        )
        body = assert_problem(response, 503)
        assert body["code"] == "registry_unavailable" and response.headers["retry-after"]
        assert await snapshot(db_urls) == before

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project = await create(planning, clerk)
        poor = await registered_household(registry, clerk, db_urls)
        leaving = await registered_household(registry, clerk, db_urls)
        await planning_registry_status(db_urls, leaving, "exit_first_notice")
        candidate = await create_household(registry, clerk, VILLAGE)
        url = f"/projects/{project['id']}/beneficiaries"
        response = await planning.put(
            url, json={"household_ids": [poor, leaving, candidate, poor]}, headers=if_match(clerk, 1)
        )
        assert response.status_code == 200, response.text
        assert response.json() == {
            "id": project["id"],
            "version": 2,
            "beneficiaries_count": 3,
            "poor_beneficiaries_count": 2,  # registered, or in the exit chain; never typed
        }
        assert response.headers["etag"] == '"2"'
        again = await planning.put(url, json={"household_ids": [candidate]}, headers=if_match(clerk, 2))
        assert (again.json()["beneficiaries_count"], again.json()["poor_beneficiaries_count"]) == (1, 0)
        cleared = await planning.put(url, json={"household_ids": []}, headers=if_match(clerk, 3))
        assert cleared.json()["beneficiaries_count"] == 0

    async def test_valid_township_wide(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        sibling_clerk: Headers,
        signing_key: SigningKey,
        db_urls: dict[str, str],
    ) -> None:
        """整乡推进: the households of the whole township benefit; another township's do not."""
        project = await create(planning, clerk, category="whole_township", name="新靖镇整乡推进")
        sibling = await registered_household(registry, sibling_clerk, db_urls, village=SIBLING_VILLAGE)
        far_clerk = headers_for(signing_key, "village_officer", OTHER_VILLAGE)
        far = await create_household(registry, far_clerk, OTHER_VILLAGE)
        url = f"/projects/{project['id']}/beneficiaries"
        response = await planning.put(url, json={"household_ids": [sibling]}, headers=if_match(clerk, 1))
        assert response.status_code == 200, response.text
        assert response.json()["poor_beneficiaries_count"] == 1
        refused = await planning.put(url, json={"household_ids": [far]}, headers=if_match(clerk, 2))
        # Outside the township and the clerk's region: like an unknown household.
        assert assert_problem(refused, 422)["code"] == "household_unknown"


async def planning_registry_status(db_urls: dict[str, str], household_id: str, status: str) -> None:
    """Put a registry household at a status (the registry's workflow has its own tests)."""
    conn = await asyncpg.connect(db_urls["registry"])
    try:
        await conn.execute(
            "UPDATE registry_household SET status = $2 WHERE id = $1", uuid.UUID(household_id), status
        )
    finally:
        await conn.close()


class TestAddProjectBeneficiaries:
    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        response = await planning.post(f"/projects/{project['id']}/beneficiaries", json={"household_ids": []})
        assert_problem(response, 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, clerk: Headers, sibling_clerk: Headers
    ) -> None:
        project = await create(planning, clerk)
        response = await planning.post(
            f"/projects/{project['id']}/beneficiaries",
            json={"household_ids": []},
            headers=if_match(sibling_clerk, 1),
        )
        assert_problem(response, 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, clerk: Headers, province: Headers) -> None:
        project = await create(planning, clerk)
        response = await planning.post(
            f"/projects/{project['id']}/beneficiaries",
            json={"household_ids": []},
            headers=if_match(province, 1),
        )
        assert_problem(response, 403)

    async def test_invalid(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        signing_key: SigningKey,
    ) -> None:
        project = await create(planning, clerk)
        far = await create_household(
            registry, headers_for(signing_key, "village_officer", OTHER_VILLAGE), OTHER_VILLAGE
        )
        response = await planning.post(
            f"/projects/{project['id']}/beneficiaries",
            json={"household_ids": [far]},
            headers=if_match(clerk, 1),
        )
        assert assert_problem(response, 422)["household_id"] == far

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project = await create(planning, clerk)
        first = await registered_household(registry, clerk, db_urls)
        second = await create_household(registry, clerk, VILLAGE)
        url = f"/projects/{project['id']}/beneficiaries"
        one = await planning.post(url, json={"household_ids": [first]}, headers=if_match(clerk, 1))
        assert one.status_code == 200, one.text
        two = await planning.post(url, json={"household_ids": [second, first]}, headers=if_match(clerk, 2))
        assert (two.json()["beneficiaries_count"], two.json()["poor_beneficiaries_count"]) == (2, 1)


class TestListProjectBeneficiaries:
    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        assert_problem(await planning.get(f"/projects/{project['id']}/beneficiaries"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, clerk: Headers, other_township: Headers
    ) -> None:
        project = await create(planning, clerk)
        assert_problem(
            await planning.get(f"/projects/{project['id']}/beneficiaries", headers=other_township), 404
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, clerk: Headers, cadre: Headers) -> None:
        """A cadre without a paired beneficiary does not see the project at all."""
        project = await create(planning, clerk)
        assert_problem(await planning.get(f"/projects/{project['id']}/beneficiaries", headers=cadre), 404)

    async def test_invalid(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        url = f"/projects/{project['id']}/beneficiaries"
        assert_problem(await planning.get(url, params={"limit": "0"}, headers=clerk), 422)
        assert_problem(await planning.get(url, params={"cursor": "x"}, headers=clerk), 400)

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project = await create(planning, clerk)
        ids = [await registered_household(registry, clerk, db_urls) for _ in range(3)]
        response = await planning.put(
            f"/projects/{project['id']}/beneficiaries",
            json={"household_ids": ids},
            headers=if_match(clerk, 1),
        )
        assert response.status_code == 200, response.text
        url = f"/projects/{project['id']}/beneficiaries"
        first = (await planning.get(url, params={"limit": 2}, headers=clerk)).json()
        rest = (await planning.get(url, params={"cursor": first["next_cursor"]}, headers=clerk)).json()
        listed = first["items"] + rest["items"]
        assert [b["household_id"] for b in listed] == sorted(ids)
        assert all(b["poor"] and b["status_when_added"] == "registered" for b in listed)
        assert listed[0]["village_code"] == VILLAGE and listed[0]["added_by"] == "clerk-jiuzhou"


# == the approval chain ===============================================================================================
class TestRecordProjectStep:
    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        assert_problem(await planning.post(f"/projects/{project['id']}/steps", json=VILLAGE_RECORD[0]), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, clerk: Headers, sibling_clerk: Headers, other_township: Headers
    ) -> None:
        project = await create(planning, clerk)
        assert_problem(await step(planning, sibling_clerk, project["id"], 1, VILLAGE_RECORD[0]), 404)
        version = await steps(planning, project["id"], 1, *[(clerk, s) for s in VILLAGE_RECORD])
        assert_problem(await step(planning, other_township, project["id"], version, APPROVE_TOWNSHIP), 404)

    async def test_wrong_role(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        cadre: Headers,
        db_urls: dict[str, str],
    ) -> None:
        """Only the right level acts: the village records 四议两公开, the township reviews, the county approves."""
        project = await create(planning, clerk)
        for headers in (township, admin, cadre):
            body = assert_problem(await step(planning, headers, project["id"], 1, VILLAGE_RECORD[0]), 403)
            assert body["code"] in {"wrong_level"}
        version = await steps(planning, project["id"], 1, *[(clerk, s) for s in VILLAGE_RECORD])
        for headers in (clerk, admin):
            body = assert_problem(
                await step(planning, headers, project["id"], version, APPROVE_TOWNSHIP), 403
            )
            assert body["code"] == "wrong_level" and body["allowed"] == ["township_officer"]
        assert await rows(db_urls, "planning_project_event") == 5

    async def test_invalid(
        self, planning: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        project = await create(planning, clerk)
        for body in (
            {"step": "party_branch_proposal"},  # no date
            {"step": "party_branch_proposal", "held_on": "2016-02-30"},
            {"step": "approve_everything", "held_on": "2016-03-01"},
            {
                "step": "villagers_resolution",
                "held_on": "2016-03-15",
                "attendees": 0,
                "votes_for": 0,
                "votes_against": 0,
            },
            {"step": "party_branch_proposal", "held_on": "2099-03-01"},  # in the future
        ):
            assert_problem(await step(planning, clerk, project["id"], 1, body), 422)
        assert_problem(
            await planning.post(f"/projects/{project['id']}/steps", json=VILLAGE_RECORD[0], headers=clerk),
            428,
        )
        assert await rows(db_urls, "planning_project_event") == 0

    async def test_an_approval_out_of_turn(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project = await create(planning, clerk)
        skipped = await step(
            planning, clerk, project["id"], 1, VILLAGE_RECORD[1]
        )  # the committees before the branch
        body = assert_problem(skipped, 409)
        assert (body["code"], body["expected"]) == ("wrong_state", ["party_branch_proposal"])
        version = await steps(planning, project["id"], 1, *[(clerk, s) for s in VILLAGE_RECORD[:4]])
        early = assert_problem(await step(planning, township, project["id"], version, APPROVE_TOWNSHIP), 409)
        assert early["expected"] == ["resolution_disclosure"]  # the resolution is not public yet
        version = await steps(planning, project["id"], version, (clerk, VILLAGE_RECORD[4]))
        county_first = await step(planning, admin, project["id"], version, APPROVE_COUNTY)
        assert assert_problem(county_first, 409)["code"] == "wrong_state"
        state = await planning_sql(db_urls, "SELECT status, version FROM planning_project")
        assert tuple(state[0]) == ("village_decided", version)

    async def test_a_date_out_of_order(
        self, planning: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        project = await create(planning, clerk)
        version = await steps(planning, project["id"], 1, *[(clerk, s) for s in VILLAGE_RECORD[:2]])
        before = await snapshot(db_urls)
        body = {"step": "party_members_review", "held_on": "2016-03-04"}  # before the committees (5 March)
        refused = assert_problem(await step(planning, clerk, project["id"], version, body), 409)
        assert (refused["code"], refused["previous"]) == ("date_out_of_order", "2016-03-05")
        assert await snapshot(db_urls) == before

    async def test_a_resolution_without_a_majority(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        version = await steps(planning, project["id"], 1, *[(clerk, s) for s in VILLAGE_RECORD[:3]])
        tie = {
            "step": "villagers_resolution",
            "held_on": "2016-03-15",
            "attendees": 40,
            "votes_for": 20,
            "votes_against": 20,
        }
        assert (
            assert_problem(await step(planning, clerk, project["id"], version, tie), 409)["code"]
            == "resolution_not_passed"
        )
        over = {**tie, "votes_for": 30, "votes_against": 11}
        assert (
            assert_problem(await step(planning, clerk, project["id"], version, over), 422)["code"]
            == "votes_exceed_attendance"
        )

    async def test_a_return_with_its_reason(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers
    ) -> None:
        project = await create(planning, clerk)
        version = await steps(planning, project["id"], 1, *[(clerk, s) for s in VILLAGE_RECORD])
        bare = await step(
            planning, township, project["id"], version, {"step": "township_review", "approve": False}
        )
        assert assert_problem(bare, 422)["code"] == "reason_required"
        back = await step(
            planning,
            township,
            project["id"],
            version,
            {"step": "township_review", "approve": False, "reason": "预算偏高"},
        )
        assert back.status_code == 201, back.text
        assert back.json()["status"] == "returned"
        version = back.json()["version"]
        # Returned: editable again, and the village decides the amended project anew.
        edited = await planning.patch(
            f"/projects/{project['id']}", json={"budget_yuan": "1500000.00"}, headers=if_match(clerk, version)
        )
        assert edited.status_code == 200, edited.text
        body = await detail(planning, clerk, project["id"])
        assert body["next_steps"] == ["party_branch_proposal"]
        assert body["events"][-1]["reason"] == "预算偏高" and body["events"][-1]["approve"] is False
        old_date = await step(planning, clerk, project["id"], body["version"], VILLAGE_RECORD[0])
        assert assert_problem(old_date, 409)["code"] == "date_out_of_order"  # before the return

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project = await create(planning, clerk)
        version = 1
        statuses = []
        for headers, body in [
            *[(clerk, s) for s in VILLAGE_RECORD],
            (township, APPROVE_TOWNSHIP),
            (admin, APPROVE_COUNTY),
        ]:
            response = await step(planning, headers, project["id"], version, body)
            assert response.status_code == 201, response.text
            assert response.headers["location"] == f"/projects/{project['id']}"
            assert response.headers["etag"] == f'"{version + 1}"'
            result = response.json()
            assert (result["step"], result["version"]) == (body["step"], version + 1)
            statuses.append(result["status"])
            version = result["version"]
        assert statuses == [
            "village_deciding",
            "village_deciding",
            "village_deciding",
            "village_deciding",
            "village_decided",
            "township_reviewed",
            "approved",
        ]
        events = await planning_sql(
            db_urls, "SELECT seq, step, role FROM planning_project_event ORDER BY seq"
        )
        assert [e["role"] for e in events][-2:] == ["township_officer", "county_admin"]
        actions = await planning_sql(db_urls, "SELECT action FROM planning_audit_event ORDER BY id")
        assert [a["action"] for a in actions][-1] == "project.county_approval"


# == implementation ===================================================================================================
class TestCreateProjectMilestone:
    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        response = await planning.post(
            f"/projects/{project['id']}/milestones", json={"name": "路基", "due_on": "2016-07-31"}
        )
        assert_problem(response, 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, clerk: Headers, other_township: Headers
    ) -> None:
        project = await create(planning, clerk)
        response = await planning.post(
            f"/projects/{project['id']}/milestones",
            json={"name": "路基", "due_on": "2016-07-31"},
            headers=other_township,
        )
        assert_problem(response, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, clerk: Headers, cadre: Headers, province: Headers
    ) -> None:
        project = await create(planning, clerk)
        for headers in (cadre, province):
            response = await planning.post(
                f"/projects/{project['id']}/milestones",
                json={"name": "路基", "due_on": "2016-07-31"},
                headers=headers,
            )
            assert_problem(response, 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        project = await create(planning, clerk)
        url = f"/projects/{project['id']}/milestones"
        for body, code in (
            ({"name": "路基", "due_on": "2016-04-30"}, "due_outside_schedule"),
            ({"name": "路基", "due_on": "2016-07-31", "percent": 101}, None),
            ({"name": "路基", "due_on": "2016-07-31", "percent": -1}, None),
            ({"name": "路基", "due_on": "2016-07-31", "percent": 100}, "done_on_required"),
            (
                {"name": "路基", "due_on": "2016-07-31", "percent": 100, "done_on": "2016-04-01"},
                "done_before_start",
            ),
            ({"name": "", "due_on": "2016-07-31"}, None),
        ):
            body_ = assert_problem(await planning.post(url, json=body, headers=clerk), 422)
            if code is not None:
                assert body_["code"] == code
        # Progress only once approved.
        early = await planning.post(
            url, json={"name": "路基", "due_on": "2016-07-31", "percent": 10}, headers=clerk
        )
        assert assert_problem(early, 409)["code"] == "not_approved"
        assert await rows(db_urls, "planning_milestone") == 0

    async def test_valid(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
    ) -> None:
        project = await create(planning, clerk)
        planned = await planning.post(
            f"/projects/{project['id']}/milestones",
            json={"name": "路基", "due_on": "2016-07-31"},
            headers=clerk,
        )
        assert planned.status_code == 201, planned.text
        assert planned.headers["location"] == f"/projects/{project['id']}/milestones/{planned.json()['id']}"
        assert planned.json()["percent"] == 0
        project_id, _ = await approved(planning, clerk, township, admin)
        assert (await detail(planning, clerk, project_id))["status"] == "approved"
        first = await planning.post(
            f"/projects/{project_id}/milestones",
            json={"name": "路面", "due_on": "2016-09-30", "percent": 20},
            headers=township,
        )
        assert first.status_code == 201, first.text
        body = await detail(planning, clerk, project_id)
        assert body["status"] == "in_progress" and body["events"][-1]["step"] == "start"


class TestUpdateProjectMilestone:
    async def test_anonymous(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
    ) -> None:
        project_id, milestone_id, _ = await started(planning, clerk, township, admin)
        assert_problem(
            await planning.patch(f"/projects/{project_id}/milestones/{milestone_id}", json={"percent": 60}),
            401,
        )

    async def test_other_region(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        sibling_clerk: Headers,
    ) -> None:
        project_id, milestone_id, _ = await started(planning, clerk, township, admin)
        url = f"/projects/{project_id}/milestones/{milestone_id}"
        assert_problem(await planning.patch(url, json={"percent": 60}, headers=sibling_clerk), 404)
        other = f"/projects/{project_id}/milestones/{uuid.uuid4()}"
        assert_problem(await planning.patch(other, json={"percent": 60}, headers=clerk), 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers, cadre: Headers
    ) -> None:
        project_id, milestone_id, _ = await started(planning, clerk, township, admin)
        url = f"/projects/{project_id}/milestones/{milestone_id}"
        assert_problem(await planning.patch(url, json={"percent": 60}, headers=cadre), 403)

    async def test_invalid(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project_id, milestone_id, _ = await started(planning, clerk, township, admin)
        url = f"/projects/{project_id}/milestones/{milestone_id}"
        for change in (
            {"percent": 100},  # done needs its day
            {"done_on": "2016-04-01", "percent": 100},  # before the start
            {"done_on": "2099-01-01", "percent": 100},  # in the future
            {"percent": None},
            {"due_on": "2017-01-01"},  # outside the schedule
        ):
            assert_problem(await planning.patch(url, json=change, headers=clerk), 422)
        stored = await planning_sql(db_urls, "SELECT percent, done_on FROM planning_milestone")
        assert tuple(stored[0]) == (50, None)

    async def test_valid(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
    ) -> None:
        project_id, milestone_id, _ = await started(planning, clerk, township, admin)
        url = f"/projects/{project_id}/milestones/{milestone_id}"
        response = await planning.patch(
            url, json={"percent": 100, "done_on": "2016-07-30", "note": "已完工"}, headers=township
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["percent"], body["done_on"], body["note"], body["updated_by"]) == (
            100,
            "2016-07-30",
            "已完工",
            "officer-xinjing",
        )
        project = await detail(planning, clerk, project_id)
        assert project["milestones"][0]["done_on"] == "2016-07-30"
        assert [e["step"] for e in project["events"]].count("start") == 1


class TestAddProjectAttachment:
    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        response = await planning.post(
            f"/projects/{project['id']}/attachments", content=PNG, headers={"Content-Type": "image/png"}
        )
        assert_problem(response, 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, clerk: Headers, sibling_clerk: Headers
    ) -> None:
        project = await create(planning, clerk)
        response = await planning.post(
            f"/projects/{project['id']}/attachments",
            content=PNG,
            headers={**sibling_clerk, "Content-Type": "image/png"},
        )
        assert_problem(response, 404)

    async def test_wrong_role(self, planning: httpx.AsyncClient, clerk: Headers, cadre: Headers) -> None:
        project = await create(planning, clerk)
        response = await planning.post(
            f"/projects/{project['id']}/attachments",
            content=PNG,
            headers={**cadre, "Content-Type": "image/png"},
        )
        assert_problem(response, 403)

    async def test_invalid(
        self, planning: httpx.AsyncClient, clerk: Headers, db_urls: dict[str, str]
    ) -> None:
        project = await create(planning, clerk)
        url = f"/projects/{project['id']}/attachments"
        assert_problem(
            await planning.post(url, content=PNG, headers={**clerk, "Content-Type": "application/pdf"}), 415
        )
        assert_problem(
            await planning.post(url, content=b"hello", headers={**clerk, "Content-Type": "text/plain"}), 415
        )
        assert_problem(
            await planning.post(url, content=b"", headers={**clerk, "Content-Type": "image/png"}), 422
        )
        big = PDF + b"0" * (10 * 1024 * 1024)
        assert_problem(
            await planning.post(url, content=big, headers={**clerk, "Content-Type": "application/pdf"}), 413
        )
        stray = await planning.post(
            url,
            content=PNG,
            params={"milestone_id": str(uuid.uuid4())},
            headers={**clerk, "Content-Type": "image/png"},
        )
        assert assert_problem(stray, 422)["code"] == "milestone_missing"
        assert await rows(db_urls, "planning_project_attachment") == 0

    async def test_valid(self, planning: httpx.AsyncClient, clerk: Headers, township: Headers) -> None:
        project = await create(planning, clerk)
        url = f"/projects/{project['id']}/attachments"
        response = await planning.post(url, content=PDF, headers={**clerk, "Content-Type": "application/pdf"})
        assert response.status_code == 201, response.text
        meta = response.json()
        assert response.headers["location"] == f"{url}/{meta['id']}"
        assert (meta["content_type"], meta["size"], len(meta["sha256"])) == ("application/pdf", len(PDF), 64)
        again = await planning.post(url, content=PDF, headers={**township, "Content-Type": "application/pdf"})
        assert again.status_code == 200 and again.json()["id"] == meta["id"]  # the same bytes: the stored one
        assert [a["id"] for a in (await detail(planning, clerk, project["id"]))["attachments"]] == [
            meta["id"]
        ]


class TestGetProjectAttachment:
    async def _attached(self, planning: httpx.AsyncClient, clerk: Headers) -> tuple[str, str]:
        project = await create(planning, clerk)
        response = await planning.post(
            f"/projects/{project['id']}/attachments",
            content=PNG,
            headers={**clerk, "Content-Type": "image/png"},
        )
        assert response.status_code == 201, response.text
        return project["id"], response.json()["id"]

    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project_id, attachment_id = await self._attached(planning, clerk)
        assert_problem(await planning.get(f"/projects/{project_id}/attachments/{attachment_id}"), 401)

    async def test_other_region(
        self, planning: httpx.AsyncClient, clerk: Headers, other_admin: Headers
    ) -> None:
        project_id, attachment_id = await self._attached(planning, clerk)
        url = f"/projects/{project_id}/attachments/{attachment_id}"
        assert_problem(await planning.get(url, headers=other_admin), 404)
        assert_problem(
            await planning.get(f"/projects/{project_id}/attachments/{uuid.uuid4()}", headers=clerk), 404
        )

    async def test_wrong_role(self, planning: httpx.AsyncClient, clerk: Headers, cadre: Headers) -> None:
        project_id, attachment_id = await self._attached(planning, clerk)
        assert_problem(
            await planning.get(f"/projects/{project_id}/attachments/{attachment_id}", headers=cadre), 404
        )

    async def test_invalid(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project_id, _ = await self._attached(planning, clerk)
        assert_problem(await planning.get(f"/projects/{project_id}/attachments/x", headers=clerk), 422)

    async def test_valid(self, planning: httpx.AsyncClient, clerk: Headers, admin: Headers) -> None:
        project_id, attachment_id = await self._attached(planning, clerk)
        url = f"/projects/{project_id}/attachments/{attachment_id}"
        response = await planning.get(url, headers=admin)
        assert response.status_code == 200 and response.content == PNG
        assert response.headers["content-type"] == "image/png"
        cached = await planning.get(url, headers={**admin, "If-None-Match": response.headers["etag"]})
        assert cached.status_code == 304


# == acceptance and assets ============================================================================================
ACCEPTANCE: Json = {
    "accepted_on": "2016-10-30",
    "passed": True,
    "findings": "路面宽4.5米, 厚18厘米, 符合设计要求",
    "accepted_by": "县扶贫办、县交通局联合验收组",
}


class TestRecordProjectAcceptance:
    async def test_anonymous(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
    ) -> None:
        project_id, _, _ = await started(planning, clerk, township, admin)
        assert_problem(await planning.post(f"/projects/{project_id}/acceptance", json=ACCEPTANCE), 401)

    async def test_other_region(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        other_admin: Headers,
    ) -> None:
        project_id, _, version = await started(planning, clerk, township, admin)
        response = await planning.post(
            f"/projects/{project_id}/acceptance", json=ACCEPTANCE, headers=if_match(other_admin, version)
        )
        assert_problem(response, 404)

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
    ) -> None:
        project_id, _, version = await started(planning, clerk, township, admin)
        for headers in (clerk, township):
            response = await planning.post(
                f"/projects/{project_id}/acceptance", json=ACCEPTANCE, headers=if_match(headers, version)
            )
            assert assert_problem(response, 403)["code"] == "wrong_level"

    async def test_invalid(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project_id, _, version = await started(planning, clerk, township, admin)
        url = f"/projects/{project_id}/acceptance"
        for change in (
            {"findings": ""},
            {"passed": None},
            {"accepted_on": "2099-01-01"},
            {"accepted_by": ""},
        ):
            assert_problem(
                await planning.post(url, json={**ACCEPTANCE, **change}, headers=if_match(admin, version)), 422
            )
        early = await planning.post(
            url, json={**ACCEPTANCE, "accepted_on": "2016-04-30"}, headers=if_match(admin, version)
        )
        assert assert_problem(early, 409)["code"] == "date_out_of_order"
        open_ = await planning.post(url, json=ACCEPTANCE, headers=if_match(admin, version))  # 路基 at 50 %
        body = assert_problem(open_, 409)
        assert (body["code"], body["milestones"]) == ("milestones_open", ["路基"])
        assert await rows(db_urls, "planning_acceptance") == 0

    async def test_only_a_project_being_implemented(
        self, planning: httpx.AsyncClient, clerk: Headers, admin: Headers
    ) -> None:
        project = await create(planning, clerk)
        response = await planning.post(
            f"/projects/{project['id']}/acceptance",
            json=ACCEPTANCE,
            headers=if_match(admin, project["version"]),
        )
        assert assert_problem(response, 409)["code"] == "wrong_state"

    async def test_valid(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
    ) -> None:
        project_id = await accepted(planning, clerk, township, admin)
        body = await detail(planning, clerk, project_id)
        assert body["status"] == "accepted"
        acceptance = body["acceptance"]
        assert (acceptance["passed"], acceptance["accepted_by"], acceptance["recorded_by"]) == (
            True,
            "县验收组",
            "admin-jingxi",
        )
        assert body["next_steps"] == ["results_disclosure"]
        results = {"step": "results_disclosure", "posted_on": "2016-11-02", "place": "村务公开栏"}
        disclosed = await step(planning, clerk, project_id, body["version"], results)
        assert disclosed.status_code == 201, disclosed.text
        assert disclosed.json()["status"] == "accepted"

    async def test_valid_rejected_with_findings(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
    ) -> None:
        project_id, _, version = await started(planning, clerk, township, admin)
        response = await planning.post(
            f"/projects/{project_id}/acceptance",
            json={**ACCEPTANCE, "passed": False, "findings": "路面开裂, 需整改"},
            headers=if_match(admin, version),
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["status"], body["passed"], body["version"]) == ("rejected", False, version + 1)
        assert response.headers["location"] == f"/projects/{project_id}"


ASSET: Json = {
    "asset_type": "road",
    "description": "通村水泥路 3.5 公里",
    "value_yuan": "1750000.00",
    "owner_kind": "village_collective",
    "owner_name": "旧州村村民委员会",
}


class TestCreateProjectAsset:
    async def test_anonymous(self, planning: httpx.AsyncClient, clerk: Headers) -> None:
        project = await create(planning, clerk)
        assert_problem(await planning.post(f"/projects/{project['id']}/assets", json=ASSET), 401)

    async def test_other_region(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        other_township: Headers,
    ) -> None:
        project_id = await accepted(planning, clerk, township, admin)
        assert_problem(
            await planning.post(f"/projects/{project_id}/assets", json=ASSET, headers=other_township), 404
        )

    async def test_wrong_role(
        self, planning: httpx.AsyncClient, clerk: Headers, township: Headers, admin: Headers
    ) -> None:
        project_id = await accepted(planning, clerk, township, admin)
        assert_problem(await planning.post(f"/projects/{project_id}/assets", json=ASSET, headers=clerk), 403)

    async def test_invalid(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        sibling_clerk: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project_id = await accepted(planning, clerk, township, admin)
        url = f"/projects/{project_id}/assets"
        theirs = await create_household(registry, sibling_clerk, SIBLING_VILLAGE)
        for change in (
            {"value_yuan": "-1.00"},
            {"value_yuan": "0.005"},
            {"asset_type": "castle"},
            {"owner_kind": "state"},
            {"owner_kind": "household"},  # names no household
            {"beneficiary_household_ids": [theirs]},  # of another village
        ):
            assert_problem(await planning.post(url, json={**ASSET, **change}, headers=admin), 422)
        assert await rows(db_urls, "planning_asset") == 0

    async def test_only_after_acceptance(
        self, planning: httpx.AsyncClient, clerk: Headers, admin: Headers
    ) -> None:
        project = await create(planning, clerk)
        response = await planning.post(f"/projects/{project['id']}/assets", json=ASSET, headers=admin)
        assert assert_problem(response, 409)["code"] == "not_accepted"

    async def test_valid(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project_id = await accepted(planning, clerk, township, admin)
        household = await registered_household(registry, clerk, db_urls)
        body = {**ASSET, "beneficiary_household_ids": [household]}
        response = await planning.post(f"/projects/{project_id}/assets", json=body, headers=township)
        assert response.status_code == 201, response.text
        asset = response.json()
        assert response.headers["location"] == f"/projects/{project_id}/assets/{asset['id']}"
        assert (asset["value_yuan"], asset["owner_kind"], asset["beneficiary_household_ids"]) == (
            "1750000.00",
            "village_collective",
            [household],
        )
        cow = {"asset_type": "livestock", "description": "能繁母牛 2 头", "value_yuan": "16000.00",
               "owner_kind": "household", "owner_name": "黄志强", "beneficiary_household_ids": [household]}  # fmt: skip
        assert (
            await planning.post(f"/projects/{project_id}/assets", json=cow, headers=admin)
        ).status_code == 201
        assets = (await detail(planning, clerk, project_id))["assets"]
        assert [a["asset_type"] for a in assets] == ["road", "livestock"]


# == F5's road, end to end =============================================================================================
class TestF5Road:
    """Seed 001#13: the road of 1,750,000 yuan = 880,000 transport subsidy + 650,000 self-raised + 220,000
    donations, with its beneficiaries, through 四议两公开, the township and the county (which draws the
    transport line from the county's allocation)."""

    async def test_the_road(
        self,
        planning: httpx.AsyncClient,
        registry: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        project = await create(planning, clerk)
        allocation = await planning.post(
            f"/counties/{COUNTY}/allocations",
            json={"year": 2016, "source": "sector_department_fund", "document_number": "靖交〔2016〕8号",  # noqa: RUF001
                  "amount_yuan": "1000000.00"},
            headers=admin,
        )  # fmt: skip
        assert allocation.status_code == 201, allocation.text
        lines = [
            {"source": "sector_department_fund", "funder": "县交通局", "committed_yuan": "880000.00",
             "allocation_id": allocation.json()["id"]},
            {"source": "beneficiary_self_raised", "funder": "受益群众", "committed_yuan": "650000.00"},
            {"source": "social_donation", "funder": "在外人员捐资", "committed_yuan": "220000.00"},
        ]  # fmt: skip
        for line in lines:
            added = await planning.post(f"/projects/{project['id']}/funding-lines", json=line, headers=clerk)
            assert added.status_code == 201, added.text
        poor = [await registered_household(registry, clerk, db_urls) for _ in range(2)]
        other = await create_household(registry, clerk, VILLAGE)
        version = (await detail(planning, clerk, project["id"]))["version"]
        chosen = await planning.put(
            f"/projects/{project['id']}/beneficiaries",
            json={"household_ids": [*poor, other]},
            headers=if_match(clerk, version),
        )
        assert chosen.status_code == 200, chosen.text
        version = await steps(
            planning,
            project["id"],
            chosen.json()["version"],
            *[(clerk, s) for s in VILLAGE_RECORD],
            (township, APPROVE_TOWNSHIP),
            (admin, APPROVE_COUNTY),
        )
        body = await detail(planning, admin, project["id"])
        assert body["status"] == "approved" and body["version"] == version
        funding = body["funding"]
        assert (funding["budget_yuan"], funding["committed_yuan"], funding["funding_gap_yuan"]) == (
            "1750000.00",
            "1750000.00",
            "0.00",
        )
        assert funding["lines"] == 3 and "funding_gap" not in funding["flags"]
        assert (body["beneficiaries_count"], body["poor_beneficiaries_count"]) == (3, 2)
        drawn = await planning.get(f"/allocations/{allocation.json()['id']}", headers=admin)
        assert drawn.json()["drawn_yuan"] == "880000.00"

    async def test_an_allocation_would_be_overdrawn(
        self,
        planning: httpx.AsyncClient,
        clerk: Headers,
        township: Headers,
        admin: Headers,
        db_urls: dict[str, str],
    ) -> None:
        allocation = await planning.post(
            f"/counties/{COUNTY}/allocations",
            json={"year": 2016, "source": "sector_department_fund", "document_number": "靖交〔2016〕9号",  # noqa: RUF001
                  "amount_yuan": "500000.00"},
            headers=admin,
        )  # fmt: skip
        assert allocation.status_code == 201, allocation.text
        project = await create(planning, clerk)
        line = {"source": "sector_department_fund", "funder": "县交通局", "committed_yuan": "880000.00",
                "allocation_id": allocation.json()["id"]}  # fmt: skip
        added = await planning.post(f"/projects/{project['id']}/funding-lines", json=line, headers=clerk)
        if added.status_code != 201:  # the funds feature may refuse the overcommitted line itself
            assert_problem(added, 409)
            return
        version = (await detail(planning, clerk, project["id"]))["version"]
        version = await steps(
            planning,
            project["id"],
            version,
            *[(clerk, s) for s in VILLAGE_RECORD],
            (township, APPROVE_TOWNSHIP),
        )
        before = await snapshot(db_urls)
        refused = await step(planning, admin, project["id"], version, APPROVE_COUNTY)
        assert assert_problem(refused, 409)["code"] == "allocation_exceeded"
        assert await snapshot(db_urls) == before
        assert (await detail(planning, admin, project["id"]))["status"] == "township_reviewed"
