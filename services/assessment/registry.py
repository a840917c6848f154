"""The assessment's one client module for the services it reads over HTTP, never by import: the registry
(households, cadres and helping units) and planning, with one service-token provider for both.

The assessment authenticates as itself (the `assessment-service` client: a service token per audience, from the
gateway's client-credentials flow, cached by one `ServiceTokenProvider`) and reads only what its rules need: the
households of a region (an inspection's sampling frame, §6.3), households by id (where a finding's household
lives), one cadre or helping unit (a finding's or a rectification's subject), which login a cadre is (a cadre
reading their own result), and the figures of a run (sources.py pages `GET /figures/…` of both services over these
clients). A registry that does not answer (refused connection, timeout, 5xx) is a **503** problem
`registry_unavailable` with `Retry-After`, never a hang or a 500: the request that needed it changes nothing. What
the registry says is missing (404) is missing here too.

`open_service_clients(app, settings)` opens the clients for the app's lifetime (`app.state.registry`, the
`RegistryGateway`); main.py's lifespan calls it, then sources.py's `open_sources` with them. Modelled on
`services/planning/registry.py`.
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
    "PLANNING_AUDIENCE",
    "REGISTRY_AUDIENCE",
    "REGISTRY_TIMEOUT_SECONDS",
    "FrameHousehold",
    "HouseholdSummary",
    "RegistryGateway",
    "RegistryUnavailable",
    "ServiceClients",
    "SourceUnavailable",
    "UnitOrCadre",
    "open_service_clients",
]

#: The registry's and planning's audiences (a token the assessment fetches for one carries only that one).
REGISTRY_AUDIENCE = "jingzhun-registry"
PLANNING_AUDIENCE = "jingzhun-planning"
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


class SourceUnavailable(AppError):
    """503 `<service>_unavailable` with Retry-After: a request that needed another service found it down."""

    status, slug, title = 503, "upstream-unavailable", "A service the assessment reads is unavailable"

    def __init__(self, service: str, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "5"}, code=f"{service}_unavailable")


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
    """Typed calls of the registry's API (the responses' shapes are the registry's documented models).

    `lookup_timeout` bounds `login_of` (a run's figure timeout, as the figure sources wait); every other call
    waits the client's own timeout (`REGISTRY_TIMEOUT_SECONDS`)."""

    def __init__(self, client: ServiceClient, *, lookup_timeout: float | None = None) -> None:
        self.client = client
        self.lookup_timeout = lookup_timeout

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

    async def login_of(self, cadre_id: str, *, request_id: str | None = None) -> str | None:
        """The login (`sub`) linked to the cadre (`GET /cadres/{id}` → `user_sub`), None when it has none or the
        registry has no such cadre; 503 `registry_unavailable` when the registry does not answer."""
        try:
            uuid.UUID(cadre_id)
        except ValueError:
            return None
        kwargs: dict[str, Any] = {} if self.lookup_timeout is None else {"timeout": self.lookup_timeout}
        try:
            response = await self.client.get(f"/cadres/{cadre_id}", request_id=request_id, **kwargs)
        except (httpx.HTTPError, OSError) as exc:
            raise SourceUnavailable(
                "registry", f"the registry did not answer ({type(exc).__name__})"
            ) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SourceUnavailable("registry", f"the registry answered {response.status_code}")
        sub = response.json().get("user_sub")
        return str(sub) if sub else None

    async def aclose(self) -> None:
        await self.client.aclose()


@dataclass(frozen=True, slots=True)
class ServiceClients:
    """The assessment's clients of the other services, sharing one token provider (`open_service_clients`)."""

    tokens: ServiceTokenProvider
    registry: RegistryGateway
    planning: ServiceClient


@contextlib.asynccontextmanager
async def open_service_clients(
    app: FastAPI,
    settings: AssessmentSettings,
    *,
    registry_transport: httpx.AsyncBaseTransport | None = None,
    planning_transport: httpx.AsyncBaseTransport | None = None,
    gateway_transport: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[ServiceClients]:
    """The registry and planning clients for the app's lifetime (`app.state.registry`), authenticated as the
    assessment service with tokens from the gateway, one provider for both audiences (the transports let tests
    reach in-process apps). The registry's client waits `REGISTRY_TIMEOUT_SECONDS` for a lookup; planning's,
    like a figure page of either, `figure_timeout_seconds`."""
    gateway = httpx.AsyncClient(base_url=settings.gateway_url, transport=gateway_transport, timeout=5)
    tokens = ServiceTokenProvider(gateway, settings.service_client_id or "", settings.client_secret or "")
    registry = RegistryGateway(
        ServiceClient(
            settings.registry_url,
            REGISTRY_AUDIENCE,
            tokens,
            transport=registry_transport,
            timeout=REGISTRY_TIMEOUT_SECONDS,
        ),
        lookup_timeout=settings.figure_timeout_seconds,
    )
    planning = ServiceClient(
        settings.planning_url,
        PLANNING_AUDIENCE,
        tokens,
        transport=planning_transport,
        timeout=settings.figure_timeout_seconds,
    )
    app.state.registry = registry
    try:
        yield ServiceClients(tokens=tokens, registry=registry, planning=planning)
    finally:
        await registry.aclose()
        await planning.aclose()
        await gateway.aclose()
