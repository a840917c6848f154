"""Baseline for the household card benchmark: the same SQL on raw asyncpg behind a bare Starlette route.

    BASELINE_DATABASE_URL=postgresql://... uvicorn --factory bench.registry_baseline:create_app

No authentication, no scope resolution, no SQLAlchemy, no middleware: what serving the card costs when
nothing but the query and the HTTP exchange is left. The registry's `GET /households/{id}` is compared to it
(bench/registry.py). The query is the registry's own card statement (`households/fast.py`
`CARD_SQL_POSITIONAL`); the caller's scope is fixed to the benchmark county.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.registry.households.fast import CARD_SQL_POSITIONAL

__all__ = ["POSITIONAL_CARD_SQL", "SCOPE_PATTERN", "create_app"]

#: `:id` → $1, `:prefix` → $2 (casts such as `::text` are left alone).
POSITIONAL_CARD_SQL = CARD_SQL_POSITIONAL
SCOPE_PATTERN = "451025%"  # the benchmark county, as the registry computes it for its county admin
POOL_SIZE = 10  # as the registry's engine (shared.db.create_engine)


def create_app() -> Starlette:
    url = os.environ["BASELINE_DATABASE_URL"]
    pool: asyncpg.Pool | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal pool
        pool = await asyncpg.create_pool(url, min_size=POOL_SIZE, max_size=POOL_SIZE)
        try:
            yield
        finally:
            await pool.close()

    async def card(request: Request) -> Response:
        try:
            household_id = uuid.UUID(request.path_params["household_id"])
        except ValueError:
            return JSONResponse({"detail": "not found"}, status_code=404)
        assert pool is not None
        row = await pool.fetchrow(POSITIONAL_CARD_SQL, household_id, SCOPE_PATTERN)
        if row is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return Response(row[0], media_type="application/json", headers={"ETag": f'"{row[1]}"'})

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/households/{household_id}", card), Route("/healthz", health)], lifespan=lifespan
    )
