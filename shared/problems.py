"""RFC 9457 problem details: the one error shape of every process.

Code raises `AppError` subclasses (never `HTTPException`); the handlers installed by `install_problem_handlers`
turn them, FastAPI's validation errors and anything unexpected into `application/problem+json` without
stack traces.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import asyncpg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import DomainError
from shared.i18n import ProblemLocaliser, default_localiser

__all__ = [
    "DATABASE_RETRY_AFTER",
    "PROBLEM_JSON",
    "AppError",
    "BadRequest",
    "Conflict",
    "FieldProblem",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreconditionRequired",
    "Problem",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "database_unavailable",
    "from_domain",
    "install_problem_handlers",
    "instance_of",
    "is_database_outage",
    "json_pointer",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"


class FieldProblem(BaseModel):
    """One invalid input of a validation problem: a JSON Pointer into the body, or a parameter."""

    model_config = ConfigDict(populate_by_name=True)

    pointer: str | None = Field(
        None, description="RFC 6901 JSON Pointer into the request body", examples=["/members/0/name"]
    )
    parameter: str | None = Field(None, description="The query, path or header parameter", examples=["limit"])
    in_: Literal["query", "path", "header", "cookie"] | None = Field(None, alias="in")
    message: str
    code: str = Field(description="The validation error's type", examples=["missing"])


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every error of every process (`application/problem+json`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://jingzhun.example/problems/not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(ge=400, le=599, examples=[404])
    detail: str
    instance: str | None = Field(
        None, description="The path the client called", examples=["/api/registry/regions"]
    )
    code: str | None = Field(None, description="A stable code for clients to switch on, when a rule refused")
    parameter: str | None = Field(None, description="The parameter a problem is about (`unknown_parameter`)")
    errors: list[FieldProblem] | None = Field(None, description="The invalid inputs (validation problems)")


_log = logging.getLogger("jingzhun.errors")
_TYPE_BASE = "https://jingzhun.example/problems/"


class AppError(Exception):
    """Base of the project's errors; carries its HTTP status and an RFC 9457 `type` slug.

    Raising one rolls the request's unit of work back, unless it was raised with `.keep_writes()`.
    """

    status: int = 400
    slug: str = "bad-request"
    title: str = "Bad request"
    #: When true, the commit point (shared.routing) commits the request's writes before answering with this.
    keeps_writes: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}
        self.extensions = extensions

    def keep_writes(self) -> Self:
        """This refusal keeps the writes made before it (a failed login's counter, a token-reuse alarm): they
        are committed, then the problem is answered."""
        self.keeps_writes = True
        return self


class BadRequest(AppError):
    pass


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        # RFC 6750 §3: a 401 names the scheme it expects.
        error = "invalid_token" if detail else None
        challenge = 'Bearer realm="jingzhun"' + (f', error="{error}"' if error else "")
        super().__init__(detail, headers={"WWW-Authenticate": challenge}, **extensions)


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Not allowed for this role"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class PreconditionFailed(AppError):
    status, slug, title = 412, "precondition-failed", "The record changed since you read it"


class PayloadTooLarge(AppError):
    status, slug, title = 413, "payload-too-large", "Request body too large"


class UnsupportedMediaType(AppError):
    status, slug, title = 415, "unsupported-media-type", "Unsupported media type"


class UnprocessableEntity(AppError):
    status, slug, title = 422, "unprocessable", "Request rejected"


class PreconditionRequired(AppError):
    status, slug, title = 428, "precondition-required", "If-Match header required"


class TooManyRequests(AppError):
    status, slug, title = 429, "too-many-requests", "Too many requests"


class UpstreamUnavailable(AppError):
    status, slug, title = 502, "bad-gateway", "Upstream service unavailable"


class UpstreamTimeout(AppError):
    status, slug, title = 504, "gateway-timeout", "Upstream service timed out"


_STATUS_SLUGS = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Validation failed"),
    500: ("internal", "Internal server error"),
}


#: The HTTP answer to each kind of domain error (shared.errors).
_DOMAIN_STATUS: dict[str, tuple[int, str, str]] = {
    "invalid": (422, "unprocessable", "Request rejected"),
    "refused": (409, "conflict", "Refused by a rule"),
    "not_allowed": (403, "forbidden", "Not allowed for this role"),
    "missing": (404, "not-found", "Not found"),
    "too_large": (413, "payload-too-large", "Request body too large"),
}


def from_domain(exc: DomainError) -> AppError:
    """The problem for a domain error: its kind gives the status, its code and details become members."""
    status, slug, title = _DOMAIN_STATUS.get(exc.kind, _DOMAIN_STATUS["refused"])
    error = AppError(exc.message)
    error.extensions = {"code": exc.code, **exc.details}
    error.status, error.slug, error.title = status, slug, title
    return error


_STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance"})


def problem_response(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    request: Request | None = None,
    validation_contexts: Sequence[Mapping[str, Any] | None] = (),
    **extensions: Any,
) -> JSONResponse:
    """Build an `application/problem+json` response; given the `request`, in the language it accepts (the
    localiser on `app.state.problem_localiser`, shared.i18n), with `Content-Language`."""
    body: dict[str, Any] = {
        "type": _TYPE_BASE + (slug or _STATUS_SLUGS.get(status, ("error", ""))[0]),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    # Extension members never replace the standard ones (RFC 9457 §3.1): a detail named "status" is dropped.
    body.update({k: v for k, v in extensions.items() if k not in _STANDARD_MEMBERS})
    headers = dict(headers or {})
    localiser: ProblemLocaliser | None = (
        getattr(request.app.state, "problem_localiser", None) if request else None
    )
    language = "en"
    if request is not None and localiser is not None:
        try:
            body, language = localiser.localise(
                body, request.headers.get("accept-language"), contexts=validation_contexts
            )
        except Exception:  # an error answer never fails for its translation: English it is
            _log.exception("problem localisation failed")
        vary = headers.get("Vary")
        headers["Vary"] = f"{vary}, Accept-Language" if vary else "Accept-Language"
    headers.setdefault("Content-Language", language)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def json_pointer(path: tuple[int | str, ...] | list[int | str]) -> str:
    """RFC 6901 JSON Pointer of a location in a JSON document ("" for the whole document)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """One entry per error: a JSON Pointer into the body (`pointer`), or the parameter and where it was sent."""
    errors = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        where = str(loc[0]) if loc else "body"
        entry: dict[str, Any]
        if where == "body":
            entry = {"pointer": json_pointer(loc[1:])}
        else:
            entry = {"parameter": ".".join(str(p) for p in loc[1:]), "in": where}
        entry.update(message=err.get("msg", ""), code=err.get("type", ""))
        errors.append(entry)
    return errors


def _where(error: dict[str, Any]) -> str:
    if "pointer" in error:
        return str(error["pointer"] or "body")
    return f"{error['in']} parameter {error['parameter']}"


#: The prefix a reverse proxy says it serves this process under (the gateway sends `/api/{service}`).
_FORWARDED_PREFIX = re.compile(r"^/api/[a-z][a-z_]{0,31}$")


def instance_of(request: Request) -> str:
    """The path the client called: the gateway's `/api/{service}` prefix (X-Forwarded-Prefix), then the path."""
    prefix = request.headers.get("x-forwarded-prefix", "")
    return (prefix if _FORWARDED_PREFIX.match(prefix) else "") + request.url.path


# -- database outages ------------------------------------------------------------------------------------
#: Seconds a client is told to wait (`Retry-After`) when the database cannot be reached.
DATABASE_RETRY_AFTER = 2

#: asyncpg's errors that mean the connection, not the statement, failed: refused or lost connections, a server
#: shutting down or starting up (`CannotConnectNowError`, `AdminShutdownError`, `CrashShutdownError`), or out of
#: connection slots.
_ASYNCPG_OUTAGES: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError, …
    asyncpg.InterfaceError,  # "connection is closed", "another operation is in progress" after a reset
    asyncpg.exceptions.OperatorInterventionError,  # AdminShutdown, CrashShutdown, CannotConnectNow
    asyncpg.exceptions.TooManyConnectionsError,
)
#: The exception classes whose handler asks `is_database_outage` (each is re-raised when it is not one, so that
#: it ends as the generic 500 as before).
_OUTAGE_CANDIDATES: tuple[type[Exception], ...] = (
    sqlalchemy.exc.DBAPIError,
    sqlalchemy.exc.TimeoutError,  # the pool had no connection to give within pool_timeout
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    OSError,  # ConnectionRefusedError, ConnectionResetError, a missing socket file, builtins.TimeoutError
)
_DB_MODULES = ("asyncpg", "sqlalchemy")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps: DBAPIError's `.orig`, `__cause__`, `__context__` (each once)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nested in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(nested, BaseException):
                todo.append(nested)


def _raised_in_driver(tb: TracebackType | None) -> bool:
    """Whether the traceback passes through the database driver or SQLAlchemy (an OSError of a file read or of
    an HTTP call is not a database outage)."""
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.split(".", 1)[0] in _DB_MODULES:
            return True
        tb = tb.tb_next
    return False


def is_database_outage(exc: BaseException) -> bool:
    """Whether `exc` means the database could not be reached or the connection was lost (not that a statement
    failed): a refused or reset connection, a server shutting down, a pool with no connection to give."""
    for current in _chain(exc):
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, sqlalchemy.exc.TimeoutError):
            return True
        if isinstance(current, _ASYNCPG_OUTAGES):
            return True
        if isinstance(current, OSError) and (_raised_in_driver(current.__traceback__) or current is not exc):
            # Wrapped by the driver (a DBAPIError's cause), or raised by it while connecting.
            return True
    return False


def database_unavailable(request: Request) -> JSONResponse:
    """503 problem with `Retry-After`: the database is unreachable, the request was not carried out."""
    return problem_response(
        503,
        "Service unavailable",
        "The database is unavailable; retry shortly.",
        slug="service-unavailable",
        instance=instance_of(request),
        headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
        request=request,
        code="database_unavailable",
    )


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that make every error an RFC 9457 problem, in the caller's language."""
    if getattr(app.state, "problem_localiser", None) is None:
        app.state.problem_localiser = default_localiser()  # the catalogues, read once per process

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.slug,
            instance=instance_of(request),
            headers=exc.headers,
            request=request,
            **{k: v for k, v in exc.extensions.items() if k not in _STANDARD_MEMBERS},
        )

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return await _app_error(request, from_domain(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        detail = "; ".join(f"{_where(e)}: {e['message']}" for e in errors[:5])
        return problem_response(
            422,
            "Validation failed",
            detail,
            slug="validation-error",
            instance=instance_of(request),
            request=request,
            validation_contexts=[err.get("ctx") for err in exc.errors()],
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug, title = _STATUS_SLUGS.get(exc.status_code, ("error", "Error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            exc.status_code,
            title,
            detail,
            slug=slug,
            instance=instance_of(request),
            headers=dict(exc.headers or {}),
            request=request,
        )

    # Registered for these classes, not folded into the `Exception` handler: Starlette runs that one in
    # ServerErrorMiddleware, which re-raises, and uvicorn then closes the keep-alive connection (which the gateway
    # had pooled). Handlers of specific classes run in ExceptionMiddleware and keep it.
    async def _outage(request: Request, exc: Exception) -> JSONResponse:
        if not is_database_outage(exc):
            raise exc  # not an outage: the generic 500 below, exactly as before
        _log.warning(
            "database unavailable on %s %s: %r",
            request.method,
            request.url.path,
            exc,
            extra={"error": type(exc).__name__},
        )
        return database_unavailable(request)

    for candidate in _OUTAGE_CANDIDATES:
        app.add_exception_handler(candidate, _outage)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "Internal server error", "An unexpected error occurred.", slug="internal", request=request
        )
