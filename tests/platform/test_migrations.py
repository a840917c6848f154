"""Each process's Alembic history applies, reverses and re-applies cleanly, and matches its models."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, MetaData
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from shared.migrate import downgrade, upgrade
from shared.settings import asyncpg_url
from tests.harness import with_database as _with_database

PREFIX = {
    "gateway": "gateway_",
    "registry": "registry_",
    "planning": "planning_",
    "assessment": "assessment_",
}


@pytest.fixture
async def scratch_db(db_urls: dict[str, str]) -> AsyncIterator[str]:
    admin = _with_database(db_urls["gateway"], "postgres")
    name = f"jzt_mig_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    yield _with_database(db_urls["gateway"], name)
    conn = await asyncpg.connect(admin)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.mark.parametrize("service", ["gateway", "registry", "planning", "assessment"])
async def test_upgrade_downgrade_upgrade(scratch_db: str, service: str) -> None:
    await asyncio.to_thread(upgrade, service, scratch_db)
    await asyncio.to_thread(downgrade, service, scratch_db, "base")
    conn = await asyncpg.connect(scratch_db)
    try:
        left = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename LIKE $1",
            PREFIX[service] + "%",
        )
    finally:
        await conn.close()
    assert left == []
    await asyncio.to_thread(upgrade, service, scratch_db)


@pytest.mark.parametrize("service", ["gateway", "registry"])
async def test_models_match_migrations(db_urls: dict[str, str], service: str) -> None:
    """No drift: autogenerate finds no table or column to add or drop between models and migrated schema."""
    import gateway.models  # noqa: F401 - registers the tables
    import services.registry.models  # noqa: F401

    own = MetaData()
    for table in SQLModel.metadata.tables.values():
        if table.name.startswith(PREFIX[service]):
            table.to_metadata(own)

    def diff(sync_conn: Connection) -> list[Any]:
        ctx = MigrationContext.configure(sync_conn, opts={"compare_type": False})
        changes: list[Any] = compare_metadata(ctx, own)
        return changes

    engine = create_async_engine(asyncpg_url(db_urls[service]))
    try:
        async with engine.connect() as conn:
            changes = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    kinds = ("add_table", "remove_table", "add_column", "remove_column")
    structural = [d for d in changes if isinstance(d, tuple) and d[0] in kinds]
    structural = [d for d in structural if not (d[0] == "remove_table" and d[1].name.startswith("alembic_"))]
    assert structural == []
