"""Where a run's figures come from: the registry's and planning's `GET /figures/{subject_type}` over HTTP, and the
assessment's own inspections and manual entries (a `LocalFigures` source, in the assessment's database).

The HTTP sources read every page of a region's rows for a year (`?region=&year=&limit=&cursor=`), each page with
retries and exponential backoff on 429/502/503/504, timeouts and refused connections (`Retry-After` is honoured).
A source that still does not answer, or refuses (401/403/404/422), raises `PullFailed` naming the service and why:
the run fails visibly and stores nothing (runs/jobs.py writes a snapshot only when every pull succeeded).

Rows are `{id, name, parent_code, parent_name, figures: {metric: value}}` (the registry's figures/schemas.py):
percents and ratios are decimal strings, counts and fen integers, yes/no booleans (stored 1 / 0), `null` absent.
A metric a row does not carry is absent too.

Services never import each other: this module knows the other services only by their documented routes. Their
clients (one service-token provider, the registry's and planning's HTTP clients) are registry.py's
`open_service_clients`; the registry's `RegistryGateway` also answers a run's cadre-login question.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

import httpx
from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession

from services.assessment.registry import (
    PLANNING_AUDIENCE,
    REGISTRY_AUDIENCE,
    RegistryGateway,
    ServiceClients,
    SourceUnavailable,
)
from services.assessment.settings import AssessmentSettings
from shared.service_client import ServiceClient

__all__ = [
    "PLANNING_AUDIENCE",
    "REGISTRY_AUDIENCE",
    "FigureSource",
    "FigureSources",
    "LocalFigure",
    "LocalFigures",
    "LocalManualScore",
    "NoLocalFigures",
    "PullFailed",
    "RemoteRows",
    "SourceUnavailable",
    "SubjectRow",
    "open_sources",
]

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: The longest wait a `Retry-After` may ask for between two tries.
_MAX_WAIT_SECONDS = 30.0


class PullFailed(Exception):
    """A source did not give every row: the run fails with `code` and `reason` (and stores nothing)."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SubjectRow:
    id: str
    name: str
    parent_code: str | None
    parent_name: str | None
    kind: str | None = None


@dataclass(slots=True)
class RemoteRows:
    """Every row of one source: the subjects in order, and their figures (metric → value, None = null)."""

    subjects: list[SubjectRow] = field(default_factory=list)
    figures: dict[str, dict[str, Decimal | None]] = field(default_factory=dict)


def figure_value(raw: Any) -> Decimal | None:
    """A figure as the sources write it, as a decimal: booleans 1 / 0, strings and numbers exactly."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return Decimal(1 if raw else 0)
    if isinstance(raw, int):
        return Decimal(raw)
    try:
        return Decimal(str(raw))
    except InvalidOperation as exc:
        raise ValueError(f"not a figure: {raw!r}") from exc


class FigureSource:
    """One service's `GET /figures/{subject_type}`, paged, with retries; each page waits `timeout` (None: the
    client's own)."""

    def __init__(
        self,
        service: str,
        client: ServiceClient,
        *,
        attempts: int,
        backoff: float,
        page_size: int,
        timeout: float | None = None,
    ) -> None:
        self.service = service
        self.client = client
        self.attempts = attempts
        self.backoff = backoff
        self.page_size = page_size
        self.timeout = timeout

    async def _page(self, path: str, params: dict[str, Any], request_id: str | None) -> dict[str, Any]:
        last = ""
        timeout: dict[str, Any] = {} if self.timeout is None else {"timeout": self.timeout}
        for attempt in range(1, self.attempts + 1):
            wait = self.backoff * 2 ** (attempt - 1)
            try:
                response = await self.client.get(path, params=params, request_id=request_id, **timeout)
            except (httpx.HTTPError, OSError) as exc:
                last = f"{self.service} did not answer ({type(exc).__name__})"
            else:
                if response.status_code == 200:
                    body: dict[str, Any] = response.json()
                    return body
                detail = _detail(response)
                if response.status_code not in _RETRY_STATUSES:
                    code = "not_found" if response.status_code == 404 else "refused"
                    raise PullFailed(
                        f"{self.service}_{code}",
                        f"{self.service} answered {response.status_code} to GET {path}: {detail}",
                    )
                last = f"{self.service} answered {response.status_code}: {detail}"
                wait = max(wait, _retry_after(response))
            if attempt < self.attempts:
                await asyncio.sleep(min(wait, _MAX_WAIT_SECONDS))
        raise PullFailed(
            f"{self.service}_unavailable", f"{last} (GET {path}, {self.attempts} tries): nothing was stored"
        )

    async def rows(
        self, subject_type: str, region: str, year: int, *, request_id: str | None = None
    ) -> RemoteRows:
        """Every row of the subject type under the region for the year, page after page."""
        path = f"/figures/{subject_type}"
        out = RemoteRows()
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"region": region, "year": year, "limit": self.page_size}
            if cursor is not None:
                params["cursor"] = cursor
            body = await self._page(path, params, request_id)
            try:
                for item in body["items"]:
                    subject = SubjectRow(
                        id=str(item["id"]),
                        name=str(item.get("name") or item["id"]),
                        parent_code=item.get("parent_code"),
                        parent_name=item.get("parent_name"),
                        kind=item.get("kind") if subject_type == "cppcc_unit" else None,
                    )
                    if subject.id not in out.figures:
                        out.subjects.append(subject)
                    out.figures[subject.id] = {
                        code: figure_value(value) for code, value in (item.get("figures") or {}).items()
                    }
            except (KeyError, TypeError, ValueError) as exc:
                raise PullFailed(
                    f"{self.service}_invalid",
                    f"{self.service} answered rows the assessment cannot read: {exc}",
                ) from exc
            cursor = body.get("next_cursor")
            if not cursor:
                return out


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:300]


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("Retry-After", "0"))
    except ValueError:
        return 0.0


@dataclass(frozen=True, slots=True)
class FigureSources:
    """The HTTP sources of a run, opened for the app's lifetime (`app.state.figure_sources`)."""

    registry: FigureSource
    planning: FigureSource
    #: The registry as a run asks which login a cadre is (`login_of`).
    cadres: RegistryGateway


@contextlib.asynccontextmanager
async def open_sources(
    app: FastAPI, settings: AssessmentSettings, clients: ServiceClients
) -> AsyncIterator[FigureSources]:
    """`app.state.figure_sources`: the registry's and planning's figures over the assessment's clients (registry.py
    `open_service_clients`, which closes them), each page waiting `figure_timeout_seconds`."""
    options: dict[str, Any] = {
        "attempts": settings.figure_attempts,
        "backoff": settings.figure_backoff_seconds,
        "page_size": settings.figure_page_size,
        "timeout": settings.figure_timeout_seconds,
    }
    sources = FigureSources(
        registry=FigureSource("registry", clients.registry.client, **options),
        planning=FigureSource("planning", clients.planning, **options),
        cadres=clients.registry,
    )
    app.state.figure_sources = sources
    yield sources


# -- the assessment's own figures (inspections, manual entries) -------------------------------------------------
@dataclass(frozen=True, slots=True)
class LocalFigure:
    subject_id: str
    metric: str
    value: Decimal | None


@dataclass(frozen=True, slots=True)
class LocalManualScore:
    """An assessor's score of a manual indicator (invariant 44: with its written reason)."""

    subject_id: str
    indicator_code: str
    points: Decimal
    reason: str


class LocalFigures(Protocol):
    """Figures the assessment keeps itself: counts of confirmed inspection findings, manual metrics and manual
    indicator scores of a year (services/assessment/inspections and manual_scores provide them). Read in the
    transaction that writes the snapshot."""

    async def figures(
        self,
        session: AsyncSession,
        *,
        subject_type: str,
        region_code: str,
        year: int,
        metrics: Collection[str],
        subjects: Sequence[str],
    ) -> Iterable[LocalFigure]: ...

    async def manual_scores(
        self,
        session: AsyncSession,
        *,
        subject_type: str,
        region_code: str,
        year: int,
        lineage_id: uuid.UUID,
        indicators: Collection[str],
        subjects: Sequence[str],
    ) -> Iterable[LocalManualScore]: ...


class NoLocalFigures:
    """No local figures: inspection and manual metrics are absent (a veto on them is not evaluated)."""

    async def figures(
        self,
        session: AsyncSession,
        *,
        subject_type: str,
        region_code: str,
        year: int,
        metrics: Collection[str],
        subjects: Sequence[str],
    ) -> Iterable[LocalFigure]:
        return ()

    async def manual_scores(
        self,
        session: AsyncSession,
        *,
        subject_type: str,
        region_code: str,
        year: int,
        lineage_id: uuid.UUID,
        indicators: Collection[str],
        subjects: Sequence[str],
    ) -> Iterable[LocalManualScore]:
        return ()
