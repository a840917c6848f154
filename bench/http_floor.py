"""The floor of an HTTP hop in Python: what two bare ASGI processes cost per request, before any application code.

    python bench/http_floor.py [--duration 4] [--concurrency 16]

Two uvicorn processes with the platform's server settings (uvloop, httptools, no access log) serve bare ASGI
apps, no framework: `leaf` reads the body and answers 201 with a small JSON; `proxy` forwards the request to the
leaf with aiohttp, as the gateway does. The load is the visits benchmark's (aiohttp, closed loop, a help-record
sized JSON body and a long bearer header). Printed: req/s and CPU milliseconds per request of the load
generator, each server and the whole machine.

Why: the visit-POST target of bench/visits.py (>= 0.5x a raw asyncpg INSERT) is a CPU budget on shared cores;
this shows how much of that budget two Python HTTP hops take when they do nothing at all. No database is used.
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

from bench.gateway import _free_port  # noqa: E402
from ops.cli import _wait_healthy  # noqa: E402

_BODY = b'{"id":"3f6c1d7e-0000-4000-8000-000000000001","version":1,"flags":[]}'
_session: Any = None


async def _lifespan(receive: Any, send: Any, *, start: Any = None, stop: Any = None) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if start is not None:
                await start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if stop is not None:
                await stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Any) -> bytes:
    chunks, more = [], True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def leaf(scope: Any, receive: Any, send: Any) -> None:
    """Reads the request and answers 201: the least an HTTP service can do."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    await _read_body(receive)
    if scope["path"] == "/healthz":
        await _answer(send, 200, b'{"status":"ok"}')
        return
    await _answer(send, 201, _BODY)


async def proxy(scope: Any, receive: Any, send: Any) -> None:
    """Forwards every request to the leaf with a pooled aiohttp session: the least a gateway can do."""
    import aiohttp

    global _session
    if scope["type"] == "lifespan":

        async def start() -> None:
            global _session
            _session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
            )

        async def stop() -> None:
            await _session.close()

        await _lifespan(receive, send, start=start, stop=stop)
        return
    body = await _read_body(receive)
    headers = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in scope["headers"]
        if k not in (b"host", b"content-length", b"connection")
    ]
    url = os.environ["FLOOR_UPSTREAM"] + scope["path"]
    async with _session.request(scope["method"], url, headers=headers, data=body) as response:
        await _answer(send, response.status, await response.read())


def leaf_app() -> Any:
    """Factory for `uvicorn --factory` (how `ops.cli.uvicorn_command` serves every process)."""
    return leaf


def proxy_app() -> Any:
    return proxy


def _spawn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    from ops.cli import uvicorn_command

    return subprocess.Popen(
        uvicorn_command(f"bench.http_floor:{app}_app", "127.0.0.1", port),
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
        "proxy": _spawn("proxy", proxy_port, {"FLOOR_UPSTREAM": leaf_url}),
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
