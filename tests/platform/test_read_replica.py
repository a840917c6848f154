"""Read replicas (issue #15): `<SERVICE>_READ_DATABASE_URL` routes the lag-tolerant reads to a streaming replica.

The fixture starts a real primary and a real hot standby with the local PostgreSQL server binaries (`initdb` a
temporary primary, `pg_basebackup -R` from it, each server on its own unix socket directory and free port), then
migrates the registry on the primary. The tests prove that the read pool and the figures' sessions are on the
replica while writes, the household card and the phones' download stay on the primary; that an export read on a
paused replica misses a later write but hands out a feed cursor that does not skip it; and that the change feed's
rule (`txid < pg_snapshot_xmin(pg_current_snapshot())`, ordered by (txid, seq)) holds on the standby, whose
snapshot keeps a transaction held open on the primary "running", so a mirror reading the replica never sees a
change that it would later miss, however far the replica lags. Skipped, with the reason, only when no server
binaries exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from shared.db import execute
from shared.jwt import KeySet, SigningKey
from shared.settings import ServiceSettings
from tests.factories import VILLAGE, auth, create_household, issue
from tests.harness import running

_TOOLS = ("initdb", "pg_ctl", "pg_basebackup")
PLAIN = {"Accept-Encoding": "identity"}


def server_bindir() -> Path | None:
    """A directory with initdb, pg_ctl and pg_basebackup: `pg_config --bindir`, Debian's, or pgserver's own."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)  # noqa: S603
        if found.returncode == 0:
            candidates.append(Path(found.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    with contextlib.suppress(ImportError):
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    for candidate in candidates:
        if all((candidate / tool).is_file() for tool in _TOOLS):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    """Two PostgreSQL servers of one temporary directory: the primary and its streaming replica."""

    bindir: Path
    root: Path
    primary_port: int = 0
    replica_port: int = 0

    @property
    def as_postgres(self) -> list[str]:
        # The server refuses to run as root: run its tools as the postgres user then.
        return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def run(self, tool: str, *args: str) -> None:
        command = [*self.as_postgres, str(self.bindir / tool), *args]
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stdout}\n{result.stderr}")

    def start(self, name: str, port: int) -> None:
        sockets = self.root / f"{name}-socket"
        sockets.mkdir(exist_ok=True)
        self._own(sockets)
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1"
        self.run("pg_ctl", "-D", str(self.root / name), "-l", str(self.root / f"{name}.log"), "-w", "-t", "60",
                 "-o", options, "start")  # fmt: skip

    def stop(self, name: str) -> None:
        if (self.root / name / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.run("pg_ctl", "-D", str(self.root / name), "-m", "immediate", "-w", "stop")

    def _own(self, path: Path) -> None:
        if os.geteuid() == 0:
            shutil.chown(path, "postgres", "postgres")

    def up(self) -> None:
        self._own(self.root)
        self.run("initdb", "-D", str(self.root / "primary"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                 "--no-sync")  # fmt: skip
        with (self.root / "primary" / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nwal_level = replica\nmax_wal_senders = 4\nhot_standby = on\nfsync = off\n"
                "shared_buffers = 32MB\nmax_connections = 60\ntimezone = 'UTC'\n"
            )
        self.primary_port = _free_port()
        self.start("primary", self.primary_port)
        self.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(self.primary_port), "-U", "postgres",
                 "-D", str(self.root / "replica"), "-R", "-X", "stream", "--no-sync")  # fmt: skip
        self.replica_port = _free_port()
        self.start("replica", self.replica_port)

    def down(self) -> None:
        self.stop("replica")
        self.stop("primary")
        shutil.rmtree(self.root, ignore_errors=True)

    def primary(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.primary_port}/{database}"

    def replica(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.replica_port}/{database}"


DATABASE = "jz_registry"


async def caught_up(primary: asyncpg.Connection, replica: asyncpg.Connection, within: float = 30) -> None:
    """Wait until the replica has replayed everything the primary had written when called."""
    lsn = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + within
    while not await replica.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn", lsn):
        if time.monotonic() > deadline:
            raise TimeoutError(f"replica did not replay up to {lsn}")
        await asyncio.sleep(0.05)


@contextlib.contextmanager
def _cluster() -> Iterator[Cluster]:
    bindir = server_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) on this machine")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: the PostgreSQL server cannot be started")
    cluster = Cluster(bindir, Path(tempfile.mkdtemp(prefix="jz-replica-")))
    try:
        cluster.up()
        yield cluster
    finally:
        cluster.down()


@pytest.fixture(scope="module")
async def cluster() -> AsyncIterator[Cluster]:
    """A primary and its hot standby, with the registry migrated (and the demo regions) on the primary."""
    from ops.seed import DEMO_REGIONS
    from shared.migrate import upgrade

    with _cluster() as servers:
        admin = await asyncpg.connect(servers.primary())
        try:
            await admin.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await admin.close()
        await asyncio.to_thread(upgrade, "registry", servers.primary(DATABASE))
        conn = await asyncpg.connect(servers.primary(DATABASE))
        try:
            await conn.executemany(
                "INSERT INTO registry_region (code, name, level, parent_code) VALUES ($1, $2, $3, $4)",
                DEMO_REGIONS,
            )
        finally:
            await conn.close()
        yield servers


@pytest.fixture
async def primary(cluster: Cluster) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(cluster.primary(DATABASE))
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def replica(cluster: Cluster, primary: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the replica (it can pause and resume replay), once it has caught up."""
    deadline = time.monotonic() + 30
    while True:
        try:
            conn = await asyncpg.connect(cluster.replica(DATABASE))
            break
        except (asyncpg.InvalidCatalogNameError, OSError, asyncpg.CannotConnectNowError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    try:
        await caught_up(primary, conn)
        yield conn
    finally:
        with contextlib.suppress(asyncpg.PostgresError):
            await conn.execute("SELECT pg_wal_replay_resume()")
        await conn.close()


def registry_app(cluster: Cluster, keyset: KeySet, read_url: str | None) -> Any:
    from services.registry.main import create_app
    from services.registry.settings import RegistrySettings

    settings = RegistrySettings(
        environment="test",
        database_url=cluster.primary(DATABASE),
        read_database_url=read_url,
        json_logs=False,
        log_level="WARNING",
    )
    return create_app(settings, keyset=keyset)


def _lines(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


async def _in_recovery(pool: asyncpg.Pool) -> bool:
    async with pool.acquire() as conn:
        standby: bool = await conn.fetchval("SELECT pg_is_in_recovery()")
        return standby


class TestSettings:
    def test_the_service_env_name_routes_the_read_pool(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from services.registry.settings import RegistrySettings

        monkeypatch.setenv("REGISTRY_READ_DATABASE_URL", "postgresql://reader@replica:5432/registry")
        settings = RegistrySettings(environment="test", database_url="postgresql://p@primary/registry")
        assert settings.read_sqlalchemy_url == "postgresql+asyncpg://reader@replica:5432/registry"

    def test_unset_means_the_primary(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from services.planning.settings import PlanningSettings

        monkeypatch.delenv("PLANNING_READ_DATABASE_URL", raising=False)
        monkeypatch.delenv("READ_DATABASE_URL", raising=False)
        settings = PlanningSettings(environment="test", database_url="postgresql://p@primary/planning")
        assert settings.read_database_url is None and settings.read_sqlalchemy_url is None

    def test_the_shared_name_serves_every_service(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from services.assessment.settings import AssessmentSettings

        monkeypatch.setenv("READ_DATABASE_URL", "postgres://r@replica/db")
        settings: ServiceSettings = AssessmentSettings(environment="test", database_url="postgresql://p@x/db")
        assert settings.read_sqlalchemy_url == "postgresql+asyncpg://r@replica/db"


class TestRouting:
    async def test_lag_tolerant_reads_use_the_replica_and_the_rest_the_primary(
        self, cluster: Cluster, keyset: KeySet, replica: asyncpg.Connection
    ) -> None:
        app = registry_app(cluster, keyset, cluster.replica(DATABASE))
        async with running(app) as client:
            state = app.state
            assert await _in_recovery(state.read_pool) is True
            assert await _in_recovery(state.primary_read_pool) is False
            assert await _in_recovery(state.write_pool) is False
            async with state.replica_sessions() as session:
                assert (await execute(session, sa.text("SELECT pg_is_in_recovery()"))).scalar() is True
            async with state.read_sessions() as session:
                assert (await execute(session, sa.text("SELECT pg_is_in_recovery()"))).scalar() is False
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"]["read_database"].startswith("ok (replica, replay lag")

    async def test_without_a_replica_the_read_pool_is_the_primary(
        self, cluster: Cluster, keyset: KeySet
    ) -> None:
        app = registry_app(cluster, keyset, None)
        async with running(app) as client:
            assert app.state.read_pool is app.state.primary_read_pool
            assert app.state.replica_sessions is app.state.read_sessions
            assert await _in_recovery(app.state.read_pool) is False
            assert (await client.get("/readyz")).json()["checks"]["read_database"] == "ok"

    async def test_an_unreachable_replica_is_reported_but_keeps_the_service_ready(
        self, cluster: Cluster, keyset: KeySet
    ) -> None:
        app = registry_app(cluster, keyset, f"postgresql://postgres@127.0.0.1:{_free_port()}/{DATABASE}")
        async with running(app) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert checks["database"] == "ok" and checks["read_database"].startswith("error")


class TestExportOnTheReplica:
    async def test_a_lagging_replica_misses_a_write_but_its_cursor_does_not_skip_it(
        self,
        cluster: Cluster,
        keyset: KeySet,
        signing_key: SigningKey,
        primary: asyncpg.Connection,
        replica: asyncpg.Connection,
    ) -> None:
        clerk = auth(issue(signing_key, "village_officer", VILLAGE)) | PLAIN
        app = registry_app(cluster, keyset, cluster.replica(DATABASE))
        async with running(app) as client:
            first = await create_household(client, clerk)
            await caught_up(primary, replica)
            await replica.execute("SELECT pg_wal_replay_pause()")
            try:
                second = await create_household(client, clerk, head="新来户")
                body = _lines(await client.get("/exports/households", params={"fields": "id"}, headers=clerk))
                exported = {row["id"] for row in body[:-1]}
                assert first in exported and second not in exported  # read on the (paused) replica
                cursor = body[-1]["_trailer"]["feed_cursor"]
                # The card is a read-your-writes path: on the primary, it has the new household already.
                card = await client.get(f"/households/{second}", headers=clerk)
                assert card.status_code == 200, card.text
            finally:
                await replica.execute("SELECT pg_wal_replay_resume()")
            await caught_up(primary, replica)
            # The feed from the export's cursor brings the household the replica had not replayed yet.
            follow = await client.get("/changes", params={"after": cursor, "limit": 1000}, headers=clerk)
            assert follow.status_code == 200, follow.text
            assert second in {item["id"] for item in follow.json()["items"]}
            body = _lines(await client.get("/exports/households", params={"fields": "id"}, headers=clerk))
            assert {first, second} <= {row["id"] for row in body[:-1]}


#: The change feed's rule (issue #15, H1's services/registry/changes/), on a table of the same shape: only rows of
#: transactions older than every running one, in (txid, seq) order, after the cursor ($1 txid, $2 seq).
FEED_SQL = """
SELECT txid::text, seq, note FROM feed_probe
WHERE (txid, seq) > ($1::text::xid8, $2::bigint) AND txid < pg_snapshot_xmin(pg_current_snapshot())
ORDER BY txid, seq
"""


class Mirror:
    """A feed client reading the replica: keeps its cursor, and every note it was given, in order."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.cursor: tuple[str, int] = ("0", 0)
        self.seen: list[str] = []

    async def poll(self) -> list[str]:
        rows = await self.conn.fetch(FEED_SQL, *self.cursor)
        if rows:
            self.cursor = (rows[-1]["txid"], rows[-1]["seq"])
        notes = [row["note"] for row in rows]
        self.seen += notes
        return notes


class TestFeedCursorOnTheStandby:
    async def test_a_mirror_of_a_lagging_replica_never_skips_a_change(
        self, cluster: Cluster, primary: asyncpg.Connection, replica: asyncpg.Connection
    ) -> None:
        await primary.execute(
            "CREATE TABLE feed_probe (seq bigserial PRIMARY KEY,"
            " txid xid8 NOT NULL DEFAULT pg_current_xact_id(), note text NOT NULL)"
        )
        other = await asyncpg.connect(cluster.primary(DATABASE))
        try:
            await primary.execute("INSERT INTO feed_probe (note) VALUES ('zero')")
            await caught_up(primary, replica)
            mirror = Mirror(replica)
            assert await mirror.poll() == ["zero"]

            # A transaction takes its xid and a sequence value first, and stays open across others' commits.
            held = primary.transaction()
            await held.start()
            await primary.execute("INSERT INTO feed_probe (note) VALUES ('held')")
            await other.execute("INSERT INTO feed_probe (note) VALUES ('after')")
            await other.execute("INSERT INTO feed_probe (note) VALUES ('third')")
            await caught_up(other, replica)
            # The replica has replayed the later commits (they are visible there) ...
            visible = await replica.fetchval(
                "SELECT count(*) FROM feed_probe WHERE note IN ('after', 'third')"
            )
            assert visible == 2
            # ... but its snapshot still counts the held transaction as running, so the feed holds them back.
            assert await mirror.poll() == []

            # The replica lags: replay paused while the held transaction commits and another follows.
            await replica.execute("SELECT pg_wal_replay_pause()")
            await held.commit()
            await other.execute("INSERT INTO feed_probe (note) VALUES ('late')")
            assert await mirror.poll() == []
            await replica.execute("SELECT pg_wal_replay_resume()")
            await caught_up(other, replica)

            assert await mirror.poll() == ["held", "after", "third", "late"]
            assert await mirror.poll() == []
            # The mirror equals the source: every change once, in commit-safe order.
            source = [
                r["note"] for r in await primary.fetch("SELECT note FROM feed_probe ORDER BY txid, seq")
            ]
            assert mirror.seen == source == ["zero", "held", "after", "third", "late"]
        finally:
            await other.close()
            await primary.execute("DROP TABLE IF EXISTS feed_probe")

    async def test_the_standby_reads_the_snapshot_functions(self, replica: asyncpg.Connection) -> None:
        """The feed's horizon is readable in recovery; taking an xid (a write) is not."""
        assert await replica.fetchval("SELECT pg_is_in_recovery()") is True
        assert await replica.fetchval("SELECT pg_snapshot_xmin(pg_current_snapshot()) IS NOT NULL") is True
        with pytest.raises(asyncpg.PostgresError):
            await replica.fetchval("SELECT pg_current_xact_id()")


class TestChangeFeedThroughTheApp:
    """`GET /changes` (services/registry/changes/) reads the replica: the same guarantee, end to end."""

    async def test_a_held_transaction_and_a_paused_replica_lose_nothing(
        self,
        cluster: Cluster,
        keyset: KeySet,
        signing_key: SigningKey,
        primary: asyncpg.Connection,
        replica: asyncpg.Connection,
    ) -> None:
        clerk = auth(issue(signing_key, "village_officer", VILLAGE)) | PLAIN
        app = registry_app(cluster, keyset, cluster.replica(DATABASE))

        async def feed(client: httpx.AsyncClient, after: str) -> tuple[set[str], str]:
            response = await client.get("/changes", params={"after": after, "limit": 1000}, headers=clerk)
            assert response.status_code == 200, response.text
            page = response.json()
            return {item["id"] for item in page["items"]}, page["next_cursor"]

        async with running(app) as client:
            first = await create_household(client, clerk)
            await caught_up(primary, replica)
            response = await client.get(
                "/changes", headers=clerk
            )  # from the start: the feed was never pruned
            assert response.status_code == 200, response.text
            assert first in {item["id"] for item in response.json()["items"]}
            cursor = response.json()["next_cursor"]
            assert (await feed(client, cursor))[0] == set()

            held = primary.transaction()  # changes `first`, open across the next commits
            await held.start()
            try:
                await primary.execute(
                    "UPDATE registry_household SET village_code = village_code WHERE id = $1",
                    uuid.UUID(first),
                )
                later = await create_household(client, clerk, head="后来户")
                await caught_up(primary, replica)
                on_replica = "SELECT count(*) FROM registry_household WHERE id = $1"
                assert await replica.fetchval(on_replica, uuid.UUID(later)) == 1  # replayed and visible ...
                seen, _ = await feed(client, cursor)
                assert seen == set()  # ... but held back behind the open transaction

                await replica.execute("SELECT pg_wal_replay_pause()")
                await held.commit()
            except BaseException:
                await held.rollback()
                raise
            try:
                last = await create_household(client, clerk, head="最后户")
                seen, _ = await feed(client, cursor)
                assert seen == set()  # the paused replica still has the transaction running
            finally:
                await replica.execute("SELECT pg_wal_replay_resume()")
            await caught_up(primary, replica)
            seen, next_cursor = await feed(client, cursor)
            assert seen == {first, later, last}
            assert (await feed(client, next_cursor))[0] == set()
