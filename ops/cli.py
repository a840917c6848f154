"""`python -m ops.cli`: run the platform, migrate, seed the demo county, manage keys, run the tests.

`make run` / `make test` (via scripts/dev.py, which prepares the virtual environment) call into here.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ops.embedded_pg import server_url, start_embedded
from shared.jwt import write_dev_keys
from shared.migrate import MIGRATION_DIRS, upgrade

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
SERVICES = ("gateway", "registry", "planning", "assessment")
APPS = {
    "gateway": "gateway.main:create_app",
    "registry": "services.registry.main:create_app",
    "planning": "services.planning.main:create_app",
    "assessment": "services.assessment.main:create_app",
}
PORT_OFFSETS = {"gateway": 0, "registry": 1, "planning": 2, "assessment": 3}


def _say(message: str) -> None:
    print(message, flush=True)


# -- databases ---------------------------------------------------------------------------------------------
def configured_urls() -> dict[str, str] | None:
    """Per-process database URLs from the environment, or None when nothing is configured."""
    shared_url = os.environ.get("DATABASE_URL")
    urls = {s: os.environ.get(f"{s.upper()}_DATABASE_URL") or shared_url for s in SERVICES}
    if not any(urls.values()):
        return None
    missing = [s for s, u in urls.items() if not u]
    if missing:
        raise SystemExit(f"no database for {', '.join(missing)}: set DATABASE_URL or the per-service URLs")
    return {s: u for s, u in urls.items() if u}


async def _create_databases(admin_url: str, names: list[str]) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        for name in names:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def embedded_urls(pgdata: Path, prefix: str = "jingzhun") -> tuple[object, dict[str, str]]:
    server = start_embedded(pgdata)
    names = {s: f"{prefix}_{s}" for s in SERVICES}
    asyncio.run(_create_databases(server_url(server), list(names.values())))
    return server, {s: server_url(server, n) for s, n in names.items()}


def migrate_all(urls: dict[str, str], services: tuple[str, ...] = SERVICES) -> None:
    for service in services:
        _say(f"  migrating {service} …")
        upgrade(service, urls[service])


# -- keys and secrets --------------------------------------------------------------------------------------
def ensure_dev_keys() -> Path:
    return write_dev_keys(VAR / "keys")


def secret_file(name: str) -> Path:
    path = VAR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path


def uvicorn_command(app: str, host: str, port: int) -> list[str]:
    """How every process is served (also used by the benchmarks, so they measure what `run` starts).

    `--no-proxy-headers`: uvicorn would otherwise believe `X-Forwarded-For` from 127.0.0.1, i.e. from anyone on
    this machine, and every per-address limit could be dodged by rotating the header. The gateway reads forwarded
    headers itself, only from its TRUSTED_PROXIES (none unless set; gateway/forwarded.py).
    """
    return [
        sys.executable, "-m", "uvicorn", "--factory", app, "--host", host, "--port", str(port),
        "--no-access-log", "--no-server-header", "--no-proxy-headers", "--loop", "uvloop", "--http",
        "shared.httpserver:ProblemHttpToolsProtocol",
    ]  # fmt: skip


# -- run -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Launch:
    """How one process of the platform is started: its command and environment (run from the repository)."""

    cmd: list[str]
    env: dict[str, str]

    def spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.cmd, env=self.env, cwd=ROOT)  # noqa: S603 - our own uvicorn command


@dataclass
class Backoff:
    """When to restart a process that died: `initial` seconds after its first death, doubled for each death that
    follows, at most `cap`; a process that had stayed up `stable_after` seconds starts again from `initial`."""

    initial: float = 1.0
    cap: float = 30.0
    stable_after: float = 60.0
    failures: int = 0

    def delay(self, uptime: float) -> float:
        """The wait before the next restart of a process that died after `uptime` seconds."""
        if uptime >= self.stable_after:
            self.failures = 0
        wait = min(self.cap, self.initial * 2.0**self.failures)
        self.failures += 1
        return wait


class Supervisor:
    """Keeps the platform's processes running (`make run`): a process that died is restarted after its back-off
    (`Backoff`), each restart logged, while the others keep serving. `poll` is called in the run loop; stopping
    everything stays with the caller (Ctrl-C ends `start_platform`, which terminates `procs` — the same dict, so
    the restarted processes too)."""

    def __init__(
        self,
        procs: dict[str, subprocess.Popen[bytes]],
        launch: dict[str, Launch],
        *,
        backoff: Callable[[], Backoff] = Backoff,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = _say,
    ) -> None:
        self.procs = procs
        self._launch = launch
        self._clock = clock
        self._say = say
        now = clock()
        self._started = dict.fromkeys(procs, now)
        self._backoff = {service: backoff() for service in procs}
        #: When each dead process is due to be started again.
        self._due: dict[str, float] = {}
        self.restarts: dict[str, int] = dict.fromkeys(procs, 0)

    def poll(self) -> None:
        """Notice the processes that died (scheduling their restart) and start those that are due."""
        now = self._clock()
        for service, proc in self.procs.items():
            if service in self._due:
                if now >= self._due[service]:
                    del self._due[service]
                    self.procs[service] = self._launch[service].spawn()
                    self._started[service] = now
                    self.restarts[service] += 1
                    self._say(
                        f"{service}: restarted (pid {self.procs[service].pid}, restart #{self.restarts[service]})"
                    )
                continue
            status = proc.poll()
            if status is None:
                continue
            uptime = now - self._started[service]
            wait = self._backoff[service].delay(uptime)
            self._due[service] = now + wait
            self._say(
                f"{service}: exited with status {status} after {uptime:.1f}s; restarting in {wait:g}s"
                " (the other processes keep serving)"
            )

    def waiting(self) -> list[str]:
        """The processes that died and wait for their restart."""
        return sorted(self._due)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url} exited with status {proc.returncode}; see the log above")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - our own localhost URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise SystemExit(f"{url} did not become healthy in {timeout:.0f}s")


@dataclass
class Platform:
    """The platform `start_platform` started: the four processes, their ports, and what the demo seed made."""

    host: str
    ports: dict[str, int]
    procs: dict[str, subprocess.Popen[bytes]]
    seeded: bool
    demo: dict[str, Any] | None
    province_secret: Path
    planning_demo: dict[str, Any] | None = None
    assessment_demo: dict[str, Any] | None = None
    #: How each process was started (command, environment): what the supervisor of `make run` restarts.
    launch: dict[str, Launch] = field(default_factory=dict)

    @property
    def gateway(self) -> str:
        return f"http://{self.host}:{self.ports['gateway']}"


@contextlib.contextmanager
def start_platform(
    urls: dict[str, str], ports: dict[str, int], *, host: str = "127.0.0.1"
) -> Iterator[Platform]:
    """What `make run` starts, on the given ports: migrations, development keys and client secrets, the demo
    county (into empty databases), the four processes (once healthy) and the demo households. The processes are
    stopped when the block ends (tests/platform/test_clients.py starts the platform this way too)."""
    from ops.seed import DEMO_PASSWORD, seed_demo

    migrate_all(urls)
    private_key = (
        Path(os.environ["JWT_PRIVATE_KEY_FILE"])
        if os.environ.get("JWT_PRIVATE_KEY_FILE")
        else ensure_dev_keys()
    )
    jwks = private_key.parent / "jwks.json"
    client_secrets = {s: secret_file(f"{s}-client-secret") for s in ("registry", "planning", "assessment")}
    province_secret = secret_file("province-client-secret")
    seeded = asyncio.run(
        seed_demo(urls, {s: p.read_text() for s, p in client_secrets.items()}, province_secret.read_text())
    )
    common_env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "JWT_ISSUER": os.environ.get("JWT_ISSUER", "jingzhun-gateway"),
    }
    for s in ("registry", "planning", "assessment"):
        common_env[f"{s.upper()}_URL"] = f"http://127.0.0.1:{ports[s]}"
    procs: dict[str, subprocess.Popen[bytes]] = {}
    launch: dict[str, Launch] = {}
    try:
        for service in ("registry", "planning", "assessment", "gateway"):
            env = dict(common_env)
            env[f"{service.upper()}_DATABASE_URL"] = urls[service]
            if service == "gateway":
                env["JWT_PRIVATE_KEY_FILE"] = str(private_key)
            else:
                env["JWT_JWKS_FILE"] = str(jwks)
                env["GATEWAY_URL"] = f"http://127.0.0.1:{ports['gateway']}"
                env["SERVICE_CLIENT_ID"] = f"{service}-service"
                env["SERVICE_CLIENT_SECRET_FILE"] = str(client_secrets[service])
            if service == "registry" and not os.environ.get("PII_KEYS_FILE"):
                from services.registry.pii import write_dev_keys as write_dev_pii_keys

                env["PII_KEYS_FILE"] = str(write_dev_pii_keys(VAR / "keys"))
            cmd = uvicorn_command(APPS[service], host, ports[service])
            launch[service] = Launch(cmd, env)
            procs[service] = launch[service].spawn()
            if service == "registry":
                # The import/export job worker (services/registry/worker.py), supervised like the services.
                launch["registry-worker"] = Launch([sys.executable, "-m", "services.registry.worker"], env)
                procs["registry-worker"] = launch["registry-worker"].spawn()
        for service in SERVICES:
            _wait_healthy(f"http://127.0.0.1:{ports[service]}/healthz", procs[service])
        gw = f"http://127.0.0.1:{ports['gateway']}"
        demo = _load_demo_households(gw, DEMO_PASSWORD) if seeded else None
        planning_demo = _load_demo_planning(gw, DEMO_PASSWORD)
        assessment_demo = _load_demo_assessment(gw, DEMO_PASSWORD)
        yield Platform(
            host, ports, procs, seeded, demo, province_secret, planning_demo, assessment_demo, launch
        )
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def cmd_run(args: argparse.Namespace) -> int:
    from ops.seed import DEMO_PASSWORD, DEMO_USERS

    _say("Jingzhun: starting the platform")
    urls = configured_urls()
    server = None
    if urls is None:
        _say(f"  no DATABASE_URL: using the embedded PostgreSQL in {VAR / 'pgdata'}")
        server, urls = embedded_urls(VAR / "pgdata")
    else:
        _say("  using the configured PostgreSQL (DATABASE_URL)")
    ports = {s: args.port + PORT_OFFSETS[s] for s in SERVICES}

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a process started with SIGINT ignored (e.g. from a script) would otherwise not stop.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    try:
        with start_platform(urls, ports, host=args.host) as platform:
            gw = f"http://127.0.0.1:{ports['gateway']}"
            seeded, demo, province_secret = platform.seeded, platform.demo, platform.province_secret
            _say("")
            _say("Jingzhun is running. Ctrl-C stops everything.")
            _say(f"  API (gateway)      {gw}")
            _say(f"  API docs           {gw}/docs   (merged OpenAPI: {gw}/openapi.json)")
            for s in ("registry", "planning", "assessment"):
                _say(f"  {s:<18} http://127.0.0.1:{ports[s]}   (docs: /docs; reached through {gw}/api/{s}/…)")
            _say("")
            _say(f"  Demo logins (password for all: {DEMO_PASSWORD}){' — just created' if seeded else ''}:")
            for username, role, region, _name in DEMO_USERS:
                _say(f"    {username:<24} {role:<18} region {region}")
            _say(f"  Province client:   client_id=guangxi-province  client_secret=$(cat {province_secret})")
            _say("")
            _say("  Try:")
            _say(
                f"    TOKEN=$(curl -s -d grant_type=password -d username=admin.jingxi -d password={DEMO_PASSWORD} \\"
            )
            _say(
                f"            {gw}/auth/token | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')"
            )
            _say(f'    curl -s -H "Authorization: Bearer $TOKEN" {gw}/api/registry/regions/451025000000')
            if demo is not None:
                _say(
                    f"  Demo data: {demo['households']} registered households; cadre.wang is paired with "
                    f"{len(demo['paired'])} (log in as cadre.wang, then GET {gw}/api/registry/sync/download)"
                )
            if platform.planning_demo is not None:
                pd = platform.planning_demo
                _say(
                    f"  Planning demo ({pd['year']}): 旧州村's exit plan is {pd['plan_status']}, "
                    f"{len(pd['projects'])} funded projects (GET {gw}/api/planning/projects?region={pd['village']})"
                )
            if platform.assessment_demo is not None:
                ad = platform.assessment_demo
                runs = f"{gw}/api/assessment/runs/{ad['run_id']}"
                _say(
                    f"  Assessment demo ({ad['year']}): templates B (villages) and C (cadres) published; "
                    f"B's run over 靖西县 is {ad['run_status']}"
                    + (f" ({ad['failure']})" if ad["failure"] else "")
                )
                for r in ad["results"]:
                    _say(
                        f"    {r['name']} ({r['parent_name']})  {r['score']:>6}  {r['grade']:<12} "
                        f"rank {r['rank']} of {r['peers']}"
                    )
                _say(f"    GET {runs}/results   ·   GET {runs}/results/451025100201 (explained)")
            # A process that dies is restarted (with a back-off); the others keep serving. Ctrl-C stops all.
            supervisor = Supervisor(platform.procs, platform.launch)
            while True:
                supervisor.poll()
                time.sleep(0.5)
    except KeyboardInterrupt:
        _say("\nstopping …")
        return 0
    finally:
        # The embedded PostgreSQL (if any) is stopped by pgserver's exit hook once this process ends.
        _ = server


def _load_demo_households(gateway: str, password: str) -> dict[str, Any] | None:
    """The demo households, pairings and a visit, through the API (services/registry/demo.py); a failure is
    reported and the platform keeps running."""
    import httpx

    from services.registry.demo import load_demo_households

    async def load() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
            headers: dict[str, dict[str, str]] = {}
            for username in ("admin.jingxi", "cadre.wang"):
                response = await client.post(
                    "/auth/token", data={"grant_type": "password", "username": username, "password": password}
                )
                response.raise_for_status()
                headers[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
            client.base_url = httpx.URL(f"{gateway}/api/registry/")
            return await load_demo_households(
                client, admin=headers["admin.jingxi"], cadre=headers["cadre.wang"]
            )

    try:
        return asyncio.run(load())
    except Exception as exc:  # demo data is a convenience: say what failed, keep the platform up
        _say(f"  demo households not loaded: {exc}")
        return None


def _load_demo_planning(gateway: str, password: str) -> dict[str, Any] | None:
    """The planning demo through the API (services/planning/demo.py), on every start: it loads what is missing
    and writes nothing when all is there. Skipped when the demo logins do not exist (not a demo database); a
    failure is reported and the platform keeps running."""
    import httpx

    from services.planning.demo import load_demo_planning

    if os.environ.get("ENVIRONMENT") == "production":
        return None

    async def load() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
            headers: dict[str, dict[str, str]] = {}
            for username in ("clerk.jiuzhou", "officer.xinjing", "admin.jingxi"):
                response = await client.post(
                    "/auth/token", data={"grant_type": "password", "username": username, "password": password}
                )
                if response.status_code in (400, 401):
                    return None
                response.raise_for_status()
                headers[username] = {"Authorization": f"Bearer {response.json()['access_token']}"}
            async with httpx.AsyncClient(base_url=f"{gateway}/api/registry/", timeout=60) as registry:
                client.base_url = httpx.URL(f"{gateway}/api/planning/")
                return await load_demo_planning(
                    client,
                    village=headers["clerk.jiuzhou"],
                    township=headers["officer.xinjing"],
                    admin=headers["admin.jingxi"],
                    registry=registry,
                )

    try:
        return asyncio.run(load())
    except Exception as exc:  # demo data is a convenience: say what failed, keep the platform up
        _say(f"  planning demo not loaded: {exc}")
        return None


def _load_demo_assessment(gateway: str, password: str) -> dict[str, Any] | None:
    """The assessment demo through the API (services/assessment/demo.py), on every start: templates B and C
    published for the year and B's run over the demo county, worked by the assessment's own run worker and waited
    for; nothing is written when all is there. Skipped when the demo login does not exist (not a demo database); a
    failure is reported and the platform keeps running."""
    import httpx

    from services.assessment.demo import load_demo_assessment

    if os.environ.get("ENVIRONMENT") == "production":
        return None

    async def load() -> dict[str, Any] | None:
        async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
            response = await client.post(
                "/auth/token",
                data={"grant_type": "password", "username": "admin.jingxi", "password": password},
            )
            if response.status_code in (400, 401):
                return None
            response.raise_for_status()
            admin = {"Authorization": f"Bearer {response.json()['access_token']}"}
            client.base_url = httpx.URL(f"{gateway}/api/assessment/")
            return await load_demo_assessment(client, admin=admin)

    try:
        return asyncio.run(load())
    except Exception as exc:  # demo data is a convenience: say what failed, keep the platform up
        _say(f"  assessment demo not loaded: {exc}")
        return None


# -- other commands --------------------------------------------------------------------------------------------
def cmd_migrate(args: argparse.Namespace) -> int:
    urls = configured_urls()
    if urls is None:
        _server, urls = embedded_urls(VAR / "pgdata")
    migrate_all(urls, tuple(args.service) if args.service else SERVICES)
    return 0


def cmd_gen_keys(args: argparse.Namespace) -> int:
    from services.registry.pii import write_dev_keys as write_dev_pii_keys

    private = write_dev_keys(Path(args.out))
    pii = write_dev_pii_keys(Path(args.out))
    _say(f"wrote {private}, {private.parent / 'jwks.json'} and {pii} (development keys)")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from ops.seed import seed_demo

    urls = configured_urls()
    if urls is None:
        _server, urls = embedded_urls(VAR / "pgdata")
    client_secrets = {
        s: secret_file(f"{s}-client-secret").read_text() for s in ("registry", "planning", "assessment")
    }
    done = asyncio.run(seed_demo(urls, client_secrets, secret_file("province-client-secret").read_text()))
    _say("demo county loaded" if done else "databases not empty: nothing loaded")
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    server = None
    if not env.get("TEST_DATABASE_URL"):
        _say(f"TEST_DATABASE_URL not set: using an embedded PostgreSQL in {VAR / 'test-pgdata'}")
        server = start_embedded(VAR / "test-pgdata")
        env["TEST_DATABASE_URL"] = server_url(server)
    try:
        return subprocess.call([sys.executable, "-m", "pytest", *args.pytest_args], env=env, cwd=ROOT)  # noqa: S603
    finally:
        _ = server  # kept alive until pytest is done; pgserver stops it at exit


async def _insert_user(url: str, username: str, role: str, region: str, name: str, password: str) -> None:
    import asyncpg
    from argon2 import PasswordHasher

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO gateway_user (id, username, display_name, password_hash, role, region_code)"
            " VALUES (gen_random_uuid(), $1, $2, $3, $4, $5)",
            username.lower(),
            name,
            PasswordHasher().hash(password),
            role,
            region,
        )
    finally:
        await conn.close()


async def _upsert_client(
    url: str, client_id: str, role: str, region: str, secret: str, description: str
) -> None:
    import asyncpg
    from argon2 import PasswordHasher

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO gateway_client (client_id, secret_hash, role, region_code, description)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (client_id) DO UPDATE"
            " SET secret_hash = EXCLUDED.secret_hash, role = EXCLUDED.role, region_code = EXCLUDED.region_code,"
            " description = EXCLUDED.description, disabled_at = NULL",
            client_id,
            PasswordHasher().hash(secret),
            role,
            region,
            description,
        )
    finally:
        await conn.close()


def _gateway_url() -> str:
    urls = configured_urls()
    if urls is None:
        raise SystemExit("set DATABASE_URL (or GATEWAY_DATABASE_URL) to the gateway's database")
    return urls["gateway"]


def _read_secret(value_file: str | None, env_name: str) -> str:
    if value_file:
        return Path(value_file).read_text().strip()
    value = os.environ.get(env_name)
    if not value:
        raise SystemExit(f"give the secret with --secret-file or the {env_name} environment variable")
    return value


def cmd_create_user(args: argparse.Namespace) -> int:
    """Bootstrap a user (typically the first county_admin) directly in the gateway database."""
    from shared.roles import ROLE_LEVEL, Role, is_region_code, level_of

    role = Role(args.role)
    if not is_region_code(args.region) or (ROLE_LEVEL[role] and level_of(args.region) != ROLE_LEVEL[role]):
        raise SystemExit(f"{args.region} is not a {ROLE_LEVEL[role]}-level statistical division code")
    password = _read_secret(args.password_file, "JINGZHUN_PASSWORD")
    if len(password) < 10:
        raise SystemExit("passwords have at least 10 characters")
    asyncio.run(
        _insert_user(_gateway_url(), args.username, role, args.region, args.name or args.username, password)
    )
    _say(f"created {role} {args.username} for region {args.region}")
    return 0


def cmd_create_client(args: argparse.Namespace) -> int:
    """Register (or re-key) a machine client: a province system or an internal service."""
    from shared.roles import is_region_code

    if not is_region_code(args.region):
        raise SystemExit(f"{args.region} is not a statistical division code")
    secret = _read_secret(args.secret_file, "JINGZHUN_CLIENT_SECRET")
    asyncio.run(
        _upsert_client(_gateway_url(), args.client_id, args.role, args.region, secret, args.description)
    )
    _say(f"registered client {args.client_id} ({args.role}, region {args.region})")
    return 0


#: What mypy --strict checks: every process, the shared code, the tools, the benchmarks and the tests.
TYPED = ("shared", "gateway", "services", "ops", "scripts", "bench", "tests")


def cmd_typecheck(args: argparse.Namespace) -> int:
    return subprocess.call([sys.executable, "-m", "mypy", *TYPED], cwd=ROOT)  # noqa: S603


def cmd_lint(args: argparse.Namespace) -> int:
    """ruff (lint and format), mypy --strict over app code and tests, and the import rules of the one shape."""
    checks = [
        [sys.executable, "-m", "ruff", "check", "."],
        [sys.executable, "-m", "ruff", "format", "--check", "."],
        [sys.executable, "-m", "mypy", *TYPED],
        [sys.executable, str(ROOT / "scripts" / "check_imports.py")],
    ]
    failed = 0
    for check in checks:
        _say("$ " + " ".join(Path(c).name if c == sys.executable else c for c in check))
        failed |= subprocess.call(check, cwd=ROOT)  # noqa: S603
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    script = "registry.py" if args.command == "bench-registry" else "gateway.py"
    return subprocess.call([sys.executable, str(ROOT / "bench" / script), *args.bench_args], cwd=ROOT)  # noqa: S603


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start PostgreSQL (embedded unless DATABASE_URL), migrate, seed, serve")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("JINGZHUN_PORT", "8000")),
        help="gateway port; the services take the next three",
    )
    run.set_defaults(func=cmd_run)
    migrate = sub.add_parser("migrate", help="apply Alembic migrations")
    migrate.add_argument("--service", action="append", choices=sorted(MIGRATION_DIRS))
    migrate.set_defaults(func=cmd_migrate)
    keys = sub.add_parser("gen-keys", help="write a development RSA key pair and JWKS")
    keys.add_argument("--out", default=str(VAR / "keys"))
    keys.set_defaults(func=cmd_gen_keys)
    sub.add_parser("seed", help="load the demo county into empty databases").set_defaults(func=cmd_seed)
    test = sub.add_parser("test", help="run the test suite against PostgreSQL")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    test.set_defaults(func=cmd_test)
    user = sub.add_parser(
        "create-user", help="bootstrap a user in the gateway database (e.g. the first county_admin)"
    )
    user.add_argument("--username", required=True)
    user.add_argument(
        "--role", required=True, choices=["county_admin", "township_officer", "village_officer", "cadre"]
    )
    user.add_argument("--region", required=True, help="12-digit statistical division code")
    user.add_argument("--name", help="display name")
    user.add_argument("--password-file", help="file holding the password (else $JINGZHUN_PASSWORD)")
    user.set_defaults(func=cmd_create_user)
    client = sub.add_parser(
        "create-client", help="register a machine client (province system or internal service)"
    )
    client.add_argument("--client-id", required=True)
    client.add_argument("--role", required=True, choices=["province_system", "service"])
    client.add_argument("--region", required=True, help="province code, or 000000000000 for a service")
    client.add_argument("--secret-file", help="file holding the client secret (else $JINGZHUN_CLIENT_SECRET)")
    client.add_argument("--description", default="")
    client.set_defaults(func=cmd_create_client)
    sub.add_parser("lint", help="ruff, mypy --strict and the import rules").set_defaults(func=cmd_lint)
    sub.add_parser("typecheck", help="mypy --strict over app code and tests").set_defaults(func=cmd_typecheck)
    bench = sub.add_parser("bench", help="gateway vs direct benchmark (bench/gateway.py)")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)
    registry_bench = sub.add_parser(
        "bench-registry", help="registry benchmark: card, keyset depth, bulk import (bench/registry.py)"
    )
    registry_bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    registry_bench.set_defaults(func=cmd_bench)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("test", "bench", "bench-registry"):
        # Everything after the command belongs to pytest / the benchmark, options included.
        args = parser.parse_args(argv[:1])
        setattr(args, "pytest_args" if argv[0] == "test" else "bench_args", argv[1:])
    else:
        args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
