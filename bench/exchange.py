"""The provincial exchange measured (issue #15 "Prove it"): the snapshot export, the change feed, a full pull.

    python bench/exchange.py [--households 1000000] [--pull 100000] [--changes 20000] [--rounds 1] [--strict]
    python bench/exchange.py --quick     # 20,000 households (~1-2 minutes)

Take the bench lock so two benchmarks never share the machine:

    flock /tmp/jingzhun-bench.lock .venv/bin/python bench/exchange.py --quick

The platform is bench/gateway.py's (throw-away `jzbench_*` databases on `BENCH_DATABASE_URL` or `DATABASE_URL`,
else an embedded PostgreSQL; dev keys; the demo county; the registry and one aiohttp gateway as uvicorn
subprocesses, started as `make run` starts them; the gateway's rate limit lifted). The county's 300 villages are
imported (`POST /regions/import`). Households are NOT registered through the API: synthetic families
(bench/registry_data.py, `--templates` distinct ones, repeated with fresh ids) are written straight into
`registry_household`, `registry_member` and `registry_household_income` by binary COPY, with
`session_replication_role = replica` (no triggers, so no feed rows for the seed). Then, in this order:

(d) full pull: with `--pull` households in the county, the export of all of them with members
    (`GET /api/registry/exports/households`, NDJSON, no gzip) through the gateway, streamed, timed from the
    request to the last byte. Target < 10 s. Issue #15's figure for the same pull today, 83 minutes (the list
    plus one card call per household at the 1,200/min rate limit), is the issue's and is not measured here.
(a) export vs COPY: the county is filled up to `--households`, then per round the same export through the
    gateway beside `COPY (<the export's own row statement>) TO STDOUT` over asyncpg (`copy_from_query`), the
    same rows (households joined with members and latest income as JSON) on the same server. Reports rows/s,
    MB/s and the ratio export rows/s / COPY rows/s (target >= 0.5x), and the gateway's and the registry's RSS
    and peak RSS (VmHWM, /proc/<pid>/status) before and after, to show that memory stays flat.
(c) a day of changes: `--changes` distinct households are updated (real writes, `--batch` per transaction,
    so the feed's triggers write the changes), then all are read with `GET /api/registry/changes` pages
    (`limit` 1,000, the maximum) through the gateway from the cursor the last export gave (`X-Feed-Cursor`):
    once with full records, then twice more from the same cursor with a province's selection (`fields=`,
    `PROVINCE_FIELDS`): without and with gzip (the gateway's edge compression; the client decompresses, inside
    the time; the MB column is then the bytes on the wire). Target < 2 s.

Output: one table on stdout (measure, value, target, met?); nothing is written to files. Exit status as
bench/gateway.py: 1 wrong answers (rows missing), 2 setup failed, 3 (with --strict) a target missed,
130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import time
import urllib.parse
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/exchange.py` puts bench/ first on the path, not the project
    sys.path.insert(0, str(ROOT))

from bench.gateway import REGION, Platform, TokenSource, _say  # noqa: E402
from bench.registry import _check, _request  # noqa: E402
from bench.registry_data import generate, region_csv  # noqa: E402
from services.registry.changes.domain import parse_fields  # noqa: E402
from services.registry.exports.domain import FieldSelection  # noqa: E402
from services.registry.exports.repository import household_rows_sql  # noqa: E402
from services.registry.household_import import repository as household_import  # noqa: E402

CLIENT = "aiohttp"
GATEWAY = f"gw-{CLIENT}"
MIN_EXPORT_RATIO = 0.5
MAX_FEED_SECONDS = 2.0
MAX_PULL_SECONDS = 10.0
ISSUE_PULL_MINUTES = 83  # issue #15: list + one card call per household at 1,200/min, 100,000 households
FEED_LIMIT = 1000  # changes/domain.py MAX_LIMIT
#: The export's own statement (exports/repository.py `household_rows_sql`, every field): the export row (card
#: fragments, members, latest income) of every household under $1, as JSON text.
COPY_SQL = household_rows_sql(FieldSelection.everything())
SEED_BY = "jzbench"
#: (c) a typical province mirror's selection (`GET /changes?fields=`): who, where, status, size, income, and the
#: members' identities; checked against the feed's catalogue (changes/domain.py `parse_fields`) at import.
PROVINCE_FIELDS = (
    "household:id,village_code,status,head_name,household_size,per_capita_net_income,poverty_attribute,"
    "version,updated_at,members.id,members.person_id,members.name,members.relation,members.labor_capacity,"
    "latest_income.year,latest_income.per_capita_net_income"
)
parse_fields(PROVINCE_FIELDS)

HOUSEHOLD_COLUMNS = (
    "id",
    "village_code",
    "national_household_code",
    "status",
    "identification_year",
    "quota_year",
    "head_name",
    "household_size",
    "labor_count",
    "has_labor_capacity",
    "poverty_cause_primary",
    "poverty_causes_other",
    "poverty_attribute",
    "main_income_source",
    "dangerous_house_grade",
    "income_year",
    "net_income",
    "per_capita_net_income",
    "details",
    "contact_phone_masked",
    "planned_exit_year",
    "created_by",
    "updated_by",
)
MEMBER_COLUMNS = (
    "id",
    "person_id",
    "household_id",
    "name",
    "relation",
    "sex",
    "ethnicity",
    "birth_year_month",
    "id_number_masked",
    "labor_capacity",
    "health_status",
    "education_level",
    "school_status",
    "details",
    "joined_on",
)
INCOME_COLUMNS = (
    "household_id",
    "year",
    "version",
    "wage",
    "operating",
    "property",
    "transfer",
    "operating_expenses",
    "household_size",
    "net_income",
    "per_capita_net_income",
    "surveyed_on",
    "recorded_by",
)
# The seed writes a subset of the columns the household import's COPY writes (household_import/repository.py),
# the rest take their server defaults (the import's own lists also name encrypted values and timestamps the
# seed leaves to the defaults, so they cannot be used as they are); a column renamed there fails here.
for _ours, _theirs in (
    (HOUSEHOLD_COLUMNS, household_import.HOUSEHOLD_COLUMNS),
    (MEMBER_COLUMNS, household_import.MEMBER_COLUMNS),
    (INCOME_COLUMNS, household_import.INCOME_COLUMNS),
):
    assert set(_ours) <= set(_theirs), (
        f"bench seed columns not written by the import: {set(_ours) - set(_theirs)}"
    )


# == the seed: generated rows, binary COPY ================================================================
@dataclass(frozen=True)
class _Template:
    """One synthetic family as table rows without their ids (repeated with fresh ids)."""

    household: tuple[Any, ...]  # HOUSEHOLD_COLUMNS[3:], the national code and ids added per copy
    village: str
    members: list[tuple[Any, ...]]  # MEMBER_COLUMNS[3:]
    income: tuple[Any, ...]  # INCOME_COLUMNS[1:]


def _template(line: dict[str, Any]) -> _Template:
    members = line["members"]
    labor = sum(1 for m in members if m["labor_capacity"] in ("ordinary", "skilled"))
    inc = line["income"]
    wage, operating, prop, transfer, expenses = (
        Decimal(inc[k]) for k in ("wage", "operating", "property", "transfer", "operating_expenses")
    )
    net = wage + operating - expenses + prop + transfer
    per_capita = (net / len(members)).quantize(Decimal("0.01"))
    phone = line.get("contact_phone")
    household = (
        line["status"],
        line["identification_year"],
        line["identification_year"],
        members[0]["name"],
        len(members),
        labor,
        labor > 0,
        line["poverty_cause_primary"],
        line.get("poverty_causes_other", []),
        line["poverty_attribute"],
        line["main_income_source"],
        line.get("dangerous_house_grade"),
        inc["year"],
        net,
        per_capita,
        json.dumps(line["details"], ensure_ascii=False),
        f"{phone[:3]}****{phone[-4:]}" if phone else None,
        line["planned_exit_year"],
        SEED_BY,
        SEED_BY,
    )
    rows = [
        (
            m["name"],
            m["relation"],
            m["sex"],
            m.get("ethnicity"),
            m["birth_year_month"],
            f"{m['resident_id_number'][:6]}********{m['resident_id_number'][-4:]}",
            m["labor_capacity"],
            m["health_status"],
            m.get("education_level"),
            m.get("school_status"),
            json.dumps(m["details"], ensure_ascii=False),
            date(2014, 4, 15),
        )
        for m in members
    ]
    income = (
        inc["year"],
        1,
        wage,
        operating,
        prop,
        transfer,
        expenses,
        len(members),
        net,
        per_capita,
        date.fromisoformat(inc["surveyed_on"]),
        SEED_BY,
    )
    return _Template(household, line["village_code"], rows, income)


def _uuid(kind: int, number: int) -> uuid.UUID:
    """A distinct, deterministic id per kind (1 household, 2 member, 3 person) and number."""
    return uuid.UUID(int=(0x6A7A << 112) | (kind << 96) | number)


def _batch(
    templates: list[_Template], start: int, stop: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    households: list[tuple[Any, ...]] = []
    members: list[tuple[Any, ...]] = []
    incomes: list[tuple[Any, ...]] = []
    for number in range(start, stop):
        t = templates[number % len(templates)]
        hid = _uuid(1, number)
        households.append((hid, t.village, f"45102520149{number:010d}", *t.household))
        for k, m in enumerate(t.members):
            mid = number * 16 + k
            members.append((_uuid(2, mid), _uuid(3, mid), hid, *m))
        incomes.append((hid, *t.income))
    return households, members, incomes


async def seed(url: str, templates: list[_Template], start: int, stop: int, *, batch: int = 25_000) -> int:
    """Write households `start`..`stop` (members, income) by binary COPY; returns the members written."""
    import asyncpg

    conn = await asyncpg.connect(url)
    written = 0
    try:
        await conn.execute("SET session_replication_role = replica")  # no triggers: the seed is no feed
        for first in range(start, stop, batch):
            households, members, incomes = _batch(templates, first, min(stop, first + batch))
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "registry_household", records=households, columns=HOUSEHOLD_COLUMNS
                )
                await conn.copy_records_to_table("registry_member", records=members, columns=MEMBER_COLUMNS)
                await conn.copy_records_to_table(
                    "registry_household_income", records=incomes, columns=INCOME_COLUMNS
                )
            written += len(members)
        await conn.execute("ANALYZE registry_household, registry_member, registry_household_income")
    finally:
        await conn.close()
    return written


async def _scalar(url: str, query: str, *args: Any) -> Any:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


# == memory ================================================================================================
def memory_kb(pid: int) -> dict[str, int]:
    """Resident set and its peak (VmRSS, VmHWM, kB) from /proc; psutil's RSS where /proc has none."""
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(value.split()[0])
    except OSError:
        pass
    if "VmRSS" not in out:
        try:
            import psutil

            out["VmRSS"] = int(psutil.Process(pid).memory_info().rss // 1024)
        except Exception:  # noqa: S110 - memory is reported when it can be read
            pass
    return out


def _memory(plat: Platform) -> dict[str, dict[str, int]]:
    return {name: memory_kb(plat.servers[name].proc.pid) for name in ("registry", GATEWAY)}


# == measurements ==========================================================================================
@dataclass
class Stream:
    seconds: float
    rows: int
    bytes: int
    cursor: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0


async def export_through_gateway(gateway: str, token: str) -> Stream:
    """The NDJSON export of the county through the gateway, streamed; rows = lines before the trailer."""
    url = f"{gateway}/api/registry/exports/households?region={REGION}"
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(auto_decompress=False, timeout=timeout) as session:
        started = time.perf_counter()
        async with session.get(url, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"export: HTTP {response.status}: {(await response.text())[:600]}")
            cursor = response.headers.get("X-Feed-Cursor", "")
            size = lines = 0
            tail = b""
            async for chunk in response.content.iter_chunked(1 << 16):
                size += len(chunk)
                lines += chunk.count(b"\n")
                tail = (tail + chunk)[-4096:]
        seconds = time.perf_counter() - started
    last = tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    trailer = json.loads(last).get("_trailer")
    if not trailer:
        raise RuntimeError(f"export: no trailer line at the end: {last[:200]!r}")
    rows = lines - 1
    if int(trailer["rows"]) != rows:
        raise RuntimeError(f"export: the trailer says {trailer['rows']} rows, the body has {rows}")
    return Stream(seconds, rows, size, cursor)


async def copy_baseline(url: str) -> Stream:
    """`COPY (<the export's row statement>) TO STDOUT` of the same county, bytes and rows counted."""
    import asyncpg

    conn = await asyncpg.connect(url)
    counted = {"bytes": 0, "rows": 0}

    async def sink(chunk: bytes) -> None:
        counted["bytes"] += len(chunk)
        counted["rows"] += chunk.count(b"\n")

    try:
        started = time.perf_counter()
        await conn.copy_from_query(COPY_SQL, REGION[:6] + "%", output=sink)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return Stream(seconds, counted["rows"], counted["bytes"])


async def write_changes(url: str, count: int, batch: int) -> float:
    """Update `count` distinct households, `batch` per transaction, as real writes (the triggers run)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        ids = [
            r[0] for r in await conn.fetch("SELECT id FROM registry_household ORDER BY id LIMIT $1", count)
        ]
        started = time.perf_counter()
        for first in range(0, len(ids), batch):
            async with conn.transaction():
                await conn.execute(
                    "UPDATE registry_household SET version = version + 1, updated_at = now(),"
                    " updated_by = $2, planned_exit_year = 2020 WHERE id = ANY($1::uuid[])",
                    ids[first : first + batch],
                    SEED_BY,
                )
        return time.perf_counter() - started
    finally:
        await conn.close()


@dataclass
class FeedRead:
    seconds: float
    pages: int
    items: int
    ids: int
    held: int  # pages that came back short before every change was delivered (older transactions open)
    bytes: int = 0  # on the wire (compressed, with `gzip`)
    fields: str | None = None
    gzip: bool = False


async def read_feed(
    gateway: str, token: str, after: str, expect: int, fields: str | None = None, *, gzip: bool = False
) -> FeedRead:
    """Every page of `GET /api/registry/changes` from `after` (limit 1,000) until `expect` records came.

    The feed delivers a change only once every older transaction has ended, on the whole server (the snapshot's
    xmin): on a shared server another session's transaction can hold the last pages back for a moment. A short
    page before `expect` is counted (`held`) and the read goes on with a 1 s long-poll; the time includes it.
    With `fields`, the records carry only those fields (`fields=`); with `gzip`, the client accepts gzip (the
    gateway's edge compresses the page) and decompresses each page itself, inside the time.
    """
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip" if gzip else "identity"}
    seen: set[str] = set()
    pages = items = held = size = 0
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False) as session:
        started = time.perf_counter()
        wait = 0
        while True:
            query: dict[str, Any] = {"limit": FEED_LIMIT}
            if after:
                query |= {"after": after, "wait": wait}
            if fields:
                query["fields"] = fields
            url = f"{gateway}/api/registry/changes?{urllib.parse.urlencode(query)}"
            async with session.get(url, headers=headers) as response:
                body = await response.read()
                encoding = response.headers.get("Content-Encoding", "")
                if response.status != 200:
                    raise RuntimeError(f"changes: HTTP {response.status}: {body[:600]!r}")
            size += len(body)
            if encoding == "gzip":
                body = zlib.decompress(body, 16 + zlib.MAX_WBITS)
            elif gzip:
                raise RuntimeError(f"changes: asked for gzip, got Content-Encoding {encoding!r}")
            page = json.loads(body)
            pages += 1
            items += len(page["items"])
            seen.update(item["id"] for item in page["items"])
            after = page["next_cursor"]
            if len(seen) >= expect:
                break
            if not page["has_more"]:
                held += 1
                wait = 1
                if held > 60:
                    break
            else:
                wait = 0
        seconds = time.perf_counter() - started
    return FeedRead(seconds, pages, items, len(seen), held, size, fields, gzip)


# == the run ===============================================================================================
@dataclass
class Results:
    households: int = 0
    members: int = 0
    seed_s: float = 0.0
    pull: Stream | None = None
    pull_households: int = 0
    exports: list[Stream] = field(default_factory=list)
    copies: list[Stream] = field(default_factory=list)
    memory: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    cpu_s: dict[str, list[float]] = field(default_factory=dict)  # (a) CPU seconds per export, per process
    changes: int = 0
    write_s: float = 0.0
    feed: FeedRead | None = None
    feed_selected: FeedRead | None = None  # the same changes with the province's `fields=`
    feed_gzip: FeedRead | None = None  # ... and gzip accepted


def _county_households(url: str) -> int:
    return int(
        asyncio.run(
            _scalar(
                url, "SELECT count(*) FROM registry_household WHERE village_code LIKE $1", REGION[:6] + "%"
            )
        )
    )


def run(args: argparse.Namespace) -> Results:
    res = Results()
    plat = Platform([CLIENT])
    try:
        _say(
            f"Exchange benchmark on {os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.2f}); setting up …"
        )
        plat.prepare()
        plat.start()
        plat.wait_healthy()
        tokens = TokenSource(plat.servers[GATEWAY].url)
        gateway = plat.servers[GATEWAY].url
        db = plat.databases.urls["registry"]
        status, body = _request(
            f"{plat.servers['registry'].url}/regions/import",
            token=tokens.get(60),
            body=region_csv().encode(),
            content_type="text/csv",
        )
        regions = _check("region import", status, body)
        _say(f"  regions: {regions['created']} created, {regions['updated']} renamed")
        started = time.perf_counter()
        templates = [_template(line) for line in generate(min(args.templates, args.households), args.seed)]
        _say(f"  {len(templates)} distinct families generated in {time.perf_counter() - started:.1f} s")
        res.memory["start"] = _memory(plat)

        # (d) the full pull, at --pull households
        pull = min(args.pull, args.households)
        started = time.perf_counter()
        res.members += asyncio.run(seed(db, templates, 0, pull))
        res.seed_s += time.perf_counter() - started
        res.pull_households = _county_households(db)
        _say(f"  seeded {pull} households by COPY in {res.seed_s:.1f} s; county: {res.pull_households}")
        res.pull = asyncio.run(export_through_gateway(gateway, tokens.get(600)))
        _say(
            f"  (d) full pull: {res.pull.rows} households, {res.pull.bytes / 1e6:.0f} MB in {res.pull.seconds:.2f} s"
        )
        if res.pull.rows != res.pull_households:
            raise _Wrong(f"full pull: {res.pull.rows} rows, the county has {res.pull_households}")
        res.memory["after pull"] = _memory(plat)

        # (a) export vs COPY at --households
        if args.households > pull:
            started = time.perf_counter()
            res.members += asyncio.run(seed(db, templates, pull, args.households))
            seconds = time.perf_counter() - started
            res.seed_s += seconds
            _say(f"  seeded {args.households - pull} more households by COPY in {seconds:.1f} s")
        res.households = _county_households(db)
        res.memory["before export"] = _memory(plat)
        for n in range(args.rounds):
            copy = asyncio.run(copy_baseline(db))
            res.copies.append(copy)
            _say(
                f"  (a) round {n + 1}: COPY {copy.rows} rows, {copy.bytes / 1e6:.0f} MB in {copy.seconds:.2f} s"
            )
            cpu = {name: plat.cpu_seconds(name) for name in ("registry", GATEWAY)}
            export = asyncio.run(export_through_gateway(gateway, tokens.get(3600)))
            res.exports.append(export)
            for name, before in cpu.items():
                after = plat.cpu_seconds(name)
                if before is not None and after is not None:
                    res.cpu_s.setdefault(name, []).append(after - before)
            _say(f"      export {export.rows} rows, {export.bytes / 1e6:.0f} MB in {export.seconds:.2f} s")
            if export.rows != res.households or copy.rows != res.households:
                raise _Wrong(f"export {export.rows} / COPY {copy.rows} rows; the county has {res.households}")
        res.memory["after export"] = _memory(plat)

        # (c) a day of changes
        res.changes = min(args.changes, res.households)
        res.write_s = asyncio.run(write_changes(db, res.changes, args.batch))
        _say(f"  (c) {res.changes} households updated in {res.write_s:.1f} s ({args.batch} per transaction)")
        res.feed = asyncio.run(read_feed(gateway, tokens.get(600), res.exports[-1].cursor, res.changes))
        _say(f"      feed: {res.feed.items} items in {res.feed.pages} pages, {res.feed.seconds:.2f} s")
        if res.feed.ids != res.changes:
            raise _Wrong(f"feed: {res.feed.ids} distinct households, {res.changes} were changed")
        res.feed_selected = asyncio.run(
            read_feed(gateway, tokens.get(600), res.exports[-1].cursor, res.changes, PROVINCE_FIELDS)
        )
        _say(
            f"      feed, fields= (province selection): {res.feed_selected.items} items in"
            f" {res.feed_selected.pages} pages, {res.feed_selected.seconds:.2f} s"
        )
        if res.feed_selected.ids != res.changes:
            raise _Wrong(
                f"feed fields=: {res.feed_selected.ids} distinct households, {res.changes} were changed"
            )
        res.feed_gzip = asyncio.run(
            read_feed(
                gateway, tokens.get(600), res.exports[-1].cursor, res.changes, PROVINCE_FIELDS, gzip=True
            )
        )
        _say(f"      feed, fields= and gzip: {res.feed_gzip.pages} pages, {res.feed_gzip.seconds:.2f} s")
        if res.feed_gzip.ids != res.changes:
            raise _Wrong(f"feed gzip: {res.feed_gzip.ids} distinct households, {res.changes} were changed")
        plat.check_alive()
    finally:
        plat.stop()
    return res


class _Wrong(RuntimeError):
    """The answer was wrong (rows missing or extra): exit status 1."""


def _mb(kb: int | None) -> str:
    return "?" if kb is None else f"{kb / 1024:.0f} MB"


def report(args: argparse.Namespace, res: Results) -> tuple[str, bool]:
    """The table (measure, value, target, met?) and whether every target was met."""
    rows: list[tuple[str, str, str, str]] = []
    ok = True

    def add(measure: str, value: str, target: str = "", met: bool | None = None) -> None:
        nonlocal ok
        if met is False:
            ok = False
        rows.append((measure, value, target, "" if met is None else ("yes" if met else "NO")))

    add(
        "seed (COPY, not the API)",
        f"{res.households:,} households, {res.members:,} members, {res.seed_s:.1f} s",
    )
    export_s = statistics.median(e.seconds for e in res.exports)
    copy_s = statistics.median(c.seconds for c in res.copies)
    export = min(res.exports, key=lambda e: abs(e.seconds - export_s))
    copy = min(res.copies, key=lambda c: abs(c.seconds - copy_s))
    ratio = statistics.median(
        e.rows_per_s / c.rows_per_s for e, c in zip(res.exports, res.copies, strict=True)
    )
    add(
        f"(a) export via gateway, {res.households:,} households",
        f"{export.seconds:.1f} s, {export.rows_per_s:,.0f} rows/s, {export.mb_per_s:.1f} MB/s ({export.bytes / 1e6:,.0f} MB)",
    )
    add(
        "(a) COPY (the export's statement) TO STDOUT",
        f"{copy.seconds:.1f} s, {copy.rows_per_s:,.0f} rows/s, {copy.mb_per_s:.1f} MB/s ({copy.bytes / 1e6:,.0f} MB)",
    )
    for name, label in (("registry", "registry"), (GATEWAY, "gateway")):
        if res.cpu_s.get(name):
            spent = statistics.median(res.cpu_s[name])
            add(
                f"(a) {label} CPU during the export",
                f"{spent:.1f} s ({spent / export_s:.0%} of the wall time)",
            )
    add("(a) export / COPY rows/s", f"{ratio:.2f}x", f">= {MIN_EXPORT_RATIO}x", ratio >= MIN_EXPORT_RATIO)
    for name, label in (("registry", "registry"), (GATEWAY, "gateway")):
        mem = {stage: res.memory.get(stage, {}).get(name, {}) for stage in res.memory}
        add(
            f"(a) {label} RSS / peak (VmHWM)",
            "; ".join(f"{stage} {_mb(m.get('VmRSS'))} / {_mb(m.get('VmHWM'))}" for stage, m in mem.items()),
            "flat",
        )
    for read, label in (
        (res.feed, "full records"),
        (res.feed_selected, "fields= province selection"),
        (res.feed_gzip, "fields= and gzip"),
    ):
        if read is None:
            continue
        add(
            f"(c) feed: {res.changes:,} changes read, {label}",
            f"{read.seconds:.2f} s, {read.pages} pages, {read.items:,} items, {read.bytes / 1e6:.1f} MB"
            + (f" ({read.held} short pages: older transactions open)" if read.held else ""),
            f"< {MAX_FEED_SECONDS:.0f} s",
            read.seconds < MAX_FEED_SECONDS,
        )
    if res.pull is not None:
        add(
            f"(d) full pull, {res.pull_households:,} households",
            f"{res.pull.seconds:.2f} s ({res.pull.rows_per_s:,.0f} rows/s, {res.pull.bytes / 1e6:,.0f} MB)",
            f"< {MAX_PULL_SECONDS:.0f} s",
            res.pull.seconds < MAX_PULL_SECONDS,
        )
        add(
            "(d) today, per issue #15 (not measured)",
            f"~{ISSUE_PULL_MINUTES} min: list + N card calls at 1,200/min",
        )
    header = ("measure", "value", "target", "met?")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(4)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in (header, *rows)]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines), ok


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--households", type=int, default=None, help="households in the county (1000000)")
    parser.add_argument("--pull", type=int, default=100_000, help="(d) households of the full pull (100000)")
    parser.add_argument("--changes", type=int, default=20_000, help="(c) households changed (20000)")
    parser.add_argument("--batch", type=int, default=100, help="(c) households changed per transaction (100)")
    parser.add_argument("--rounds", type=int, default=1, help="(a) export / COPY pairs (1; --quick 2)")
    parser.add_argument("--templates", type=int, default=20_000, help="distinct synthetic families (20000)")
    parser.add_argument("--seed", type=int, default=1, help="synthetic data seed")
    parser.add_argument("--quick", action="store_true", help="20,000 households, 2 rounds")
    parser.add_argument("--strict", action="store_true", help="exit 3 if a target is missed")
    args = parser.parse_args(argv)
    if args.quick:
        args.households = args.households or 20_000
        args.rounds = max(args.rounds, 2)
    args.households = args.households or 1_000_000
    if min(args.households, args.pull, args.changes, args.batch, args.rounds, args.templates) < 1:
        parser.error("every count must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        res = run(args)
    except KeyboardInterrupt:
        _say("\ninterrupted; subprocesses stopped and bench databases dropped")
        return 130
    except _Wrong as exc:
        _say(f"WRONG: {exc}")
        return 1
    except (RuntimeError, OSError, aiohttp.ClientError) as exc:
        _say(f"benchmark failed: {type(exc).__name__}: {exc}")
        return 2
    table, ok = report(args, res)
    _say()
    _say(table)
    return 3 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
