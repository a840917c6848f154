"""Registry service: regions, households, identification, pairing, help records (DOMAIN.md §1-§4)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from services.registry.audit.routes import router as audit_router
from services.registry.changes.routes import router as changes_router
from services.registry.code_lists.routes import router as code_lists_router
from services.registry.deadlines.routes import router as deadlines_router
from services.registry.exit_targets.routes import router as exit_targets_router
from services.registry.exports.routes import router as exports_router
from services.registry.figures.routes import TAGS as FIGURE_TAGS
from services.registry.figures.routes import router as figures_router
from services.registry.help_plans.routes import router as plans_router
from services.registry.help_records.fast import RecordWriter
from services.registry.help_records.fast import create_route as help_record_create_route
from services.registry.help_records.routes import router as help_records_router
from services.registry.household_import.routes import router as bulk_households_router
from services.registry.household_transfers.routes import router as household_transfers_router
from services.registry.households.fast import card_route
from services.registry.households.routes import router as households_router
from services.registry.identification.routes import router as identification_router
from services.registry.jobs.routes import router as jobs_router
from services.registry.models import idempotency_key
from services.registry.monitoring.routes import router as monitoring_router
from services.registry.notices.routes import router as notices_router
from services.registry.pairing.routes import router as pairing_router
from services.registry.regions.routes import router as regions_router
from services.registry.settings import RegistrySettings
from services.registry.sync.routes import router as sync_router
from services.registry.sync.service import prune_change_feed
from services.registry.unit_responsible.routes import router as unit_responsible_router
from services.registry.webhooks.routes import router as webhooks_router
from shared.app import build_service_app
from shared.idempotency import purge_expired
from shared.jwt import KeySet
from shared.routes import me_router

_log = logging.getLogger("jingzhun.registry")


#: Housekeeping runs this often: expired Idempotency-Keys (kept 30 days) and change-feed rows older than the
#: oldest sync cursor still honoured (`sync.domain.CURSOR_MAX_AGE_DAYS`) are deleted.
HOUSEKEEPING_INTERVAL_SECONDS = 3600.0


async def housekeeping(app: FastAPI) -> dict[str, int]:
    """One round of housekeeping; the counts removed."""
    now = app.state.clock()
    keys = await purge_expired(app.state.write_pool, idempotency_key, now=now)
    retention = getattr(app.state.settings, "change_feed_retention_days", None)
    changes = await prune_change_feed(app.state.write_pool, now=now, retention_days=retention)
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


def create_app(
    settings: RegistrySettings | None = None,
    *,
    keyset: KeySet | None = None,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The registry app; `gateway_transport` lets tests reach an in-process gateway (the revocation follower)."""
    settings = settings or RegistrySettings()

    @contextlib.asynccontextmanager
    async def registry_lifespan(app: FastAPI) -> AsyncIterator[None]:
        """The group-commit writer of help records and the hourly housekeeping, on the shared asyncpg pools."""
        app.state.record_writer = RecordWriter(app.state.write_pool)
        purger = asyncio.create_task(_housekeeping_loop(app))
        worker = contextlib.AsyncExitStack()
        try:
            if (
                settings.run_worker
            ):  # REGISTRY_RUN_WORKER: the job worker in this process (services/registry/worker.py)
                from services.registry.worker import in_process

                await worker.enter_async_context(in_process(app))
            yield
        finally:
            await worker.aclose()
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await app.state.record_writer.drain()

    app = build_service_app(
        settings,
        title="Jingzhun registry",
        description="Households, members and the identification / exit / return workflows (建档立卡).",
        routers=[
            help_records_router,  # first: phones post here most, and routes are matched in order
            households_router,
            household_transfers_router,
            identification_router,
            bulk_households_router,
            pairing_router,
            unit_responsible_router,
            plans_router,
            monitoring_router,
            figures_router,
            sync_router,
            exports_router,
            jobs_router,
            changes_router,
            webhooks_router,
            regions_router,
            exit_targets_router,
            deadlines_router,
            notices_router,
            audit_router,
            code_lists_router,
            me_router,
        ],
        keyset=keyset,
        gateway_transport=gateway_transport,
        extra_lifespan=registry_lifespan,
        idempotency_keys=idempotency_key,
        tags=FIGURE_TAGS,
    )
    app.router.routes.insert(0, card_route)
    app.router.routes.insert(0, help_record_create_route)
    app.state.cipher = settings.cipher()
    return app
