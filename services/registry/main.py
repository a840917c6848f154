"""Registry service: regions, households, identification, pairing, help records (DOMAIN.md §1-§4)."""

from __future__ import annotations

from fastapi import FastAPI

from services.registry.routes import router as regions_router
from services.registry.settings import RegistrySettings
from shared.app import build_service_app
from shared.jwt import KeySet
from shared.routes import me_router


def create_app(settings: RegistrySettings | None = None, *, keyset: KeySet | None = None) -> FastAPI:
    return build_service_app(
        settings or RegistrySettings(),
        title="Jingzhun registry",
        description="Households and the region tree (建档立卡).",
        routers=[regions_router, me_router],
        keyset=keyset,
    )
