"""Inspection, finding, rectification, manual-entry and figure routes (DOMAIN.md §6.3, R11, invariant 44) against
real PostgreSQL, with the registry in process and reached over HTTP with a real service token: the lifecycle, the
sample drawn from the registry's households (determinism, rate), confirmation by a second person, the effect of a
finding, rectification and overdue reporting, versioned manual entries, the figures on a hand-made case; and for
each route the scope (404), the role (403) and bad input (422 naming the field by JSON Pointer)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.inspections import domain
from services.assessment.inspections.repository import effects_for, figures_for
from services.assessment.local_figures import AssessmentLocalFigures
from services.assessment.manual_scores.repository import manual_scores_for
from services.assessment.metrics.domain import SubjectType
from services.assessment.registry import open_service_clients
from services.assessment.settings import AssessmentSettings
from services.assessment.sources import LocalFigures
from shared.jwt import SigningKey
from shared.settings import asyncpg_url
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
    MakeClient,
    assert_problem,
    create_household,
    headers_for,
    set_household_status,
)
from tests.harness import running

pytestmark = pytest.mark.usefixtures("seed_regions")

YEAR = 2016
#: The assessment's clock: 10:00 China time, 1 June 2016.
NOW = datetime(2016, 6, 1, 2, 0, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


# -- the world --------------------------------------------------------------------------------------------------
@dataclass
class People:
    admin: Headers
    admin2: Headers
    township: Headers
    township2: Headers
    other_township: Headers
    clerk: Headers
    cadre: Headers
    inspector: Headers
    province: Headers
    other_admin: Headers


@pytest.fixture
def people(signing_key: SigningKey) -> People:
    return People(
        admin=headers_for(signing_key, "county_admin", COUNTY, "county-1"),
        admin2=headers_for(signing_key, "county_admin", COUNTY, "county-2"),
        township=headers_for(signing_key, "township_officer", TOWNSHIP, "township-1"),
        township2=headers_for(signing_key, "township_officer", TOWNSHIP, "township-1b"),
        other_township=headers_for(signing_key, "township_officer", OTHER_TOWNSHIP, "township-2"),
        clerk=headers_for(signing_key, "village_officer", VILLAGE, "clerk-1"),
        cadre=headers_for(signing_key, "cadre", COUNTY, "cadre-1"),
        inspector=headers_for(signing_key, "cadre", COUNTY, "inspector-1"),
        province=headers_for(signing_key, "province_system", PROVINCE, "province-1"),
        other_admin=headers_for(signing_key, "county_admin", OTHER_COUNTY, "county-9"),
    )


def _with_routers(app: FastAPI) -> FastAPI:
    """The assessment app with the inspection and manual-entry routers (included here until main.py lists them)."""
    from services.assessment.inspections.routes import router as inspections_router
    from services.assessment.manual_scores.routes import router as manual_router

    paths = {getattr(r, "path", None) for r in app.routes}
    if "/inspections" not in paths:
        app.include_router(inspections_router)
    if "/manual-entries" not in paths:
        app.include_router(manual_router)
    return app


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
async def api(
    assessment_app: FastAPI,
    registry: httpx.AsyncClient,
    registry_app: FastAPI,
    gateway: httpx.AsyncClient,
    make_client: MakeClient,
    db_urls: dict[str, str],
    clock: Clock,
) -> AsyncIterator[httpx.AsyncClient]:
    """The assessment app, its registry client reaching the in-process registry with the gateway's tokens."""
    secret = await make_client("assessment-service", "service", "000000000000")
    settings = AssessmentSettings(
        environment="test",
        database_url=db_urls["assessment"],
        gateway_url="http://gateway",
        registry_url="http://registry",
        service_client_id="assessment-service",
        service_client_secret=secret,
    )
    app = _with_routers(assessment_app)
    gateway_app: FastAPI = gateway.app  # type: ignore[attr-defined]
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(running(app))
        app.state.clock = clock
        await stack.enter_async_context(
            open_service_clients(
                app,
                settings,
                registry_transport=httpx.ASGITransport(app=registry_app),
                gateway_transport=httpx.ASGITransport(app=gateway_app),
            )
        )
        yield client


async def households(registry: httpx.AsyncClient, people: People, village: str, n: int) -> list[str]:
    """`n` registered (建档立卡) households of a village in the registry."""
    ids = []
    for _ in range(n):
        ids.append(await create_household(registry, people.admin, village, size=1))
    return ids


async def register(db_urls: dict[str, str], ids: list[str]) -> None:
    for household_id in ids:
        await set_household_status(db_urls, household_id, "registered")


async def rows(db_urls: dict[str, str], statement: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(db_urls["assessment"])
    try:
        return list(await conn.fetch(statement, *args))
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def session(db_urls: dict[str, str]) -> AsyncIterator[AsyncSession]:
    engine = create_async_engine(asyncpg_url(db_urls["assessment"]))
    try:
        async with AsyncSession(engine) as s:
            yield s
    finally:
        await engine.dispose()


def ids(response: httpx.Response) -> set[str]:
    return {i["id"] for i in response.json()["items"]}


def by(found: list[Any]) -> dict[tuple[str, str], Decimal]:
    return {(r.subject_id, r.metric_code): r.value for r in found}


def errors_at(response: httpx.Response, status: int = 422) -> list[str]:
    body = assert_problem(response, status)
    return [e.get("pointer") or e.get("parameter") for e in body.get("errors") or []]


async def inspection(
    api: httpx.AsyncClient, headers: Headers, *, level: str = "township", region: str = TOWNSHIP, **extra: Any
) -> dict[str, Any]:
    body = {"level": level, "year": YEAR, "region_code": region, "name": "核查", **extra}
    response = await api.post("/inspections", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def started(api: httpx.AsyncClient, headers: Headers, **kw: Any) -> dict[str, Any]:
    created = await inspection(api, headers, **kw)
    response = await api.post(f"/inspections/{created['id']}/start", headers=headers)
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


def finding_body(
    subject_type: str, subject_id: str, category: str = "missing_record", **extra: Any
) -> dict[str, Any]:
    return {
        "subject_type": subject_type,
        "subject_id": subject_id,
        "category": category,
        "severity": "major",
        "description": "帮扶手册缺少收入核算页",
        "found_on": "2016-06-01",
        **extra,
    }


async def report(
    api: httpx.AsyncClient, headers: Headers, inspection_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await api.post(f"/inspections/{inspection_id}/findings", json=body, headers=headers)
    assert response.status_code == 201, response.text
    out: dict[str, Any] = response.json()
    return out


async def confirm(api: httpx.AsyncClient, headers: Headers, finding_id: str) -> dict[str, Any]:
    response = await api.post(f"/findings/{finding_id}/confirmation", headers=headers)
    assert response.status_code == 200, response.text
    out: dict[str, Any] = response.json()
    return out


# -- inspections ------------------------------------------------------------------------------------------------
class TestCreateInspection:
    async def test_anonymous(self, api: httpx.AsyncClient) -> None:
        assert_problem(await api.post("/inspections", json={}), 401)

    async def test_a_county_verification(
        self, api: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        response = await api.post(
            "/inspections",
            json={
                "level": "county",
                "year": YEAR,
                "region_code": COUNTY,
                "name": "县级核查",
                "inspectors": ["inspector-1"],
            },
            headers=people.admin,
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["Location"] == f"/inspections/{body['id']}"
        assert body["status"] == "planned" and body["owner_region"] == COUNTY
        assert body["sampling_rate"] == "10.00" and body["sampling_unit"] == "household"
        assert len(body["seed"]) == 32 and body["sample_size"] is None
        assert body["findings"] == {"reported": 0, "confirmed": 0, "dismissed": 0}
        audit = await rows(
            db_urls, "SELECT action, actor FROM assessment_audit_event WHERE record_id = $1", body["id"]
        )
        assert [(a["action"], a["actor"]) for a in audit] == [("inspection.create", "county-1")]

    async def test_a_township_full_check_and_none_by_the_read_only_province_client(
        self, api: httpx.AsyncClient, people: People
    ) -> None:
        township = await inspection(api, people.township)
        assert township["sampling_rate"] == "100.00" and township["level"] == "township"
        # Invariant 48: the province client is read-only — it creates no spot check, of any level.
        for level in ("province", "city", "county"):
            body = {
                "level": level,
                "year": YEAR,
                "region_code": COUNTY,
                "name": "省抽查",
                "sampling_rate": "5",
            }
            refused = assert_problem(await api.post("/inspections", json=body, headers=people.province), 403)
            assert refused["code"] == "inspection_creator_required"
        # It reads the township's check (the checking side, for reading) but does not start it.
        assert (await api.get(f"/inspections/{township['id']}", headers=people.province)).status_code == 200
        start = await api.post(f"/inspections/{township['id']}/start", headers=people.province)
        assert assert_problem(start, 403)["code"] == "inspection_officer_required"

    @pytest.mark.parametrize(
        ("who", "level", "region"),
        [
            ("township", "county", COUNTY),
            ("admin", "township", TOWNSHIP),
            ("clerk", "township", TOWNSHIP),
            ("cadre", "county", COUNTY),
            ("admin", "province", COUNTY),
        ],
    )
    async def test_wrong_role(
        self, api: httpx.AsyncClient, people: People, who: str, level: str, region: str
    ) -> None:
        body = {"level": level, "year": YEAR, "region_code": region, "name": "x"}
        problem = assert_problem(await api.post("/inspections", json=body, headers=getattr(people, who)), 403)
        assert problem["code"] == "inspection_creator_required"

    async def test_other_region(self, api: httpx.AsyncClient, people: People) -> None:
        body = {"level": "county", "year": YEAR, "region_code": COUNTY, "name": "x"}
        assert_problem(await api.post("/inspections", json=body, headers=people.other_admin), 404)
        body = {"level": "township", "year": YEAR, "region_code": VILLAGE, "name": "x"}
        assert_problem(await api.post("/inspections", json=body, headers=people.other_township), 404)

    async def test_bad_input(self, api: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        base = {"level": "township", "year": YEAR, "region_code": TOWNSHIP, "name": "x"}
        cases = [
            ({**base, "region_code": COUNTY}, "/region_code"),  # a township does not check its county
            ({**base, "year": 2010}, "/year"),
            ({**base, "year": 2017}, "/year"),  # a year to come (the clock says 2016)
            ({**base, "sampling_rate": "0"}, "/sampling_rate"),
            ({**base, "sampling_rate": "100.5"}, "/sampling_rate"),
            ({**base, "level": "village"}, "/level"),
            ({**base, "extra": 1}, "/extra"),
        ]
        for body, where in cases:
            assert errors_at(await api.post("/inspections", json=body, headers=people.township)) == [where], (
                body
            )
        assert await rows(db_urls, "SELECT id FROM assessment_inspection") == []


class TestReadInspections:
    async def test_in_scope_inside_and_as_inspector(self, api: httpx.AsyncClient, people: People) -> None:
        county = await inspection(
            api, people.admin, level="county", region=COUNTY, inspectors=["inspector-1"]
        )
        township = await inspection(api, people.township)
        assert ids(await api.get("/inspections", headers=people.admin)) == {county["id"], township["id"]}
        # Inside the county checked: the township sees the county's check of it, and its own.
        assert ids(await api.get("/inspections", headers=people.township)) == {county["id"], township["id"]}
        assert ids(await api.get("/inspections", headers=people.other_township)) == {county["id"]}
        assert ids(await api.get("/inspections", headers=people.inspector)) == {county["id"]}
        assert ids(await api.get("/inspections", headers=people.cadre)) == set()
        assert ids(await api.get("/inspections?level=township", headers=people.admin)) == {township["id"]}
        response = await api.get(f"/inspections/{township['id']}", headers=people.clerk)
        assert response.status_code == 200 and response.headers["ETag"] == '"1"'

    async def test_other_region(self, api: httpx.AsyncClient, people: People) -> None:
        township = await inspection(api, people.township)
        assert_problem(await api.get(f"/inspections/{township['id']}", headers=people.other_township), 404)
        assert_problem(await api.get(f"/inspections/{township['id']}", headers=people.other_admin), 404)
        assert_problem(await api.get(f"/inspections/{uuid.uuid4()}", headers=people.admin), 404)
        assert (await api.get("/inspections", headers=people.other_admin)).json()["items"] == []


class TestUpdateInspection:
    async def test_sampling_while_planned(self, api: httpx.AsyncClient, people: People) -> None:
        created = await inspection(api, people.township)
        path = f"/inspections/{created['id']}"
        assert_problem(await api.patch(path, json={"sampling_rate": "50"}, headers=people.township), 428)
        response = await api.patch(
            path,
            json={"sampling_rate": "50", "inspectors": ["inspector-1", "inspector-1"]},
            headers={**people.township, "If-Match": '"1"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["sampling_rate"] == "50.00" and response.json()["inspectors"] == [
            "inspector-1"
        ]
        assert response.headers["ETag"] == '"2"'
        assert_problem(
            await api.patch(path, json={"name": "y"}, headers={**people.township, "If-Match": '"1"'}), 412
        )
        assert_problem(
            await api.patch(path, json={"name": "y"}, headers={**people.clerk, "If-Match": '"2"'}), 403
        )
        assert errors_at(
            await api.patch(path, json={"name": None}, headers={**people.township, "If-Match": '"2"'})
        ) == ["/name"]

    async def test_no_sampling_change_after_the_draw(self, api: httpx.AsyncClient, people: People) -> None:
        created = await started(api, people.township)
        path = f"/inspections/{created['id']}"
        tag = f'"{created["revision"]}"'
        problem = assert_problem(
            await api.patch(path, json={"sampling_rate": "10"}, headers={**people.township, "If-Match": tag}),
            409,
        )
        assert problem["code"] == "inspection_not_editable"
        response = await api.patch(
            path, json={"inspectors": ["inspector-1"]}, headers={**people.township, "If-Match": tag}
        )
        assert response.status_code == 200


class TestStartInspection:
    async def test_the_sample_is_drawn_per_township_at_the_rate(
        self, api: httpx.AsyncClient, registry: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        first = await households(registry, people, VILLAGE, 12)
        sibling = await households(registry, people, SIBLING_VILLAGE, 3)
        other = await households(registry, people, OTHER_VILLAGE, 5)
        await register(db_urls, first + sibling + other)
        await households(registry, people, VILLAGE, 1)  # a candidate: not in the frame
        created = await inspection(api, people.admin, level="county", region=COUNTY)
        response = await api.post(f"/inspections/{created['id']}/start", headers=people.admin)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "in_progress" and body["frame_size"] == 20 and body["sample_size"] == 3
        strata = {s["code"]: (s["frame_size"], s["drawn"]) for s in body["strata"]}
        assert strata == {TOWNSHIP: (15, 2), OTHER_TOWNSHIP: (5, 1)}
        sample = (await api.get(f"/inspections/{created['id']}/sample", headers=people.admin)).json()["items"]
        # Re-derived from the stored seed and the same frame: the same households, in the same order.
        frame = [(uuid.UUID(h), VILLAGE) for h in first] + [(uuid.UUID(h), SIBLING_VILLAGE) for h in sibling]
        frame += [(uuid.UUID(h), OTHER_VILLAGE) for h in other]
        again = domain.draw(body["seed"], frame, Decimal(10), domain.SamplingUnit.household)
        assert [(s["household_id"], s["stratum"], s["rank"]) for s in sample] == [
            (str(h.household_id), h.stratum, h.rank) for h in again.households
        ]
        assert body["frame_digest"] == again.digest
        audit = await rows(
            db_urls, "SELECT detail FROM assessment_audit_event WHERE action = 'inspection.start'"
        )
        assert len(audit) == 1

    async def test_a_full_check_and_twice(
        self, api: httpx.AsyncClient, registry: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        await register(db_urls, await households(registry, people, VILLAGE, 3))
        created = await started(api, people.township)
        assert created["sample_size"] == 3 and created["started_by"] == "township-1"
        problem = assert_problem(
            await api.post(f"/inspections/{created['id']}/start", headers=people.township), 409
        )
        assert problem["code"] == "inspection_not_planned"

    async def test_wrong_role_and_other_region(self, api: httpx.AsyncClient, people: People) -> None:
        created = await inspection(api, people.admin, level="county", region=COUNTY)
        path = f"/inspections/{created['id']}/start"
        problem = assert_problem(await api.post(path, headers=people.township), 403)
        assert problem["code"] == "inspection_officer_required"
        assert_problem(await api.post(path, headers=people.other_admin), 404)

    async def test_registry_down(
        self, api: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        class Refused(httpx.AsyncBaseTransport):
            async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
                raise httpx.ConnectError("refused", request=request)

        created = await inspection(api, people.township)
        app: FastAPI = api._transport.app  # type: ignore[attr-defined]
        real = app.state.registry.client._http
        app.state.registry.client._http = httpx.AsyncClient(base_url="http://registry", transport=Refused())
        try:
            response = await api.post(f"/inspections/{created['id']}/start", headers=people.township)
        finally:
            await app.state.registry.client._http.aclose()
            app.state.registry.client._http = real
        problem = assert_problem(response, 503)
        assert problem["code"] == "registry_unavailable" and response.headers["Retry-After"]
        assert (await rows(db_urls, "SELECT status FROM assessment_inspection"))[0]["status"] == "planned"

    async def test_the_sample_is_withheld_from_the_checked_until_closed(
        self, api: httpx.AsyncClient, registry: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        await register(db_urls, await households(registry, people, VILLAGE, 2))
        created = await started(api, people.admin, level="county", region=COUNTY, inspectors=["inspector-1"])
        path = f"/inspections/{created['id']}/sample"
        problem = assert_problem(await api.get(path, headers=people.township), 403)
        assert problem["code"] == "sample_withheld"
        assert (await api.get(path, headers=people.inspector)).status_code == 200
        assert (
            await api.post(f"/inspections/{created['id']}/close", headers=people.admin)
        ).status_code == 200
        assert len((await api.get(path, headers=people.township)).json()["items"]) == 1


# -- findings ---------------------------------------------------------------------------------------------------
@pytest.fixture
async def world(
    api: httpx.AsyncClient, registry: httpx.AsyncClient, people: People, db_urls: dict[str, str]
) -> dict[str, Any]:
    """新靖镇's full check under way: 4 households in 旧州村, 2 in 渠洋村, 1 in 化峒村 (another township)."""
    first = await households(registry, people, VILLAGE, 4)
    sibling = await households(registry, people, SIBLING_VILLAGE, 2)
    other = await households(registry, people, OTHER_VILLAGE, 1)
    await register(db_urls, first + sibling + other)
    check = await started(api, people.township, inspectors=["inspector-1"])
    return {"inspection": check, "first": first, "sibling": sibling, "other": other}


class TestReportFinding:
    async def test_a_household_finding_lies_in_its_village(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any], db_urls: dict[str, str]
    ) -> None:
        check = world["inspection"]["id"]
        body = finding_body("household", world["first"][0], "split_household", severity="critical")
        body["effect"] = {"kind": "veto", "code": "split_household"}
        response = await api.post(f"/inspections/{check}/findings", json=body, headers=people.inspector)
        assert response.status_code == 201, response.text
        found = response.json()
        assert response.headers["Location"] == f"/findings/{found['id']}"
        assert found["region_code"] == VILLAGE and found["status"] == "reported" and found["counts"] is False
        assert found["effect"] == {"kind": "veto", "code": "split_household", "points": None}
        assert found["inspection_level"] == "township" and found["reported_by"] == "inspector-1"
        audit = await rows(
            db_urls, "SELECT action FROM assessment_audit_event WHERE record_id = $1", found["id"]
        )
        assert [a["action"] for a in audit] == ["finding.report"]

    async def test_a_deduction_and_a_cadre(
        self, api: httpx.AsyncClient, registry: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        unit = await registry.post(
            "/helping-units",
            json={"name": "靖西市财政局", "kind": "government_department", "region_code": COUNTY},
            headers=people.admin,
        )
        cadre = await registry.post(
            "/cadres",
            json={"unit_id": unit.json()["id"], "name": "王", "position_level": "staff"},
            headers=people.admin,
        )
        assert cadre.status_code == 201, cadre.text
        body = finding_body(
            "cadre",
            cadre.json()["id"],
            "fabricated_data",
            region_code=SIBLING_VILLAGE,
            effect={"kind": "deduction", "code": "C1", "points": "5"},
        )
        found = await report(api, people.township, world["inspection"]["id"], body)
        assert found["region_code"] == SIBLING_VILLAGE and found["effect"]["points"] == "5"

    async def test_bad_input(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any], db_urls: dict[str, str]
    ) -> None:
        check = world["inspection"]["id"]
        path = f"/inspections/{check}/findings"
        hid = world["first"][0]
        cases = [
            (finding_body("household", world["other"][0]), "/subject_id"),  # 化峒村: outside 新靖镇
            (finding_body("household", str(uuid.uuid4())), "/subject_id"),  # not in the registry
            (finding_body("village", TOWNSHIP), "/subject_id"),
            (finding_body("village", OTHER_VILLAGE), "/subject_id"),
            (finding_body("household", hid, found_on="2016-06-02"), "/found_on"),  # in the future
            (finding_body("household", hid, found_on="2016-05-31"), "/found_on"),  # before the check started
            (finding_body("cadre", str(uuid.uuid4()), "split_household", region_code=VILLAGE), "/category"),
            (finding_body("household", hid, effect={"kind": "deduction", "code": "B6"}), "/effect/points"),
            (
                finding_body("household", hid, effect={"kind": "veto", "code": "v", "points": "1"}),
                "/effect/points",
            ),
            (finding_body("household", hid, severity="fatal"), "/severity"),
            (finding_body("household", hid, description=""), "/description"),
        ]
        for body, where in cases:
            assert errors_at(await api.post(path, json=body, headers=people.township)) == [where], body
        assert await rows(db_urls, "SELECT id FROM assessment_finding") == []

    async def test_wrong_role_and_other_region(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        path = f"/inspections/{world['inspection']['id']}/findings"
        body = finding_body("village", VILLAGE)
        problem = assert_problem(await api.post(path, json=body, headers=people.clerk), 403)
        assert problem["code"] == "inspector_required"
        assert_problem(await api.post(path, json=body, headers=people.cadre), 404)  # not an inspector: unseen
        assert_problem(await api.post(path, json=body, headers=people.other_admin), 404)

    async def test_not_started_and_closed(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        planned = await inspection(api, people.township)
        problem = assert_problem(
            await api.post(
                f"/inspections/{planned['id']}/findings",
                json=finding_body("village", VILLAGE),
                headers=people.township,
            ),
            409,
        )
        assert problem["code"] == "inspection_not_started"
        check = world["inspection"]["id"]
        assert (await api.post(f"/inspections/{check}/close", headers=people.township)).status_code == 200
        problem = assert_problem(
            await api.post(
                f"/inspections/{check}/findings",
                json=finding_body("village", VILLAGE),
                headers=people.township,
            ),
            409,
        )
        assert problem["code"] == "inspection_closed"


class TestReviewFinding:
    async def test_confirmed_by_a_second_person(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any], db_urls: dict[str, str]
    ) -> None:
        found = await report(
            api, people.township, world["inspection"]["id"], finding_body("village", VILLAGE)
        )
        path = f"/findings/{found['id']}/confirmation"
        problem = assert_problem(await api.post(path, headers=people.township), 403)
        assert problem["code"] == "second_person_required"
        problem = assert_problem(
            await api.post(path, headers=people.inspector), 403
        )  # an inspector, not an officer
        assert problem["code"] == "reviewer_level_required"
        assert_problem(await api.post(path, headers=people.other_township), 404)
        response = await api.post(path, json={"note": "经乡镇复核属实"}, headers=people.township2)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (
            body["status"] == "confirmed" and body["counts"] is True and body["reviewed_by"] == "township-1b"
        )
        assert body["review_note"] == "经乡镇复核属实"
        problem = assert_problem(await api.post(path, headers=people.admin), 409)
        assert problem["code"] == "finding_not_reported"
        audit = await rows(
            db_urls,
            "SELECT action, reason FROM assessment_audit_event WHERE record_id = $1 ORDER BY id",
            found["id"],
        )
        assert [(a["action"], a["reason"]) for a in audit] == [
            ("finding.report", None),
            ("finding.confirm", "经乡镇复核属实"),
        ]

    async def test_the_level_or_above(
        self, api: httpx.AsyncClient, registry: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        # The county confirms a township's finding; a township may not confirm a county's.
        township_finding = await report(
            api, people.township, world["inspection"]["id"], finding_body("village", VILLAGE)
        )
        assert (await confirm(api, people.admin, township_finding["id"]))["status"] == "confirmed"
        county = await started(api, people.admin, level="county", region=COUNTY)
        county_finding = await report(api, people.admin, county["id"], finding_body("village", VILLAGE))
        problem = assert_problem(
            await api.post(f"/findings/{county_finding['id']}/confirmation", headers=people.township), 403
        )
        assert problem["code"] == "reviewer_level_required"
        assert (await confirm(api, people.admin2, county_finding["id"]))["status"] == "confirmed"

    async def test_dismissal_with_a_reason(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        found = await report(
            api, people.township, world["inspection"]["id"], finding_body("village", VILLAGE)
        )
        path = f"/findings/{found['id']}/dismissal"
        assert errors_at(await api.post(path, json={}, headers=people.township2)) == ["/reason"]
        assert errors_at(await api.post(path, json={"reason": ""}, headers=people.township2)) == ["/reason"]
        await confirm(api, people.township2, found["id"])
        response = await api.post(path, json={"reason": "经复查资料齐全"}, headers=people.admin)
        assert response.status_code == 200 and response.json()["status"] == "dismissed"
        assert response.json()["counts"] is False
        assert assert_problem(await api.post(path, json={"reason": "x"}, headers=people.admin), 409)[
            "code"
        ] == ("finding_dismissed")

    async def test_closing_waits_for_every_review(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        check = world["inspection"]["id"]
        found = await report(api, people.township, check, finding_body("village", VILLAGE))
        problem = assert_problem(await api.post(f"/inspections/{check}/close", headers=people.township), 409)
        assert problem["code"] == "findings_unreviewed" and problem["unreviewed"] == 1
        await confirm(api, people.township2, found["id"])
        closed = await api.post(
            f"/inspections/{check}/close", json={"note": "全面抽查完成"}, headers=people.township
        )
        assert closed.status_code == 200 and closed.json()["status"] == "closed"
        assert closed.json()["findings"] == {"reported": 0, "confirmed": 1, "dismissed": 0}

    async def test_list_and_read_in_scope(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        check = world["inspection"]["id"]
        mine = await report(api, people.township, check, finding_body("village", VILLAGE))
        theirs = await report(api, people.township, check, finding_body("village", SIBLING_VILLAGE))
        assert ids(await api.get("/findings", headers=people.clerk)) == {mine["id"]}
        assert ids(await api.get("/findings", headers=people.admin)) == {mine["id"], theirs["id"]}
        assert ids(await api.get("/findings", headers=people.inspector)) == {mine["id"], theirs["id"]}
        assert ids(await api.get(f"/findings?region={SIBLING_VILLAGE}", headers=people.admin)) == {
            theirs["id"]
        }
        assert ids(await api.get("/findings?status=confirmed", headers=people.admin)) == set()
        assert (await api.get(f"/findings/{mine['id']}", headers=people.clerk)).status_code == 200
        assert_problem(await api.get(f"/findings/{theirs['id']}", headers=people.clerk), 404)
        assert_problem(await api.get(f"/findings/{mine['id']}", headers=people.other_admin), 404)


class TestEvidence:
    async def test_attached_by_hash(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        found = await report(
            api, people.township, world["inspection"]["id"], finding_body("village", VILLAGE)
        )
        path = f"/findings/{found['id']}/evidence"
        png = {**people.inspector, "Content-Type": "image/png"}
        first = await api.post(path, content=PNG, headers=png)
        assert first.status_code == 201, first.text
        again = await api.post(path, content=PNG, headers=png)
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        meta = first.json()
        assert meta["size"] == len(PNG) and len(meta["sha256"]) == 64
        file = await api.get(f"{path}/{meta['id']}", headers=people.clerk)
        assert file.status_code == 200 and file.content == PNG and file.headers["content-type"] == "image/png"
        assert (await api.get(f"/findings/{found['id']}", headers=people.admin)).json()["evidence"][0][
            "id"
        ] == meta["id"]
        problem = assert_problem(await api.post(path, content=b"not a png", headers=png), 415)
        assert problem["code"] == "attachment_type"
        assert_problem(
            await api.post(path, content=PNG, headers={**people.clerk, "Content-Type": "image/png"}), 403
        )
        assert_problem(await api.get(f"{path}/{uuid.uuid4()}", headers=people.admin), 404)


# -- effects and figures ----------------------------------------------------------------------------------------
class TestEffectsAndFigures:
    async def hand_made(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> dict[str, Any]:
        """新靖镇's full check: 旧州村 h0 mis-identified, h1 a split household (veto), 旧州村 missing records, the
        township's critical fund misuse (deduction), a dismissed finding on 渠洋村 — then closed."""
        check = world["inspection"]["id"]
        first, sibling = world["first"], world["sibling"]
        made = {
            "mis": await report(
                api, people.township, check, finding_body("household", first[0], "mis_identified")
            ),
            "split": await report(
                api,
                people.township,
                check,
                finding_body(
                    "household",
                    first[1],
                    "split_household",
                    effect={"kind": "veto", "code": "split_household"},
                ),
            ),
            "missing": await report(api, people.township, check, finding_body("village", VILLAGE)),
            "funds": await report(
                api,
                people.township,
                check,
                finding_body(
                    "township",
                    TOWNSHIP,
                    "fund_misuse",
                    severity="critical",
                    effect={"kind": "deduction", "code": "E5", "points": "3"},
                ),
            ),
            "dismissed": await report(
                api, people.township, check, finding_body("household", sibling[0], "other")
            ),
        }
        for key in ("mis", "split", "missing", "funds"):
            await confirm(api, people.township2, made[key]["id"])
        dismissal = await api.post(
            f"/findings/{made['dismissed']['id']}/dismissal",
            json={"reason": "不属实"},
            headers=people.township2,
        )
        assert dismissal.status_code == 200
        assert (await api.post(f"/inspections/{check}/close", headers=people.township)).status_code == 200
        return made

    async def test_figures_of_a_hand_made_case(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any], db_urls: dict[str, str]
    ) -> None:
        await self.hand_made(api, people, world)
        entry = await api.post(
            "/manual-entries",
            json={
                "subject_type": "township",
                "subject_id": TOWNSHIP,
                "year": YEAR,
                "metric_code": "training_sessions",
                "value": "3",
                "reason": "培训签到表",
            },
            headers=people.admin,
        )
        assert entry.status_code == 201, entry.text
        corrected = await api.post(
            f"/manual-entries/{entry.json()['id']}/corrections",
            json={"value": 4, "reason": "补录一场"},
            headers={**people.admin, "If-Match": '"1"'},
        )
        assert corrected.status_code == 201, corrected.text
        village_codes = [
            "findings_mis_identified",
            "split_households_confirmed",
            "findings_missing_record",
            "findings_fund_misuse",
            "findings_other",
            "identification_accuracy",
            "funds_misused_confirmed",
        ]
        async with session(db_urls) as s:
            villages = await figures_for(
                s, YEAR, "451025", SubjectType.village, village_codes, subjects=[OTHER_VILLAGE]
            )
            townships = await figures_for(
                s, YEAR, "451025", SubjectType.township, [*village_codes, "training_sessions"]
            )
            effects = await effects_for(s, YEAR, "451025", SubjectType.village)
            township_effects = await effects_for(s, YEAR, "451025", SubjectType.township)
            # What a run reads (sources.LocalFigures): the same figures, for the run's subjects.
            local: LocalFigures = AssessmentLocalFigures()
            run_figures = await local.figures(
                s,
                subject_type="village",
                region_code=COUNTY,
                year=YEAR,
                metrics=village_codes,
                subjects=[VILLAGE],
            )
        zero = Decimal(0)
        assert by(villages) == {
            (VILLAGE, "findings_mis_identified"): Decimal(1),
            (VILLAGE, "split_households_confirmed"): Decimal(1),
            (VILLAGE, "findings_missing_record"): Decimal(1),
            (VILLAGE, "findings_fund_misuse"): zero,  # the township's own finding is not a village's
            (VILLAGE, "findings_other"): zero,  # dismissed: it does not count
            (VILLAGE, "funds_misused_confirmed"): zero,
            (VILLAGE, "identification_accuracy"): Decimal("75.00"),  # 4 checked, 1 mis-identified
            (SIBLING_VILLAGE, "findings_mis_identified"): zero,
            (SIBLING_VILLAGE, "split_households_confirmed"): zero,
            (SIBLING_VILLAGE, "findings_missing_record"): zero,
            (SIBLING_VILLAGE, "findings_fund_misuse"): zero,
            (SIBLING_VILLAGE, "findings_other"): zero,
            (SIBLING_VILLAGE, "funds_misused_confirmed"): zero,
            (SIBLING_VILLAGE, "identification_accuracy"): Decimal("100.00"),
            # A subject the run names gets its counts (0) and no accuracy: nothing was checked there.
            (OTHER_VILLAGE, "findings_mis_identified"): zero,
            (OTHER_VILLAGE, "split_households_confirmed"): zero,
            (OTHER_VILLAGE, "findings_missing_record"): zero,
            (OTHER_VILLAGE, "findings_fund_misuse"): zero,
            (OTHER_VILLAGE, "findings_other"): zero,
            (OTHER_VILLAGE, "funds_misused_confirmed"): zero,
        }
        assert by(townships) == {
            (TOWNSHIP, "findings_mis_identified"): Decimal(1),
            (TOWNSHIP, "split_households_confirmed"): Decimal(1),
            (TOWNSHIP, "findings_missing_record"): Decimal(1),
            (TOWNSHIP, "findings_fund_misuse"): Decimal(1),
            (TOWNSHIP, "findings_other"): zero,
            (TOWNSHIP, "funds_misused_confirmed"): Decimal(1),
            (TOWNSHIP, "identification_accuracy"): Decimal("83.33"),  # 6 checked, 1 mis-identified
            (TOWNSHIP, "training_sessions"): Decimal(4),  # the latest version counts
        }
        assert {(f.subject_id, f.metric, f.value) for f in run_figures} == {
            (subject, metric, value)
            for (subject, metric), value in by(villages).items()
            if subject != OTHER_VILLAGE
        }
        assert [(e.subject_id, e.kind, e.code, e.points) for e in effects] == [
            (VILLAGE, "veto", "split_household", None)
        ]
        assert sorted((e.kind, e.code, e.points) for e in township_effects) == [
            ("deduction", "E5", Decimal("3.0000")),
            ("veto", "split_household", None),
        ]

    async def test_the_figures_route(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        await self.hand_made(api, people, world)
        response = await api.get(f"/figures/village?year={YEAR}&region={COUNTY}", headers=people.admin)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert [i["id"] for i in items] == [VILLAGE, SIBLING_VILLAGE]
        first = items[0]
        assert (
            first["subject_type"] == "village" and first["year"] == YEAR and first["parent_code"] == TOWNSHIP
        )
        assert first["figures"]["identification_accuracy"] == "75.00"
        assert (
            first["figures"]["findings_mis_identified"] == 1
            and first["figures"]["split_households_confirmed"] == 1
        )
        paged = await api.get(f"/figures/village?year={YEAR}&region={COUNTY}&limit=1", headers=people.admin)
        assert [i["id"] for i in paged.json()["items"]] == [VILLAGE]
        rest = await api.get(
            f"/figures/village?year={YEAR}&region={COUNTY}&cursor={paged.json()['next_cursor']}",
            headers=people.admin,
        )
        assert [i["id"] for i in rest.json()["items"]] == [SIBLING_VILLAGE] and rest.json()[
            "next_cursor"
        ] is None
        streamed = await api.get(
            f"/figures/township?year={YEAR}&region={TOWNSHIP}",
            headers={**people.township, "Accept": "application/x-ndjson"},
        )
        assert streamed.headers["content-type"].startswith("application/x-ndjson")
        (line,) = streamed.text.strip().splitlines()
        assert '"funds_misused_confirmed":1' in line and '"training_sessions":null' in line

    async def test_figures_scope_role_and_input(self, api: httpx.AsyncClient, people: People) -> None:
        path = f"/figures/village?year={YEAR}&region={COUNTY}"
        assert_problem(await api.get(path, headers=people.clerk), 403)
        assert_problem(await api.get(path, headers=people.cadre), 403)
        assert_problem(await api.get(path, headers=people.other_admin), 404)
        assert (await api.get(path, headers=people.province)).json()["items"] == []
        assert errors_at(
            await api.get(f"/figures/village?year=2012&region={COUNTY}", headers=people.admin)
        ) == ["year"]
        assert errors_at(
            await api.get(f"/figures/village?year={YEAR}&region=4510", headers=people.admin)
        ) == ["region"]
        assert_problem(
            await api.get(f"/figures/village?year={YEAR}&region={COUNTY}&cursor=x", headers=people.admin), 400
        )


# -- rectifications ---------------------------------------------------------------------------------------------
class TestRectifications:
    async def confirmed(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> dict[str, Any]:
        found = await report(
            api, people.township, world["inspection"]["id"], finding_body("village", VILLAGE)
        )
        return await confirm(api, people.township2, found["id"])

    def order(self, **extra: Any) -> dict[str, Any]:
        return {
            "owner": {"kind": "region_office", "id": VILLAGE, "name": "旧州村两委"},
            "deadline": "2016-06-30",
            "requirement": "补齐帮扶手册收入核算页",
            **extra,
        }

    async def test_the_lifecycle(
        self,
        api: httpx.AsyncClient,
        people: People,
        world: dict[str, Any],
        clock: Clock,
        db_urls: dict[str, str],
    ) -> None:
        found = await self.confirmed(api, people, world)
        response = await api.post(
            f"/findings/{found['id']}/rectifications", json=self.order(), headers=people.township
        )
        assert response.status_code == 201, response.text
        task = response.json()
        assert response.headers["Location"] == f"/rectifications/{task['id']}"
        assert task["status"] == "open" and task["overdue"] is False and task["region_code"] == VILLAGE
        assert task["owner"] == {
            "kind": "region_office",
            "id": VILLAGE,
            "name": "旧州村两委",
            "responsible_sub": None,
        }
        assert [s["step"] for s in task["history"]] == ["ordered"]
        again = await api.post(
            f"/findings/{found['id']}/rectifications", json=self.order(), headers=people.township
        )
        assert assert_problem(again, 409)["code"] == "rectification_open"
        path = f"/rectifications/{task['id']}"
        # The owner reports, with evidence; not the checking side.
        assert_problem(
            await api.post(f"{path}/submission", json={"response": "x"}, headers=people.township), 403
        )
        assert (
            await api.post(
                f"{path}/evidence", content=PNG, headers={**people.clerk, "Content-Type": "image/png"}
            )
        ).status_code == 201
        submitted = await api.post(f"{path}/submission", json={"response": "已补齐"}, headers=people.clerk)
        assert submitted.status_code == 200 and submitted.json()["status"] == "submitted"
        assert submitted.json()["rounds"] == 1 and len(submitted.json()["evidence"]) == 1
        assert_problem(await api.post(f"{path}/acceptance", headers=people.clerk), 403)
        reopened = await api.post(
            f"{path}/reopening",
            json={"reason": "核算页缺签字", "deadline": "2016-07-15"},
            headers=people.township,
        )
        assert reopened.status_code == 200 and reopened.json()["status"] == "reopened"
        assert reopened.json()["deadline"] == "2016-07-15"
        await api.post(f"{path}/submission", json={"response": "已补签"}, headers=people.clerk)
        accepted = await api.post(f"{path}/acceptance", json={"note": "销号"}, headers=people.admin)
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
        assert [s["step"] for s in accepted.json()["history"]] == [
            "ordered",
            "submitted",
            "reopened",
            "submitted",
            "accepted",
        ]
        assert assert_problem(await api.post(f"{path}/acceptance", headers=people.admin), 409)["code"] == (
            "rectification_not_submitted"
        )
        actions = await rows(
            db_urls, "SELECT action FROM assessment_audit_event WHERE record_id = $1 ORDER BY id", task["id"]
        )
        assert [a["action"] for a in actions] == [
            "rectification.order",
            "rectification.evidence",
            "rectification.submit",
            "rectification.reopen",
            "rectification.submit",
            "rectification.accept",
        ]

    async def test_bad_input(self, api: httpx.AsyncClient, people: People, world: dict[str, Any]) -> None:
        found = await self.confirmed(api, people, world)
        path = f"/findings/{found['id']}/rectifications"
        cases = [
            (self.order(deadline="2016-06-01"), "/deadline"),  # the finding's own day
            (self.order(deadline="2016-05-20"), "/deadline"),
            (self.order(owner={"kind": "region_office", "id": OTHER_VILLAGE}), "/owner/id"),
            (self.order(owner={"kind": "helping_unit", "id": str(uuid.uuid4())}), "/owner/responsible_sub"),
            (self.order(owner={"kind": "helping_unit", "id": "x", "responsible_sub": "u"}), "/owner/id"),
            (
                self.order(owner={"kind": "helping_unit", "id": str(uuid.uuid4()), "responsible_sub": "u"}),
                "/owner/id",
            ),
            (self.order(requirement=""), "/requirement"),
            (self.order(owner={"kind": "team", "id": "x"}), "/owner/kind"),
        ]
        for body, where in cases:
            assert errors_at(await api.post(path, json=body, headers=people.township)) == [where], body

    async def test_only_confirmed_and_only_the_checking_side(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any]
    ) -> None:
        reported = await report(
            api, people.township, world["inspection"]["id"], finding_body("village", VILLAGE)
        )
        response = await api.post(
            f"/findings/{reported['id']}/rectifications", json=self.order(), headers=people.township
        )
        assert assert_problem(response, 409)["code"] == "finding_not_confirmed"
        found = await confirm(api, people.township2, reported["id"])
        response = await api.post(
            f"/findings/{found['id']}/rectifications", json=self.order(), headers=people.clerk
        )
        assert assert_problem(response, 403)["code"] == "rectification_reviewer_required"
        assert_problem(
            await api.post(
                f"/findings/{found['id']}/rectifications", json=self.order(), headers=people.other_admin
            ),
            404,
        )

    async def test_overdue_and_the_summary(
        self, api: httpx.AsyncClient, people: People, world: dict[str, Any], clock: Clock
    ) -> None:
        found = await self.confirmed(api, people, world)
        late = (
            await api.post(
                f"/findings/{found['id']}/rectifications", json=self.order(), headers=people.township
            )
        ).json()
        other = await report(
            api, people.township, world["inspection"]["id"], finding_body("village", SIBLING_VILLAGE)
        )
        await confirm(api, people.township2, other["id"])
        owner = {"kind": "user", "id": "cadre-1", "name": "王干部"}
        on_time = (
            await api.post(
                f"/findings/{other['id']}/rectifications",
                json=self.order(owner=owner, deadline="2016-08-31"),
                headers=people.township,
            )
        ).json()
        clock.now = datetime(2016, 7, 5, 2, 0, tzinfo=UTC)
        response = await api.get(f"/rectifications?overdue=true&region={COUNTY}", headers=people.admin)
        assert response.status_code == 200, response.text
        (item,) = response.json()["items"]
        assert item["id"] == late["id"] and item["overdue"] is True and item["days_overdue"] == 5
        others = await api.get(f"/rectifications?overdue=false&region={COUNTY}", headers=people.admin)
        assert [i["id"] for i in others.json()["items"]] == [on_time["id"]]
        # The cadre who owns a task sees it (and only it); the village sees its own.
        assert [
            i["id"] for i in (await api.get("/rectifications", headers=people.cadre)).json()["items"]
        ] == [on_time["id"]]
        assert [
            i["id"] for i in (await api.get("/rectifications", headers=people.clerk)).json()["items"]
        ] == [late["id"]]
        summary = await api.get(f"/rectifications/summary?region={COUNTY}&year={YEAR}", headers=people.admin)
        assert summary.status_code == 200, summary.text
        body = summary.json()
        assert body["as_of"] == "2016-07-05"
        assert body["regions"] == [
            {
                "region_code": TOWNSHIP,
                "total": 2,
                "open": 2,
                "submitted": 0,
                "reopened": 0,
                "accepted": 0,
                "overdue": 1,
            }
        ]
        township = (
            await api.get(f"/rectifications/summary?region={TOWNSHIP}", headers=people.township)
        ).json()
        assert [(r["region_code"], r["overdue"]) for r in township["regions"]] == [
            (VILLAGE, 1),
            (SIBLING_VILLAGE, 0),
        ]
        assert_problem(
            await api.get(f"/rectifications/summary?region={COUNTY}", headers=people.other_admin), 404
        )
        assert_problem(
            await api.get(f"/rectifications/summary?region={COUNTY}", headers=people.township), 404
        )
        assert errors_at(await api.get("/rectifications/summary", headers=people.admin)) == ["region"]
        assert errors_at(await api.get("/rectifications?overdue=maybe", headers=people.admin)) == ["overdue"]

    async def test_read_in_scope(self, api: httpx.AsyncClient, people: People, world: dict[str, Any]) -> None:
        found = await self.confirmed(api, people, world)
        task = (
            await api.post(
                f"/findings/{found['id']}/rectifications", json=self.order(), headers=people.township
            )
        ).json()
        assert (await api.get(f"/rectifications/{task['id']}", headers=people.clerk)).status_code == 200
        assert_problem(await api.get(f"/rectifications/{task['id']}", headers=people.other_township), 404)
        assert_problem(await api.get(f"/rectifications/{task['id']}", headers=people.cadre), 404)


# -- manual entries ---------------------------------------------------------------------------------------------
def entry(**extra: Any) -> dict[str, Any]:
    return {
        "subject_type": "helping_unit",
        "subject_id": "2f0c9c5e-0000-4000-8000-000000000001",
        "region_code": COUNTY,
        "year": YEAR,
        "metric_code": "main_leader_visited",
        "value": "1",
        "reason": "局长于5月12日到村调研",
        **extra,
    }


class TestManualEntries:
    async def test_versioned(self, api: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        response = await api.post("/manual-entries", json=entry(), headers=people.admin)
        assert response.status_code == 201, response.text
        first = response.json()
        assert (
            response.headers["Location"] == f"/manual-entries/{first['id']}"
            and response.headers["ETag"] == '"1"'
        )
        assert first["version"] == 1 and first["latest"] is True and first["value"] == "1"
        again = await api.post("/manual-entries", json=entry(value="0", reason="x"), headers=people.admin)
        assert assert_problem(again, 409)["code"] == "manual_entry_exists"
        path = f"/manual-entries/{first['id']}/corrections"
        assert_problem(await api.post(path, json={"value": "0", "reason": "改"}, headers=people.admin), 428)
        assert_problem(
            await api.post(
                path, json={"value": "0", "reason": "改"}, headers={**people.admin, "If-Match": '"2"'}
            ),
            412,
        )
        assert errors_at(
            await api.post(
                path, json={"value": "0", "reason": " "}, headers={**people.admin, "If-Match": '"1"'}
            )
        ) == ["/reason"]
        corrected = await api.post(
            path,
            json={"value": "0", "reason": "核实为副局长到村"},
            headers={**people.admin2, "If-Match": '"1"'},
        )
        assert corrected.status_code == 201, corrected.text
        second = corrected.json()
        assert (
            second["version"] == 2
            and second["supersedes"] == first["id"]
            and second["lineage_id"] == first["id"]
        )
        old = (await api.get(f"/manual-entries/{first['id']}", headers=people.admin)).json()
        assert old["value"] == "1" and old["latest"] is False and old["latest_version"] == 2
        versions = (await api.get(f"/manual-entries/{second['id']}/versions", headers=people.admin)).json()[
            "items"
        ]
        assert [(v["version"], v["value"], v["created_by"]) for v in versions] == [
            (1, "1", "county-1"),
            (2, "0", "county-2"),
        ]
        listed = (await api.get(f"/manual-entries?year={YEAR}", headers=people.admin)).json()["items"]
        assert [(e["id"], e["value"]) for e in listed] == [(second["id"], "0")]
        # Append-only: the database refuses to rewrite a version.
        with pytest.raises(asyncpg.RaiseError):
            await rows(db_urls, "UPDATE assessment_manual_entry SET value = 5")
        audit = await rows(
            db_urls,
            "SELECT action, reason FROM assessment_audit_event WHERE record_type = 'manual_entry' ORDER BY id",
        )
        assert [(a["action"], a["reason"]) for a in audit] == [
            ("manual_entry.create", "局长于5月12日到村调研"),
            ("manual_entry.correct", "核实为副局长到村"),
        ]

    async def test_bad_input(self, api: httpx.AsyncClient, people: People, db_urls: dict[str, str]) -> None:
        cases = [
            (entry(value="2"), "/value"),
            (entry(metric_code="no_such_metric"), "/metric_code"),
            (entry(metric_code="poverty_incidence"), "/metric_code"),
            (entry(metric_code="training_sessions"), "/metric_code"),
            (entry(reason="   "), "/reason"),
            (entry(reason=""), "/reason"),
            (entry(region_code=None), "/region_code"),
            (entry(subject_id="not-a-uuid"), "/subject_id"),
            (entry(metric_code=None), "/metric_code"),
            (entry(indicator_code="C6"), "/metric_code"),
            (entry(year=2017), "/year"),
            (entry(subject_type="village", subject_id=TOWNSHIP, region_code=None), "/subject_id"),
        ]
        for body, where in cases:
            assert errors_at(await api.post("/manual-entries", json=body, headers=people.admin)) == [where], (
                body
            )
        assert await rows(db_urls, "SELECT id FROM assessment_manual_entry") == []

    async def test_who_enters(self, api: httpx.AsyncClient, people: People) -> None:
        township = {
            "subject_type": "township",
            "subject_id": TOWNSHIP,
            "region_code": None,
            "metric_code": "training_sessions",
            "value": 2,
        }
        problem = assert_problem(
            await api.post("/manual-entries", json=entry(**township), headers=people.township), 403
        )
        assert problem["code"] == "own_assessment"
        assert (
            await api.post("/manual-entries", json=entry(**township), headers=people.admin)
        ).status_code == 201
        for who in ("clerk", "cadre", "province"):
            problem = assert_problem(
                await api.post("/manual-entries", json=entry(), headers=getattr(people, who)), 403
            )
            assert problem["code"] == "manual_editor_required"
        assert_problem(await api.post("/manual-entries", json=entry(), headers=people.other_admin), 404)
        assert_problem(
            await api.post("/manual-entries", json=entry(region_code=OTHER_VILLAGE), headers=people.township),
            404,
        )

    async def test_read_in_scope(self, api: httpx.AsyncClient, people: People) -> None:
        created = (await api.post("/manual-entries", json=entry(), headers=people.admin)).json()
        assert_problem(await api.get(f"/manual-entries/{created['id']}", headers=people.other_admin), 404)
        assert_problem(await api.get(f"/manual-entries/{created['id']}", headers=people.clerk), 403)
        assert (await api.get(f"/manual-entries/{created['id']}", headers=people.province)).status_code == 200
        assert (await api.get("/manual-entries", headers=people.other_admin)).json()["items"] == []

    async def test_a_manual_indicator_with_evidence(
        self, api: httpx.AsyncClient, people: People, db_urls: dict[str, str]
    ) -> None:
        scheme = await api.post(f"/schemes?template=C&year={YEAR}", headers=people.admin)
        assert scheme.status_code == 201, scheme.text
        cadre = str(uuid.uuid4())
        body = {
            "subject_type": "cadre",
            "subject_id": cadre,
            "region_code": TOWNSHIP,
            "year": YEAR,
            "scheme_id": scheme.json()["id"],
            "indicator_code": "C6",
            "value": "8.5",
            "reason": "户和村委签字确认",
        }
        assert errors_at(
            await api.post("/manual-entries", json={**body, "value": "11"}, headers=people.township)
        ) == ["/value"]
        assert errors_at(
            await api.post("/manual-entries", json={**body, "indicator_code": "C1"}, headers=people.township)
        ) == ["/indicator_code"]
        assert errors_at(
            await api.post(
                "/manual-entries", json={**body, "scheme_id": str(uuid.uuid4())}, headers=people.township
            )
        ) == ["/scheme_id"]
        response = await api.post("/manual-entries", json=body, headers=people.township)
        assert response.status_code == 201, response.text
        created = response.json()
        assert (
            created["evidence_required"] is True
            and created["scheme_lineage_id"] == scheme.json()["lineage_id"]
        )
        upload = await api.post(
            f"/manual-entries/{created['id']}/evidence",
            content=PNG,
            headers={**people.township, "Content-Type": "image/png"},
        )
        assert upload.status_code == 201, upload.text
        async with session(db_urls) as s:
            scores = await manual_scores_for(
                s, YEAR, "451025", "cadre", uuid.UUID(scheme.json()["lineage_id"])
            )
        assert [(r.subject_id, r.indicator_code, r.points, r.reason, len(r.evidence)) for r in scores] == [
            (cadre, "C6", Decimal("8.5000"), "户和村委签字确认", 1)
        ]
