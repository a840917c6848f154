"""Planning service: village profiles and plans, the project library, funds and their ledger (DOMAIN.md §5)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from services.planning.changes.routes import TAGS as CHANGE_TAGS
from services.planning.changes.routes import router as changes_router
from services.planning.changes.service import prune_change_feed
from services.planning.code_lists.routes import router as code_lists_router
from services.planning.disclosure.routes import TAGS as DISCLOSURE_TAGS
from services.planning.disclosure.routes import router as disclosure_router
from services.planning.exports.routes import TAGS as EXPORT_TAGS
from services.planning.exports.routes import router as exports_router
from services.planning.figures.routes import TAGS as FIGURE_TAGS
from services.planning.figures.routes import router as figures_router
from services.planning.funds.routes import TAGS as FUNDS_TAGS
from services.planning.funds.routes import router as funds_router
from services.planning.indicators.routes import TAGS as INDICATOR_TAGS
from services.planning.indicators.routes import router as indicators_router
from services.planning.models import idempotency_key
from services.planning.plans.routes import TAGS as PLAN_TAGS
from services.planning.plans.routes import router as plans_router
from services.planning.profiles.routes import TAGS as PROFILE_TAGS
from services.planning.profiles.routes import router as profiles_router
from services.planning.projects.routes import TAGS as PROJECT_TAGS
from services.planning.projects.routes import router as projects_router
from services.planning.registry import REGISTRY_AUDIENCE, REGISTRY_TIMEOUT_SECONDS, RegistryGateway
from services.planning.reports.routes import TAGS as REPORT_TAGS
from services.planning.reports.routes import router as reports_router
from services.planning.risk_funds.routes import TAGS as RISK_FUND_TAGS
from services.planning.risk_funds.routes import router as risk_funds_router
from services.planning.settings import PlanningSettings
from shared.app import build_service_app
from shared.jwt import KeySet
from shared.routes import me_router
from shared.service_client import ServiceClient, ServiceTokenProvider

__all__ = ["create_app", "housekeeping"]

_log = logging.getLogger("jingzhun.planning")

#: Housekeeping runs this often: change-feed rows older than `change_feed_retention_days` are deleted.
HOUSEKEEPING_INTERVAL_SECONDS = 3600.0


async def housekeeping(app: FastAPI) -> dict[str, int]:
    """One round of housekeeping; the counts removed."""
    retention = getattr(app.state.settings, "change_feed_retention_days", None)
    changes = await prune_change_feed(app.state.write_pool, now=app.state.clock(), retention_days=retention)
    return {"changes": changes}


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
    settings: PlanningSettings | None = None,
    *,
    keyset: KeySet | None = None,
    registry_transport: httpx.AsyncBaseTransport | None = None,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The planning app; the transports let tests reach an in-process registry and gateway."""
    settings = settings or PlanningSettings()

    @contextlib.asynccontextmanager
    async def planning_lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway = httpx.AsyncClient(base_url=settings.gateway_url, transport=gateway_transport, timeout=5)
        tokens = ServiceTokenProvider(gateway, settings.service_client_id or "", settings.client_secret or "")
        client = ServiceClient(
            settings.registry_url,
            REGISTRY_AUDIENCE,
            tokens,
            transport=registry_transport,
            timeout=REGISTRY_TIMEOUT_SECONDS,
        )
        app.state.registry = RegistryGateway(client)
        purger = asyncio.create_task(_housekeeping_loop(app))
        try:
            yield
        finally:
            purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await purger
            await app.state.registry.aclose()
            await gateway.aclose()

    return build_service_app(
        settings,
        title="Jingzhun planning",
        description=(
            "Village profiles and plans, projects, funding lines and the fund ledger, the public disclosure and the"
            " reports (规划、项目与资金、公示与报表)."
        ),
        routers=[
            me_router,
            code_lists_router,
            indicators_router,
            profiles_router,
            plans_router,
            projects_router,
            funds_router,
            risk_funds_router,
            disclosure_router,
            reports_router,
            figures_router,
            exports_router,
            changes_router,
        ],
        tags={
            **INDICATOR_TAGS,
            **PROFILE_TAGS,
            **PLAN_TAGS,
            **PROJECT_TAGS,
            **FUNDS_TAGS,
            **RISK_FUND_TAGS,
            **DISCLOSURE_TAGS,
            **REPORT_TAGS,
            **FIGURE_TAGS,
            **EXPORT_TAGS,
            **CHANGE_TAGS,
        },
        keyset=keyset,
        gateway_transport=gateway_transport,
        extra_lifespan=planning_lifespan,
        idempotency_keys=idempotency_key,
    )
