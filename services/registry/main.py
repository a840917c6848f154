"""Registry service: regions, households, identification, pairing, help records (DOMAIN.md §1-§4)."""

from __future__ import annotations

from fastapi import FastAPI

from services.registry.households.bulk_routes import router as bulk_households_router
from services.registry.households.routes import router as households_router
from services.registry.routes import router as regions_router
from services.registry.settings import RegistrySettings
from shared.app import build_service_app
from shared.db import utcnow
from shared.jwt import KeySet
from shared.routes import me_router


def create_app(settings: RegistrySettings | None = None, *, keyset: KeySet | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    app = build_service_app(
        settings,
        title="Jingzhun registry",
        description="Households, members and the identification / exit / return workflows (建档立卡).",
        routers=[regions_router, households_router, bulk_households_router, me_router],
        keyset=keyset,
    )
    app.state.cipher = settings.cipher()
    #: The service's clock; tests replace it to drive the 7-day notice windows.
    app.state.clock = utcnow
    return app
