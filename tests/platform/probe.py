"""A probe service for the tests of shared/: a scratch database of its own and small apps built in the test.

The shared foundations (the commit point, the request context, audit) are tested on apps made with the real
`shared.app.build_service_app`, against a database that belongs to these tests alone (`probe_<tag>`), so that
no table of theirs ever appears in a service's database (the migration drift test compares those).

- `platform_probe` holds plain rows; `platform_probe_child` references it through a constraint checked only at
  COMMIT (`DEFERRABLE INITIALLY DEFERRED`), which is how a test makes a commit fail after the handler returned.
- `platform_audit_event` is an audit table declared by `shared.audit.audit_table`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from shared.app import build_service_app
from shared.audit import audit_table
from shared.jwt import KeySet, SigningKey
from shared.routing import APIRouter
from shared.settings import ServiceSettings
from tests.factories import auth, issue

__all__ = [
    "AUDIENCE",
    "PROBE",
    "PROBE_AUDIT",
    "PROBE_CHILD",
    "PROBE_METADATA",
    "ProbeDatabase",
    "build_probe_app",
    "new_id",
    "probe_client",
    "probe_headers",
]

AUDIENCE = "jingzhun-probe"
PROBE_METADATA = sa.MetaData()
#: Plain rows.
PROBE = sa.Table(
    "platform_probe",
    PROBE_METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("note", sa.String(200), nullable=False, server_default=""),
)
#: Rows whose parent must exist when the transaction commits: an orphan makes COMMIT itself fail.
PROBE_CHILD = sa.Table(
    "platform_probe_child",
    PROBE_METADATA,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column(
        "parent_id",
        sa.String(64),
        sa.ForeignKey("platform_probe.id", deferrable=True, initially="DEFERRED"),
        nullable=False,
    ),
)
#: An audit table of the probe service, the same columns as every service's (`shared.audit.audit_table`).
PROBE_AUDIT = audit_table("platform_audit_event", PROBE_METADATA)


@dataclass(frozen=True)
class ProbeDatabase:
    """The probe's scratch database: its URL and what is in it (read on a connection of its own)."""

    url: str

    async def ids(self, table: str = "platform_probe") -> set[str]:
        conn = await asyncpg.connect(self.url)
        try:
            rows = await conn.fetch(f"SELECT id FROM {table}")  # noqa: S608 - test table names only
        finally:
            await conn.close()
        return {str(r["id"]) for r in rows}

    async def audit(self) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return list(await conn.fetch("SELECT * FROM platform_audit_event ORDER BY id"))
        finally:
            await conn.close()

    async def truncate(self) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute("TRUNCATE platform_probe_child, platform_probe, platform_audit_event")
        finally:
            await conn.close()


def new_id() -> str:
    return uuid.uuid4().hex


def build_probe_app(db: ProbeDatabase, keyset: KeySet, *routers: APIRouter) -> FastAPI:
    """A service built like every service (`build_service_app`), with the test's routers."""
    settings = ServiceSettings(
        service_name="probe",
        environment="test",
        database_url=db.url,
        json_logs=False,
        log_level="CRITICAL",  # the 500s these tests provoke on purpose are logged as errors
    )
    return build_service_app(
        settings, title="Probe", description="shared/ under test", routers=routers, keyset=keyset
    )


@contextlib.asynccontextmanager
async def probe_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app's lifespan and an in-process client that receives 500s as responses (as a server would send
    them) instead of re-raising the app's exception."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
            yield client


def probe_headers(
    signing_key: SigningKey,
    role: str = "county_admin",
    region: str = "451025000000",
    *,
    sub: str | None = None,
    **headers: str,
) -> dict[str, str]:
    """A bearer token for the probe service's audience, and any other `headers`."""
    return auth(issue(signing_key, role, region, sub=sub, aud=[AUDIENCE]), **headers)
