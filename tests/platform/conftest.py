"""Fixtures of the platform tests: the probe service's scratch database (see tests/platform/probe.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import asyncpg_url
from tests.harness import with_database
from tests.platform.probe import PROBE_METADATA, ProbeDatabase


@pytest.fixture(scope="session")
async def probe_database(db_urls: dict[str, str]) -> AsyncIterator[ProbeDatabase]:
    """A database of the probe service for the whole session, dropped at the end."""
    admin = with_database(db_urls["gateway"], "postgres")
    name = f"jzt_probe_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    db = ProbeDatabase(with_database(db_urls["gateway"], name))
    engine = create_async_engine(asyncpg_url(db.url))
    try:
        async with engine.begin() as ddl:
            await ddl.run_sync(PROBE_METADATA.create_all)
    finally:
        await engine.dispose()
    yield db
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def probe_db(probe_database: ProbeDatabase) -> ProbeDatabase:
    """The probe database, emptied for this test."""
    await probe_database.truncate()
    return probe_database
