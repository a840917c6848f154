"""Calling another service: short-lived service tokens from the gateway's client-credentials flow.

A service never forwards a user's token to another service on its own behalf, and never invents identity
headers; it authenticates as itself (role `service`) for the one audience it calls, caching the token until
shortly before it expires.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

__all__ = ["ServiceClient", "ServiceTokenProvider"]


class ServiceTokenProvider:
    """Fetches and caches client-credentials tokens per audience."""

    def __init__(
        self, gateway: httpx.AsyncClient, client_id: str, client_secret: str, *, margin: float = 30
    ) -> None:
        self._gateway = gateway
        self._client_id = client_id
        self._client_secret = client_secret
        self._margin = margin
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    async def token(self, audience: str) -> str:
        cached = self._tokens.get(audience)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        async with self._lock:
            cached = self._tokens.get(audience)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            response = await self._gateway.post(
                "/auth/token",
                data={"grant_type": "client_credentials", "audience": audience},
                auth=(self._client_id, self._client_secret),
            )
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            token = str(body["access_token"])
            self._tokens[audience] = (token, time.monotonic() + float(body["expires_in"]) - self._margin)
            return token

    def forget(self, audience: str) -> None:
        self._tokens.pop(audience, None)


class ServiceClient:
    """An HTTP client for one service, authenticating with service tokens (retrying once on a 401)."""

    def __init__(
        self,
        base_url: str,
        audience: str,
        tokens: ServiceTokenProvider,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10,
    ) -> None:
        self.audience = audience
        self._tokens = tokens
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=timeout)

    async def request(
        self, method: str, path: str, *, request_id: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if request_id:
            headers["X-Request-ID"] = request_id
        for attempt in (1, 2):
            headers["Authorization"] = f"Bearer {await self._tokens.token(self.audience)}"
            response = await self._http.request(method, path, headers=headers, **kwargs)
            if response.status_code != 401 or attempt == 2:
                return response
            self._tokens.forget(self.audience)  # rotated keys or a revoked token: fetch a fresh one
        return response  # pragma: no cover - loop always returns

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()
