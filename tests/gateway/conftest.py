"""Fixtures of the gateway tests (the shared ones live in tests/conftest.py)."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI


@pytest.fixture
def gateway_app(gateway: httpx.AsyncClient) -> FastAPI:
    """The app behind the `gateway` client (its state: identity, revocations, sessions, rate limiter)."""
    app = getattr(gateway, "app", None)
    assert isinstance(app, FastAPI)
    return app
