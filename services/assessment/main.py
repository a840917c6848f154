"""Assessment service: Annual assessment and scoring (考核)."""

from __future__ import annotations

from fastapi import FastAPI

from services.assessment.settings import AssessmentSettings
from shared.app import build_service_app
from shared.jwt import KeySet
from shared.routes import me_router


def create_app(settings: AssessmentSettings | None = None, *, keyset: KeySet | None = None) -> FastAPI:
    return build_service_app(
        settings or AssessmentSettings(),
        title="Jingzhun assessment",
        description="Annual assessment and scoring (考核).",
        routers=[me_router],
        keyset=keyset,
    )
