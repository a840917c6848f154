"""Run routes (issue #12 "Done when"): the worked example of DOMAIN.md §6.6 through the API (86.76 良好; 不合格 after a
confirmed split household), failures (a source down mid-freeze → failed, nothing stored), publication locking the
results in the database, appeals and corrections as new versions, interim runs never published, what-if against a
published run, access (403 / 404 / 422), and the lifespan's worker. The registry and planning are stand-ins over
HTTP here (mock transports serving `GET /figures/{subject_type}`); test_runs_registry.py runs against the real
registry. Runs are jobs on the real queue (procrastinate on PostgreSQL), drained in process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.assessment.sources import LocalFigure, LocalManualScore
from shared.jwt import SigningKey
from tests.assessment.conftest import RunsApp, drain, started
from tests.factories import COUNTY, OTHER_COUNTY, PROVINCE, TOWNSHIP, Headers, assert_problem, headers_for

V1, V2, V3 = "451025100201", "451025100202", "451025101201"
YEAR = 2015
NAMES = {V1: "旧州村", V2: "渠洋村", V3: "化峒村"}
PARENT = {V1: TOWNSHIP, V2: TOWNSHIP, V3: "451025101000"}

#: Village V of §6.6, as the registry and planning would serve it.
REGISTRY_V = {
    "exited_people": 34,
    "exit_quota_people": 40,
    "poverty_incidence": "7.10",
    "returnees_increase": -2,
    "income_growth": "12.00",
    "share_households_above_line": "85.00",
    "ncms_coverage": "98.50",
    "pension_coverage": "50.00",
    "junior_middle_enrolment": "99.20",
    "industry_coverage": "100.00",
    "incomplete_cards": 1,
    "notices_on_time": True,
    "deadline_jan_update_met": True,
    "deadline_feb_upload_met": True,
    "monitoring_rounds_closed": 2,
}
PLANNING_V = {
    "road_to_group_coverage": "80.00",
    "safe_water_coverage": "99.00",
    "power_and_broadband": True,
    "biogas_coverage": "0.00",
    "clinic_with_doctor": True,
    "collective_income_fen": 1200000,
    "has_cooperative": False,
}
INSPECTION_METRICS = (
    "split_households_confirmed",
    "fabricated_data_confirmed",
    "favouritism_confirmed",
    "empty_households_confirmed",
    "funds_misused_confirmed",
)


@dataclass
class FigureServer:
    """A stand-in for `GET /figures/{subject_type}` of one service: rows by subject, keyset-ish pages."""

    rows: dict[str, dict[str, Any]]
    down_after: int | None = None  # answer 503 to every page after this many
    route_missing: bool = False  # a service without the figures route
    calls: int = 0
    seen: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/auth/token":
            return httpx.Response(200, json={"access_token": "stand-in", "expires_in": 300})
        self.seen.append(str(request.url))
        if self.route_missing or not request.url.path.startswith("/figures/"):
            return httpx.Response(404, json={"detail": "no such route"})
        self.calls += 1
        if self.down_after is not None and self.calls > self.down_after:
            return httpx.Response(503, json={"title": "Unavailable", "detail": "database restarting"})
        region = request.url.params["region"]
        limit = int(request.url.params["limit"])
        start = int(request.url.params.get("cursor") or 0)
        ids = sorted(i for i in self.rows if i.startswith(region[:6]))
        page = ids[start : start + limit]
        items = [
            {
                "subject_type": "village",
                "id": i,
                "year": int(request.url.params["year"]),
                "name": NAMES.get(i, i),
                "parent_code": PARENT.get(i),
                "parent_name": None,
                "figures": self.rows[i],
            }
            for i in page
        ]
        more = start + limit < len(ids)
        return httpx.Response(200, json={"items": items, "next_cursor": str(start + limit) if more else None})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)


@dataclass
class Inspections:
    """Stand-in local figures: confirmed findings by (subject, metric); manual scores by (subject, indicator)."""

    counts: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    manual: dict[tuple[str, str], tuple[Decimal, str]] = field(default_factory=dict)

    async def figures(self, session: Any, **kw: Any) -> list[LocalFigure]:
        return [
            LocalFigure(s, m, self.counts.get((s, m), Decimal(0)))
            for s in kw["subjects"]
            for m in kw["metrics"]
        ]

    async def manual_scores(self, session: Any, **kw: Any) -> list[LocalManualScore]:
        return [LocalManualScore(s, i, p, r) for (s, i), (p, r) in self.manual.items()]


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    registry: FigureServer
    planning: FigureServer
    inspections: Inspections
    admin: Headers
    township: Headers
    clerk: Headers
    other_clerk: Headers
    cadre: Headers
    province: Headers
    other_admin: Headers
    db_url: str

    async def scheme(self, template: str = "B", *, publish: bool = True) -> str:
        response = await self.client.post(f"/schemes?template={template}&year={YEAR}", headers=self.admin)
        assert response.status_code == 201, response.text
        scheme_id: str = response.json()["id"]
        if publish:
            published = await self.client.post(f"/schemes/{scheme_id}/publication", headers=self.admin)
            assert published.status_code == 200, published.text
        return scheme_id

    async def run(
        self, scheme_id: str, *, kind: str = "annual", region: str = COUNTY, **extra: Any
    ) -> dict[str, Any]:
        body = {"scheme_id": scheme_id, "year": YEAR, "region": region, "kind": kind, **extra}
        response = await self.client.post("/runs", json=body, headers=self.admin)
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "queued" and response.headers["Location"].startswith("/runs/")
        await drain(self.app)
        found = await self.client.get(f"/runs/{response.json()['id']}", headers=self.admin)
        assert found.status_code == 200, found.text
        run: dict[str, Any] = found.json()
        return run

    async def rows(self, statement: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.db_url)
        try:
            return list(await conn.fetch(statement, *args))
        finally:
            await conn.close()


@pytest.fixture
async def world(runs_app: RunsApp, signing_key: SigningKey, db_urls: dict[str, str]) -> AsyncIterator[World]:
    registry = FigureServer(
        {V1: dict(REGISTRY_V), V2: dict(REGISTRY_V), V3: {**REGISTRY_V, "exited_people": 20}}
    )
    planning = FigureServer({V1: dict(PLANNING_V), V2: dict(PLANNING_V), V3: dict(PLANNING_V)})
    inspections = Inspections(counts={(V2, "split_households_confirmed"): Decimal(1)})
    app = runs_app(
        registry=registry.transport(),
        planning=planning.transport(),
        gateway=registry.transport(),
        local=inspections,
    )
    async with started(app) as client:
        yield World(
            app=app,
            client=client,
            registry=registry,
            planning=planning,
            inspections=inspections,
            admin=headers_for(signing_key, "county_admin", COUNTY, "county-1"),
            township=headers_for(signing_key, "township_officer", TOWNSHIP, "township-1"),
            clerk=headers_for(signing_key, "village_officer", V1, "clerk-1"),
            other_clerk=headers_for(signing_key, "village_officer", V2, "clerk-2"),
            cadre=headers_for(signing_key, "cadre", COUNTY, "cadre-1"),
            province=headers_for(signing_key, "province_system", PROVINCE, "province-1"),
            other_admin=headers_for(signing_key, "county_admin", OTHER_COUNTY, "county-2"),
            db_url=db_urls["assessment"],
        )


X = "\u00d7"


class TestWorkedExample:
    async def test_village_v_scores_86_76_good_and_a_split_household_fails_it(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        assert run["status"] == "scored", run
        assert run["subjects"] == 3 and run["version"] == 1
        found = await world.client.get(f"/runs/{run['id']}/results/{V1}", headers=world.admin)
        assert found.status_code == 200, found.text
        result = found.json()
        assert (result["score"], result["grade"], result["vetoes"]) == ("86.76", "good", [])
        assert result["explanation_zh"] == "86.76 + 加分 0 = 86.76,良好"
        by_code = {i["code"]: i for i in result["indicators"]}
        assert by_code["B1.1"]["explanation_zh"] == f"按完成比例:15 {X} 34/40 = 12.75"
        assert by_code["B1.1"]["value"] == "34" and by_code["B1.1"]["target"] == "40"
        assert by_code["B1.1"]["rule"] == "linear" and by_code["B1.1"]["metric_label"] == "本年脱贫人数"
        assert by_code["B2.2"]["explanation_en"] == f"7 {X} 85/90 = 6.6111 → 6.61"
        assert by_code["B1"]["points"] == "27.75" and by_code["B2"]["points"] == "13.01"
        assert [i["code"] for i in result["indicators"]][:4] == ["B1", "B1.1", "B1.2", "B1.3"]  # depth first
        # 渠洋村: the same figures, and a spot check confirmed a split household (拆户): 不合格 whatever its score.
        vetoed = (await world.client.get(f"/runs/{run['id']}/results/{V2}", headers=world.admin)).json()
        assert (vetoed["score"], vetoed["grade_by_score"], vetoed["grade"]) == (
            "86.76",
            "good",
            "unqualified",
        )
        (veto,) = vetoed["vetoes"]
        assert veto["code"] == "split_household" and "拆户" in veto["reason"] and veto["value"] == "1"
        assert "一票否决" in vetoed["explanation_zh"] and "拆户" in vetoed["explanation_zh"]

    async def test_rankings_within_townships(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        page = (await world.client.get(f"/runs/{run['id']}/results", headers=world.admin)).json()
        ranks = {
            r["subject_id"]: (
                r["peer_group"] if "peer_group" in r else r["parent_code"],
                r["rank"],
                r["peers"],
            )
            for r in page["items"]
        }
        assert ranks[V1] == (TOWNSHIP, 1, 2) and ranks[V2] == (TOWNSHIP, 2, 2)  # the vetoed one ranks below
        assert ranks[V3][1:] == (1, 1)
        township = (await world.client.get(f"/runs/{run['id']}/results", headers=world.township)).json()
        assert {r["subject_id"] for r in township["items"]} == {V1, V2}  # their township's only

    async def test_snapshot_is_frozen_and_pulled_in_pages(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        assert world.registry.calls == 2  # 3 villages, pages of 2
        assert any("cursor=2" in url for url in world.registry.seen)
        frozen = await world.rows(
            "SELECT subject_id, value, source FROM assessment_snapshot WHERE run_id = $1 AND metric_code = $2",
            uuid.UUID(run["id"]),
            "road_to_group_coverage",
        )
        assert {(r["subject_id"], r["value"], r["source"]) for r in frozen} == {
            (v, Decimal("80.0000"), "planning") for v in (V1, V2, V3)
        }
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await world.rows(
                "UPDATE assessment_snapshot SET value = 0 WHERE run_id = $1", uuid.UUID(run["id"])
            )


class TestFailures:
    async def test_the_registry_down_mid_freeze_fails_the_run_and_stores_nothing(self, world: World) -> None:
        world.registry.down_after = 1  # the first page answers, the second never does
        run = await world.run(await world.scheme("B"))
        assert run["status"] == "failed" and run["failure_code"] == "registry_unavailable", run
        assert "503" in run["failure_reason"] and "nothing was stored" in run["failure_reason"]
        run_id = uuid.UUID(run["id"])
        for table in ("assessment_snapshot", "assessment_snapshot_subject", "assessment_result"):
            found = await world.rows(f"SELECT count(*) FROM {table} WHERE run_id = $1", run_id)  # noqa: S608
            assert found[0][0] == 0, table
        results = await world.client.get(f"/runs/{run['id']}/results", headers=world.admin)
        assert_problem(results, 409)

    async def test_planning_without_figures_fails_the_run_visibly(self, world: World) -> None:
        world.planning.route_missing = True
        run = await world.run(await world.scheme("B"))
        assert run["status"] == "failed" and run["failure_code"] == "planning_not_found", run


class TestPublication:
    async def test_published_results_are_locked_by_the_database(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        published = await world.client.post(f"/runs/{run['id']}/publication", headers=world.admin)
        assert published.status_code == 200 and published.json()["status"] == "published", published.text
        again = await world.client.post(f"/runs/{run['id']}/publication", headers=world.admin)
        assert_problem(again, 409)
        run_id = uuid.UUID(run["id"])
        with pytest.raises(asyncpg.RaiseError):
            await world.rows("UPDATE assessment_result SET score = 100 WHERE run_id = $1", run_id)
        with pytest.raises(asyncpg.RaiseError):
            await world.rows("UPDATE assessment_run SET status = 'scored' WHERE id = $1", run_id)
        with pytest.raises(asyncpg.RaiseError):
            await world.rows(
                "INSERT INTO assessment_result_indicator (run_id, subject_id, indicator_code, level, position, kind,"
                " max_points, points, rule) VALUES ($1, 'x', 'x', 1, 0, 'leaf', 1, 1, 'manual')",
                run_id,
            )

    async def test_interim_runs_are_never_published(self, world: World) -> None:
        run = await world.run(await world.scheme("B"), kind="interim_june")
        assert run["status"] == "scored"
        refused = await world.client.post(f"/runs/{run['id']}/publication", headers=world.admin)
        assert assert_problem(refused, 409)["code"] == "run_not_publishable"

    async def test_appeal_answer_and_correction_as_a_new_version(self, world: World) -> None:
        scheme = await world.scheme("B")
        run = await world.run(scheme)
        # before publication: no appeal
        early = await world.client.post(
            f"/runs/{run['id']}/results/{V2}/appeals",
            json={"reason": "拆户认定有误"},
            headers=world.other_clerk,
        )
        assert_problem(early, 404)  # a village officer sees published results only
        await world.client.post(f"/runs/{run['id']}/publication", headers=world.admin)
        # the village officer reads and appeals their own village's result; not another's
        own = await world.client.get(f"/runs/{run['id']}/results/{V2}", headers=world.other_clerk)
        assert own.status_code == 200 and own.json()["grade"] == "unqualified"
        assert_problem(
            await world.client.get(f"/runs/{run['id']}/results/{V1}", headers=world.other_clerk), 404
        )
        assert_problem(await world.client.get(f"/runs/{run['id']}/results", headers=world.other_clerk), 403)
        filed = await world.client.post(
            f"/runs/{run['id']}/results/{V2}/appeals",
            json={"reason": "拆户认定有误"},
            headers=world.other_clerk,
        )
        assert filed.status_code == 201, filed.text
        appeal = filed.json()
        assert filed.headers["Location"] == f"/appeals/{appeal['id']}" and appeal["status"] == "open"
        assert_problem(
            await world.client.post(
                f"/appeals/{appeal['id']}/answer",
                json={"decision": "upheld", "answer": "x"},
                headers=world.township,
            ),
            403,
        )
        assert_problem(
            await world.client.post(f"/runs/{run['id']}/corrections", headers=world.admin), 409
        )  # nothing upheld yet
        answered = await world.client.post(
            f"/appeals/{appeal['id']}/answer",
            json={"decision": "upheld", "answer": "复核确认不存在拆户"},
            headers=world.admin,
        )
        assert answered.status_code == 200 and answered.json()["status"] == "upheld", answered.text
        # the finding is withdrawn; the correction is a new version, frozen anew
        world.inspections.counts.clear()
        correction = await world.client.post(f"/runs/{run['id']}/corrections", headers=world.admin)
        assert correction.status_code == 202, correction.text
        assert correction.json()["version"] == 2 and correction.json()["corrects_run_id"] == run["id"]
        await drain(world.app)
        corrected = (
            await world.client.get(f"/runs/{correction.json()['id']}/results/{V2}", headers=world.admin)
        ).json()
        assert corrected["grade"] == "good"
        diff = (await world.client.get(f"/runs/{correction.json()['id']}/diff", headers=world.admin)).json()
        assert diff["against_run_id"] == run["id"]
        (moved,) = diff["items"]
        assert (moved["subject_id"], moved["grade_before"], moved["grade_after"]) == (
            V2,
            "unqualified",
            "good",
        )
        assert (
            moved["causes"][0]["kind"] == "veto"
            and moved["causes"][0]["metric"] == "split_households_confirmed"
        )
        assert (moved["causes"][0]["value_before"], moved["causes"][0]["value_after"]) == ("1", "0")
        # the earlier result stays readable, and is superseded once the correction is published
        await world.client.post(f"/runs/{correction.json()['id']}/publication", headers=world.admin)
        earlier = (await world.client.get(f"/runs/{run['id']}", headers=world.admin)).json()
        assert earlier["superseded_by"] == correction.json()["id"]
        old = (await world.client.get(f"/runs/{run['id']}/results/{V2}", headers=world.admin)).json()
        assert old["grade"] == "unqualified"
        shown = (await world.client.get(f"/appeals/{appeal['id']}", headers=world.other_clerk)).json()
        assert shown["correction_run_id"] == correction.json()["id"]


class TestWhatIf:
    async def test_a_draft_scheme_against_a_published_snapshot(self, world: World) -> None:
        scheme = await world.scheme("B")
        run = await world.run(scheme)
        # a what-if needs a published baseline
        draft = await world.scheme("B", publish=False)
        early = await world.client.post(
            "/runs",
            json={
                "scheme_id": draft,
                "year": YEAR,
                "region": COUNTY,
                "kind": "what_if",
                "baseline_run_id": run["id"],
            },
            headers=world.admin,
        )
        assert assert_problem(early, 409)["code"] == "baseline_not_published"
        await world.client.post(f"/runs/{run['id']}/publication", headers=world.admin)
        # the draft drops the split-household veto
        current = (await world.client.get(f"/schemes/{draft}", headers=world.admin)).json()
        vetoes = [v for v in current["vetoes"] if v["code"] != "split_household"]
        patched = await world.client.patch(
            f"/schemes/{draft}", json={"vetoes": vetoes}, headers=world.admin | {"If-Match": '"1"'}
        )
        assert patched.status_code == 200, patched.text
        calls = world.registry.calls
        what_if = await world.run(draft, kind="what_if", baseline_run_id=run["id"])
        assert what_if["status"] == "scored" and what_if["snapshot_run_id"] == run["id"]
        assert world.registry.calls == calls  # no freeze: the baseline's snapshot
        diff = (await world.client.get(f"/runs/{what_if['id']}/diff", headers=world.admin)).json()
        assert diff["against_run_id"] == run["id"]
        assert [(m["subject_id"], m["grade_before"], m["grade_after"]) for m in diff["items"]] == [
            (V2, "unqualified", "good")
        ]
        refused = await world.client.post(f"/runs/{what_if['id']}/publication", headers=world.admin)
        assert assert_problem(refused, 409)["code"] == "run_not_publishable"

    async def test_the_same_scheme_again_changes_nothing(self, world: World) -> None:
        scheme = await world.scheme("B")
        run = await world.run(scheme)
        await world.client.post(f"/runs/{run['id']}/publication", headers=world.admin)
        again = await world.run(scheme, kind="what_if", baseline_run_id=run["id"])
        diff = (await world.client.get(f"/runs/{again['id']}/diff", headers=world.admin)).json()
        assert diff["items"] == []


class TestAccess:
    async def test_only_county_admins_run_in_their_county(self, world: World) -> None:
        scheme = await world.scheme("B")
        body = {"scheme_id": scheme, "year": YEAR, "region": COUNTY}
        for who in (world.township, world.clerk, world.cadre, world.province):
            assert_problem(await world.client.post("/runs", json=body, headers=who), 403)
        assert_problem(await world.client.post("/runs", json=body, headers=world.other_admin), 404)
        outside = await world.client.post(
            "/runs", json={**body, "region": "451026000000"}, headers=world.admin
        )
        assert assert_problem(outside, 422)["code"] == "region_outside_county"
        wrong_year = await world.client.post("/runs", json={**body, "year": 2016}, headers=world.admin)
        assert assert_problem(wrong_year, 422)["code"] == "year_mismatch"
        bad = await world.client.post("/runs", json={**body, "kind": "weekly"}, headers=world.admin)
        assert_problem(bad, 422)
        draft = await world.scheme("B", publish=False)
        refused = await world.client.post("/runs", json={**body, "scheme_id": draft}, headers=world.admin)
        assert assert_problem(refused, 409)["code"] == "scheme_not_published"

    async def test_who_reads_runs_and_results(self, world: World) -> None:
        run = await world.run(await world.scheme("B"))
        path = f"/runs/{run['id']}"
        assert (await world.client.get(path, headers=world.township)).status_code == 200
        assert_problem(await world.client.get(path, headers=world.other_admin), 404)
        assert_problem(await world.client.get(path, headers=world.province), 404)  # not published yet
        assert_problem(await world.client.get(f"{path}/results/{V3}", headers=world.township), 404)
        await world.client.post(f"{path}/publication", headers=world.admin)
        assert (await world.client.get(f"{path}/results/{V1}", headers=world.province)).status_code == 200
        assert_problem(await world.client.post(f"{path}/publication", headers=world.province), 403)
        listed = await world.client.get("/runs", headers=world.province)
        assert [r["id"] for r in listed.json()["items"]] == [run["id"]]
        assert_problem(await world.client.get("/runs?colour=red", headers=world.admin), 400)


class TestUnlistedSubjects:
    def test_every_subject_type_is_listed_or_says_why_not(self) -> None:
        from services.assessment.metrics.domain import SubjectType
        from services.assessment.runs.domain import FIGURE_SUBJECTS, UNLISTED_SUBJECTS

        assert set(UNLISTED_SUBJECTS) == set(SubjectType) - FIGURE_SUBJECTS == {SubjectType.cppcc_unit}

    async def test_a_cppcc_unit_run_is_refused_and_says_why(self, world: World) -> None:
        """Template F (政协组织及委员) drafts and publishes, but no service lists its subjects: 409 at once, with a
        detail that says why, and nothing is queued."""
        scheme = await world.scheme("F")
        body = {"scheme_id": scheme, "year": YEAR, "region": COUNTY}
        response = await world.client.post("/runs", json=body, headers=world.admin)
        problem = assert_problem(response, 409)
        assert problem["code"] == "subjects_unavailable" and problem["subject_type"] == "cppcc_unit"
        assert "CPPCC" in problem["detail"] and "registry keeps no register" in problem["detail"]
        assert await world.rows("SELECT id FROM assessment_run") == []
        zh = await world.client.post("/runs", json=body, headers=world.admin | {"Accept-Language": "zh-CN"})
        assert "政协" in assert_problem(zh, 409)["detail"]


class TestLifespanWorker:
    async def test_the_worker_in_the_process_runs_the_job(
        self, runs_app: RunsApp, signing_key: SigningKey
    ) -> None:
        registry = FigureServer({V1: dict(REGISTRY_V)})
        planning = FigureServer({V1: dict(PLANNING_V)})
        app = runs_app(
            registry=registry.transport(), planning=planning.transport(), gateway=registry.transport()
        )
        app.state.settings.run_worker = True
        admin = headers_for(signing_key, "county_admin", COUNTY, "county-1")
        async with started(app) as client:
            created = await client.post(f"/schemes?template=B&year={YEAR}", headers=admin)
            scheme = created.json()["id"]
            await client.post(f"/schemes/{scheme}/publication", headers=admin)
            run = await client.post(
                "/runs", json={"scheme_id": scheme, "year": YEAR, "region": COUNTY}, headers=admin
            )
            status = "queued"
            for _ in range(200):
                status = (await client.get(f"/runs/{run.json()['id']}", headers=admin)).json()["status"]
                if status in ("scored", "failed"):
                    break
                await asyncio.sleep(0.05)
            assert status == "scored"
