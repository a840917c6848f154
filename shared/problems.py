"""RFC 9457 problem details: the one error shape of every process.

Code raises `AppError` subclasses (never `HTTPException`); the handlers installed by `install_problem_handlers`
turn them, FastAPI's validation errors and anything unexpected into `application/problem+json` without
stack traces.
"""

from __future__ import annotations

import logging
from typing import Any, Self

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import DomainError

__all__ = [
    "PROBLEM_JSON",
    "AppError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreconditionRequired",
    "TooManyRequests",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsupportedMediaType",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "from_domain",
    "install_problem_handlers",
    "problem_response",
]

PROBLEM_JSON = "application/problem+json"
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
    **extensions: Any,
) -> JSONResponse:
    """Build an `application/problem+json` response."""
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
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors():
        errors.append(
            {
                # "body.members.0.id_number": where in the request the problem is.
                "pointer": ".".join(str(p) for p in err.get("loc", ())),
                "message": err.get("msg", ""),
                "code": err.get("type", ""),
            }
        )
    return errors


def install_problem_handlers(app: FastAPI) -> None:
    """Register the handlers that make every error an RFC 9457 problem."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.title,
            exc.detail,
            slug=exc.slug,
            instance=request.url.path,
            headers=exc.headers,
            **{k: v for k, v in exc.extensions.items() if k not in _STANDARD_MEMBERS},
        )

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        return await _app_error(request, from_domain(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        detail = "; ".join(f"{e['pointer']}: {e['message']}" for e in errors[:5])
        return problem_response(
            422,
            "Validation failed",
            detail,
            slug="validation-error",
            instance=request.url.path,
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
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        _log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem_response(
            500, "Internal server error", "An unexpected error occurred.", slug="internal"
        )
