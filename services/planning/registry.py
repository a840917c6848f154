"""The registry as planning sees it: villages, households and policy parameters, over HTTP, never by import.

Planning authenticates as itself (the `planning-service` client, a service token for the registry's audience) and
reads only what its rules need. A registry that does not answer (refused connection, timeout, 5xx) is a **503**
problem `registry_unavailable` with `Retry-After`, never a hang or a 500: the request that needed it changes
nothing. What the registry says is missing (404) is missing here too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from shared.problems import AppError, UnprocessableEntity
from shared.service_client import ServiceClient

__all__ = [
    "LOOKUP_PAGE",
    "HouseholdSummary",
    "RegionSummary",
    "RegistryGateway",
    "RegistryUnavailable",
    "RegistryYearRefused",
    "VillageFigures",
]

#: The registry's audience (tokens planning fetches for it carry only this one).
REGISTRY_AUDIENCE = "jingzhun-registry"
#: How long planning waits for the registry before answering 503.
REGISTRY_TIMEOUT_SECONDS = 3.0
#: One `POST /households/lookup` names at most this many households (the registry's limit).
LOOKUP_PAGE = 500


class RegistryUnavailable(AppError):
    status, slug, title = 503, "registry-unavailable", "The registry is unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Retry-After": "5"}, code="registry_unavailable")


class RegistryYearRefused(UnprocessableEntity):
    """The registry keeps figures of a year only from 2013 to this year (as of 31 December, or today)."""

    def __init__(self, year: int) -> None:
        super().__init__(
            f"the registry has no figures of {year}: its years run from 2013 to this year",
            code="registry_year_out_of_range",
            year=year,
        )


@dataclass(frozen=True, slots=True)
class VillageFigures:
    """The registry's figures of one village as of 31 December of one year (the base of a profile's
    cross-checks and of the exit checklist's incidence)."""

    region_code: str
    year: int
    poor_households: int
    poor_people: int
    population: int | None
    incidence_percent: Decimal | None


@dataclass(frozen=True, slots=True)
class HouseholdSummary:
    """What planning needs of a registry household: where it lives, its status, its head (for disclosure)."""

    id: uuid.UUID
    village_code: str
    status: str
    head_name: str
    household_size: int
    #: The natural village or group (自然村/屯/组), as the registry records it.
    natural_village: str | None = None


@dataclass(frozen=True, slots=True)
class RegionSummary:
    """A region as planning shows it: its code, name and level (`GET /regions/{code}`)."""

    code: str
    name: str
    level: str
    parent_code: str | None


def _summary(item: dict[str, Any]) -> HouseholdSummary:
    return HouseholdSummary(
        id=uuid.UUID(item["id"]),
        village_code=item["village_code"],
        status=item["status"],
        head_name=item["head_name"],
        household_size=int(item["household_size"]),
        natural_village=item.get("natural_village"),
    )


class RegistryGateway:
    """Typed calls of the registry's API (the responses' shapes are the registry's documented models)."""

    def __init__(self, client: ServiceClient) -> None:
        self.client = client

    async def _get(self, path: str, *, request_id: str | None, **params: Any) -> httpx.Response | None:
        try:
            response = await self.client.get(path, params=params or None, request_id=request_id)
        except (httpx.HTTPError, OSError) as exc:
            raise RegistryUnavailable(f"the registry did not answer ({type(exc).__name__})") from exc
        if response.status_code == 404:
            return None
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise RegistryUnavailable(f"the registry answered {response.status_code}")
        return response

    async def _post(self, path: str, body: Any, *, request_id: str | None) -> httpx.Response:
        try:
            response = await self.client.request("POST", path, json=body, request_id=request_id)
        except (httpx.HTTPError, OSError) as exc:
            raise RegistryUnavailable(f"the registry did not answer ({type(exc).__name__})") from exc
        if response.status_code >= 500 or response.status_code in (401, 403):
            raise RegistryUnavailable(f"the registry answered {response.status_code}")
        return response

    async def village_figures(
        self, region_code: str, year: int, *, request_id: str | None = None
    ) -> VillageFigures | None:
        """Poor households and people, population and incidence of a village as of 31 December of `year` (the
        registry's `GET /figures/village`: statuses as the year's workflow left them, not as they are today).
        None when the registry has no such village; `RegistryYearRefused` (422) for a year the registry has no
        figures of (before 2013, or in the future)."""
        response = await self._get(
            "/figures/village", request_id=request_id, region=region_code, year=year, limit=1
        )
        if response is None:
            return None
        if response.status_code == 422:
            raise RegistryYearRefused(year)
        if response.status_code != 200:
            raise RegistryUnavailable(f"the registry refused the figures ({response.status_code})")
        row = next((i for i in response.json()["items"] if i["id"] == region_code), None)
        if row is None:  # a region that is not a village: it has no village row
            return None
        incidence = row["figures"].get("poverty_incidence")
        return VillageFigures(
            region_code=region_code,
            year=year,
            poor_households=int(row["poor_households"]),
            poor_people=int(row["poor_people"]),
            population=None if row.get("population") is None else int(row["population"]),
            incidence_percent=None if incidence is None else Decimal(str(incidence)),
        )

    async def households(
        self, ids: list[uuid.UUID], *, request_id: str | None = None
    ) -> dict[uuid.UUID, HouseholdSummary]:
        """The registry households among `ids` that exist (`POST /households/lookup`); missing ids are absent.
        At most `LOOKUP_PAGE` ids per call: callers with more ask page by page."""
        if not ids:
            return {}
        response = await self._post(
            "/households/lookup", {"ids": [str(i) for i in ids]}, request_id=request_id
        )
        if response.status_code != 200:
            raise RegistryUnavailable(f"the registry refused the lookup ({response.status_code})")
        out: dict[uuid.UUID, HouseholdSummary] = {}
        for item in response.json()["items"]:
            summary = _summary(item)
            out[summary.id] = summary
        return out

    async def paired_households(
        self, cadre_sub: str, *, request_id: str | None = None
    ) -> dict[uuid.UUID, HouseholdSummary]:
        """The households the cadre whose login is `cadre_sub` is paired with today (`POST /households/lookup`
        with `paired_with`): what a cadre may read of planning is their paired households' projects."""
        response = await self._post(
            "/households/lookup", {"ids": [], "paired_with": cadre_sub}, request_id=request_id
        )
        if response.status_code != 200:
            raise RegistryUnavailable(f"the registry refused the lookup ({response.status_code})")
        return {summary.id: summary for summary in (_summary(item) for item in response.json()["items"])}

    async def policy(
        self, region_code: str, year: int, *, request_id: str | None = None
    ) -> dict[str, Any] | None:
        """The effective policy parameters of a region in a year: name → value (`GET /regions/{code}/policy`)."""
        response = await self._get(f"/regions/{region_code}/policy/{year}", request_id=request_id)
        if response is None:
            return None
        return {p["name"]: p["value"] for p in response.json()["parameters"]}

    async def region_exists(self, region_code: str, *, request_id: str | None = None) -> bool:
        """Whether the registry knows the region (`GET /regions/{code}`)."""
        return await self._get(f"/regions/{region_code}", request_id=request_id) is not None

    async def region(self, region_code: str, *, request_id: str | None = None) -> RegionSummary | None:
        """The region's code, name and level (`GET /regions/{code}`); None when the registry has none."""
        response = await self._get(f"/regions/{region_code}", request_id=request_id)
        if response is None:
            return None
        body: dict[str, Any] = response.json()
        return RegionSummary(
            code=body["code"], name=body["name"], level=body["level"], parent_code=body.get("parent_code")
        )

    async def aclose(self) -> None:
        await self.client.aclose()
