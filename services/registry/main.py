"""Registry service: regions, households, identification, pairing, help records (DOMAIN.md §1-§4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
from fastapi import FastAPI

from services.registry.helprecords.routes import create_route as help_record_create_route
from services.registry.helprecords.routes import router as help_records_router
from services.registry.helprecords.writer import RecordWriter
from services.registry.households.bulk_routes import router as bulk_households_router
from services.registry.households.routes import card_route
from services.registry.households.routes import router as households_router
from services.registry.idempotency import install_idempotency, purge_expired
from services.registry.monitoring.routes import router as monitoring_router
from services.registry.pairing.routes import router as pairing_router
from services.registry.plans.routes import router as plans_router
from services.registry.routes import router as regions_router
from services.registry.settings import RegistrySettings
from services.registry.sync import CURSOR_MAX_AGE_DAYS, prune_changes
from services.registry.sync import router as sync_router
from shared.app import build_service_app
from shared.db import utcnow
from shared.jwt import KeySet
from shared.routes import me_router

_log = logging.getLogger("jingzhun.registry")


async def _no_reset(_: asyncpg.Connection) -> None:
    return None


#: Housekeeping runs this often: expired Idempotency-Keys (kept 30 days) and change-feed rows older than the
#: oldest sync cursor still honoured (`sync.CURSOR_MAX_AGE_DAYS`) are deleted.
HOUSEKEEPING_INTERVAL_SECONDS = 3600.0


async def housekeeping(app: FastAPI) -> dict[str, int]:
    """One round of housekeeping; the counts removed."""
    now = app.state.clock()
    keys = await purge_expired(app.state.engine, now=now)
    changes = await prune_changes(app.state.write_pool, before=now - timedelta(days=CURSOR_MAX_AGE_DAYS))
    return {"idempotency_keys": keys, "changes": changes}


async def _housekeeping_loop(app: FastAPI) -> None:
    """Housekeeping every hour (a failure is logged and retried at the next tick)."""
    while True:
        await asyncio.sleep(HOUSEKEEPING_INTERVAL_SECONDS)
        try:
            removed = await housekeeping(app)
            if any(removed.values()):
                _log.info("housekeeping", extra=removed)
        except Exception:  # the database may be briefly away; the next tick tries again
            _log.exception("housekeeping failed")


def create_app(settings: RegistrySettings | None = None, *, keyset: KeySet | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    config = settings

    @contextlib.asynccontextmanager
    async def read_pool(app: FastAPI) -> AsyncIterator[None]:
        """A plain asyncpg pool for the card: one prepared statement, no ORM layer (see queries.CARD_SQL)."""
        dsn = config.sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        pool = await asyncpg.create_pool(
            dsn,
            min_size=0,  # connect on first use: the process starts (and /readyz reports) without a database
            max_size=config.read_pool_size,
            server_settings={"application_name": "jingzhun-read", "default_transaction_read_only": "on"},
            # Only reads run here (single statements, or the download's read-only transaction), so there is no
            # session state to reset: skip the RESET ALL round trip asyncpg otherwise makes on every release
            # (asyncpg still rolls back a transaction left open before calling this).
            reset=_no_reset,
        )
        app.state.read_pool = pool
        # Writes that are one atomic statement (a phone's new help record) skip the ORM session: autocommit.
        app.state.write_pool = await asyncpg.create_pool(
            dsn,
            min_size=0,
            max_size=config.read_pool_size,
            server_settings={"application_name": "jingzhun-write"},
            # Single statements only (new help records, Idempotency-Key rows, feed pruning): nothing outlives a
            # release, so the RESET ALL round trip is skipped here too (an open transaction is still rolled back).
            reset=_no_reset,
        )
        app.state.record_writer = RecordWriter(app.state.write_pool)
        purger = asyncio.create_task(_housekeeping_loop(app))
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await app.state.record_writer.drain()
            await app.state.write_pool.close()
            await pool.close()

    app = build_service_app(
        settings,
        title="Jingzhun registry",
        description="Households, members and the identification / exit / return workflows (建档立卡).",
        routers=[
            help_records_router,  # first: phones post here most, and routes are matched in order
            households_router,
            bulk_households_router,
            pairing_router,
            plans_router,
            monitoring_router,
            sync_router,
            regions_router,
            me_router,
        ],
        keyset=keyset,
        extra_lifespan=read_pool,
    )
    app.router.routes.insert(0, card_route)
    app.router.routes.insert(0, help_record_create_route)
    install_idempotency(app)  # innermost: inside the observability middleware, so its errors are problem+json
    app.state.cipher = settings.cipher()
    #: The service's clock; tests replace it to drive the 7-day notice windows.
    app.state.clock = utcnow
    return app
