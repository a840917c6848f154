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


@pytest.mark.parametrize("service", ["gateway", "registry", "planning", "assessment"])
async def test_models_match_migrations(db_urls: dict[str, str], service: str) -> None:
    """No drift: autogenerate finds no table or column to add or drop between models and migrated schema."""
    import gateway.models  # noqa: F401 - registers the tables
    import services.assessment.models
    import services.planning.models
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


async def test_reg0007_backfills_photo_reused(scratch_db: str) -> None:
    """Photos uploaded before the flag was raised at upload time get it from the migration, on the newest version
    of each record that shares a photo with another household's record; a photo kept within one household does
    not."""
    await asyncio.to_thread(upgrade, "registry", scratch_db, "reg0006")
    conn = await asyncpg.connect(scratch_db)
    try:
        await conn.execute(
            "INSERT INTO registry_region (code, name, level) VALUES ('451025100201', '旧州村', 'village')"
        )
        unit, cadre = uuid.uuid4(), uuid.uuid4()
        await conn.execute(
            "INSERT INTO registry_helping_unit (id, name, kind, region_code, created_by)"
            " VALUES ($1, 'u', 'government_department', '451025100201', 't')",
            unit,
        )
        await conn.execute(
            "INSERT INTO registry_cadre (id, unit_id, name, position_level, region_code, created_by)"
            " VALUES ($1, $2, 'c', 'staff', '451025100201', 't')",
            cadre,
            unit,
        )
        households = [uuid.uuid4() for _ in range(3)]
        for hid in households:
            await conn.execute(
                "INSERT INTO registry_household (id, village_code, identification_year, quota_year, head_name,"
                " household_size, labor_count, has_labor_capacity, created_by, updated_by)"
                " VALUES ($1, '451025100201', 2014, 2014, 'h', 1, 1, true, 't', 't')",
                hid,
            )
        records = {}
        for name, hid, versions in (
            ("a", households[0], 2),
            ("b", households[1], 1),
            ("c", households[2], 1),
        ):
            rid = uuid.uuid4()
            records[name] = rid
            for version in range(1, versions + 1):
                await conn.execute(
                    "INSERT INTO registry_help_record (id, version, household_id, cadre_id, record_type, device_time,"
                    " received_at, content, payload_hash, created_by) VALUES ($1, $2, $3, $4, 'visit', now(), now(),"
                    " 'x', 'h', 't')",
                    rid,
                    version,
                    hid,
                    cadre,
                )
        for name, sha in (("a", "s" * 64), ("b", "s" * 64), ("c", "t" * 64)):
            hid = households["abc".index(name)]
            await conn.execute(
                "INSERT INTO registry_attachment (id, record_id, household_id, sha256, content_type, size, data,"
                " uploaded_at, uploaded_by) VALUES ($1, $2, $3, $4, 'image/jpeg', 1, 'x', now(), 't')",
                uuid.uuid4(),
                records[name],
                hid,
                sha,
            )
    finally:
        await conn.close()
    await asyncio.to_thread(upgrade, "registry", scratch_db, "reg0007")
    conn = await asyncpg.connect(scratch_db)
    try:
        rows = await conn.fetch(
            "SELECT record_id, version, flag, because_of FROM registry_help_record_flag ORDER BY version DESC"
        )
    finally:
        await conn.close()
    assert {(r["record_id"], r["version"], r["flag"], r["because_of"]) for r in rows} == {
        (records["a"], 2, "photo_reused", records["b"]),
        (records["b"], 1, "photo_reused", records["a"]),
    }
