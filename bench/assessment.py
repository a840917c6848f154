"""Assessment benchmark (issue #12): the scoring phase of a village run and a cadre run beside a bare
`INSERT … SELECT` of the same rows, and the snapshot freeze over HTTP beside a direct SQL read of the same figures.

    flock /tmp/jingzhun-bench.lock .venv/bin/python bench/assessment.py          # defaults: 20,000 households (~1 min)
    flock /tmp/jingzhun-bench.lock .venv/bin/python bench/assessment.py --quick  # 5,000 households, 3 repeats, 1 pull
    .venv/bin/python bench/assessment.py --households 100000 --pulls 5 --strict   # a real county (~5 min)
    .venv/bin/python bench/assessment.py --skip-freeze                            # (a) only, no servers

The platform is bench/planning.py's (`PlanningPlatform`: throw-away `jzbench_*` databases on `BENCH_DATABASE_URL`,
`DATABASE_URL` or `TEST_DATABASE_URL`, else an embedded PostgreSQL; dev keys; the demo county; the gateway, the
registry and planning as uvicorn subprocesses started as `make run` starts them), plus a migrated
`jzbench_assessment` database and the service clients `registry-service`, `planning-service` and
`assessment-service` in the gateway (what ops/seed.py registers), each with a secret file; the registry and
planning get theirs as ops/cli.py `start_platform` passes them (`SERVICE_CLIENT_ID`, `SERVICE_CLIENT_SECRET_FILE`):
planning reads the registry's villages with its service token.

(a) scoring, in this process on `jzbench_assessment` (before the servers start, so the machine is quiet): the
    default templates B (village, 300 subjects) and C (cadre, 2,000 subjects) are stored as a county's published
    schemes are (the document and its flat rows, `schemes.service.flat_rows`), and one frozen snapshot per run is
    seeded directly (COPY) with synthetic figures of every metric the template reads (deterministic by `--seed`;
    about 1 % absent, a few confirmed inspection findings, so vetoes hit; manual scores with reasons for C's manual
    indicator). Each repeat scores the snapshot into a new run exactly as the job's score step does
    (`RunRepository.score`: the leaves' INSERT … SELECT, one per level, the totals; in one transaction, committed)
    and, beside it in the same repeat, the **bare statement**: one INSERT … SELECT writing the same indicator rows
    (every subject x every indicator, each with the figure it reads) into a table `LIKE
    assessment_result_indicator INCLUDING ALL`, and one writing the same result rows into a table `LIKE
    assessment_result INCLUDING ALL` (columns, defaults, CHECKs, primary keys and indexes; not the foreign key to
    the run nor invariant 46's trigger, which are part of what scoring costs), in one transaction, committed.
    Both are timed from BEGIN to COMMIT on the same SQLAlchemy session machinery the job uses. The first pair is a
    warm-up and thrown away; the table shows medians and the median of the per-repeat ratios. A sample of subjects
    is checked against the reference scorer (`scoring.domain.score`). Target: scoring <= 3x bare and < 2 s.
(b) snapshot freeze over HTTP: the county's households (bench/registry_data.py, `POST /regions/import` and
    `POST /households/import` on the registry), bench/visits.py's unit, a cadre per 5 households, one pairing per
    household and `--history` older visits each (`_load_pairings`, SQL), and
    bench/planning.py's projects, lines and ledger (`load_county`) for the run's year. Then what a village run's job
    pulls (runs/jobs.py): every page of the registry's and planning's `GET /figures/village` for the county
    (sources.py `FigureSource`, the assessment's own client: pages of `figure_page_size`, retries, the service
    token of `assessment-service` from the gateway, fetched once before the timing), over real HTTP to the uvicorn
    servers, from this process; beside it, the same figures read directly with asyncpg by the very statement the
    routes run (`figures.repository.fetch_figures` of each service). Pull and direct read alternate; medians and
    the median of the per-pull ratios are reported (no target). The pulled subjects must be the directly read ones.

Results: tables on stdout and bench/results/assessment-<UTC timestamp>.json. Exit status as bench/gateway.py: 1
wrong answers, 2 setup failed, 3 (with --strict) a target missed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import signal
import statistics
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/assessment.py` puts bench/ first on the path, not the project
    sys.path.insert(0, str(ROOT))

import bench.planning as planning_bench  # noqa: E402
from bench.gateway import RESULTS, Databases, TokenSource, _git_commit, _say  # noqa: E402
from bench.planning import GATEWAY, PlanningPlatform, load_county, village_codes  # noqa: E402
from bench.registry import _check, _request, _sql, _table  # noqa: E402
from bench.registry_data import TOWNSHIPS, ndjson_lines, region_csv  # noqa: E402
from bench.visits import _load_pairings  # noqa: E402

COUNTY = "451025000000"
SCHEME_YEAR = 2015  # the templates' year (the scoring phase reads no other data)
MAX_SCORING_RATIO = 3.0
MAX_SCORING_SECONDS = 2.0
SERVICE_CLIENT = "assessment-service"

#: The bare statements of (a): the rows scoring writes, with the figure each indicator reads, and nothing else.
BARE_INDICATORS_SQL = """
INSERT INTO bench_bare_result_indicator
  (run_id, subject_id, indicator_code, parent_code, level, position, kind, method, metric, max_points,
   value, target, exact, points, rule, params)
SELECT :run, s.subject_id, i.code, i.parent_code, i.level, i.position, i.kind, i.method, i.metric, i.max_points,
       v.value, i.target, NULL, i.max_points, 'bare', '{}'::jsonb
FROM assessment_snapshot_subject s
JOIN assessment_indicator i ON i.scheme_id = :scheme
LEFT JOIN assessment_snapshot v ON v.run_id = :snap AND v.subject_id = s.subject_id AND v.metric_code = i.metric
WHERE s.run_id = :snap
"""
BARE_RESULTS_SQL = """
INSERT INTO bench_bare_result
  (run_id, subject_id, raw_total, bonus, score_by_points, score, grade, grade_by_score, grade_order, bonus_hits,
   vetoes, not_evaluated, promotion_blocked, commendations, peer_group, rank, peers)
SELECT :run, subject_id, 0, 0, 0, 0, 'bare', 'bare', 0, '[]', '[]', '[]', false, '[]', coalesce(parent_code, ''),
       1, 1
FROM assessment_snapshot_subject WHERE run_id = :snap
"""
BARE_TABLES_SQL = (
    "CREATE TABLE IF NOT EXISTS bench_bare_result_indicator (LIKE assessment_result_indicator INCLUDING ALL)",
    "CREATE TABLE IF NOT EXISTS bench_bare_result (LIKE assessment_result INCLUDING ALL)",
)


# == the platform: planning's, with the assessment's database and the services' credentials ================
class AssessmentDatabases(Databases):
    SERVICES = ("gateway", "registry", "planning", "assessment")  # type: ignore[assignment]


#: The services that call others with a service token, as `make run` (ops/cli.py `start_platform`) gives them
#: one: `SERVICE_CLIENT_ID=<service>-service` and `SERVICE_CLIENT_SECRET_FILE`. Planning reads the registry's
#: villages with it (`GET /figures/village` answers 503 without); the assessment is this process.
SERVICE_CLIENTS = ("registry", "planning", "assessment")


class AssessmentPlatform(PlanningPlatform):
    """bench/planning.py's platform, plus `jzbench_assessment` and the service clients `make run` registers."""

    def __init__(self) -> None:
        super().__init__()
        self.databases = AssessmentDatabases()
        self.secret_files = {s: self.tmp / "secrets" / f"{s}-client-secret" for s in SERVICE_CLIENTS}

    @property
    def service_secret(self) -> str:
        """The `assessment-service` client's secret (this process pulls the figures with it)."""
        return self.secret_files["assessment"].read_text()

    def prepare(self) -> None:
        from ops.cli import _upsert_client
        from shared.migrate import upgrade

        super().prepare()  # all four databases; gateway, registry and planning migrated; the demo county
        upgrade("assessment", self.databases.urls["assessment"])
        for service, path in self.secret_files.items():  # as ops/seed.py registers them, with our secrets
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(24))
            asyncio.run(
                _upsert_client(
                    self.databases.urls["gateway"],
                    f"{service}-service",
                    "service",
                    "000000000000",
                    path.read_text(),
                    f"{service} service",
                )
            )

    def _spawn(self, name: str, app: str, port: int, env: dict[str, str]) -> None:
        if name in self.secret_files:  # the registry and planning: their service credentials, as `make run`
            env = env | {
                "SERVICE_CLIENT_ID": f"{name}-service",
                "SERVICE_CLIENT_SECRET_FILE": str(self.secret_files[name]),
            }
        super()._spawn(name, app, port, env)


# == (a) the scoring phase ===================================================================================
#: Synthetic figures: (low, high, decimal places) by metric; by unit otherwise.
_RANGES: dict[str, tuple[float, float, int]] = {
    "poverty_incidence": (1, 14, 2),
    "income_growth": (0, 30, 2),
    "exited_people": (0, 80, 0),
    "exit_quota_people": (20, 60, 0),
    "returnees_increase": (-3, 3, 0),
    "collective_income_fen": (0, 3_000_000, 0),
    "monitoring_rounds_closed": (0, 4, 0),
    "visits_per_pairing": (0, 20, 1),
    "income_increase_vs_plan": (40, 140, 2),
}
_UNITS: dict[str, tuple[float, float, int]] = {
    "percent": (55, 100, 2),
    "people": (0, 50, 0),
    "households": (0, 4, 0),
    "items": (0, 5, 0),
    "fen": (0, 5_000_000, 0),
}


def _figure(rng: random.Random, metric: str) -> Decimal | None:
    from services.assessment.metrics.domain import CATALOGUE, MetricSource

    entry = CATALOGUE[metric]
    if rng.random() < 0.01:
        return None  # the source had no figure
    if entry.source is MetricSource.inspection or metric in (
        "help_targets_missed",
        "households_without_card",
    ):
        return Decimal(1 if rng.random() < 0.03 else 0)  # confirmed findings are rare: a few vetoes hit
    if entry.unit.value == "bool":
        return Decimal(1 if rng.random() < 0.85 else 0)
    low, high, places = _RANGES.get(metric) or _UNITS.get(entry.unit.value, (0, 10, 0))
    return round(Decimal(str(rng.uniform(low, high))), places)


@dataclass
class Subject:
    id: str
    name: str
    region: str
    parent: str
    values: dict[str, Decimal | None]
    manual: dict[str, tuple[Decimal, str]] = field(default_factory=dict)


def synthetic_subjects(template: str, count: int, seed: int) -> list[Subject]:
    """Villages of the synthetic county (template B) or cadres in its townships (C), with their figures."""
    from services.assessment.schemes.domain import MethodKind
    from services.assessment.schemes.schemas import to_domain
    from services.assessment.schemes.templates import TEMPLATES

    scheme = to_domain(TEMPLATES[template].document)
    metrics = sorted(scheme.metrics())
    manual = [
        (leaf.code, leaf.max_points)
        for leaf in scheme.leaves()
        if leaf.method is not None and leaf.method.kind is MethodKind.manual
    ]
    rng = random.Random(f"{seed}-{template}")
    out: list[Subject] = []
    if template == "B":
        villages = village_codes(count)
        for code in villages:
            out.append(Subject(code, f"村{code[-5:]}", code, code[:9] + "000", {}))
    else:
        for n in range(count):
            township = TOWNSHIPS[n % len(TOWNSHIPS)]
            cadre = str(uuid.UUID(int=(0xC0 << 120) | n))
            out.append(Subject(cadre, f"干部{n}", township, township, {}))
    for s in out:
        s.values = {m: _figure(rng, m) for m in metrics}
        for code, top in manual:
            if rng.random() < 0.9:
                points = round(Decimal(str(rng.uniform(0.5, float(top)))), 2)
                s.manual[code] = (points, "按帮扶记录与走访核实评分")
    return out


@dataclass
class ScoringResult:
    template: str
    subject_type: str
    subjects: int
    indicator_rows: int
    result_rows: int
    scoring_ms: list[float]
    bare_ms: list[float]
    ratios: list[float]
    checked: int
    mismatches: list[str]
    warmup_scoring_ms: float
    warmup_bare_ms: float

    @property
    def scoring_median(self) -> float:
        return statistics.median(self.scoring_ms)

    @property
    def bare_median(self) -> float:
        return statistics.median(self.bare_ms)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def ok(self) -> bool:
        return self.ratio <= MAX_SCORING_RATIO and self.scoring_median < MAX_SCORING_SECONDS * 1000


async def _store_scheme(session: Any, template: str) -> Any:
    """The template as a county's published scheme: its row (with the document) and its flat rows."""
    from services.assessment.models import AssessmentScheme
    from services.assessment.schemes.schemas import to_domain
    from services.assessment.schemes.service import flat_rows
    from services.assessment.schemes.templates import TEMPLATES

    doc = TEMPLATES[template].document
    scheme = to_domain(doc)
    scheme_id = uuid.uuid4()
    now = datetime.now(UTC)
    row = AssessmentScheme(
        id=scheme_id,
        lineage_id=scheme_id,
        version=1,
        region_code=COUNTY,
        subject_type=doc.subject_type.value,
        year=doc.year,
        name=doc.name,
        status="published",
        total_points=doc.total_points,
        rounding_places=doc.rounding.places,
        rounding_mode=doc.rounding.mode.value,
        bonus_cap=doc.bonuses.cap,
        document=doc.model_dump(mode="json"),
        template_code=template,
        revision=1,
        created_at=now,
        created_by="bench",
        updated_at=now,
        published_at=now,
        published_by="bench",
    )
    session.add(row)
    await session.flush()
    for rows in flat_rows(scheme_id, scheme):
        session.add_all(list(rows))
    await session.flush()
    return row


def _run_row(scheme: Any, version: int, snapshot: uuid.UUID | None) -> Any:
    from services.assessment.models import Run

    run_id = uuid.uuid4()
    now = datetime.now(UTC)
    return Run(
        id=run_id,
        scheme_id=scheme.id,
        lineage_id=scheme.lineage_id,
        scheme_version=1,
        scheme_revision=1,
        scheme_document=scheme.document,
        subject_type=scheme.subject_type,
        region_code=COUNTY,
        county_code=COUNTY,
        year=scheme.year,
        kind="annual",
        version=version,
        status="scoring",
        snapshot_run_id=snapshot or run_id,
        absent_metrics=[],
        created_at=now,
        created_by="bench",
        updated_at=now,
    )


async def scoring_phase(db: str, template: str, count: int, repeats: int, seed: int) -> ScoringResult:
    import asyncpg
    import sqlalchemy as sa
    from sqlmodel import select

    from services.assessment.models import Result
    from services.assessment.runs.jobs import RUNNER
    from services.assessment.runs.repository import RunRepository
    from services.assessment.schemes.schemas import to_domain
    from services.assessment.schemes.templates import TEMPLATES
    from services.assessment.scoring.domain import ManualScore, SubjectFacts, score
    from shared.context import Context
    from shared.db import create_engine, execute, session_factory
    from shared.settings import asyncpg_url

    subjects = synthetic_subjects(template, count, seed)
    engine = create_engine(asyncpg_url(db), pool_size=2)
    sessions = session_factory(engine)
    try:
        # The scheme, the snapshot's run and one run per repeat (each scores the same frozen snapshot).
        async with sessions() as session, session.begin():
            scheme = await _store_scheme(session, template)
            snapshot = _run_row(scheme, 1, None)
            session.add(snapshot)
            runs = [_run_row(scheme, 2 + k, snapshot.id) for k in range(repeats + 1)]
            session.add_all(runs)
        conn = await asyncpg.connect(db)
        try:
            for statement in BARE_TABLES_SQL:
                await conn.execute(statement)
            await conn.copy_records_to_table(
                "assessment_snapshot_subject",
                records=[(snapshot.id, s.id, s.name, s.region, s.parent, None, None) for s in subjects],
                columns=["run_id", "subject_id", "name", "region_code", "parent_code", "parent_name", "kind"],
            )
            await conn.copy_records_to_table(
                "assessment_snapshot",
                records=[
                    (snapshot.id, s.id, metric, value, "registry")
                    for s in subjects
                    for metric, value in s.values.items()
                ],
                columns=["run_id", "subject_id", "metric_code", "value", "source"],
            )
            manual = [(snapshot.id, s.id, code, p, r) for s in subjects for code, (p, r) in s.manual.items()]
            if manual:
                await conn.copy_records_to_table(
                    "assessment_snapshot_manual",
                    records=manual,
                    columns=["run_id", "subject_id", "indicator_code", "points", "reason"],
                )
            await conn.execute("ANALYZE")
        finally:
            await conn.close()

        scoring: list[float] = []
        bare: list[float] = []
        bare_run = uuid.uuid4()
        for k, run in enumerate(runs):
            # Scoring, as the job's score step runs it (runs/jobs.py, RunJobService.score): one transaction.
            async with sessions() as session:
                ctx = Context(principal=RUNNER, session=session, now=datetime.now(UTC), request_id="bench")
                repo = RunRepository(ctx)
                async with session.begin():
                    stored_run = await repo.get(run.id)
                    stored_scheme = await repo.scheme(scheme.id)
                assert stored_run is not None and stored_scheme is not None
                started = time.perf_counter()
                async with session.begin():
                    await repo.score(stored_run, stored_scheme)
                scoring.append((time.perf_counter() - started) * 1000)
            # The bare statements, same machinery, same snapshot, a fresh run id.
            async with sessions() as session:
                bare_run = uuid.uuid4()
                params = {"run": bare_run, "snap": snapshot.id, "scheme": scheme.id}
                async with session.begin():
                    await execute(session, sa.text("SELECT 1"))  # the connection checked out, like above
                started = time.perf_counter()
                async with session.begin():
                    await execute(session, sa.text(BARE_INDICATORS_SQL), params)
                    await execute(session, sa.text(BARE_RESULTS_SQL), params)
                bare.append((time.perf_counter() - started) * 1000)
            _say(
                f"  (a) {template} {'warm-up' if k == 0 else f'repeat {k}'}: scoring {scoring[-1]:.1f} ms,"
                f" bare {bare[-1]:.1f} ms ({scoring[-1] / bare[-1]:.2f}x)"
            )

        # Counts, and a sample against the reference scorer.
        conn = await asyncpg.connect(db)
        try:
            last = runs[-1].id
            indicator_rows = await conn.fetchval(
                "SELECT count(*) FROM assessment_result_indicator WHERE run_id = $1", last
            )
            result_rows = await conn.fetchval(
                "SELECT count(*) FROM assessment_result WHERE run_id = $1", last
            )
            bare_rows = await conn.fetchval(
                "SELECT count(*) FROM bench_bare_result_indicator WHERE run_id = $1", bare_run
            )
        finally:
            await conn.close()
        mismatches: list[str] = []
        if result_rows != len(subjects):
            mismatches.append(f"{result_rows} results for {len(subjects)} subjects")
        if bare_rows != indicator_rows:
            mismatches.append(f"bare wrote {bare_rows} indicator rows, scoring {indicator_rows}")
        domain_scheme = to_domain(TEMPLATES[template].document)
        sample = random.Random(seed).sample(subjects, min(25, len(subjects)))
        async with sessions() as session, session.begin():
            stored = {
                r.subject_id: r
                for r in (
                    await session.exec(
                        select(Result).where(
                            Result.run_id == last,
                            Result.subject_id.in_([s.id for s in sample]),  # type: ignore[attr-defined]
                        )
                    )
                ).all()
            }
        for s in sample:
            facts = SubjectFacts(s.values, manual={c: ManualScore(p, r) for c, (p, r) in s.manual.items()})
            expected = score(domain_scheme, facts)
            got = stored.get(s.id)
            if got is None or (got.score, got.grade) != (expected.score, expected.grade.value):
                mismatches.append(
                    f"{s.id}: SQL {None if got is None else (got.score, got.grade)},"
                    f" reference {(expected.score, expected.grade.value)}"
                )
        return ScoringResult(
            template=template,
            subject_type=domain_scheme.subject_type.value,
            subjects=len(subjects),
            indicator_rows=int(indicator_rows),
            result_rows=int(result_rows),
            scoring_ms=scoring[1:],
            bare_ms=bare[1:],
            ratios=[a / b for a, b in zip(scoring[1:], bare[1:], strict=True)],
            checked=len(sample),
            mismatches=mismatches,
            warmup_scoring_ms=scoring[0],
            warmup_bare_ms=bare[0],
        )
    finally:
        await engine.dispose()


# == (b) the snapshot freeze over HTTP =======================================================================
@dataclass
class LoadResult:
    households: int
    cadres: int
    pairings: int
    projects: int
    ledger_entries: int
    registry_s: float
    planning_s: float


def load_phase(
    args: argparse.Namespace, plat: AssessmentPlatform, tokens: TokenSource, year: int
) -> LoadResult:
    registry = plat.servers["registry"].url
    started = time.perf_counter()
    status, body = _request(
        f"{registry}/regions/import",
        token=tokens.get(60),
        body=region_csv().encode(),
        content_type="text/csv",
    )
    _check("region import", status, body)
    payload = b"".join(ndjson_lines(args.households, args.seed))
    status, body = _request(
        f"{registry}/households/import?mode=migration&source_document=jzbench",  # a history: migration mode
        token=tokens.get(3600),
        body=payload,
        content_type="application/x-ndjson",
        timeout=3600,
    )
    imported = _check("household import", status, body)
    del payload
    if imported["households"] != args.households:
        raise RuntimeError(f"the import registered {imported['households']} of {args.households} households")
    # The helping unit, a cadre per five households and one pairing in force per household, with `--history`
    # older visits each: bench/visits.py's loader (cadre 0 is its phone user; nobody logs in as it here).
    db = plat.databases.urls["registry"]
    asyncio.run(_load_pairings(db, "bench-cadre", args.history))
    counts = asyncio.run(
        _sql(db, "SELECT (SELECT count(*) FROM registry_cadre), (SELECT count(*) FROM registry_pairing)")
    )
    cadres, pairings = int(counts[0][0]), int(counts[0][1])
    registry_s = time.perf_counter() - started
    _say(
        f"  registry: {args.households} households, {cadres} cadres, {pairings} pairings in {registry_s:.1f} s"
    )
    # Planning's county for the run's year (bench/planning.py's loader reads its module's YEAR when called).
    planning_bench.YEAR = year
    projects = max(args.villages, args.households * 3 // 100)
    entries = max(projects * 12, args.households)
    planning = asyncio.run(
        load_county(plat.databases.urls["planning"], village_codes(args.villages), projects, entries)
    )
    _say(
        f"  planning: {planning.projects} projects, {planning.lines} lines, {planning.entries} ledger entries"
        f" in {planning.seconds:.1f} s"
    )
    return LoadResult(
        households=args.households,
        cadres=cadres,
        pairings=pairings,
        projects=planning.projects,
        ledger_entries=planning.entries,
        registry_s=registry_s,
        planning_s=planning.seconds,
    )


@dataclass
class PullResult:
    year: int
    page_size: int
    subjects: int
    registry_http_ms: list[float]
    planning_http_ms: list[float]
    registry_sql_ms: list[float]
    planning_sql_ms: list[float]
    registry_pages: int
    planning_pages: int
    mismatches: list[str]

    @staticmethod
    def _total(a: list[float], b: list[float]) -> list[float]:
        return [x + y for x, y in zip(a, b, strict=True)]

    @property
    def http_ms(self) -> list[float]:
        return self._total(self.registry_http_ms, self.planning_http_ms)

    @property
    def sql_ms(self) -> list[float]:
        return self._total(self.registry_sql_ms, self.planning_sql_ms)


async def pull_phase(plat: AssessmentPlatform, pulls: int, year: int) -> PullResult:
    import asyncpg
    import httpx

    from services.assessment.settings import AssessmentSettings
    from services.assessment.sources import PLANNING_AUDIENCE, REGISTRY_AUDIENCE, FigureSource
    from services.planning.figures import repository as planning_figures
    from services.planning.figures.domain import SubjectType as PlanningSubject
    from services.registry.figures import repository as registry_figures
    from services.registry.figures.domain import SubjectType as RegistrySubject
    from shared.clock import china_date
    from shared.service_client import ServiceClient, ServiceTokenProvider

    defaults = AssessmentSettings.model_fields
    attempts = int(defaults["figure_attempts"].default)
    backoff = float(defaults["figure_backoff_seconds"].default)
    page_size = int(defaults["figure_page_size"].default)
    timeout = float(defaults["figure_timeout_seconds"].default)
    gateway = httpx.AsyncClient(base_url=plat.servers[GATEWAY].url, timeout=5)
    tokens = ServiceTokenProvider(gateway, SERVICE_CLIENT, plat.service_secret)
    clients = {
        "registry": ServiceClient(plat.servers["registry"].url, REGISTRY_AUDIENCE, tokens, timeout=timeout),
        "planning": ServiceClient(plat.servers["planning"].url, PLANNING_AUDIENCE, tokens, timeout=timeout),
    }
    pages = {"registry": 0, "planning": 0}

    def counting(name: str, client: ServiceClient) -> FigureSource:
        source = FigureSource(name, client, attempts=attempts, backoff=backoff, page_size=page_size)
        original = client.get

        async def get(path: str, **kwargs: Any) -> httpx.Response:
            pages[name] += 1
            return await original(path, **kwargs)

        client.get = get  # type: ignore[method-assign]  # counts the pages of one pull
        return source

    sources = {name: counting(name, client) for name, client in clients.items()}
    urls = plat.databases.urls
    out = PullResult(year, page_size, 0, [], [], [], [], 0, 0, [])
    try:
        await tokens.token(REGISTRY_AUDIENCE)  # the job's first page would fetch them; cached for an hour
        await tokens.token(PLANNING_AUDIENCE)
        conns = {
            "registry": await asyncpg.connect(urls["registry"]),
            "planning": await asyncpg.connect(urls["planning"]),
        }
        try:
            for k in range(pulls + 1):
                # The pull, as the job does it: the registry, then planning.
                got = {}
                for name, sink in (("registry", out.registry_http_ms), ("planning", out.planning_http_ms)):
                    pages[name] = 0
                    started = time.perf_counter()
                    got[name] = await sources[name].rows("village", COUNTY, year, request_id="bench-freeze")
                    if k:
                        sink.append((time.perf_counter() - started) * 1000)
                # The same figures by the routes' own statements, straight from each database.
                today = china_date(datetime.now(UTC))
                started = time.perf_counter()
                registry_rows = await registry_figures.fetch_figures(
                    conns["registry"], RegistrySubject.village, COUNTY, year, today
                )
                middle = time.perf_counter()
                planning_rows = await planning_figures.fetch_figures(
                    conns["planning"], PlanningSubject.village, COUNTY, year, today
                )
                end = time.perf_counter()
                if k:
                    out.registry_sql_ms.append((middle - started) * 1000)
                    out.planning_sql_ms.append((end - middle) * 1000)
                label = "warm-up" if k == 0 else f"pull {k}"
                _say(
                    f"  (b) {label}: HTTP registry {len(got['registry'].subjects)} rows / {pages['registry']} pages,"
                    f" planning {len(got['planning'].subjects)} rows; direct SQL {len(registry_rows)} + {len(planning_rows)}"
                    f" rows in {(end - started) * 1000:.0f} ms"
                )
                for name, direct in (("registry", registry_rows), ("planning", planning_rows)):
                    pulled = [s.id for s in got[name].subjects]
                    read = [str(r["id"]) for r in direct]
                    if pulled != read:
                        out.mismatches.append(
                            f"{name}: pulled {len(pulled)} subjects, read {len(read)} directly"
                        )
                out.subjects = len(got["registry"].subjects)
                out.registry_pages, out.planning_pages = pages["registry"], pages["planning"]
        finally:
            for conn in conns.values():
                await conn.close()
    finally:
        for client in clients.values():
            await client.aclose()
        await gateway.aclose()
    return out


# == the report ==============================================================================================
def _ms(value: float) -> str:
    return f"{value:,.1f} ms"


def _ratios(http: list[float], sql: list[float]) -> list[float]:
    return [h / s for h, s in zip(http, sql, strict=True) if s]


def report(
    args: argparse.Namespace,
    *,
    started: datetime,
    where: str,
    scoring: list[ScoringResult],
    load: LoadResult | None,
    pull: PullResult | None,
) -> int:
    _say()
    _say(f"Assessment benchmark; {where}; {os.cpu_count()} CPUs")
    _say()
    _say(
        f"(a) scoring phase of a frozen snapshot (RunRepository.score, BEGIN to COMMIT) vs the bare INSERT … SELECT"
        f" of the same rows; median of {args.repeats} repeats after a warm-up"
    )
    _say(
        _table(
            ["run", "subjects", "rows written", "scoring", "bare", "ratio", "target", "verdict"],
            [
                [
                    f"{r.template} ({r.subject_type})",
                    f"{r.subjects:,}",
                    f"{r.indicator_rows:,} + {r.result_rows:,}",
                    _ms(r.scoring_median),
                    _ms(r.bare_median),
                    f"{r.ratio:.2f}x",
                    f"<= {MAX_SCORING_RATIO:.0f}x, < {MAX_SCORING_SECONDS:.0f} s",
                    "ok" if r.ok else "MISSED",
                ]
                for r in scoring
            ],
        )
    )
    for r in scoring:
        _say(
            f"    {r.template}: scoring min/max {min(r.scoring_ms):.1f}/{max(r.scoring_ms):.1f} ms, bare"
            f" {min(r.bare_ms):.1f}/{max(r.bare_ms):.1f} ms; warm-up {r.warmup_scoring_ms:.1f} / {r.warmup_bare_ms:.1f} ms;"
            f" {r.checked} subjects checked against the reference scorer: {len(r.mismatches)} mismatches"
        )
        for m in r.mismatches[:5]:
            _say(f"      WRONG: {m}")
    if pull is not None and load is not None:
        _say()
        _say(
            f"(b) snapshot freeze of a village run over HTTP (real uvicorn servers; the puller in this process) vs a"
            f" direct asyncpg read by the routes' statements: {load.households:,} households, {load.cadres:,} cadres,"
            f" {load.projects:,} projects, year {pull.year}, page size {pull.page_size}; median of {args.pulls}"
        )
        rows = []
        for name, http, sql, pages in (
            (
                "registry GET /figures/village",
                pull.registry_http_ms,
                pull.registry_sql_ms,
                pull.registry_pages,
            ),
            (
                "planning GET /figures/village",
                pull.planning_http_ms,
                pull.planning_sql_ms,
                pull.planning_pages,
            ),
            (
                "the freeze's pull (both)",
                pull.http_ms,
                pull.sql_ms,
                pull.registry_pages + pull.planning_pages,
            ),
        ):
            h, s = statistics.median(http), statistics.median(sql)
            per_pull = _ratios(http, sql)
            spread = f"{min(per_pull):.2f}-{max(per_pull):.2f}x" if per_pull else "-"
            ratio = f"{statistics.median(per_pull):.2f}x" if per_pull else "-"
            rows.append([name, str(pages), _ms(h), _ms(s), ratio, spread])
        _say(_table(["source", "pages", "HTTP pull", "direct SQL", "ratio", "per pull"], rows))
        _say(
            "    ratio: the median of the per-pull ratios (each pull against the direct read right after it)"
        )
        _say(f"    {pull.subjects} villages pulled; {len(pull.mismatches)} mismatches")
        for m in pull.mismatches[:5]:
            _say(f"      WRONG: {m}")
    out = RESULTS / f"assessment-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "benchmark": "assessment",
                "started": started.isoformat(),
                "commit": _git_commit(),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "database": where},
                "arguments": vars(args),
                "scoring": [
                    asdict(r)
                    | {
                        "scoring_median_ms": r.scoring_median,
                        "bare_median_ms": r.bare_median,
                        "ratio": r.ratio,
                        "ok": r.ok,
                    }
                    for r in scoring
                ],
                "bare_sql": [BARE_INDICATORS_SQL.strip(), BARE_RESULTS_SQL.strip()],
                "load": asdict(load) if load else None,
                "freeze": None
                if pull is None
                else asdict(pull)
                | {
                    "http_median_ms": statistics.median(pull.http_ms),
                    "sql_median_ms": statistics.median(pull.sql_ms),
                    "ratio": statistics.median(_ratios(pull.http_ms, pull.sql_ms)),
                },
            },
            ensure_ascii=False,
            indent=2,
        )
    )
    _say(f"results: {out.relative_to(ROOT)}")
    if any(r.mismatches for r in scoring) or (pull is not None and pull.mismatches):
        return 1
    if args.strict and not all(r.ok for r in scoring):
        return 3
    return 0


# == main ====================================================================================================
def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    if not (os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")):
        if os.environ.get("TEST_DATABASE_URL"):  # the test server will do for throw-away databases
            os.environ["BENCH_DATABASE_URL"] = os.environ["TEST_DATABASE_URL"]
    plat = AssessmentPlatform()
    scoring: list[ScoringResult] = []
    load: LoadResult | None = None
    pull: PullResult | None = None
    year = started.year  # the registry's imported households are registered this year
    try:
        _say(
            f"Assessment benchmark on {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f}); setting up …"
        )
        plat.prepare()
        db = plat.databases.urls["assessment"]
        for template, count in (("B", args.villages), ("C", args.cadres)):
            scoring.append(asyncio.run(scoring_phase(db, template, count, args.repeats, args.seed)))
        if not args.skip_freeze:
            plat.start()
            plat.wait_healthy()
            tokens = TokenSource(plat.servers[GATEWAY].url)
            load = load_phase(args, plat, tokens, year)
            pull = asyncio.run(pull_phase(plat, args.pulls, year))
    finally:
        plat.stop()
    return report(args, started=started, where=plat.databases.where, scoring=scoring, load=load, pull=pull)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module's docstring as written, and every option's default after its help."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=_HelpFormatter,
    )
    scoring = parser.add_argument_group("(a) scoring phase (in process, before the servers start)")
    scoring.add_argument(
        "--villages",
        type=int,
        default=300,
        help="villages scored by template B (1-300); also (b)'s planned villages",
    )
    scoring.add_argument("--cadres", type=int, default=2000, help="cadres scored by template C")
    scoring.add_argument(
        "--repeats", type=int, default=9, help="timed repeats of each run, after one warm-up"
    )
    freeze = parser.add_argument_group("(b) snapshot freeze over HTTP (uvicorn servers, the county imported)")
    freeze.add_argument(
        "--households",
        type=int,
        default=20_000,
        help="households of the county (the registry's figures grow with them; 100000 is a real county)",
    )
    freeze.add_argument("--history", type=int, default=4, help="older visits recorded per household")
    freeze.add_argument(
        "--pulls", type=int, default=5, help="timed pulls and direct reads, after one warm-up"
    )
    freeze.add_argument("--skip-freeze", action="store_true", help="run (a) only: no servers, no county")
    parser.add_argument("--seed", type=int, default=1, help="synthetic data seed")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: at most 5000 households, 3 repeats, 1 pull (~1-2 min)",
    )
    parser.add_argument("--strict", action="store_true", help="exit 3 if a scoring target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.households = min(args.households, 5000)
        args.repeats = min(args.repeats, 3)
        args.pulls = 1
    if (
        min(args.households, args.repeats, args.pulls, args.cadres) < 1
        or args.history < 0
        or not 1 <= args.villages <= 300
    ):
        parser.error(
            "--households, --cadres, --repeats, --pulls >= 1; --history >= 0; 1 <= --villages <= 300"
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
