"""The one commit point of every process: routes commit their unit of work after the handler, before the response.

`APIRouter` here is FastAPI's with `CommitRoute` as its route class. The handler of a `CommitRoute` runs the
endpoint (which validates, calls one use case and builds its response model), then commits every session the
request enlisted (`shared.db.SessionDep`, and so `shared.context.ContextDep`), then lets the response go out. If
the endpoint raises, nothing is committed and the sessions roll back as they close — unless the error was
raised with `AppError.keep_writes()` (a refusal that records something, such as a failed login). A commit that
fails becomes the request's error: no response claims a write that did not happen.

Plain Starlette routes on hot paths use `unit_of_work(request)` for the same guarantee. Nothing else in the
codebase calls `commit()` (`make lint` checks).

A `CommitRoute` also refuses query parameters it does not declare (its own and its dependencies'): 400, problem
`code` `unknown_parameter` naming the first in `parameter` and each in `errors[]`, before anything else runs, so a
misspelt filter (`?updated_afer=`) or one the API does not have is an error rather than the whole list. Before
that, a NUL byte (`%00`) in any query parameter's name or value is a 422, problem `code` `nul_in_parameter` naming
it: PostgreSQL text cannot hold NUL, so such a value would otherwise reach the database and come back a 500. Plain
Starlette routes call `refuse_unknown_parameters(request, names)` with the names they read (NUL check included).
"""

from __future__ import annotations

import contextlib
import re
import types
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Union, get_args, get_origin

import fastapi.routing as _fastapi_routing
from fastapi import APIRouter as _FastAPIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import AliasChoices, BaseModel
from pydantic.fields import FieldInfo
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from shared.db import UNITS_OF_WORK, enlist
from shared.problems import AppError, BadRequest, NotFound, UnprocessableEntity

__all__ = [
    "APIRouter",
    "CommitRoute",
    "query_parameters",
    "refuse_nul_parameters",
    "refuse_unknown_parameters",
    "unit_of_work",
]


async def _commit(request: Request) -> None:
    state: dict[str, Any] = request.scope.get("state") or {}
    for session in state.pop(UNITS_OF_WORK, ()):
        await session.commit()


def _names(name: str, info: FieldInfo) -> set[str]:
    """The names a client may send a parameter (or a field of a query model) under."""
    names = {info.alias or name}
    if isinstance(info.validation_alias, str):
        names.add(info.validation_alias)
    elif isinstance(info.validation_alias, AliasChoices):
        names.update(c for c in info.validation_alias.choices if isinstance(c, str))
    return names


def _query_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model of a query-model parameter (`Annotated[Filters, Query()]`, optional or not)."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        annotation = members[0] if len(members) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def query_parameters(dependant: Dependant) -> frozenset[str] | None:
    """Every query parameter name the route reads, its dependencies' included; None when it takes any name (a
    query model that allows extra fields)."""
    names: set[str] = set()
    stack = [dependant]
    while stack:
        current = stack.pop()
        for field in current.query_params:
            model = _query_model(field.field_info.annotation)
            if model is None:
                names |= _names(field.name, field.field_info) | {field.alias}
            elif model.model_config.get("extra") == "allow":
                return None
            else:
                for name, info in model.model_fields.items():
                    names |= _names(name, info)
        stack.extend(current.dependencies)
    return frozenset(names)


def refuse_nul_parameters(request: Request) -> None:
    """422 `nul_in_parameter` when a query parameter's name or value holds a NUL byte."""
    raw: bytes = request.scope.get("query_string") or b""
    if b"%00" not in raw and b"\x00" not in raw:
        return  # the common case, without parsing the query string
    bad = [name for name, value in request.query_params.multi_items() if "\x00" in name or "\x00" in value]
    if not bad:
        return
    parameter = bad[0].replace("\x00", "%00")
    raise UnprocessableEntity(
        f"query parameter {parameter} must not contain NUL (%00)",
        code="nul_in_parameter",
        parameter=parameter,
        errors=[
            {
                "parameter": name.replace("\x00", "%00"),
                "in": "query",
                "message": "must not contain NUL (%00)",
                "code": "nul_in_parameter",
            }
            for name in dict.fromkeys(bad)
        ],
    )


#: Control characters: no route of any service has one in its path.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def refuse_control_characters_in_path(request: Request) -> None:
    """404 for a path holding a control character (`/regions/451025000000%0A`): Starlette's route patterns end in
    `$`, which matches before a trailing newline, so without this such a path would answer as if it had none."""
    if _CONTROL.search(request.scope["path"]):
        raise NotFound("no such resource")


def refuse_unknown_parameters(request: Request, known: frozenset[str]) -> None:
    """422 `nul_in_parameter` for a NUL byte in the query string, else 400 `unknown_parameter` when it names a
    parameter outside `known`; 404 for a control character in the path."""
    refuse_control_characters_in_path(request)
    if not request.scope.get("query_string"):
        return  # the common case: nothing to parse
    refuse_nul_parameters(request)
    unknown = [name for name in request.query_params if name not in known]
    if not unknown:
        return
    takes = ", ".join(sorted(known)) or "none"
    raise BadRequest(
        f"unknown query parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
        f" (this operation takes: {takes})",
        code="unknown_parameter",
        parameter=unknown[0],
        errors=[
            {"parameter": name, "in": "query", "message": "unknown parameter", "code": "unknown_parameter"}
            for name in unknown
        ],
    )


def _solved_dependant(route: APIRoute) -> Dependant:
    """The dependant FastAPI solves for `route` while it builds the route's handler: for a route of an included
    router (FastAPI keeps those as inclusion contexts) the context's, which adds the including router's own
    dependencies; else the route's."""
    var = getattr(_fastapi_routing, "_effective_route_context_var", None)
    context = var.get() if var is not None else None
    if context is not None and getattr(context, "original_route", None) is route:
        dependant = getattr(context, "dependant", None)
        if isinstance(dependant, Dependant):
            return dependant
    return route.dependant


class CommitRoute(APIRoute):
    """A route that commits the request's sessions after its endpoint returned, before the response is sent, and
    refuses query parameters it does not declare."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = query_parameters(_solved_dependant(self))

        async def commit_after(request: Request) -> Response:
            if known is not None:
                refuse_unknown_parameters(request, known)
            else:
                refuse_control_characters_in_path(request)
                refuse_nul_parameters(request)
            try:
                response = await handler(request)
            except AppError as exc:
                if exc.keeps_writes:
                    await _commit(request)
                raise
            await _commit(request)
            return response

        return commit_after


class APIRouter(_FastAPIRouter):
    """FastAPI's router whose routes commit (`CommitRoute`); every router of every process is one of these."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("route_class", CommitRoute)
        super().__init__(*args, **kwargs)


@contextlib.asynccontextmanager
async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for a plain Starlette route, committed when the block ends without an error."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessions
    async with maker() as session:
        enlist(request, session)
        try:
            yield session
        except AppError as exc:
            if exc.keeps_writes:
                await _commit(request)
            raise
        await _commit(request)
