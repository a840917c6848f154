"""Planning benchmark (issue #11): the county budget-execution report, 50 concurrent approvals against one
allocation, and a disbursement POST against a raw INSERT, on one database in one invocation.

    python bench/planning.py [--villages 300] [--projects 3000] [--entries 100000] [--duration 5] [--rounds 3]
                             [--concurrency 8] [--report-path PATH] [--strict]
    python bench/planning.py --quick     # the same county, 1 s measurements, 1 round

The platform is bench/gateway.py's (`Platform`: throw-away databases on `BENCH_DATABASE_URL` or `DATABASE_URL`,
else an embedded PostgreSQL; dev keys; the demo county; uvicorn subprocesses, started as `make run` starts
them) with one aiohttp gateway, the registry, and planning. The caller is the demo county admin.

Data: a county with `--villages` villages (bench/registry_data.py's 300 village codes), `--projects` approved
projects spread over them (categories of §5.5), three funding lines each (a sector department's line drawing on
the county's allocation, beneficiaries' self-raised money, donations; Σ = budget), and `--entries` ledger
entries (receipts, then disbursements of stages advance / progress; the line counters equal the ledger's sums),
loaded set-wise into the planning database (`INSERT … SELECT generate_series`, the county's allocations drawn
accordingly). A sample goes through the API: an allocation, a project's three lines, a receipt and a
disbursement, checked against the rules (`Σ = budget`, counters).

(a) report: the county's budget execution (per village and in total: approved projects starting in the year,
    committed, received and disbursed computed from the ledger) as ONE raw SQL statement (`REPORT_SQL`, the
    route's own statement, run as the route runs it: custom plans), one client at a time; and the same report
    through the gateway (`--report-path`, `GET /reports/budget-execution`), the two alternating run by run (a
    pair sees the same machine), the route's answer checked against the raw rows (money as the same `*_yuan`
    text; a 404/405 means the route is not there: the raw figure is reported alone). Target: route <= 2x the raw statement (median latency).
(b) approvals: `--approvals` (50) projects, each with one line of `--approval-yuan` on ONE allocation that holds
    only 2/3 of their sum, approved at the same moment, each in its own transaction — the money step of the
    county approval, `FundsService.draw_for_approval` (services/planning/funds/service.py), with the status
    change, in process against the bench database. Reported: approvals/s, how many were refused
    (`allocation_exceeded`), and 0 overspend (drawn <= amount, drawn = Σ approved commitments). Target: 0
    overspend.
(c) disbursement: `POST /api/planning/funding-lines/{id}/disbursements` of 0.01 yuan through the gateway, closed
    loop at `--concurrency`, against the raw statement that records the same entry (the counter UPDATE and the
    ledger INSERT in one statement, autocommit, a pool of `--concurrency`) from this process; also straight to
    planning. Rounds alternate the targets. The ratio gateway / raw is reported (no target).

Results: tables on stdout and bench/results/planning-<UTC timestamp>.json. Exit status as bench/gateway.py:
1 wrong answers (or an overspend), 2 setup failed, 3 (with --strict) a target missed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/planning.py` puts bench/ first on the path, not the project
    sys.path.insert(0, str(ROOT))

from bench.gateway import (  # noqa: E402
    RESULTS,
    Databases,
    Platform,
    TokenSource,
    _fmt,
    _free_port,
    _git_commit,
    _say,
    percentile,
)
from bench.registry import _check, _request, _table  # noqa: E402
from bench.registry_data import region_csv  # noqa: E402
from services.planning.reports.domain import GroupBy  # noqa: E402
from services.planning.reports.repository import budget_execution_sql, execution_parameters  # noqa: E402

CLIENT = "aiohttp"
GATEWAY = f"gw-{CLIENT}"
COUNTY = "451025000000"
YEAR = 2015
MAX_REPORT_RATIO = 2.0
DEFAULT_REPORT_PATH = f"/api/planning/reports/budget-execution?county={COUNTY}&year={YEAR}"
#: Project categories the bulk cycles through (all paid by the three sources of every project).
CATEGORIES = (
    "road",
    "water_drinking",
    "water_irrigation",
    "housing",
    "industry_planting",
    "industry_breeding",
    "cooperative",
    "education_facility",
    "health_facility",
    "culture_public_service",
    "environment",
    "land",
)
#: The three lines of every bulk project: (source, funder, share of the budget in %).
LINES = (
    ("sector_department_fund", "县交通运输局", 50),
    ("beneficiary_self_raised", "受益群众", 30),
    ("social_donation", "社会各界", 20),
)

#: The county's budget execution in one statement: the route's own (services/planning/reports/repository.py, the
#: default `group_by=village`), per village and in total, the approved projects starting in `YEAR` (`starts_on`),
#: what their lines commit, and what the ledger says was received and disbursed (reversals included, being
#: negative), summed in fen and written as yuan text with two places (`*_yuan`, as the route answers them).
#: Parameters: `REPORT_PARAMETERS`. Run, like the route runs it, with `plan_cache_mode = force_custom_plan` (a
#: generic plan of the prepared statement loops over the ledger by index: ~4x slower).
REPORT_SQL = budget_execution_sql(GroupBy.village)
REPORT_PARAMETERS = execution_parameters(COUNTY[:6] + "%", YEAR)
REPORT_SERVER_SETTINGS = {"plan_cache_mode": "force_custom_plan"}

#: What a disbursement writes, as one raw statement: the line's counter (the CHECK holds) and the ledger entry.
RAW_DISBURSEMENT_SQL = """
WITH moved AS (
    UPDATE planning_funding_line SET disbursed_fen = disbursed_fen + $2, version = version + 1
    WHERE id = $1 RETURNING id, project_id
)
INSERT INTO planning_ledger_entry (line_id, project_id, kind, amount_fen, stage, payee, voucher, approved_by,
                                   entry_date, recorded_at, recorded_by)
SELECT id, project_id, 'disbursement', $2, 'progress', '靖西市路桥工程公司', $3, '县扶贫办', $4, now(), 'bench'
FROM moved
RETURNING id
"""


# == the platform: registry, gateway and planning ==========================================================
class PlanningDatabases(Databases):
    SERVICES = ("gateway", "registry", "planning")  # type: ignore[assignment]  # one more than the base


class PlanningPlatform(Platform):
    """bench/gateway.py's platform with the planning service beside the registry, behind the gateway."""

    def __init__(self) -> None:
        super().__init__([CLIENT])
        self.databases = PlanningDatabases()
        self.planning_port = _free_port()

    def prepare(self) -> None:
        from shared.migrate import upgrade

        super().prepare()  # creates all three databases, migrates the gateway and the registry, the demo county
        upgrade("planning", self.databases.urls["planning"])

    def start(self) -> None:
        os.environ["PLANNING_URL"] = f"http://127.0.0.1:{self.planning_port}"  # the gateway's upstream
        super().start()
        base = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "REDIS_URL"}
        self._spawn(
            "planning",
            "services.planning.main:create_app",
            self.planning_port,
            base
            | {
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "WARNING",
                "JWT_ISSUER": os.environ.get("JWT_ISSUER", "jingzhun-gateway"),
                "PLANNING_DATABASE_URL": self.databases.urls["planning"],
                "JWT_JWKS_FILE": str(self.jwks),
                "GATEWAY_URL": self.servers[GATEWAY].url,
                "REGISTRY_URL": self.servers["registry"].url,
            },
        )


# == data ===================================================================================================
def village_codes(count: int) -> list[str]:
    codes = [line.split(",")[0] for line in region_csv().splitlines()[1:]]
    villages = [c for c in codes if not c.endswith("000")]
    if count > len(villages):
        raise RuntimeError(f"--villages {count}: the synthetic county has {len(villages)} villages")
    return villages[:count]


@dataclass
class LoadResult:
    villages: int
    projects: int
    lines: int
    entries: int
    seconds: float


async def load_county(db: str, villages: list[str], projects: int, entries: int) -> LoadResult:
    """Projects, lines, allocations and ledger entries set-wise; line counters and allocation draws from them."""
    import asyncpg

    conn = await asyncpg.connect(db)
    started = time.perf_counter()
    try:
        async with conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE bench_village (n int PRIMARY KEY, code text) ON COMMIT DROP"
            )
            await conn.copy_records_to_table("bench_village", records=list(enumerate(villages)))
            await conn.execute(
                "INSERT INTO planning_project (id, village_code, category, name, budget_fen, status, starts_on,"
                " created_by)"
                " SELECT gen_random_uuid(), v.code, ($3::text[])[1 + g % array_length($3::text[], 1)],"
                "  '项目 ' || g, (200000 + (g * 7919) % 1800000) * 100, 'approved',"
                "  make_date($4, 1 + g % 12, 1), 'bench'"
                " FROM generate_series(0, $1 - 1) g JOIN bench_village v ON v.n = g % $2",
                projects,
                len(villages),
                list(CATEGORIES),
                YEAR,
            )
            allocation = uuid.uuid4()
            await conn.execute(
                "INSERT INTO planning_allocation (id, county_code, year, source, document_number, amount_fen,"
                " drawn_fen, created_at, created_by)"
                " VALUES ($1, $2, $3, 'sector_department_fund', '靖交〔2015〕1号', 100000000000000, 0, now(),"  # noqa: RUF001
                " 'bench')",
                allocation,
                COUNTY,
                YEAR,
            )
            for i, (source, funder, share) in enumerate(LINES):
                last = i == len(LINES) - 1
                committed = (
                    "p.budget_fen - " + " - ".join(f"p.budget_fen * {s} / 100" for _, _, s in LINES[:-1])
                    if last
                    else f"p.budget_fen * {share} / 100"
                )
                await conn.execute(  # the commitment expression is built from our own constants (LINES)
                    "INSERT INTO planning_funding_line (id, project_id, source, funder, allocation_id,"  # noqa: S608
                    " committed_fen, received_fen, disbursed_fen, drawn, version, created_at, created_by)"
                    f" SELECT gen_random_uuid(), p.id, $1, $2, $3::uuid, {committed}, 0, 0, $3::uuid IS NOT NULL, 1,"
                    "  now() + $4 * interval '1 microsecond', 'bench'"
                    " FROM planning_project p",
                    source,
                    funder,
                    allocation if i == 0 else None,
                    i,
                )
            lines = await conn.fetchval("SELECT count(*) FROM planning_funding_line")
            per_line, extra = divmod(entries, lines)
            # Per line: the receipts first (a third of the commitment each, up to three), then disbursements
            # of a tenth of what was received; `extra` lines get one entry more.
            await conn.execute(
                "INSERT INTO planning_ledger_entry (line_id, project_id, kind, amount_fen, stage, payee, voucher,"
                " approved_by, entry_date, recorded_at, recorded_by)"
                " SELECT l.id, l.project_id,"
                "  CASE WHEN g <= 3 THEN 'receipt' ELSE 'disbursement' END,"
                "  CASE WHEN g <= 3 THEN l.committed_fen / 3"
                "   ELSE (l.committed_fen / 3) * 3 * 6 / 10 / greatest($1 - 3, 1) END,"
                "  CASE WHEN g <= 3 THEN NULL WHEN g = 4 THEN 'advance' ELSE 'progress' END,"
                "  CASE WHEN g <= 3 THEN '村扶贫资金专户' ELSE '施工单位' END,"
                "  'V-' || g, '县扶贫办', make_date($3, 6, 1), now(), 'bench'"
                " FROM (SELECT id, project_id, committed_fen, row_number() OVER (ORDER BY id) AS n"
                "       FROM planning_funding_line) l"
                " CROSS JOIN generate_series(1, $1 + 1) g"
                " WHERE g <= $1 OR l.n <= $2",
                per_line,
                extra,
                YEAR,
            )
            await conn.execute(
                "UPDATE planning_funding_line l SET received_fen = s.received, disbursed_fen = s.disbursed"
                " FROM (SELECT line_id,"
                "   coalesce(sum(amount_fen) FILTER (WHERE kind = 'receipt'), 0) AS received,"
                "   coalesce(sum(amount_fen) FILTER (WHERE kind = 'disbursement'), 0) AS disbursed"
                "  FROM planning_ledger_entry GROUP BY line_id) s WHERE s.line_id = l.id"
            )
            await conn.execute(
                "UPDATE planning_allocation a SET drawn_fen = (SELECT coalesce(sum(committed_fen), 0)"
                " FROM planning_funding_line WHERE allocation_id = a.id AND drawn) WHERE a.id = $1",
                allocation,
            )
        await conn.execute("ANALYZE")
        written = await conn.fetchval("SELECT count(*) FROM planning_ledger_entry")
        return LoadResult(len(villages), projects, lines, written, time.perf_counter() - started)
    finally:
        await conn.close()


def api_sample(plat: PlanningPlatform, tokens: TokenSource, village: str) -> dict[str, Any]:
    """An allocation, a project's three lines, a receipt and a disbursement through the gateway, checked."""
    import asyncpg

    gateway = plat.servers[GATEWAY].url + "/api/planning"
    token = tokens.get(120)

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = _request(
            gateway + path, token=token, body=json.dumps(body).encode(), content_type="application/json"
        )
        return _check(f"POST {path}", status, answer, expect=201)

    allocation = post(
        f"/counties/{COUNTY}/allocations",
        {
            "year": YEAR,
            "source": "social_donation",
            "document_number": "bench-sample",
            "amount_yuan": "500000.00",
        },
    )
    project = uuid.uuid4()

    async def insert_project() -> None:
        conn = await asyncpg.connect(plat.databases.urls["planning"])
        try:
            await conn.execute(
                "INSERT INTO planning_project (id, village_code, category, name, budget_fen, status, starts_on,"
                " created_by) VALUES ($1, $2, 'road', '通村道路硬化 (样例)', 175000000, 'draft', $3, 'bench')",
                project,
                village,
                date(YEAR, 3, 1),
            )
        finally:
            await conn.close()

    asyncio.run(insert_project())
    lines = [
        post(f"/projects/{project}/funding-lines", {"source": s, "funder": f, "committed_yuan": y, **extra})
        for s, f, y, extra in (
            ("sector_department_fund", "市交通运输局", "880000.00", {}),
            ("beneficiary_self_raised", "受益群众", "650000.00", {}),
            ("social_donation", "社会各界", "220000.00", {"allocation_id": allocation["id"]}),
        )
    ]
    status, body = _request(f"{gateway}/projects/{project}/funding", token=token)
    summary = _check("funding summary", status, body)
    if (summary["committed_yuan"], summary["funding_gap_yuan"]) != ("1750000.00", "0.00"):
        raise RuntimeError(f"sample: the F5 split does not add up: {summary}")

    async def approve() -> None:
        await _approve(plat.databases.urls["planning"], [str(project)])

    asyncio.run(approve())
    post(
        f"/funding-lines/{lines[2]['id']}/receipts",
        {"amount_yuan": "220000.00", "entry_date": f"{YEAR}-06-01", "voucher": "样-收-1"},
    )
    post(
        f"/funding-lines/{lines[2]['id']}/disbursements",
        {
            "amount_yuan": "100000.00",
            "entry_date": f"{YEAR}-06-02",
            "stage": "advance",
            "payee": "靖西市路桥工程公司",
            "voucher": "样-付-1",
            "approved_by": "县扶贫办",
        },
    )
    status, body = _request(f"{gateway}/funding-lines/{lines[2]['id']}", token=token)
    line = _check("sample line", status, body)
    status, body = _request(f"{gateway}/allocations/{allocation['id']}", token=token)
    drawn = _check("sample allocation", status, body)["drawn_yuan"]
    if (line["received_yuan"], line["disbursed_yuan"], drawn) != ("220000.00", "100000.00", "220000.00"):
        raise RuntimeError(f"sample: unexpected counters {line} / drawn {drawn}")
    return {"project": str(project), "lines": len(lines), "allocation_drawn_yuan": drawn}


# == (b) approvals ==========================================================================================
async def _approve(db: str, projects: list[str]) -> list[BaseException | None]:
    """Approve `projects` at once, each in its own transaction: the funds step of the county approval
    (`FundsService.draw_for_approval`) and the status change; the exception of each refused one."""
    from services.planning.funds.service import FundsService
    from shared.context import Context
    from shared.db import create_engine, session_factory
    from shared.roles import Principal, Role
    from shared.settings import asyncpg_url

    engine = create_engine(asyncpg_url(db), pool_size=max(10, len(projects)))
    sessions = session_factory(engine)
    principal = Principal(sub="bench-county-admin", role=Role.county_admin, region=COUNTY)

    async def one(project: str) -> BaseException | None:
        import sqlalchemy as sa

        async with sessions() as session:
            try:
                await session.exec(  # type: ignore[call-overload]
                    sa.text("SELECT 1 FROM planning_project WHERE id = :id FOR UPDATE"),
                    params={"id": project},
                )
                ctx = Context(principal=principal, session=session, now=datetime.now(UTC))
                await FundsService(ctx).draw_for_approval(uuid.UUID(project))
                await session.exec(  # type: ignore[call-overload]
                    sa.text("UPDATE planning_project SET status = 'approved' WHERE id = :id"),
                    params={"id": project},
                )
                await session.commit()
            except Exception as exc:  # a refusal: the transaction rolls back as the session closes
                return exc
        return None

    try:
        # Open the pool's connections first, so that the measured burst is the approvals themselves.
        async with engine.connect() as warm:
            await warm.exec_driver_sql("SELECT 1")
        return list(await asyncio.gather(*(one(p) for p in projects)))
    finally:
        await engine.dispose()


@dataclass
class ApprovalResult:
    approvals: int
    approved: int
    refused: int
    other_errors: list[str]
    seconds: float
    approvals_per_s: float
    amount_fen: int
    drawn_fen: int
    approved_commitments_fen: int
    overspend_fen: int


def approval_phase(args: argparse.Namespace, plat: PlanningPlatform, village: str) -> ApprovalResult:
    import asyncpg

    db = plat.databases.urls["planning"]
    each = int(args.approval_yuan * 100)
    amount = each * args.approvals * 2 // 3

    async def setup() -> tuple[uuid.UUID, list[str]]:
        conn = await asyncpg.connect(db)
        try:
            allocation = uuid.uuid4()
            await conn.execute(
                "INSERT INTO planning_allocation (id, county_code, year, source, document_number, amount_fen,"
                " created_at, created_by) VALUES ($1, $2, $3, 'fiscal_special_poverty_fund', 'bench-approvals',"
                " $4, now(), 'bench')",
                allocation,
                COUNTY,
                YEAR,
                amount,
            )
            ids = [uuid.uuid4() for _ in range(args.approvals)]
            await conn.executemany(
                "INSERT INTO planning_project (id, village_code, category, name, budget_fen, status, starts_on,"
                " created_by) VALUES ($1, $2, 'industry_breeding', '养殖项目', $3, 'township_reviewed', $4, 'bench')",
                [(i, village, each, date(YEAR, 4, 1)) for i in ids],
            )
            await conn.executemany(
                "INSERT INTO planning_funding_line (id, project_id, source, funder, allocation_id, committed_fen,"
                " created_at, created_by) VALUES (gen_random_uuid(), $1, 'fiscal_special_poverty_fund',"
                " '县财政局', $2, $3, now(), 'bench')",
                [(i, allocation, each) for i in ids],
            )
            return allocation, [str(i) for i in ids]
        finally:
            await conn.close()

    allocation, projects = asyncio.run(setup())
    started = time.perf_counter()
    outcomes = asyncio.run(_approve(db, projects))
    seconds = time.perf_counter() - started
    refused = [o for o in outcomes if o is not None and getattr(o, "code", None) == "allocation_exceeded"]
    others = [f"{type(o).__name__}: {o}" for o in outcomes if o is not None and o not in refused]

    async def check() -> tuple[int, int, int]:
        conn = await asyncpg.connect(db)
        try:
            row = await conn.fetchrow(
                "SELECT amount_fen, drawn_fen FROM planning_allocation WHERE id = $1", allocation
            )
            approved = await conn.fetchval(
                "SELECT coalesce(sum(l.committed_fen), 0) FROM planning_funding_line l"
                " JOIN planning_project p ON p.id = l.project_id"
                " WHERE l.allocation_id = $1 AND l.drawn AND p.status = 'approved'",
                allocation,
            )
            return int(row["amount_fen"]), int(row["drawn_fen"]), int(approved)
        finally:
            await conn.close()

    amount_fen, drawn_fen, approved_fen = asyncio.run(check())
    approved = len(outcomes) - len(refused) - len(others)
    return ApprovalResult(
        approvals=len(projects),
        approved=approved,
        refused=len(refused),
        other_errors=others[:5],
        seconds=seconds,
        approvals_per_s=len(projects) / seconds if seconds > 0 else 0.0,
        amount_fen=amount_fen,
        drawn_fen=drawn_fen,
        approved_commitments_fen=approved_fen,
        overspend_fen=max(0, drawn_fen - amount_fen) + abs(drawn_fen - approved_fen),
    )


# == (a) the report ===========================================================================================
@dataclass
class Timing:
    target: str
    runs: int
    rows: int | None
    p50_ms: float | None
    p99_ms: float | None
    status: int | None = None
    note: str = ""


async def _report_runs(
    db: str, url: str, token: str, iterations: int
) -> tuple[list[float], list[float], list[Any], int, bytes]:
    """The raw statement and the route, alternately, `iterations` times each (a pair sees the same machine: the
    ratio holds when the load moves); the raw rows, the route's first status and answer. The route's runs are
    skipped when it is not served (404/405)."""
    import asyncpg

    conn = await asyncpg.connect(db, server_settings=REPORT_SERVER_SETTINGS)
    try:
        rows = await conn.fetch(REPORT_SQL, *REPORT_PARAMETERS)  # warm: plan and cache
        status, body = await asyncio.to_thread(_request, url, token=token, timeout=120)
        served = status == 200
        raw_times: list[float] = []
        route_times: list[float] = []
        for _ in range(iterations):
            started = time.perf_counter()
            rows = await conn.fetch(REPORT_SQL, *REPORT_PARAMETERS)
            raw_times.append(time.perf_counter() - started)
            if not served:
                continue
            started = time.perf_counter()
            again, answer = await asyncio.to_thread(_request, url, token=token, timeout=120)
            route_times.append(time.perf_counter() - started)
            if again != 200:
                raise RuntimeError(f"report route: HTTP {again}: {answer.decode(errors='replace')[:400]}")
        return raw_times, route_times, list(rows), status, body
    finally:
        await conn.close()


#: The figures a row is checked on (the key aside): money is yuan text with two places, written by PostgreSQL on
#: both sides (the statement's `yuan_sql`), so it compares as strings; the rate is compared as the route's text.
_REPORT_MONEY = ("committed_yuan", "received_yuan", "disbursed_yuan")


def _report_figures(row: Any) -> tuple[Any, ...]:
    rate = row["rate"]
    if rate is not None and not isinstance(rate, str):
        rate = f"{rate:.2f}"  # the raw row's numeric, as the route's `Percent` writes it
    return (row["projects"], *(row[name] for name in _REPORT_MONEY), rate)


def _check_report(body: bytes, raw_rows: list[Any]) -> None:
    """The route's answer is the raw statement's rows: same villages, same figures (money as the same yuan text),
    same totals."""
    answer = json.loads(body)
    *items, totals = raw_rows
    got = [(r["key"], *_report_figures(r)) for r in answer["rows"]]
    expected = [(r["key"], *_report_figures(r)) for r in items]
    if got != expected:
        raise RuntimeError(f"report route: {len(got)} rows differ from the raw statement's {len(expected)}")
    if _report_figures(answer["totals"]) != _report_figures(totals):
        raise RuntimeError(
            f"report route: totals {answer['totals']} differ from the raw statement's {dict(totals)}"
        )


def _timing(target: str, times: list[float], rows: int | None, **extra: Any) -> Timing:
    ordered = sorted(times)
    p50 = percentile(ordered, 50)
    p99 = percentile(ordered, 99)
    return Timing(
        target,
        len(times),
        rows,
        None if p50 is None else p50 * 1000,
        None if p99 is None else p99 * 1000,
        **extra,
    )


def report_phase(
    args: argparse.Namespace, plat: PlanningPlatform, tokens: TokenSource
) -> tuple[Timing, Timing]:
    url = plat.servers[GATEWAY].url + args.report_path
    token = tokens.get(min(args.report_runs * 5 + 120, 600))
    raw_times, route_times, raw_rows, status, body = asyncio.run(
        _report_runs(plat.databases.urls["planning"], url, token, args.report_runs)
    )
    raw = _timing("raw SQL", raw_times, len(raw_rows))
    if status in (404, 405):
        return raw, Timing("gateway route", 0, None, None, None, status, "the report route is not served yet")
    if status != 200:
        raise RuntimeError(f"report route: HTTP {status}: {body.decode(errors='replace')[:400]}")
    if args.report_path == DEFAULT_REPORT_PATH:
        _check_report(body, raw_rows)
    rows = len(json.loads(body)["rows"]) + 1  # and the totals
    return raw, _timing("gateway route", route_times, rows, status=200, note=f"{len(body):,} bytes of JSON")


# == (c) the disbursement POST ======================================================================================
@dataclass
class PostRun:
    target: str
    round: int
    ok: int
    errors: int
    error_samples: dict[str, str]
    rps: float
    p50_ms: float | None
    p99_ms: float | None


def _disbursement(n: int) -> bytes:
    return json.dumps(
        {
            "amount_yuan": "0.01",
            "entry_date": f"{YEAR}-06-15",
            "stage": "progress",
            "payee": "靖西市路桥工程公司",
            "voucher": f"B-{n}",
            "approved_by": "县扶贫办",
        }
    ).encode()


async def _post_loop(
    url: str, token: str, lines: list[str], *, concurrency: int, seconds: float, warmup: float
) -> tuple[list[float], dict[str, int], dict[str, str], float]:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0, keepalive_timeout=60)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def user(index: int, until: float, measured: bool) -> None:
            n = index
            while (start := time.perf_counter()) < until:
                n += concurrency
                target = url.format(line=lines[n % len(lines)])
                try:
                    async with session.post(target, data=_disbursement(n), headers=headers) as resp:
                        answer = await resp.read()
                        status = resp.status
                except (TimeoutError, aiohttp.ClientError) as exc:
                    status, answer = 0, str(exc).encode()
                if not measured:
                    continue
                if status == 201:
                    latencies.append(time.perf_counter() - start)
                else:
                    kind = f"HTTP {status}"
                    errors[kind] = errors.get(kind, 0) + 1
                    samples.setdefault(kind, answer.decode(errors="replace")[:300])

        if warmup > 0:
            until = time.perf_counter() + warmup
            await asyncio.gather(*(user(i, until, False) for i in range(concurrency)))
        begin = time.perf_counter()
        await asyncio.gather(*(user(i, begin + seconds, True) for i in range(concurrency)))
        return latencies, errors, samples, time.perf_counter() - begin


async def _insert_loop(
    db: str, lines: list[str], *, concurrency: int, seconds: float, warmup: float
) -> tuple[list[float], dict[str, int], dict[str, str], float]:
    import asyncpg

    pool = await asyncpg.create_pool(db, min_size=concurrency, max_size=concurrency)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}
    ids = [uuid.UUID(line) for line in lines]
    day = date(YEAR, 6, 15)
    try:

        async def user(index: int, until: float, measured: bool) -> None:
            n = index
            while (start := time.perf_counter()) < until:
                n += concurrency
                try:
                    async with pool.acquire() as conn:
                        await conn.fetchval(RAW_DISBURSEMENT_SQL, ids[n % len(ids)], 1, f"B-{n}", day)
                except asyncpg.PostgresError as exc:
                    if measured:
                        kind = type(exc).__name__
                        errors[kind] = errors.get(kind, 0) + 1
                        samples.setdefault(kind, str(exc)[:300])
                    continue
                if measured:
                    latencies.append(time.perf_counter() - start)

        if warmup > 0:
            until = time.perf_counter() + warmup
            await asyncio.gather(*(user(i, until, False) for i in range(concurrency)))
        begin = time.perf_counter()
        await asyncio.gather(*(user(i, begin + seconds, True) for i in range(concurrency)))
        return latencies, errors, samples, time.perf_counter() - begin
    finally:
        await pool.close()


def post_phase(args: argparse.Namespace, plat: PlanningPlatform, tokens: TokenSource) -> list[PostRun]:
    import asyncpg

    db = plat.databases.urls["planning"]

    async def lines_with_headroom() -> list[str]:
        conn = await asyncpg.connect(db)
        try:
            rows = await conn.fetch(
                "SELECT id FROM planning_funding_line WHERE received_fen - disbursed_fen > 1000000"
                " AND source = 'sector_department_fund' ORDER BY id LIMIT 200"
            )
            return [str(r["id"]) for r in rows]
        finally:
            await conn.close()

    lines = asyncio.run(lines_with_headroom())
    if not lines:
        raise RuntimeError("no funding line has room for the disbursement benchmark")
    targets = {
        "gateway": plat.servers[GATEWAY].url + "/api/planning/funding-lines/{line}/disbursements",
        "direct": plat.servers["planning"].url + "/funding-lines/{line}/disbursements",
    }
    runs: list[PostRun] = []
    for rnd in range(1, args.rounds + 1):
        for name in ("gateway", "direct", "raw INSERT"):
            plat.check_alive()
            if name == "raw INSERT":
                result = asyncio.run(
                    _insert_loop(
                        db, lines, concurrency=args.concurrency, seconds=args.duration, warmup=args.warmup
                    )
                )
            else:
                token = tokens.get(args.warmup + args.duration + 60)
                result = asyncio.run(
                    _post_loop(
                        targets[name],
                        token,
                        lines,
                        concurrency=args.concurrency,
                        seconds=args.duration,
                        warmup=args.warmup,
                    )
                )
            latencies, errors, samples, elapsed = result
            ordered = sorted(latencies)
            p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
            run = PostRun(
                target=name,
                round=rnd,
                ok=len(latencies),
                errors=sum(errors.values()),
                error_samples=samples,
                rps=len(latencies) / elapsed if elapsed > 0 else 0.0,
                p50_ms=None if p50 is None else p50 * 1000,
                p99_ms=None if p99 is None else p99 * 1000,
            )
            runs.append(run)
            _say(
                f"  (c) round {rnd} {name:>10}: {run.rps:8.1f} req/s  p50 {_fmt(run.p50_ms, '.2f', ' ms')}"
                f"  p99 {_fmt(run.p99_ms, '.2f', ' ms')}  errors {run.errors}"
            )
    return runs


# == the report ============================================================================================
def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def report(
    args: argparse.Namespace,
    *,
    started: datetime,
    where: str,
    load: LoadResult,
    sample: dict[str, Any],
    raw: Timing,
    route: Timing,
    approvals: ApprovalResult,
    posts: list[PostRun],
) -> int:
    _say()
    _say(
        f"Planning benchmark: {load.villages} villages, {load.projects} projects, {load.lines} funding lines,"
        f" {load.entries} ledger entries (loaded in {load.seconds:.1f} s); {where}"
    )
    ratio = route.p50_ms / raw.p50_ms if route.p50_ms is not None and raw.p50_ms else None
    report_ok = ratio is None or ratio <= MAX_REPORT_RATIO
    _say()
    _say("(a) county budget-execution report (one client at a time)")
    _say(
        _table(
            ["target", "runs", "rows", "p50", "p99", "note"],
            [
                [
                    t.target,
                    str(t.runs),
                    "-" if t.rows is None else str(t.rows),
                    _fmt(t.p50_ms, ".2f", " ms"),
                    _fmt(t.p99_ms, ".2f", " ms"),
                    t.note,
                ]
                for t in (raw, route)
            ],
        )
    )
    if ratio is None:
        _say(
            "    route / raw: not measured (the report route is not there yet): the raw figure is the baseline"
        )
    else:
        _say(
            f"    route / raw: {ratio:.2f}x (target <= {MAX_REPORT_RATIO:.0f}x) {'ok' if report_ok else 'MISSED'}"
        )
    _say()
    overspent = approvals.overspend_fen > 0 or bool(approvals.other_errors)
    _say(f"(b) {approvals.approvals} concurrent approvals against one allocation")
    _say(
        f"    approved {approvals.approved}, refused {approvals.refused} (allocation_exceeded), other errors"
        f" {len(approvals.other_errors)}; {approvals.approvals_per_s:.1f} approvals/s ({approvals.seconds * 1000:.0f} ms)"
    )
    _say(
        f"    allocation {approvals.amount_fen / 100:.2f} yuan, drawn {approvals.drawn_fen / 100:.2f}, approved"
        f" commitments {approvals.approved_commitments_fen / 100:.2f}: overspend {approvals.overspend_fen / 100:.2f}"
        f" {'ok' if not overspent else 'WRONG'}"
    )
    _say()
    _say(
        f"(c) disbursement POST (0.01 yuan), closed loop at {args.concurrency}, median over {args.rounds} round(s)"
    )
    medians = {
        name: (
            _median([p.rps for p in posts if p.target == name]),
            _median([p.p50_ms for p in posts if p.target == name and p.p50_ms is not None]),
            _median([p.p99_ms for p in posts if p.target == name and p.p99_ms is not None]),
        )
        for name in ("gateway", "direct", "raw INSERT")
    }
    _say(
        _table(
            ["target", "req/s", "p50", "p99", "errors"],
            [
                [
                    name,
                    _fmt(rps, ".1f"),
                    _fmt(p50, ".2f", " ms"),
                    _fmt(p99, ".2f", " ms"),
                    str(sum(p.errors for p in posts if p.target == name)),
                ]
                for name, (rps, p50, p99) in medians.items()
            ],
        )
    )
    per_round = [
        g.rps / r.rps
        for g in posts
        if g.target == "gateway"
        for r in posts
        if r.target == "raw INSERT" and r.round == g.round and r.rps
    ]
    post_ratio = _median(per_round)
    _say(f"    gateway / raw INSERT: {_fmt(post_ratio, '.2f', 'x')} (informational, no target)")
    post_errors = sum(p.errors for p in posts)
    out = RESULTS / f"planning-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "planning",
                "started": started.isoformat(),
                "commit": _git_commit(),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "database": where},
                "arguments": vars(args),
                "load": asdict(load),
                "api_sample": sample,
                "report": {
                    "raw": asdict(raw),
                    "route": asdict(route),
                    "ratio": ratio,
                    "target": MAX_REPORT_RATIO,
                    "ok": report_ok,
                    "raw_sql": REPORT_SQL.strip(),
                },
                "approvals": asdict(approvals) | {"ok": not overspent},
                "disbursement": {
                    "runs": [asdict(p) for p in posts],
                    "median_rps": {k: v[0] for k, v in medians.items()},
                    "gateway_over_raw": post_ratio,
                    "raw_sql": RAW_DISBURSEMENT_SQL.strip(),
                },
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    _say(f"results: {out.relative_to(ROOT)}")
    if overspent or post_errors:
        return 1
    if args.strict and not report_ok:
        return 3
    return 0


# == main =================================================================================================
def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    plat = PlanningPlatform()
    try:
        _say(
            f"Planning benchmark on {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f}); setting up …"
        )
        plat.prepare()
        plat.start()
        plat.wait_healthy()
        tokens = TokenSource(plat.servers[GATEWAY].url)
        villages = village_codes(args.villages)
        load = asyncio.run(
            load_county(plat.databases.urls["planning"], villages, args.projects, args.entries)
        )
        _say(
            f"  loaded {load.projects} projects, {load.lines} lines, {load.entries} ledger entries in {load.seconds:.1f} s"
        )
        sample = api_sample(plat, tokens, villages[0])
        _say(f"  API sample: {sample}")
        raw, route = report_phase(args, plat, tokens)
        _say(
            f"  (a) raw SQL p50 {_fmt(raw.p50_ms, '.2f', ' ms')} ({raw.rows} rows); route: {route.note or route.p50_ms}"
        )
        approvals = approval_phase(args, plat, villages[1])
        _say(
            f"  (b) {approvals.approved} approved, {approvals.refused} refused in {approvals.seconds * 1000:.0f} ms"
        )
        posts = post_phase(args, plat, tokens)
    finally:
        plat.stop()
    return report(
        args,
        started=started,
        where=plat.databases.where,
        load=load,
        sample=sample,
        raw=raw,
        route=route,
        approvals=approvals,
        posts=posts,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--villages", type=int, default=300, help="villages of the county (300)")
    parser.add_argument("--projects", type=int, default=3000, help="approved projects (3000)")
    parser.add_argument("--entries", type=int, default=100_000, help="ledger entries (100000)")
    parser.add_argument("--duration", type=float, default=5, help="seconds per disbursement measurement")
    parser.add_argument("--warmup", type=float, default=1, help="seconds of discarded load before each")
    parser.add_argument("--concurrency", type=int, default=8, help="disbursement: simultaneous clients")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the disbursement targets")
    parser.add_argument("--report-runs", type=int, default=20, help="(a): timed runs of each report target")
    parser.add_argument(
        "--report-path", default=DEFAULT_REPORT_PATH, help="(a): the report route at the gateway"
    )
    parser.add_argument("--approvals", type=int, default=50, help="(b): concurrent approvals")
    parser.add_argument("--approval-yuan", type=float, default=30000.0, help="(b): each project's commitment")
    parser.add_argument("--quick", action="store_true", help="1 s measurements, 1 round, 5 report runs")
    parser.add_argument("--strict", action="store_true", help="exit 3 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 1.0, 1, min(args.warmup, 0.5)
        args.report_runs = min(args.report_runs, 5)
    if args.projects < 1 or args.entries < args.projects * 3 * 4 or args.duration <= 0 or args.rounds < 1:
        parser.error(
            "--projects >= 1; --entries >= 12 per project (4 per line); --duration > 0; --rounds >= 1"
        )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        return run(args)
    except KeyboardInterrupt:
        _say("\ninterrupted; subprocesses stopped and bench databases dropped")
        return 130
    except (RuntimeError, OSError) as exc:
        _say(f"benchmark failed: {type(exc).__name__}: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
