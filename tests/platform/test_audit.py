"""shared/audit.py: the append-only audit log (DOMAIN.md invariant 50): who did what to which record, when.

An entry is written in the request's transaction, so it lands with the change it describes or not at all; its
time is the request's `now` (the app clock), its actor, role and request id come from the context.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from pydantic import BaseModel

from shared.audit import AuditLog, audit_table
from shared.context import ContextDep
from shared.jwt import KeySet, SigningKey
from shared.routing import APIRouter
from tests.factories import assert_problem
from tests.platform.probe import (
    PROBE,
    PROBE_AUDIT,
    ProbeDatabase,
    build_probe_app,
    new_id,
    probe_client,
    probe_headers,
)

AUDIT = AuditLog(PROBE_AUDIT)
NOW = datetime(2016, 7, 1, 2, 30, tzinfo=UTC)


class Done(BaseModel):
    id: str


router = APIRouter()


@router.post("/things/{thing_id}", response_model=Done, status_code=201)
async def create(thing_id: str, ctx: ContextDep, fail: bool = False) -> Done:
    await ctx.session.exec(sa.insert(PROBE).values(id=thing_id, note="451025100201"))
    await AUDIT.record(
        ctx,
        "thing.create",
        record_type="thing",
        record_id=thing_id,
        # The region of the record, read in the same statement (as a service names its household's village).
        region_code=sa.select(PROBE.c.note).where(PROBE.c.id == thing_id).scalar_subquery(),
        reason="入户核实 (home visit)",
        detail={"fields": ["note"], "count": 1},
    )
    if fail:
        raise RuntimeError("after the audit entry")
    return Done(id=thing_id)


@pytest.fixture
def probe_app(probe_db: ProbeDatabase, keyset: KeySet) -> FastAPI:
    app = build_probe_app(probe_db, keyset, router)
    app.state.clock = lambda: NOW
    return app


@pytest.fixture
async def client(probe_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with probe_client(probe_app) as c:
        yield c


class TestAuditLog:
    async def test_entry_lands_with_the_change(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase, signing_key: SigningKey
    ) -> None:
        thing = new_id()
        headers = probe_headers(
            signing_key, "village_officer", "451025100201", sub="clerk-1", **{"X-Request-ID": "req-9"}
        )
        assert (await client.post(f"/things/{thing}", headers=headers)).status_code == 201
        (entry,) = await probe_db.audit()
        assert entry["at"] == NOW
        assert (entry["actor"], entry["role"]) == ("clerk-1", "village_officer")
        assert (entry["action"], entry["record_type"], entry["record_id"]) == ("thing.create", "thing", thing)
        assert entry["region_code"] == "451025100201"
        assert entry["reason"] == "入户核实 (home visit)"
        assert entry["request_id"] == "req-9"
        assert json.loads(entry["detail"]) == {"fields": ["note"], "count": 1}

    async def test_no_entry_without_the_change(
        self, client: httpx.AsyncClient, probe_db: ProbeDatabase, signing_key: SigningKey
    ) -> None:
        response = await client.post(
            f"/things/{new_id()}", params={"fail": True}, headers=probe_headers(signing_key)
        )
        assert_problem(response, 500)
        assert await probe_db.audit() == []
        assert await probe_db.ids() == set()


class TestAuditTable:
    def test_common_columns_then_the_service_s_own(self) -> None:
        table = audit_table("x_audit_event", sa.MetaData(), sa.Column("household_id", sa.Uuid))
        names = [c.name for c in table.columns]
        assert names[:7] == ["id", "at", "actor", "role", "action", "record_type", "record_id"]
        assert names[7] == "household_id"
        assert names[8:] == ["region_code", "reason", "detail", "request_id"]
        assert table.c.region_code.type.collation == "C"  # type: ignore[attr-defined]
        assert {i.name for i in table.indexes} == {
            "ix_x_audit_event_record",
            "ix_x_audit_event_actor",
            "ix_x_audit_event_at",
            "ix_x_audit_event_region",
        }
