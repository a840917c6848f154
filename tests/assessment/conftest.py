"""Assessment under test: the real assessment app in process, and the in-process gateway issuing its tokens.

`assessment` is an in-process client of the assessment app (its real lifespan, its own database, the wire checks
of every answer). Tests make tokens with `headers_for` (signed by the key the gateway signs with) or log real
users in through the gateway (`gateway_headers`): the assessment verifies both alike, against the gateway's keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI

from shared.jwt import KeySet
from tests.factories import Headers, MakeUser, bearer, token_for
from tests.harness import running
from tests.wire_format import check_time_format

#: `gateway_headers(role, region)`: bearer headers of a new user logged in through the gateway.
GatewayHeaders = Callable[[str, str], Awaitable[Headers]]


@pytest.fixture
def assessment_app(db_urls: dict[str, str], keyset: KeySet) -> FastAPI:
    from services.assessment.main import create_app
    from services.assessment.settings import AssessmentSettings

    settings = AssessmentSettings(
        environment="test", database_url=db_urls["assessment"], json_logs=False, log_level="WARNING"
    )
    return create_app(settings, keyset=keyset)


@pytest.fixture
async def assessment(assessment_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(assessment_app) as client:
        client.event_hooks["response"].append(check_time_format)
        yield client


@pytest.fixture
def gateway_headers(gateway: httpx.AsyncClient, make_user: MakeUser) -> GatewayHeaders:
    async def _login(role: str, region: str) -> Headers:
        user = await make_user(role, region)
        return bearer(await token_for(gateway, user))

    return _login
