"""The registry as the assessment sees it: households, cadres and helping units, over HTTP, never by import.

The assessment authenticates as itself (the `assessment-service` client: a service token for the registry's
audience, from the gateway's client-credentials flow) and reads only what its rules need: the households of a
region (an inspection's sampling frame, §6.3), households by id (where a finding's household lives), one cadre or
helping unit (a finding's or a rectification's subject). A registry that does not answer (refused connection,
timeout, 5xx) is a **503** problem `registry_unavailable` with `Retry-After`, never a hang or a 500: the request
that needed it changes nothing. What the registry says is missing (404) is missing here too.

`open_registry(app, settings)` opens the client for the app's lifetime (`app.state.registry`); main.py's lifespan
calls it. Modelled on `services/planning/registry.py`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from services.assessment.settings import AssessmentSettings
from shared.problems import AppError
from shared.service_client import ServiceClient, ServiceTokenProvider

__all__ = [
    "FRAME_PAGE",
    "LOOKUP_PAGE",
    "REGISTRY_AUDIENCE",
    "REGISTRY_TIMEOUT_SECONDS",
    "FrameHousehold",
    "HouseholdSummary",
    "RegistryGateway",
    "RegistryUnavailable",
    "UnitOrCadre",
    "open_registry",
]

#: The registry's audience (tokens the assessment fetches for it carry only this one).
REGISTRY_AUDIENCE = "jingzhun-registry"
#: How long the assessment waits for the registry before answering 503.
REGISTRY_TIMEOUT_SECONDS = 5.0
#: One `POST /households/lookup` names at most this many households (the registry's limit).
LOOKUP_PAGE = 500
#: Rows per page of `GET /households` when reading a sampling frame (the registry's maximum).
FRAME_PAGE = 500


class RegistryUnavailable(AppError):
    status, slug, title = 503, "registry-unavailable", "The registry is unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "5"}, code="registry_unavailable")


@dataclass(frozen=True, slots=True)
class FrameHousehold:
    """A household of a sampling frame: its id and village."""

    id: uuid.UUID
    village_code: str


@dataclass(frozen=True, slots=True)
class HouseholdSummary:
    """What the assessment needs of a registry household: where it lives and its status."""

    id: uuid.UUID
    village_code: str
    status: str


@dataclass(frozen=True, slots=True)
class UnitOrCadre:
    """A helping unit or a cadre as the registry answers it: its id, name and region."""

    id: uuid.UUID
    name: str
    region_code: str


class RegistryGateway:
    """Typed calls of the registry's API (the responses' shapes are the registry's documented models)."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def _call(
        self, method: str, path: str, *, request_id: str | None, **kwargs: Any
    ) -> httpx.Response | None:
        try:
            response = await self.client.request(method, path, request_id=request_id, **kwargs)
        except (httpx.HTTPError, OSError) as exc:
            raise RegistryUnavailable(f"the registry did not answer ({type(exc).__name__})") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise RegistryUnavailable(f"the registry answered {response.status_code}")
        if response.status_code != 200:
            raise RegistryUnavailable(f"the registry refused the request ({response.status_code})")
        return response

    async def frame(
        self, region_code: str, statuses: Sequence[str], *, request_id: str | None = None
    ) -> list[FrameHousehold]:
        """Every household of the region in one of `statuses` (`GET /households`, keyset pages by village),
        as the registry answers it now: an inspection's sampling frame."""
        out: list[FrameHousehold] = []
        cursor: str | None = None
        while True:
            params: list[tuple[str, str | int]] = [
                ("region", region_code),
                ("fields", "id,village_code"),
                ("sort", "village"),
                ("limit", FRAME_PAGE),
                *(("status", s) for s in statuses),
            ]
            if cursor is not None:
                params.append(("cursor", cursor))
            response = await self._call("GET", "/households", request_id=request_id, params=params)
            if response is None:
                return out
            body: dict[str, Any] = response.json()
            out.extend(
                FrameHousehold(id=uuid.UUID(item["id"]), village_code=item["village_code"])
                for item in body["items"]
            )
            cursor = body.get("next_cursor")
            if not cursor:
                return out

    async def households(
        self, ids: Sequence[uuid.UUID], *, request_id: str | None = None
    ) -> dict[uuid.UUID, HouseholdSummary]:
        """The registry households among `ids` that exist (`POST /households/lookup`, by pages of 500)."""
        out: dict[uuid.UUID, HouseholdSummary] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), LOOKUP_PAGE):
            page = unique[start : start + LOOKUP_PAGE]
            response = await self._call(
                "POST",
                "/households/lookup",
                request_id=request_id,
                json={"ids": [str(i) for i in page]},
            )
            if response is None:
                raise RegistryUnavailable("the registry has no household lookup")
            for item in response.json()["items"]:
                found = HouseholdSummary(
                    id=uuid.UUID(item["id"]), village_code=item["village_code"], status=item["status"]
                )
                out[found.id] = found
        return out

    async def cadre(self, cadre_id: uuid.UUID, *, request_id: str | None = None) -> UnitOrCadre | None:
        """One cadre (`GET /cadres/{id}`), or None when the registry has none."""
        return await self._one(f"/cadres/{cadre_id}", request_id)

    async def helping_unit(self, unit_id: uuid.UUID, *, request_id: str | None = None) -> UnitOrCadre | None:
        """One helping unit (`GET /helping-units/{id}`), or None when the registry has none."""
        return await self._one(f"/helping-units/{unit_id}", request_id)

    async def _one(self, path: str, request_id: str | None) -> UnitOrCadre | None:
        response = await self._call("GET", path, request_id=request_id)
        if response is None:
            return None
        body: dict[str, Any] = response.json()
        return UnitOrCadre(id=uuid.UUID(body["id"]), name=body["name"], region_code=body["region_code"])

    async def aclose(self) -> None:
        await self.client.aclose()


@contextlib.asynccontextmanager
async def open_registry(
    app: FastAPI,
    settings: AssessmentSettings,
    *,
    registry_transport: httpx.AsyncBaseTransport | None = None,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[RegistryGateway]:
    """`app.state.registry` for the app's lifetime: the registry client, authenticated as the assessment service
    with tokens from the gateway (the transports let tests reach in-process apps)."""
    gateway = httpx.AsyncClient(base_url=settings.gateway_url, transport=gateway_transport, timeout=5)
    tokens = ServiceTokenProvider(gateway, settings.service_client_id or "", settings.client_secret or "")
    client = ServiceClient(
        settings.registry_url,
        REGISTRY_AUDIENCE,
        tokens,
        transport=registry_transport,
        timeout=REGISTRY_TIMEOUT_SECONDS,
    )
    registry = RegistryGateway(client)
    app.state.registry = registry
    try:
        yield registry
    finally:
        await registry.aclose()
        await gateway.aclose()
