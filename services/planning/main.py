"""Planning service: Village plans, projects, budgets and funds (规划与项目)."""

from __future__ import annotations

from fastapi import FastAPI

from services.planning.settings import PlanningSettings
from shared.app import build_service_app
from shared.jwt import KeySet
from shared.routes import me_router


def create_app(settings: PlanningSettings | None = None, *, keyset: KeySet | None = None) -> FastAPI:
    return build_service_app(
        settings or PlanningSettings(),
        title="Jingzhun planning",
        description="Village plans, projects, budgets and funds (规划与项目).",
        routers=[me_router],
        keyset=keyset,
    )
