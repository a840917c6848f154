"""Assessment service: annual assessment and scoring (考核, DOMAIN.md §6) — the metric catalogue, schemes as data
with their templates and lifecycle."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from services.assessment.code_lists.routes import router as code_lists_router
from services.assessment.metrics.routes import TAGS as METRIC_TAGS
from services.assessment.metrics.routes import router as metrics_router
from services.assessment.models import idempotency_key
from services.assessment.schemes.routes import TAGS as SCHEME_TAGS
from services.assessment.schemes.routes import router as schemes_router
from services.assessment.schemes.schemas import untag_locations
from services.assessment.settings import AssessmentSettings
from shared.app import build_service_app
from shared.jwt import KeySet
from shared.routes import me_router

__all__ = ["create_app"]


def create_app(settings: AssessmentSettings | None = None, *, keyset: KeySet | None = None) -> FastAPI:
    app = build_service_app(
        settings or AssessmentSettings(),
        title="Jingzhun assessment",
        description="Annual assessment and scoring (考核): the metric catalogue, schemes as data, templates A-F.",
        routers=[me_router, code_lists_router, metrics_router, schemes_router],
        tags={**METRIC_TAGS, **SCHEME_TAGS},
        keyset=keyset,
        idempotency_keys=idempotency_key,
    )
    shared_handler = app.exception_handlers[RequestValidationError]

    async def _untagged(request: Request, exc: Exception) -> Response:
        # A scheme's `method` is a tagged union: pydantic puts the tag in an error's location
        # (/indicators/0/method/threshold/unit); the pointer into the body has no such segment.
        assert isinstance(exc, RequestValidationError)
        fixed = RequestValidationError(untag_locations(exc.errors()), body=exc.body)
        answer = shared_handler(request, fixed)
        return answer if isinstance(answer, Response) else await answer

    app.add_exception_handler(RequestValidationError, _untagged)
    return app
