"""Registry benchmark: household card, deep list pages and bulk registration, each against a baseline, on one
database in one invocation.

    python bench/registry.py [--households 100000] [--duration 5] [--rounds 3] [--concurrency 32]
                             [--depth 100000] [--seed 1] [--strict]
    python bench/registry.py --quick     # 5,000 households, 1 s measurements, 1 round (~1 minute)

The platform is set up as bench/gateway.py sets it up (throw-away databases on `BENCH_DATABASE_URL` or
`DATABASE_URL`, else an embedded PostgreSQL; dev keys; the demo county; uvicorn subprocesses), with one
aiohttp gateway, the registry, and a baseline app (bench/registry_baseline.py: the same card SQL on raw
asyncpg + Starlette, no auth). Then, in this order:

(c) bulk registration: the county's 300 villages are imported (`POST /regions/import`), N synthetic households
    (bench/registry_data.py) are posted to the registry's `POST /households/import` (NDJSON) on empty tables,
    and timed from the first byte sent to the answer. The rows it wrote are then read back, the tables emptied,
    and the same rows written again by a bare asyncpg `COPY` per table in one transaction, also timed.
    Target: bulk <= 4x COPY.
(a) card: `GET /households/{id}` of one registered household at fixed concurrency, closed loop, through the
    gateway, straight to the registry, and from the baseline app; targets alternate in rounds, medians reported.
(b) list: `GET /api/registry/households?status=registered&limit=50` through the gateway, first page against a
    page `--depth` households deep (its keyset cursor built the way the list endpoint encodes it), one client
    at a time. Target: deep page <= 2x first page.

Results: a table on stdout and bench/results/registry-<UTC timestamp>.json. Exit status as bench/gateway.py:
1 wrong answers, 2 setup failed, 3 (with --strict) a target missed, 130 interrupted.
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
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/registry.py` puts bench/ first on the path, not the project
    sys.path.insert(0, str(ROOT))

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
    _say,
)
from bench.registry_data import ndjson_lines, region_csv  # noqa: E402

MAX_BULK_RATIO = 4.0
MAX_DEEP_RATIO = 2.0
CLIENT = "aiohttp"
GATEWAY = f"gw-{CLIENT}"
#: Tables the bulk import writes, parents first (the bare COPY writes the same rows in the same order).
BULK_TABLES = (
    "registry_household",
    "registry_member",
    "registry_household_income",
    "registry_workflow_event",
    "registry_membership_change",
)


# == HTTP and SQL helpers =================================================================================
def _request(
    url: str, *, token: str, body: bytes | None = None, content_type: str | None = None, timeout: float = 30
) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method="POST" if body is not None else "GET")  # noqa: S310
    request.add_header("Authorization", f"Bearer {token}")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our localhost URLs
            status: int = response.status
            return status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _check(what: str, status: int, body: bytes, expect: int = 200) -> dict[str, Any]:
    if status != expect:
        raise RuntimeError(f"{what}: HTTP {status}: {body.decode(errors='replace')[:600]}")
    parsed: dict[str, Any] = json.loads(body)
    return parsed


async def _fetch_rows(url: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        out = {}
        for table in BULK_TABLES:
            rows = await conn.fetch(f'SELECT * FROM "{table}"')  # noqa: S608 - our own constants
            columns = list(rows[0].keys()) if rows else []
            out[table] = (columns, [tuple(r) for r in rows])
        return out
    finally:
        await conn.close()


async def _truncate(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        tables = ", ".join(
            f'"{t}"' for t in (*BULK_TABLES, "registry_audit_event", "registry_household_flag")
        )
        await conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


async def _copy(url: str, data: dict[str, tuple[list[str], list[tuple[Any, ...]]]]) -> float:
    """Seconds to write `data` with one COPY per table in one transaction (connection set-up excluded)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        start = time.perf_counter()
        async with conn.transaction():
            for table in BULK_TABLES:
                columns, records = data[table]
                if records:
                    await conn.copy_records_to_table(table, records=records, columns=columns)
        return time.perf_counter() - start
    finally:
        await conn.close()


async def _sql(url: str, query: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()


# == phases ===============================================================================================
@dataclass
class BulkResult:
    households: int
    members: int
    body_mb: float
    generate_s: float
    bulk_s: float
    copy_s: float
    rows: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.bulk_s / self.copy_s if self.copy_s else float("inf")


def bulk_phase(args: argparse.Namespace, plat: Platform, token: str) -> BulkResult:
    registry = plat.servers["registry"].url
    db = plat.databases.urls["registry"]
    started = time.perf_counter()
    body = b"".join(ndjson_lines(args.households, args.seed))
    generate_s = time.perf_counter() - started
    _say(
        f"  (c) {args.households} households generated in {generate_s:.1f} s ({len(body) / 1e6:.0f} MB NDJSON)"
    )
    asyncio.run(_truncate(db))
    started = time.perf_counter()
    status, answer = _request(
        f"{registry}/households/import?mode=migration&source_document=jzbench",  # a history: migration mode
        token=token,
        body=body,
        content_type="application/x-ndjson",
        timeout=3600,
    )
    bulk_s = time.perf_counter() - started
    body_mb = len(body) / 1e6
    result = _check("bulk import", status, answer)
    if result["households"] != args.households:
        raise RuntimeError(f"bulk import registered {result['households']} of {args.households} households")
    del body
    _say(f"      POST /households/import: {bulk_s:.2f} s ({result['members']} members)")
    data = asyncio.run(_fetch_rows(db))
    asyncio.run(_truncate(db))
    copy_s = asyncio.run(_copy(db, data))
    rows = {t: len(data[t][1]) for t in BULK_TABLES}
    _say(f"      bare COPY of the same {sum(rows.values())} rows: {copy_s:.2f} s")
    asyncio.run(_sql(db, "ANALYZE"))
    return BulkResult(
        households=args.households,
        members=int(result["members"]),
        body_mb=round(body_mb, 1),
        generate_s=generate_s,
        bulk_s=bulk_s,
        copy_s=copy_s,
        rows=rows,
    )


def _cpu_roles(target: str) -> dict[str, str]:
    return {"baseline": {"baseline": "baseline"}, "direct": {"registry": "registry"}}.get(
        target, {"registry": "registry", "gateway": GATEWAY}
    )


def _run(plat: Platform, loadgen: LoadGenerator, spec: RunSpec) -> RunResult:
    roles = _cpu_roles(spec.target.split(":")[0])
    before = {role: plat.cpu_seconds(server) for role, server in roles.items()}
    result = loadgen.run(spec)
    for role, server in roles.items():
        start, end = before[role], plat.cpu_seconds(server)
        if start is not None and end is not None and result.served:
            result.cpu_ms_per_request[role] = (end - start) * 1000 / result.served
    return result


def card_phase(
    args: argparse.Namespace, plat: Platform, loadgen: LoadGenerator, tokens: TokenSource
) -> tuple[str, list[RunResult]]:
    db = plat.databases.urls["registry"]
    rows = asyncio.run(
        _sql(
            db,
            "SELECT id FROM registry_household WHERE status = 'registered' ORDER BY id OFFSET $1 LIMIT 1",
            args.households // 3,
        )
    )
    household_id = str(rows[0]["id"])
    targets = {
        "gateway": f"{plat.servers[GATEWAY].url}/api/registry/households/{household_id}",
        "direct": f"{plat.servers['registry'].url}/households/{household_id}",
        "baseline": f"{plat.servers['baseline'].url}/households/{household_id}",
    }
    for name, url in targets.items():  # a benchmark of 404s is worthless: fail loudly first
        status, body = _request(url, token=tokens.get(60))
        if status != 200 or household_id.encode() not in body or b'"members"' not in body:
            raise RuntimeError(f"{name}: GET {url} gave HTTP {status}: {body.decode(errors='replace')[:300]}")
    _say(f"  (a) card of household {household_id}: {len(body)} bytes")
    results = []
    for rnd in range(1, args.rounds + 1):
        for name, url in targets.items():
            plat.check_alive()
            spec = RunSpec(
                target=name,
                url=url,
                token=tokens.get(args.warmup + args.duration + 60),
                mode="closed",
                duration=args.duration,
                warmup=args.warmup,
                concurrency=args.concurrency,
                rate=1.0,
                expect=household_id,
            )
            result = _run(plat, loadgen, spec)
            result.round = rnd
            results.append(result)
            _say(
                f"      [round {rnd}/{args.rounds}] {name:<8} {result.rps:8.0f} req/s  "
                f"p50 {_fmt(result.p50_ms, '6.2f')} ms  p99 {_fmt(result.p99_ms, '6.2f')} ms  errors {result.errors}"
            )
    return household_id, results


def list_phase(
    args: argparse.Namespace, plat: Platform, loadgen: LoadGenerator, tokens: TokenSource
) -> tuple[int, list[RunResult]]:
    from services.registry.households.schemas import SortKey
    from shared.pagination import encode_cursor

    db = plat.databases.urls["registry"]
    registered = asyncio.run(_sql(db, "SELECT count(*) FROM registry_household WHERE status = 'registered'"))[
        0
    ][0]
    depth = max(1, min(args.depth, registered - 51))
    # The last household of the page before: the list is ordered by (village_code, id), as the default sort.
    last = asyncio.run(
        _sql(
            db,
            "SELECT village_code, id FROM registry_household WHERE status = 'registered'"
            " ORDER BY village_code, id OFFSET $1 LIMIT 1",
            depth - 1,
        )
    )[0]
    cursor = encode_cursor(SortKey.village, last["village_code"], last["id"])
    base = f"{plat.servers[GATEWAY].url}/api/registry/households?status=registered&limit=50"
    targets = {"first page": base, f"depth {depth}": f"{base}&cursor={cursor}"}
    for name, url in targets.items():
        status, body = _request(url, token=tokens.get(60))
        page = _check(f"list {name}", status, body)
        if len(page["items"]) != 50:
            raise RuntimeError(f"list {name}: {len(page['items'])} items instead of 50")
    _say(f"  (b) list pages: first and {depth} households deep ({registered} registered)")
    results = []
    for rnd in range(1, args.rounds + 1):
        for name, url in targets.items():
            plat.check_alive()
            spec = RunSpec(
                target=f"list:{name}",
                url=url,
                token=tokens.get(args.warmup + args.duration + 60),
                mode="closed",
                duration=args.duration,
                warmup=args.warmup,
                concurrency=1,
                rate=1.0,
                expect='"items"',
            )
            result = _run(plat, loadgen, spec)
            result.round = rnd
            results.append(result)
            _say(
                f"      [round {rnd}/{args.rounds}] {name:<12} p50 {_fmt(result.p50_ms, '6.2f')} ms  "
                f"p90 {_fmt(result.p90_ms, '6.2f')} ms  errors {result.errors}"
            )
    return depth, results


# == report ===============================================================================================
def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def _table(header: list[str], body: list[list[str]]) -> str:
    widths = [max(len(cells[i]) for cells in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return " | ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), "-+-".join("-" * w for w in widths), *(line(b) for b in body)])


def report(
    args: argparse.Namespace,
    *,
    started: datetime,
    where: str,
    bulk: BulkResult,
    card: list[RunResult],
    household_id: str,
    listing: list[RunResult],
    depth: int,
) -> int:
    verdicts: dict[str, Any] = {}
    _say()
    _say(
        f"(a) GET household card, closed loop c={args.concurrency}, median of {args.rounds} round(s) x {args.duration:g} s"
    )
    rows = []
    summary_card: dict[str, dict[str, Any]] = {}
    for target in ("gateway", "direct", "baseline"):
        runs = [r for r in card if r.target == target]
        summary_card[target] = {
            "rps": statistics.median(r.rps for r in runs),
            "p50_ms": _median([r.p50_ms for r in runs]),
            "p99_ms": _median([r.p99_ms for r in runs]),
            "errors": sum(r.errors for r in runs),
            "cpu_ms_per_request": {
                role: _median([r.cpu_ms_per_request.get(role) for r in runs])
                for role in ("registry", "gateway", "baseline")
            },
        }
    base_rps = summary_card["baseline"]["rps"]
    for target, s in summary_card.items():
        cpu = s["cpu_ms_per_request"]
        rows.append(
            [
                target,
                _fmt(s["rps"], ".0f"),
                _fmt(s["p50_ms"], ".2f"),
                _fmt(s["p99_ms"], ".2f"),
                _fmt(s["rps"] / base_rps if base_rps else None, ".2f", "x"),
                str(s["errors"]),
                _fmt(cpu["registry"] if target != "baseline" else cpu["baseline"], ".2f"),
                _fmt(cpu["gateway"], ".2f"),
            ]
        )
    _say(
        _table(
            [
                "target",
                "req/s",
                "p50 ms",
                "p99 ms",
                "vs baseline",
                "errors",
                "app cpu ms/req",
                "gw cpu ms/req",
            ],
            rows,
        )
    )
    verdicts["card"] = {t: s["rps"] / base_rps if base_rps else None for t, s in summary_card.items()}

    _say()
    _say(
        f"(b) GET /api/registry/households?status=registered&limit=50, one client, median of {args.rounds} round(s)"
    )
    first = [r for r in listing if r.target == "list:first page"]
    deep = [r for r in listing if r.target != "list:first page"]
    first_ms, deep_ms = _median([r.p50_ms for r in first]), _median([r.p50_ms for r in deep])
    deep_ratio = deep_ms / first_ms if first_ms and deep_ms else None
    rows = [
        [
            "first page",
            _fmt(first_ms, ".2f"),
            _fmt(_median([r.p90_ms for r in first]), ".2f"),
            "1.00x",
            str(sum(r.errors for r in first)),
        ],
        [
            f"depth {depth}",
            _fmt(deep_ms, ".2f"),
            _fmt(_median([r.p90_ms for r in deep]), ".2f"),
            _fmt(deep_ratio, ".2f", "x"),
            str(sum(r.errors for r in deep)),
        ],
    ]
    _say(_table(["page", "ms/page p50", "p90", "vs first", "errors"], rows))
    deep_ok = deep_ratio is not None and deep_ratio <= MAX_DEEP_RATIO
    verdicts["list_deep_ratio"] = {"value": deep_ratio, "target": MAX_DEEP_RATIO, "pass": deep_ok}

    _say()
    _say(f"(c) bulk registration of {bulk.households} households ({bulk.members} members), empty tables")
    rows = [
        [
            "POST /households/import",
            f"{bulk.bulk_s:.2f}",
            f"{bulk.households / bulk.bulk_s:.0f}",
            f"{bulk.ratio:.2f}x",
        ],
        ["bare COPY, same rows", f"{bulk.copy_s:.2f}", f"{bulk.households / bulk.copy_s:.0f}", "1.00x"],
    ]
    _say(_table(["writer", "seconds", "households/s", "vs COPY"], rows))
    bulk_ok = bulk.ratio <= MAX_BULK_RATIO
    verdicts["bulk_ratio"] = {"value": bulk.ratio, "target": MAX_BULK_RATIO, "pass": bulk_ok}
    _say()
    _say(
        f"deep page / first page: {_fmt(deep_ratio, '.2f', 'x')} (target <= {MAX_DEEP_RATIO:g}x) "
        f"{'PASS' if deep_ok else 'FAIL'};  bulk / COPY: {bulk.ratio:.2f}x (target <= {MAX_BULK_RATIO:g}x) "
        f"{'PASS' if bulk_ok else 'FAIL'}"
    )
    wrong = sum(r.wrong for r in (*card, *listing))
    for r in (*card, *listing):
        if r.errors:
            _say(f"errors in {r.target} round {r.round}: {r.error_kinds} {r.error_samples}")

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"registry-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "registry",
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
                "card": {
                    "household_id": household_id,
                    "summary": summary_card,
                    "runs": [asdict(r) for r in card],
                },
                "list": {
                    "depth": depth,
                    "first_p50_ms": first_ms,
                    "deep_p50_ms": deep_ms,
                    "runs": [asdict(r) for r in listing],
                },
                "bulk": asdict(bulk) | {"ratio": bulk.ratio},
                "verdicts": verdicts,
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
    if args.strict and not (deep_ok and bulk_ok):
        return 3
    return 0


# == main =================================================================================================
def run(args: argparse.Namespace) -> int:
    started = datetime.now(UTC)
    plat = Platform([CLIENT])
    loadgen: LoadGenerator | None = None
    try:
        _say(
            f"Registry benchmark on {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f}); setting up …"
        )
        plat.prepare()
        plat.start()
        base = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL") and k != "REDIS_URL"}
        plat._spawn(  # the helper that started the others: same logs, stopped with them
            "baseline",
            "bench.registry_baseline:create_app",
            _free_port(),
            base | {"PYTHONUNBUFFERED": "1", "BASELINE_DATABASE_URL": plat.databases.urls["registry"]},
        )
        loadgen = LoadGenerator()
        plat.wait_healthy()
        tokens = TokenSource(plat.servers[GATEWAY].url)
        registry = plat.servers["registry"].url
        status, body = _request(
            f"{registry}/regions/import",
            token=tokens.get(60),
            body=region_csv().encode(),
            content_type="text/csv",
        )
        regions = _check("region import", status, body)
        _say(f"  regions: {regions['created']} created, {regions['updated']} renamed")
        bulk = bulk_phase(args, plat, tokens.get(3600))
        household_id, card = card_phase(args, plat, loadgen, tokens)
        depth, listing = list_phase(args, plat, loadgen, tokens)
    finally:
        if loadgen is not None:
            loadgen.close()
        plat.stop()
    return report(
        args,
        started=started,
        where=plat.databases.where,
        bulk=bulk,
        card=card,
        household_id=household_id,
        listing=listing,
        depth=depth,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=None, help="bulk-registered households (100000)")
    parser.add_argument("--duration", type=float, default=5, help="seconds per card / list measurement")
    parser.add_argument("--warmup", type=float, default=1, help="seconds of discarded load before each")
    parser.add_argument("--concurrency", type=int, default=32, help="card: simultaneous clients")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the card and list targets")
    parser.add_argument("--depth", type=int, default=100_000, help="list: households before the deep page")
    parser.add_argument("--seed", type=int, default=1, help="synthetic data seed")
    parser.add_argument("--quick", action="store_true", help="5,000 households, 1 s measurements, 1 round")
    parser.add_argument("--strict", action="store_true", help="exit 3 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds, args.warmup = 1.0, 1, min(args.warmup, 0.5)
        args.households = args.households or 5_000
    args.households = args.households or 100_000
    if args.households < 200 or args.duration <= 0 or args.rounds < 1 or args.concurrency < 1:
        parser.error("--households >= 200; --duration > 0; --rounds, --concurrency >= 1")
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
