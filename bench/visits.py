"""Visits benchmark (issue #4): help-record POST vs a raw INSERT, a 500-record batch, and the phone download.

    python bench/visits.py [--households 30000] [--duration 5] [--rounds 3] [--concurrency 16] [--strict]
    python bench/visits.py --quick     # 3,000 households, 1 s measurements, 1 round

The platform is bench/gateway.py's (`Platform`: throw-away databases on `BENCH_DATABASE_URL` or
`DATABASE_URL`, else an embedded PostgreSQL; dev keys; the demo county; uvicorn subprocesses) with one aiohttp
gateway. The registry is served by `create_registry` below: the app of services/registry/main.py, plus the sync
and help-record routers if main does not include them yet. The caller is the demo cadre `cadre.wang`, whose
registry cadre row is created here. In this order:

(c) phone download: the county's 300 villages and N households (bench/registry_data.py) are loaded through
    `POST /regions/import` and `POST /households/import`; one helping unit, N/5 cadres, one active pairing
    per household (the benchmark cadre has 5 households), and `--history` older help records per household.
    A full download hands out the cursor; then "a day of changes" is written (help records, confirmations,
    household edits and pairing handovers: a handful for the cadre's households, `--day-records` /
    `--day-edits` for the others) and `GET /api/registry/sync/download?cursor=…` is timed, one client at a
    time, through the gateway and straight to the registry. Target: under 100 ms (p99).
(a) visit POST: `POST /api/registry/help-records` through the gateway (each request a new client UUID,
    synchronous commit as configured), closed loop at `--concurrency`, against the bare two-hop baseline
    (bench/bare_post.py: a bare ASGI proxy in front of a bare ASGI leaf that json.loads the same body and runs
    the raw INSERT, no token, no checks; served with the platform's uvicorn flags): the two Python HTTP hops the
    design fixes, doing nothing else. Also measured: the raw asyncpg INSERT of the same row into
    registry_help_record (the same statement, autocommit, a pool of `--concurrency`, same triggers) from this
    process, the POST straight to the registry, and with an `Idempotency-Key` header when the registry honours
    one. Rounds alternate the targets (same concurrency and warm-up); CPU per request of every process.
    Target: gateway >= 0.5x the bare two-hop (the median of the per-round ratios); the ratio against the raw
    INSERT is reported beside it, informational.
(b) batch: `POST /api/registry/help-records/batch` with 500 new records, `--batches` times. Target < 1 s.

(a) and (b) are skipped, with a message, when the registry has no help-record routes.

Results: tables on stdout and bench/results/visits-<UTC timestamp>.json. Exit status as bench/gateway.py:
1 wrong answers, 2 setup failed, 3 (with --strict) a target missed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/visits.py` puts bench/ first on the path, not the project
    sys.path.insert(0, str(ROOT))

from bench.bare_post import INSERT_SQL, insert_args  # noqa: E402
from bench.gateway import (  # noqa: E402
    RESULTS,
    LoadGenerator,
    Platform,
    RunResult,
    RunSpec,
    TokenSource,
    _fmt,
    _free_port,
    _git_commit,
    _http,
    _say,
    percentile,
)
from bench.registry import _check, _request, _sql, _table  # noqa: E402
from bench.registry_data import ndjson_lines, region_csv  # noqa: E402

if TYPE_CHECKING:  # the registry is imported only in its own process
    from fastapi import FastAPI

CLIENT = "aiohttp"
GATEWAY = f"gw-{CLIENT}"
BARE_PROXY, BARE_LEAF = "bare-proxy", "bare-leaf"
#: CPU-meter part -> server name on the platform.
SERVERS = {"gateway": GATEWAY, "registry": "registry", "proxy": BARE_PROXY, "leaf": BARE_LEAF}
#: The visit-POST targets: the platform's, and the two baselines it is compared with.
BARE = "bare two-hop"
RAW = "raw INSERT"
CADRE_USER = "cadre.wang"
MIN_POST_RATIO = 0.5
MAX_BATCH_S = 1.0
MAX_DOWNLOAD_MS = 100.0
BATCH = 500
CADRE_HOUSEHOLDS = 5


def create_registry() -> FastAPI:
    """The registry as services/registry/main.py builds it (help records, sync, idempotency included)."""
    from services.registry.main import create_app

    return create_app()


# == set-up ================================================================================================
def _cadre_login(gateway: str) -> tuple[str, str]:
    """The demo cadre's access token and its `sub` (the gateway user id)."""
    from ops.seed import DEMO_PASSWORD

    status, body = _http(
        f"{gateway}/auth/token",
        form={"grant_type": "password", "username": CADRE_USER, "password": DEMO_PASSWORD},
    )
    if status != 200:
        raise RuntimeError(f"cadre login failed: HTTP {status} {body.decode(errors='replace')[:300]}")
    token: str = json.loads(body)["access_token"]
    claims = token.split(".")[1]
    sub: str = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["sub"]
    return token, sub


class CadreTokens:
    """The cadre's token, renewed before a run that would outlive it."""

    def __init__(self, gateway: str) -> None:
        self.gateway = gateway
        self._token, self.sub = _cadre_login(gateway)
        self._at = time.monotonic()

    def get(self, valid_for: float) -> str:
        if time.monotonic() - self._at + valid_for > 14 * 60:
            self._token, _ = _cadre_login(self.gateway)
            self._at = time.monotonic()
        return self._token


_UNIT = "00000000-0000-4000-8000-00000000b001"


def _cadre_id(number: int) -> str:
    return str(uuid.UUID(int=(0xB0 << 120) | number))


async def _load_pairings(db: str, sub: str, history: int) -> list[str]:
    """Unit, cadres, one pairing per household (cadre 0 is the benchmark's), older help records."""
    import asyncpg

    conn = await asyncpg.connect(db)
    try:
        await conn.execute(
            "INSERT INTO registry_helping_unit (id, name, kind, region_code, created_by)"
            " VALUES ($1, '靖西县财政局', 'government_department', '451025000000', 'bench')",
            uuid.UUID(_UNIT),
        )
        households = await conn.fetchval("SELECT count(*) FROM registry_household")
        cadres = -(-households // CADRE_HOUSEHOLDS)
        await conn.executemany(
            "INSERT INTO registry_cadre (id, unit_id, name, position_level, user_sub, region_code, created_by)"
            " VALUES ($1, $2, $3, 'staff', $4, '451025000000', 'bench')",
            [
                (uuid.UUID(_cadre_id(n)), uuid.UUID(_UNIT), f"干部{n}", sub if n == 0 else None)
                for n in range(cadres)
            ],
        )
        # Household n (by id) goes to cadre n / 5: cadre 0 gets the first five.
        await conn.execute(
            "INSERT INTO registry_pairing (id, household_id, cadre_id, unit_id, role, valid_from,"
            " recorded_at, recorded_by)"
            " SELECT gen_random_uuid(), h.id,"
            "  ('b0000000-0000-0000-0000-' || lpad(to_hex(h.n / $1), 12, '0'))::uuid, $2, 'primary',"
            "  DATE '2026-01-01', now() - interval '300 days', 'bench'"
            " FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM registry_household) h",
            CADRE_HOUSEHOLDS,
            uuid.UUID(_UNIT),
        )
        await conn.execute(
            "INSERT INTO registry_help_record (id, version, household_id, cadre_id, record_type, device_time,"
            " received_at, content, payload_hash, created_by)"
            " SELECT gen_random_uuid(), 1, p.household_id, p.cadre_id, 'visit',"
            "  now() - (g * 20 + 2) * interval '1 day', now() - (g * 20 + 2) * interval '1 day',"
            "  '走访: 了解家庭生产生活情况, 宣传政策', md5(random()::text), 'bench'"
            " FROM registry_pairing p CROSS JOIN generate_series(1, $1) g",
            history,
        )
        await conn.execute("ANALYZE")
        mine = await conn.fetch(
            "SELECT household_id FROM registry_pairing WHERE cadre_id = $1 ORDER BY household_id",
            uuid.UUID(_cadre_id(0)),
        )
        return [str(r["household_id"]) for r in mine]
    finally:
        await conn.close()


async def _handover(conn: Any, pairing_id: uuid.UUID, successor_cadre: uuid.UUID, today: Any) -> None:
    """End a pairing today and start the successor's the same day (不脱贫不脱钩: no gap between them)."""
    await conn.execute(
        "UPDATE registry_pairing SET superseded_at = now() WHERE id = $1 AND superseded_at IS NULL",
        pairing_id,
    )
    successor = uuid.uuid4()
    await conn.execute(
        "INSERT INTO registry_pairing (id, household_id, cadre_id, unit_id, role, valid_from, valid_to,"
        " end_reason, successor_id, recorded_at, recorded_by)"
        " SELECT id, household_id, cadre_id, unit_id, role, valid_from, $2, 'handover', $3, now(), 'bench'"
        " FROM registry_pairing WHERE id = $1 ORDER BY row_id DESC LIMIT 1",
        pairing_id,
        today,
        successor,
    )
    await conn.execute(
        "INSERT INTO registry_pairing (id, household_id, cadre_id, unit_id, role, valid_from, recorded_at,"
        " recorded_by) SELECT $1, household_id, $2, unit_id, 'primary', $3, now(), 'bench'"
        " FROM registry_pairing WHERE id = $4 ORDER BY row_id DESC LIMIT 1",
        successor,
        successor_cadre,
        today,
        pairing_id,
    )


async def _a_day_of_changes(db: str, records: int, edits: int, handovers: int) -> dict[str, int]:
    """What a county writes in a day: mostly for other cadres' households, a little for the benchmark cadre."""
    import asyncpg

    mine = uuid.UUID(_cadre_id(0))
    conn = await asyncpg.connect(db)
    try:
        before = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM registry_change")
        pairings = await conn.fetchval("SELECT count(*) FROM registry_pairing WHERE superseded_at IS NULL")
        per = max(1, -(-records // pairings))
        fraction = records / (per * pairings)
        # Others: help records at random households, some confirmed; household edits; handovers between cadres.
        await conn.execute(
            "INSERT INTO registry_help_record (id, version, household_id, cadre_id, record_type, device_time,"
            " received_at, content, money_fen, payload_hash, created_by)"
            " SELECT gen_random_uuid(), 1, p.household_id, p.cadre_id, 'visit',"
            "  now() - random() * interval '20 hours', now(), '走访: 落实产业帮扶措施', 20000,"
            "  md5(random()::text), 'bench'"
            " FROM registry_pairing p CROSS JOIN generate_series(1, $1) g"
            " WHERE p.superseded_at IS NULL AND p.cadre_id <> $2 AND random() < $3",
            per,
            mine,
            fraction,
        )
        await conn.execute(
            "INSERT INTO registry_help_confirmation (record_id, party, confirmed_at, confirmed_by, signatory)"
            " SELECT id, 'household_head', now(), 'bench', '户主' FROM registry_help_record"
            " WHERE received_at > now() - interval '1 minute' AND random() < 0.2"
        )
        await conn.execute(
            "UPDATE registry_household SET bank_name = '靖西农商行', version = version + 1, updated_at = now(),"
            " updated_by = 'bench' WHERE id IN (SELECT household_id FROM registry_pairing"
            "  WHERE superseded_at IS NULL AND cadre_id <> $1 ORDER BY random() LIMIT $2)",
            mine,
            edits,
        )
        # Handovers among other cadres: the pairing ends today and the successor's starts the same day.
        rows = await conn.fetch(
            "SELECT id, cadre_id FROM registry_pairing"
            " WHERE superseded_at IS NULL AND cadre_id NOT IN ($1, $3) ORDER BY random() LIMIT $2",
            mine,
            handovers,
            uuid.UUID(_cadre_id(3)),
        )
        today = await conn.fetchval("SELECT (now() AT TIME ZONE 'Asia/Shanghai')::date")
        async with conn.transaction():
            for row in rows:
                successor_cadre = _cadre_id(2 if row["cadre_id"] == uuid.UUID(_cadre_id(1)) else 1)
                await _handover(conn, row["id"], uuid.UUID(successor_cadre), today)
        # The benchmark cadre hands one household over to cadre 1 and takes one over from cadre 3: the phone
        # drops one and gets one in full.
        handed = await conn.fetchval(
            "SELECT id FROM registry_pairing WHERE cadre_id = $1 AND superseded_at IS NULL"
            " ORDER BY household_id DESC LIMIT 1",
            mine,
        )
        taken = await conn.fetchval(
            "SELECT id FROM registry_pairing WHERE cadre_id = $1 AND superseded_at IS NULL LIMIT 1",
            uuid.UUID(_cadre_id(3)),
        )
        async with conn.transaction():
            await _handover(conn, handed, uuid.UUID(_cadre_id(1)), today)
            await _handover(conn, taken, mine, today)
        # The benchmark cadre's day: three visits to two households (one confirmed), one household edit.
        mine_hh = await conn.fetch(
            "SELECT household_id FROM registry_pairing WHERE cadre_id = $1 AND superseded_at IS NULL"
            " AND valid_to IS NULL ORDER BY household_id LIMIT 3",
            mine,
        )
        for i, household in enumerate([mine_hh[0], mine_hh[0], mine_hh[1]]):
            record = uuid.uuid4()
            await conn.execute(
                "INSERT INTO registry_help_record (id, version, household_id, cadre_id, record_type, device_time,"
                " received_at, content, payload_hash, created_by)"
                " VALUES ($1, 1, $2, $3, 'visit', now() - $4 * interval '1 hour', now(), '走访', md5(random()::text),"
                " 'bench')",
                record,
                household["household_id"],
                mine,
                float(i + 1),
            )
            if i == 0:
                await conn.execute(
                    "INSERT INTO registry_help_confirmation (record_id, party, confirmed_at, confirmed_by,"
                    " signatory) VALUES ($1, 'household_head', now(), 'bench', '户主')",
                    record,
                )
        await conn.execute(
            "UPDATE registry_household SET main_income_source = 'breeding', version = version + 1,"
            " updated_at = now(), updated_by = 'bench' WHERE id = $1",
            mine_hh[2]["household_id"],
        )
        await conn.execute("ANALYZE registry_change")
        after = await conn.fetchval("SELECT max(seq) FROM registry_change")
        kinds = await conn.fetch(
            "SELECT kind, count(*) AS n FROM registry_change WHERE seq > $1 GROUP BY kind", before
        )
        return {"changes": after - before} | {r["kind"]: r["n"] for r in kinds}
    finally:
        await conn.close()


# == (c) download =========================================================================================
@dataclass
class DownloadResult:
    households: int
    changes_in_day: dict[str, int]
    full_ms: float
    full_bytes: int
    incremental_households: int
    incremental_removed: int
    incremental_bytes: int
    runs: list[RunResult] = field(default_factory=list)


def download_phase(
    args: argparse.Namespace, plat: Platform, loadgen: LoadGenerator, cadre: CadreTokens
) -> DownloadResult:
    db = plat.databases.urls["registry"]
    gateway = plat.servers[GATEWAY].url
    mine = asyncio.run(_load_pairings(db, cadre.sub, args.history))
    url = f"{gateway}/api/registry/sync/download"
    _request(url, token=cadre.get(60))  # the first request opens the read pool's connection: not measured
    started = time.perf_counter()
    status, body = _request(url, token=cadre.get(60))
    full_ms = (time.perf_counter() - started) * 1000
    full = _check("full download", status, body)
    if not full["full"] or sorted(h["id"] for h in full["households"]) != mine:
        raise RuntimeError(
            f"full download: wrong households {[h['id'] for h in full['households']]} != {mine}"
        )
    _say(f"  (c) full download: {len(full['households'])} households, {len(body)} bytes, {full_ms:.1f} ms")
    changes = asyncio.run(_a_day_of_changes(db, args.day_records, args.day_edits, args.handovers))
    _say(f"      a day of changes: {changes}")
    cursor = full["cursor"]
    targets = {
        "gateway": f"{url}?cursor={cursor}",
        "direct": f"{plat.servers['registry'].url}/sync/download?cursor={cursor}",
    }
    status, body = _request(targets["gateway"], token=cadre.get(60))
    incremental = _check("incremental download", status, body)
    if (
        incremental["full"]
        or len(incremental["removed"]) != 1
        or not 1 <= len(incremental["households"]) <= 5
    ):
        raise RuntimeError(f"incremental download: unexpected answer {body[:300]!r}")
    _say(
        f"      incremental: {len(incremental['households'])} households, {len(incremental['removed'])} removed,"
        f" {len(body)} bytes"
    )
    result = DownloadResult(
        households=args.households,
        changes_in_day=changes,
        full_ms=full_ms,
        full_bytes=len(json.dumps(full)),
        incremental_households=len(incremental["households"]),
        incremental_removed=len(incremental["removed"]),
        incremental_bytes=len(body),
    )
    for rnd in range(1, args.rounds + 1):
        for name, target in targets.items():
            plat.check_alive()
            spec = RunSpec(
                target=f"download:{name}",
                url=target,
                token=cadre.get(args.warmup + args.duration + 60),
                mode="closed",
                duration=args.duration,
                warmup=args.warmup,
                concurrency=1,
                rate=1.0,
                expect='"full":false',
            )
            run = loadgen.run(spec)
            run.round = rnd
            result.runs.append(run)
            _say(
                f"      [round {rnd}/{args.rounds}] {name:<8} p50 {_fmt(run.p50_ms, '6.2f')} ms  "
                f"p99 {_fmt(run.p99_ms, '6.2f')} ms  errors {run.errors}"
            )
    return result


# == (a) visit POST and (b) batch =========================================================================
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
    #: CPU milliseconds per successful request: the whole machine, and each process (see CpuMeter).
    cpu_ms: dict[str, float] = field(default_factory=dict)
    #: Records per group-commit flush in the registry during the run (its /metrics), when it reports them.
    mean_group: float | None = None


#: (latencies, errors by kind, an answer per error kind, measured seconds, CPU readings at start and end)
LoopResult = tuple[
    list[float], dict[str, int], dict[str, str], float, tuple[dict[str, float], dict[str, float]]
]


class CpuMeter:
    """CPU time per request, to show where it goes: the throughput ratio of two CPU-bound loops on the same
    cores is roughly the inverse ratio of their CPU per request.

    `machine` is every core's busy time (user, system, irq; not idle or I/O wait); `client` is this process
    (the load generator); `gateway`/`registry` are the servers, `proxy`/`leaf` the bare two-hop baseline's
    (bench/bare_post.py); `database+` is the rest of the machine's busy time, PostgreSQL's backends above all
    (they come and go with connection pools, so they are not counted one by one). Every process is read in
    every run: a process that is not the target's shows its idle cost. Without psutil the meter reads nothing.
    """

    def __init__(self, plat: Platform) -> None:
        try:
            import psutil  # installed with pgserver
        except ImportError:  # pragma: no cover
            self._psutil: Any = None
            return
        self._psutil = psutil
        self._servers = {
            part: plat.servers[name].proc.pid for part, name in SERVERS.items() if name in plat.servers
        }

    def read(self) -> dict[str, float]:
        if self._psutil is None:
            return {}
        psutil = self._psutil
        t = psutil.cpu_times()
        out = {"machine": t.user + t.system + t.nice + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)}
        me = psutil.Process().cpu_times()
        out["client"] = me.user + me.system
        for name, pid in self._servers.items():
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            out[name] = times.user + times.system
        return out

    @staticmethod
    def per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
        if not before or not requests:
            return {}
        used = {k: max(0.0, after.get(k, 0.0) - v) * 1000 / requests for k, v in before.items()}
        used["database+"] = max(0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine"))
        return used


def _group_totals(registry: str) -> tuple[float, float] | None:
    """(records, flushes) of the registry's group-commit writer so far, from its /metrics."""
    try:
        status, body = _http(f"{registry}/metrics", timeout=5)
    except OSError:
        return None
    if status != 200:
        return None
    totals: dict[str, float] = {}
    for line in body.decode().splitlines():
        name, _, value = line.partition(" ")
        if name in ("jingzhun_help_record_group_size_sum", "jingzhun_help_record_group_size_count"):
            totals[name] = float(value)
    if len(totals) < 2:
        return None
    return totals["jingzhun_help_record_group_size_sum"], totals["jingzhun_help_record_group_size_count"]


def _record(household: str, now: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "household_id": household,
        "record_type": "visit",
        "device_time": now.isoformat(),
        "content": "走访: 了解家庭生产生活情况, 宣传教育资助政策",
        "place": "那坡屯",
        "money_yuan": "200.00",
    }


async def _post_loop(
    url: str,
    token: str,
    households: list[str],
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    idem: bool,
    cpu: Callable[[], dict[str, float]],
) -> LoopResult:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=0, keepalive_timeout=60)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def user(index: int, until: float, measured: bool) -> None:
            n = index
            while (start := time.perf_counter()) < until:
                n += concurrency
                headers = {
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "X-Device-Time": datetime.now(UTC).isoformat(),  # the app sends its clock on every write
                }
                if idem:
                    headers["Idempotency-Key"] = str(uuid.uuid4())
                body = json.dumps(_record(households[n % len(households)], datetime.now(UTC)))
                try:
                    async with session.post(url, data=body, headers=headers) as resp:
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
        cpu_before = cpu()
        begin = time.perf_counter()
        until = begin + seconds
        await asyncio.gather(*(user(i, until, True) for i in range(concurrency)))
        elapsed = time.perf_counter() - begin
        cpu_after = cpu()
    return latencies, errors, samples, elapsed, (cpu_before, cpu_after)


async def _insert_loop(
    db: str,
    households: list[str],
    cadre_sub: str,
    *,
    concurrency: int,
    seconds: float,
    warmup: float,
    cpu: Callable[[], dict[str, float]],
) -> LoopResult:
    import asyncpg

    cadre = uuid.UUID(_cadre_id(0))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    samples: dict[str, str] = {}
    pool = await asyncpg.create_pool(db, min_size=concurrency, max_size=concurrency)
    try:

        async def user(index: int, until: float, measured: bool) -> None:
            n = index
            while (start := time.perf_counter()) < until:
                n += concurrency
                record = _record(households[n % len(households)], datetime.now(UTC))
                try:
                    await pool.execute(
                        INSERT_SQL,
                        *insert_args(
                            record, cadre_id=cadre, created_by=cadre_sub, payload_hash=uuid.uuid4().hex * 2
                        ),
                    )
                except asyncpg.PostgresError as exc:
                    if measured:
                        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                        samples.setdefault(type(exc).__name__, str(exc)[:300])
                    continue
                if measured:
                    latencies.append(time.perf_counter() - start)

        if warmup > 0:
            until = time.perf_counter() + warmup
            await asyncio.gather(*(user(i, until, False) for i in range(concurrency)))
        cpu_before = cpu()
        begin = time.perf_counter()
        until = begin + seconds
        await asyncio.gather(*(user(i, until, True) for i in range(concurrency)))
        elapsed = time.perf_counter() - begin
        cpu_after = cpu()
    finally:
        await pool.close()
    return latencies, errors, samples, elapsed, (cpu_before, cpu_after)


def _run_async(coro: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coro)
    except ImportError:  # pragma: no cover
        return asyncio.run(coro)


def _idempotency_supported(url: str, token: str, household: str) -> bool:
    """True when the registry answers a reused Idempotency-Key with a different payload with 422."""
    key = str(uuid.uuid4())
    outcomes = []
    for _ in range(2):
        request_body = json.dumps(_record(household, datetime.now(UTC))).encode()
        status, _body = _request_with(url, token=token, body=request_body, headers={"Idempotency-Key": key})
        outcomes.append(status)
    return outcomes[0] == 201 and outcomes[1] == 422


def _request_with(url: str, *, token: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST")  # noqa: S310 - our localhost URLs
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_bare_two_hop(plat: Platform, cadre_sub: str, pool_size: int) -> str:
    """Serve bench/bare_post.py's leaf and the proxy in front of it, as the platform serves its processes;
    the URL of the proxy's `POST /help-records` once both answer."""
    leaf_port, proxy_port = _free_port(), _free_port()
    base = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "REDIS_URL"}
    base |= {"PYTHONUNBUFFERED": "1"}
    plat._spawn(
        BARE_LEAF,
        "bench.bare_post:leaf_app",
        leaf_port,
        base
        | {
            "BARE_DATABASE_URL": plat.databases.urls["registry"],
            "BARE_POOL_SIZE": str(pool_size),  # the raw INSERT's pool
            "BARE_CADRE_ID": _cadre_id(0),
            "BARE_CADRE_SUB": cadre_sub,
        },
    )
    plat._spawn(
        BARE_PROXY,
        "bench.bare_post:proxy_app",
        proxy_port,
        base | {"BARE_UPSTREAM": f"http://127.0.0.1:{leaf_port}"},
    )
    plat.wait_healthy()
    return f"{plat.servers[BARE_PROXY].url}/help-records"


def post_phase(
    args: argparse.Namespace, plat: Platform, cadre: CadreTokens, households: list[str]
) -> tuple[list[PostRun], bool]:
    gateway = f"{plat.servers[GATEWAY].url}/api/registry/help-records"
    direct = f"{plat.servers['registry'].url}/help-records"
    bare = start_bare_two_hop(plat, cadre.sub, args.concurrency)
    token = cadre.get(600)
    for url in (gateway, bare):
        status, body = _request_with(
            url, token=token, body=json.dumps(_record(households[0], datetime.now(UTC))).encode(), headers={}
        )
        if status != 201:
            raise RuntimeError(f"POST {url}: HTTP {status}: {body.decode(errors='replace')[:400]}")
    idem = _idempotency_supported(gateway, token, households[0])
    _say(
        f"  (a) visit POST, c={args.concurrency}: Idempotency-Key "
        + ("honoured (variant measured)" if idem else "not honoured by the registry (variant skipped)")
    )
    meter = CpuMeter(plat)
    urls = {"gateway": gateway, "direct": direct, BARE: bare, "gateway+idem": gateway}
    targets = ["gateway", "direct", RAW, BARE] + (["gateway+idem"] if idem else [])
    runs: list[PostRun] = []
    for rnd in range(1, args.rounds + 1):
        for target in targets:
            plat.check_alive()
            token = cadre.get(args.warmup + args.duration + 60)
            groups_before = _group_totals(plat.servers["registry"].url)
            if target == RAW:
                result = _run_async(
                    _insert_loop(
                        plat.databases.urls["registry"],
                        households,
                        cadre.sub,
                        concurrency=args.concurrency,
                        seconds=args.duration,
                        warmup=args.warmup,
                        cpu=meter.read,
                    )
                )
            else:
                result = _run_async(
                    _post_loop(
                        urls[target],
                        token,
                        households,
                        concurrency=args.concurrency,
                        seconds=args.duration,
                        warmup=args.warmup,
                        idem=target == "gateway+idem",
                        cpu=meter.read,
                    )
                )
            latencies, errors, samples, elapsed, (cpu_before, cpu_after) = result
            cpu = CpuMeter.per_request(cpu_before, cpu_after, len(latencies))
            groups_after = _group_totals(plat.servers["registry"].url)
            mean_group = None
            if groups_before and groups_after and groups_after[1] > groups_before[1]:
                mean_group = (groups_after[0] - groups_before[0]) / (groups_after[1] - groups_before[1])
            lat = sorted(latencies)
            run = PostRun(
                target=target,
                round=rnd,
                ok=len(lat),
                errors=sum(errors.values()),
                error_samples=samples,
                rps=len(lat) / elapsed if elapsed else 0.0,
                p50_ms=None if not lat else (percentile(lat, 50) or 0) * 1000,
                p99_ms=None if not lat else (percentile(lat, 99) or 0) * 1000,
                cpu_ms=cpu,
                mean_group=mean_group,
            )
            runs.append(run)
            _say(
                f"      [round {rnd}/{args.rounds}] {target:<12} {run.rps:8.0f} req/s  "
                f"p50 {_fmt(run.p50_ms, '6.2f')} ms  p99 {_fmt(run.p99_ms, '6.2f')} ms  errors {run.errors}"
                + (f"  {mean_group:.1f} records per commit" if mean_group else "")
            )
    return runs, idem


def batch_phase(
    args: argparse.Namespace, plat: Platform, cadre: CadreTokens, households: list[str]
) -> list[float]:
    url = f"{plat.servers[GATEWAY].url}/api/registry/help-records/batch"
    seconds = []
    for i in range(args.batches):
        now = datetime.now(UTC)
        body = json.dumps({"records": [_record(households[n % len(households)], now) for n in range(BATCH)]})
        started = time.perf_counter()
        status, answer = _request_with(
            url, token=cadre.get(120), body=body.encode(), headers={"X-Device-Time": now.isoformat()}
        )
        elapsed = time.perf_counter() - started
        result = _check("batch", status, answer)
        if result.get("created") != BATCH:
            raise RuntimeError(
                f"batch {i}: { ({k: result.get(k) for k in ('created', 'already_present', 'rejected')}) }"
            )
        seconds.append(elapsed)
        _say(f"  (b) batch {i + 1}/{args.batches}: {BATCH} records created in {elapsed * 1000:.0f} ms")
    return seconds


# == report ===============================================================================================
def _med(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _per_round(posts: list[PostRun], target: str, against: str) -> list[float]:
    """`target`'s req/s over `against`'s in each round (both measured minutes apart on the same machine)."""
    rps = {(r.target, r.round): r.rps for r in posts}
    rounds = sorted({r.round for r in posts})
    return [
        rps[(target, n)] / rps[(against, n)]
        for n in rounds
        if (target, n) in rps and (against, n) in rps and rps[(against, n)]
    ]


def _cpu_table(posts: list[PostRun], summary_post: dict[str, dict[str, Any]]) -> None:
    """Where the CPU goes, per request (medians over rounds), and the ratios it implies."""
    parts = ["machine", "client", "gateway", "registry", "proxy", "leaf", "database+"]
    cpu: dict[str, dict[str, float]] = {}
    for target in summary_post:
        runs = [r.cpu_ms for r in posts if r.target == target and r.cpu_ms]
        if runs:
            cpu[target] = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in parts}
            summary_post[target]["cpu_ms"] = cpu[target]
    if RAW not in cpu or BARE not in cpu:
        return
    raw, bare = cpu[RAW], cpu[BARE]
    rows = [
        [
            t,
            *(_fmt(c[k], ".3f") for k in parts),
            _fmt(bare["machine"] / c["machine"], ".2f", "x"),
            _fmt(raw["machine"] / c["machine"], ".2f", "x"),
        ]
        for t, c in cpu.items()
        if c["machine"]
    ]
    _say()
    _say(
        "CPU ms per request (all cores; proxy, leaf = the bare two-hop's processes; database+ = the machine's"
        " busy time not in the five processes)"
    )
    _say(_table(["target", *parts, "bare/target", "INSERT/target"], rows))

    def servers(c: dict[str, float]) -> float:  # without the load generator's own CPU
        return c["machine"] - c["client"]

    for target in ("gateway", "direct", "gateway+idem"):
        c = cpu.get(target)
        if not c or servers(c) <= 0:
            continue
        _say(
            f"  {target}: a request costs {c['machine'] / bare['machine']:.1f}x the CPU of the bare two-hop "
            f"({bare['machine'] / c['machine']:.2f}x; servers and PostgreSQL alone {servers(c):.3f} vs "
            f"{servers(bare):.3f} ms, {servers(bare) / servers(c):.2f}x) and {c['machine'] / raw['machine']:.1f}x "
            f"that of a raw INSERT ({raw['machine'] / c['machine']:.2f}x; {servers(c):.3f} vs {servers(raw):.3f} "
            f"ms, {servers(raw) / servers(c):.2f}x)"
        )
    if servers(bare) > 0:
        _say(
            f"  {BARE}: two bare hops add {bare['machine'] - raw['machine']:.3f} ms to the raw INSERT's "
            f"{raw['machine']:.3f} ms ({raw['machine'] / bare['machine']:.2f}x): what two hops that do nothing "
            f"else leave of the raw INSERT on this machine"
        )


def _ratio_entry(posts: list[PostRun], target: str, against: str, *, informational: bool) -> dict[str, Any]:
    """A ratio with its target; `value` is the median of the per-round ratios (verdicts), or, for the
    informational ratio against the raw INSERT, the ratio of the medians as reported before issue #9."""
    rounds = _per_round(posts, target, against)
    if informational:
        num = [r.rps for r in posts if r.target == target]
        den = [r.rps for r in posts if r.target == against]
        base = statistics.median(den) if den else 0.0
        value = statistics.median(num) / base if num and base else None
    else:
        value = _median_or_none(rounds)
    entry: dict[str, Any] = {
        "value": value,
        "target": MIN_POST_RATIO,
        "against": against,
        "per_round": rounds,
    }
    if informational:
        return entry | {"informational": True}
    return entry | {"pass": value is not None and value >= MIN_POST_RATIO}


def report(
    args: argparse.Namespace,
    *,
    started: datetime,
    where: str,
    download: DownloadResult,
    posts: list[PostRun] | None,
    idem: bool,
    batches: list[float] | None,
    skipped: str | None,
) -> int:
    verdicts: dict[str, Any] = {}
    informational: dict[str, Any] = {}
    _say()
    summary_post: dict[str, dict[str, Any]] = {}
    if posts is not None:
        _say(
            f"(a) POST help record, closed loop c={args.concurrency}, median of {args.rounds} round(s) x "
            f"{args.duration:g} s"
        )
        for target in dict.fromkeys(r.target for r in posts):
            runs = [r for r in posts if r.target == target]
            summary_post[target] = {
                "rps": statistics.median(r.rps for r in runs),
                "p50_ms": _med([r.p50_ms for r in runs]),
                "p99_ms": _med([r.p99_ms for r in runs]),
                "errors": sum(r.errors for r in runs),
                "vs_bare_two_hop": _median_or_none(_per_round(posts, target, BARE)),
            }
        base = summary_post[RAW]["rps"]
        rows = [
            [
                t,
                _fmt(s["rps"], ".0f"),
                _fmt(s["p50_ms"], ".2f"),
                _fmt(s["p99_ms"], ".2f"),
                _fmt(s["vs_bare_two_hop"], ".2f", "x"),
                _fmt(s["rps"] / base if base else None, ".2f", "x"),
                str(s["errors"]),
            ]
            for t, s in summary_post.items()
        ]
        _say(
            _table(
                ["target", "req/s", "p50 ms", "p99 ms", "vs bare two-hop", "vs raw INSERT", "errors"], rows
            )
        )
        _say(
            "  vs bare two-hop: median of the per-round ratios (each run against the bare two-hop run of its "
            "round); vs raw INSERT: ratio of the medians, as before (informational)"
        )
        _cpu_table(posts, summary_post)
        measured = ["gateway"] + (["gateway+idem"] if idem else [])
        for target in measured:
            key = "post" if target == "gateway" else "post_idem"
            verdicts[f"{key}_vs_bare_two_hop"] = _ratio_entry(posts, target, BARE, informational=False)
            # The names of the ratios against the raw INSERT are those of the earlier results files.
            informational[f"{key}_ratio"] = _ratio_entry(posts, target, RAW, informational=True)
        _say()
        for target in measured:
            key = "post" if target == "gateway" else "post_idem"
            new, old = verdicts[f"{key}_vs_bare_two_hop"], informational[f"{key}_ratio"]
            _say(
                f"  {target} per round vs bare two-hop: "
                + " ".join(_fmt(v, ".2f", "x") for v in new["per_round"])
                + f" (median {_fmt(new['value'], '.2f', 'x')}); vs raw INSERT: "
                + " ".join(_fmt(v, ".2f", "x") for v in old["per_round"])
                + f" (ratio of the medians {_fmt(old['value'], '.2f', 'x')}, informational)"
            )
        _say()
    if batches is not None:
        _say(f"(b) POST /api/registry/help-records/batch, {BATCH} new records, {len(batches)} time(s)")
        rows = [["batch of 500", f"{statistics.median(batches):.3f}", f"{max(batches):.3f}"]]
        _say(_table(["request", "median s", "max s"], rows))
        verdicts["batch_s"] = {
            "value": max(batches),
            "target": MAX_BATCH_S,
            "pass": max(batches) < MAX_BATCH_S,
        }
        _say()
    if skipped:
        _say(f"(a), (b) skipped: {skipped}")
        _say()

    _say(
        f"(c) GET sync/download?cursor=… for a cadre with {CADRE_HOUSEHOLDS} households after a day of "
        f"{download.changes_in_day.get('changes', 0)} changes in a county of {download.households} households; "
        f"one client, median of {args.rounds} round(s)"
    )
    rows = []
    summary_dl: dict[str, dict[str, Any]] = {}
    for name in ("gateway", "direct"):
        dl_runs = [r for r in download.runs if r.target == f"download:{name}"]
        summary_dl[name] = {
            "p50_ms": _med([r.p50_ms for r in dl_runs]),
            "p90_ms": _med([r.p90_ms for r in dl_runs]),
            "p99_ms": _med([r.p99_ms for r in dl_runs]),
            "max_ms": max((r.max_ms or 0) for r in dl_runs) if dl_runs else None,
            "errors": sum(r.errors for r in dl_runs),
            "rps": _med([r.rps for r in dl_runs]),
        }
        s = summary_dl[name]
        rows.append(
            [
                name,
                _fmt(s["p50_ms"], ".2f"),
                _fmt(s["p90_ms"], ".2f"),
                _fmt(s["p99_ms"], ".2f"),
                _fmt(s["max_ms"], ".2f"),
                str(s["errors"]),
            ]
        )
    _say(_table(["incremental download", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"], rows))
    _say(
        f"  answer: {download.incremental_households} households, {download.incremental_removed} removed, "
        f"{download.incremental_bytes} bytes; the full download before: {download.full_ms:.1f} ms, "
        f"{download.full_bytes} bytes"
    )
    p99 = summary_dl["gateway"]["p99_ms"]
    verdicts["download_p99_ms"] = {
        "value": p99,
        "target": MAX_DOWNLOAD_MS,
        "pass": p99 is not None and p99 < MAX_DOWNLOAD_MS,
    }
    _say()
    _say(
        "  ".join(
            f"{name}: {_fmt(v['value'], '.3g')} (target {v['target']:g}) {'PASS' if v['pass'] else 'FAIL'};"
            for name, v in verdicts.items()
        )
    )
    if informational:
        _say(
            "  against the raw INSERT (informational, not a verdict): "
            + "  ".join(f"{name}: {_fmt(v['value'], '.3g')};" for name, v in informational.items())
        )
    wrong = sum(r.wrong for r in download.runs)
    for r in download.runs:
        if r.errors:
            _say(f"errors in {r.target} round {r.round}: {r.error_kinds} {r.error_samples}")
    for p in posts or []:
        if p.errors:
            _say(f"errors in {p.target} round {p.round}: {p.error_samples}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"visits-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "visits",
                "started": started.isoformat(timespec="seconds"),
                "git_commit": _git_commit(),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "loadavg_after": os.getloadavg(),
                },
                "database": where,
                "params": vars(args),
                "post": None
                if posts is None
                else {"idempotency_key": idem, "summary": summary_post, "runs": [asdict(p) for p in posts]},
                "batch": None if batches is None else {"records": BATCH, "seconds": batches},
                "download": asdict(download) | {"summary": summary_dl},
                "skipped": skipped,
                "verdicts": verdicts,
                "informational": informational,
            },
            indent=2,
            ensure_ascii=False,
            default=str,
        )
        + "\n"
    )
    _say(f"results: {out.relative_to(ROOT)}")
    if wrong:
        return 1
    if args.strict and not all(v["pass"] for v in verdicts.values()):
        return 3
    return 0


# == main =================================================================================================
def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    plat = Platform([CLIENT], registry_app="bench.visits:create_registry")
    loadgen: LoadGenerator | None = None
    posts: list[PostRun] | None = None
    batches: list[float] | None = None
    skipped: str | None = None
    idem = False
    try:
        _say(
            f"Visits benchmark on {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f}); setting up …"
        )
        plat.prepare()
        plat.start()
        loadgen = LoadGenerator()
        plat.wait_healthy()
        gateway = plat.servers[GATEWAY].url
        admin = TokenSource(gateway)
        registry = plat.servers["registry"].url
        status, body = _request(
            f"{registry}/regions/import",
            token=admin.get(60),
            body=region_csv().encode(),
            content_type="text/csv",
        )
        _check("region import", status, body)
        lines = b"".join(ndjson_lines(args.households, args.seed))
        started_import = time.perf_counter()
        status, body = _request(
            f"{registry}/households/import?mode=migration&source_document=jzbench",  # a history: migration mode
            token=admin.get(3600),
            body=lines,
            content_type="application/x-ndjson",
            timeout=3600,
        )
        _check("household import", status, body)
        _say(f"  {args.households} households imported in {time.perf_counter() - started_import:.1f} s")
        cadre = CadreTokens(gateway)
        download = download_phase(args, plat, loadgen, cadre)
        households = [
            str(r["household_id"])
            for r in asyncio.run(
                _sql(
                    plat.databases.urls["registry"],
                    "SELECT household_id FROM registry_pairing WHERE cadre_id = $1 AND superseded_at IS NULL"
                    " AND valid_to IS NULL",
                    uuid.UUID(_cadre_id(0)),
                )
            )
        ]
        status, body = _request(f"{registry}/openapi.json", token=admin.get(60))
        if status == 200 and b'"/help-records/batch"' in body:
            posts, idem = post_phase(args, plat, cadre, households)
            batches = batch_phase(args, plat, cadre, households)
        else:
            skipped = "the registry has no /help-records routes yet (services/registry/help_records)"
            _say(f"  (a), (b) skipped: {skipped}")
    finally:
        if loadgen is not None:
            loadgen.close()
        plat.stop()
    return report(
        args,
        started=started,
        where=plat.databases.where,
        download=download,
        posts=posts,
        idem=idem,
        batches=batches,
        skipped=skipped,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=None, help="households in the county (30000)")
    parser.add_argument("--history", type=int, default=6, help="older help records per household")
    parser.add_argument(
        "--day-records", type=int, default=None, help="help records in the day (households/2)"
    )
    parser.add_argument(
        "--day-edits", type=int, default=None, help="household edits in the day (households/20)"
    )
    parser.add_argument("--handovers", type=int, default=100, help="pairing handovers in the day")
    parser.add_argument("--duration", type=float, default=5, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=1, help="seconds of discarded load before each")
    parser.add_argument("--concurrency", type=int, default=16, help="visit POST: simultaneous clients")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each target")
    parser.add_argument("--batches", type=int, default=5, help="500-record batches to time")
    parser.add_argument("--seed", type=int, default=1, help="synthetic data seed")
    parser.add_argument("--quick", action="store_true", help="3,000 households, 1 s measurements, 1 round")
    parser.add_argument("--strict", action="store_true", help="exit 3 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup, args.batches = 1.0, 1, min(args.warmup, 0.5), 2
        args.households = args.households or 3_000
    args.households = args.households or 30_000
    args.day_records = args.day_records if args.day_records is not None else args.households // 2
    args.day_edits = args.day_edits if args.day_edits is not None else args.households // 20
    if args.households < 100 or args.duration <= 0 or args.rounds < 1 or args.concurrency < 1:
        parser.error("--households >= 100; --duration > 0; --rounds, --concurrency >= 1")
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
