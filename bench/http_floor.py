"""The floor of an HTTP hop in Python: what two bare ASGI processes cost per request, before any application code.

    python bench/http_floor.py [--duration 4] [--concurrency 16]

Two uvicorn processes with the platform's server settings (`ops.cli.uvicorn_command`: uvloop, httptools, no
access log) serve bare ASGI apps, no framework: `leaf` reads the body and answers 201 with a small JSON;
`proxy` (bench/bare_post.py's, configured as the gateway's aiohttp upstream) forwards the request to the leaf.
The load is the visits benchmark's (aiohttp, closed loop, a help-record sized JSON body and a long bearer
header). Printed: req/s and CPU milliseconds per request of the load generator, each server and the whole
machine.

Why: it shows what two Python HTTP hops cost when they do nothing at all. No database is used. The visit-POST
target itself is judged in bench/visits.py against the same two hops in front of the raw INSERT (the bare
two-hop baseline of bench/bare_post.py), measured in the same invocation as the platform.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bare_post import Receive, Send, answer, lifespan, read_body  # noqa: E402
from bench.gateway import _free_port  # noqa: E402
from ops.cli import _wait_healthy  # noqa: E402

_BODY = b'{"id":"3f6c1d7e-0000-4000-8000-000000000001","version":1,"flags":[]}'


async def leaf(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    """Reads the request and answers 201: the least an HTTP service can do."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    await read_body(receive)
    if scope["path"] == "/healthz":
        await answer(send, 200, b'{"status":"ok"}')
        return
    await answer(send, 201, _BODY)


def leaf_app() -> Any:
    """Factory for `uvicorn --factory` (how `ops.cli.uvicorn_command` serves every process)."""
    return leaf


#: The proxy is bench/bare_post.py's, the one in front of the visit POST's bare two-hop baseline.
_APPS = {"leaf": "bench.http_floor:leaf_app", "proxy": "bench.bare_post:proxy_app"}


def _spawn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    from ops.cli import uvicorn_command

    return subprocess.Popen(
        uvicorn_command(_APPS[app], "127.0.0.1", port),
        env=os.environ | env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _load(url: str, pids: dict[str, int], *, concurrency: int, seconds: float) -> dict[str, float]:
    import aiohttp
    import psutil

    count = 0
    token = "Bearer " + "x" * 600  # an RS256 access token is about this long
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def user(until: float) -> None:
            nonlocal count
            while time.perf_counter() < until:
                body = json.dumps(
                    {
                        "id": str(uuid.uuid4()),
                        "household_id": str(uuid.uuid4()),
                        "record_type": "visit",
                        "content": "走访: 了解家庭生产生活情况, 宣传教育资助政策",
                        "money_yuan": "200.00",
                    }
                )
                headers = {"Authorization": token, "Content-Type": "application/json"}
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                count += 1

        await asyncio.gather(*(user(time.perf_counter() + 1) for _ in range(concurrency)))  # warm-up
        procs = {name: psutil.Process(pid) for name, pid in pids.items()} | {"client": psutil.Process()}
        before = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
        machine = psutil.cpu_times()
        count, begin = 0, time.perf_counter()
        await asyncio.gather(*(user(time.perf_counter() + seconds) for _ in range(concurrency)))
        elapsed = time.perf_counter() - begin
        after = {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}
        now = psutil.cpu_times()
    out = {"req/s": count / elapsed}
    out |= {name: (after[name] - before[name]) * 1000 / count for name in procs}
    out["machine"] = (now.user + now.system - machine.user - machine.system) * 1000 / count
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    leaf_port, proxy_port = _free_port(), _free_port()
    leaf_url, proxy_url = f"http://127.0.0.1:{leaf_port}", f"http://127.0.0.1:{proxy_port}"
    servers = {
        "leaf": _spawn("leaf", leaf_port, {}),
        "proxy": _spawn("proxy", proxy_port, {"BARE_UPSTREAM": leaf_url}),
    }
    try:
        _wait_healthy(f"{leaf_url}/healthz", servers["leaf"], timeout=30)
        _wait_healthy(f"{proxy_url}/healthz", servers["proxy"], timeout=30)
        import uvloop

        pids = {name: proc.pid for name, proc in servers.items()}
        rows = {
            "leaf": uvloop.run(
                _load(
                    f"{leaf_url}/x",
                    {"leaf": pids["leaf"]},
                    concurrency=args.concurrency,
                    seconds=args.duration,
                )
            ),
            "proxy -> leaf": uvloop.run(
                _load(f"{proxy_url}/x", pids, concurrency=args.concurrency, seconds=args.duration)
            ),
        }
    finally:
        for proc in servers.values():
            proc.terminate()
            proc.wait(timeout=10)
    print(
        f"Bare ASGI on uvicorn, aiohttp load at c={args.concurrency}, {args.duration:g} s; CPU ms per request"
    )
    print("target        |  req/s | client | proxy |  leaf | machine")
    print("--------------+--------+--------+-------+-------+--------")
    for name, r in rows.items():
        print(
            f"{name:<13} | {r['req/s']:6.0f} | {r['client']:6.3f} | {r.get('proxy', 0.0):5.3f} | "
            f"{r['leaf']:5.3f} | {r['machine']:7.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
