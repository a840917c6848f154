"""The OpenAPI document as the contract: one post-processor for every process, and the docs served offline.

FastAPI writes the operations from the routes; `install_openapi` finishes the document from what each route
does, so that the document says what the server answers:

- **errors**: the `Problem` schema (RFC 9457, shared/problems.py) in `components`, as `application/problem+json`
  on every 4xx/5xx an operation can return: 401 when the route authenticates, 403 when it checks a role or a
  writer, 404 when its path names a record, 422 when it takes a parameter or a body (FastAPI's
  `HTTPValidationError` is removed: it is not what the server sends), 500 everywhere, and whatever the route
  declares itself (400, 409, 412, 413, 415, 428, 503) with its own description;
- **headers**: `If-Match` (a parameter where the route reads it), `Idempotency-Key` on every mutating operation
  of a service that installs the middleware (shared/idempotency.py) with its 400/409/422 and the
  `Idempotent-Replayed` answer header; `ETag` on 2xx answers of versioned records (a `version` property),
  `Location` on every 201, `Retry-After` on 429/503 and on the idempotency 409, `WWW-Authenticate` on 401,
  `Content-Language` on every problem (shared/i18n.py), `X-Request-ID` on every answer;
- **names**: operationIds are the route functions' names in camelCase (`list_households` → `listHouseholds`);
  tags are declared with their descriptions (English, the Chinese term beside it); `servers` is the path the
  client called the process under (`/`, or the gateway's `/api/{service}`); public operations (no token:
  the token endpoint, JWKS, health) say `security: []`.

`install_docs` serves `/openapi.json`, `/docs` (Swagger UI) and `/redoc` with their scripts and styles from the
`fastapi_offline` package: the pages load nothing from the internet (a county office may have none).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute

from shared import auth
from shared.problems import PROBLEM_JSON, FieldProblem, Problem

__all__ = [
    "CONTACT",
    "DOC_ASSETS",
    "LICENSE",
    "PROBLEM_REF",
    "RATE_LIMIT_HEADERS",
    "TAGS",
    "DocumentedRoute",
    "add_problem",
    "add_rate_limit_headers",
    "complete_components",
    "declare_dependency",
    "documented_routes",
    "finish_document",
    "finish_operation",
    "install_docs",
    "install_openapi",
    "operation_id",
    "problem_content",
    "sort_responses",
]

PROBLEM_REF = "#/components/schemas/Problem"
CONTACT = {"name": "Jingzhun (精准) platform team", "url": "https://jingzhun.example/support"}
LICENSE = {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}

#: Every tag of every process, with its description (English, and the Chinese term users know).
TAGS: dict[str, str] = {
    "auth": "Tokens (登录与令牌): password login, refresh, client credentials, logout, the caller, JWKS",
    "users": "User administration (用户管理) within your region subtree",
    "audit": "Audit logs (审计日志): who wrote or unmasked what, and when",
    "operations": "Liveness and readiness probes (运行状态)",
    "caller": "The verified caller as this service sees them (当前用户)",
    "households": (
        "Poor households and their members (建档立卡贫困户): registration, edits, incomes, lists, the card, "
        "the identification / exit / return workflow (识别、退出、返贫), bulk import"
    ),
    "help records": "Help records from phones (帮扶记录卡): visits, corrections, signatures, photos",
    "pairing": "Helping units, cadres, village work teams and pairings (结对帮扶, 驻村工作队)",
    "help plans": "Household help plans (一户一策): measures, the head's acknowledgement, progress",
    "monitoring": "Monitoring rounds (监测) and visit frequency",
    "sync": "The phone download (离线同步): paired households, incrementally",
    "exports": "Snapshot exports (数据导出): a region's households as NDJSON or CSV, masked, audited",
    "jobs": "Import and export jobs (导入导出任务): 202 with the job's Location, progress, every error, cancel",
    "changes": "The change feed (变更订阅): every change of a region, gapless, with tombstones",
    "webhooks": "Signed webhooks (变更推送): the change feed POSTed to your URL, signed, retried, replayable",
    "regions": (
        "The region tree (行政区划), yearly statuses, policy parameters, quotas (规模控制), yearly exit targets "
        "(年度减贫任务), population"
    ),
    "notices": "The public notice board (公示) as villagers see it: JSON and a printable page",
    "development": "The development clock (开发时钟, DEV_CLOCK only; never in production)",
    "code lists": "Code lists (代码表): every code of the API with its zh-CN label, for forms and dashboards",
}

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_MUTATING = frozenset({"post", "put", "patch", "delete"})
#: What a status means when the route does not say more.
_DEFAULT_DESCRIPTIONS: dict[str, str] = {
    "400": "Bad request",
    "401": "Authentication required: no token, or an invalid, expired or revoked one",
    "403": "Your role may not do this",
    "404": "Not found, or outside your region (answered alike)",
    "409": "Refused by a rule (the problem's `code` says which)",
    "412": "Stale If-Match: the record changed since you read it (`current_version`)",
    "413": "Request body too large",
    "415": "Unsupported media type",
    "422": "Invalid input: `errors[]` names each field (a JSON Pointer into the body) or parameter",
    "428": "If-Match required",
    "429": "Too many requests: wait `Retry-After` seconds",
    "500": "Unexpected server error",
    "502": "Upstream service unavailable",
    "503": "Not ready",
    "504": "Upstream service timed out",
}
_FASTAPI_422 = "Validation Error"

_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": 'The record\'s version as a strong entity tag (`"3"`): send it back as `If-Match`',
        "schema": {"type": "string", "examples": ['"3"']},
    },
    "Location": {
        "description": "The path of the record created",
        "required": True,
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Policy": {
        "description": "The caller's quota (IETF draft-ietf-httpapi-ratelimit-headers): "
        '`"default";q=<requests>;w=<window seconds>`',
        "schema": {"type": "string", "examples": ['"default";q=1200;w=60']},
    },
    "RateLimit": {
        "description": "What is left of the caller's window (the same draft): "
        '`"default";r=<requests left>;t=<seconds to reset>`',
        "schema": {"type": "string", "examples": ['"default";r=17;t=42']},
    },
    "RateLimit-Limit": {
        "description": "Requests per window (the earlier drafts' field, sent too for clients that read it)",
        "schema": {"type": "integer", "minimum": 1},
    },
    "RateLimit-Remaining": {
        "description": "Requests left in the current window (earlier drafts)",
        "schema": {"type": "integer", "minimum": 0},
    },
    "RateLimit-Reset": {
        "description": "Seconds until the window resets (earlier drafts)",
        "schema": {"type": "integer", "minimum": 0},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "X-Request-ID": {
        "description": "The request's id (yours when you sent a valid one): quote it when reporting a problem",
        "schema": {"type": "string"},
    },
    "Content-Language": {
        "description": "The problem's language: `zh-CN` when asked for with `Accept-Language`, else `en`",
        "schema": {"type": "string", "examples": ["zh-CN"]},
    },
    "WWW-Authenticate": {
        "description": 'The scheme expected (RFC 6750): `Bearer realm="jingzhun"`, with `error` when a token failed',
        "schema": {"type": "string"},
    },
}
_IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Any unique string (a UUID): a retry with the same key and request gets the stored answer "
        "(`Idempotent-Replayed: true`) instead of a second execution; keys are kept 30 days"
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
_IDEMPOTENCY_ERRORS = {
    "400": "`idempotency_key_invalid`: Idempotency-Key is not 1..200 printable characters",
    "409": "`idempotency_in_progress`: the request with this Idempotency-Key is still running (`Retry-After`)",
    "422": "`idempotency_key_reused`: this Idempotency-Key was used for a different request",
}
_SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from the gateway's `POST /auth/token` (15 minutes)",
    }
}
#: A path parameter with one of these names is not a record (`/regions/{code}/quotas/{year}`).
_NOT_RECORDS = frozenset({"year"})

#: Dependencies whose presence in a route means it can answer these statuses (authentication, role checks).
_DEPENDENCY_STATUSES: dict[Callable[..., Any], frozenset[int]] = {}


def declare_dependency(dependency: Callable[..., Any], *statuses: int) -> None:
    """Say that a route depending on `dependency` can answer `statuses` (401 authenticates; 403 checks a role)."""
    _DEPENDENCY_STATUSES[dependency] = _DEPENDENCY_STATUSES.get(dependency, frozenset()) | set(statuses)


declare_dependency(auth.current_principal, 401)
if auth.require_writer.dependency is not None:  # `WriterDep` and `require_writer`: the same check
    declare_dependency(auth.require_writer.dependency, 401, 403)


def operation_id(route: APIRoute) -> str:
    """The operationId of a route: its function's name in camelCase (`list_households` → `listHouseholds`)."""
    head, *rest = route.name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def problem_content() -> dict[str, Any]:
    """The body of every error answer: the Problem schema as `application/problem+json`."""
    return {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


@dataclass(frozen=True, slots=True)
class DocumentedRoute:
    """A route of the document as the app serves it (an included router's prefix applied)."""

    path: str
    methods: frozenset[str]
    dependant: Dependant


def documented_routes(routes: Sequence[BaseRoute]) -> list[DocumentedRoute]:
    """Every FastAPI route of `routes` that is in the document, at its effective path."""
    out = []
    for context in iter_route_contexts(routes):
        dependant = getattr(context, "dependant", None)
        if not isinstance(context.original_route, APIRoute) or not isinstance(dependant, Dependant):
            continue
        if context.path_format is None or not getattr(context, "include_in_schema", True):
            continue
        out.append(DocumentedRoute(context.path_format, frozenset(context.methods or ()), dependant))
    return out


def _route_statuses(route: DocumentedRoute) -> set[int]:
    statuses: set[int] = set()
    for call in _calls(route.dependant):
        statuses |= _DEPENDENCY_STATUSES.get(call, frozenset())
        # `require_roles(...)` builds its check per call: known by where it was defined.
        if getattr(call, "__module__", "") == auth.__name__ and getattr(call, "__qualname__", "").startswith(
            "require_roles."
        ):
            statuses |= {401, 403}
    return statuses


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 10:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc.get("components", {}).get("schemas", {}).get(name, {})
        seen += 1
    return schema


def _is_versioned(doc: dict[str, Any], response: dict[str, Any]) -> bool:
    schema = (response.get("content") or {}).get("application/json", {}).get("schema")
    if not isinstance(schema, dict):
        return False
    properties = _resolve(doc, schema).get("properties", {})
    version = properties.get("version")
    return isinstance(version, dict) and version.get("type") == "integer"


def _names_a_record(doc: dict[str, Any], operation: dict[str, Any]) -> bool:
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "path" or parameter.get("name") in _NOT_RECORDS:
            continue
        if "enum" in _resolve(doc, parameter.get("schema", {})):
            continue  # a command or a kind, not a record
        return True
    return False


def _add_error(operation: dict[str, Any], status: str, description: str | None = None) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if status not in responses:
        responses[status] = {"description": description or _DEFAULT_DESCRIPTIONS.get(status, "Error")}
    elif description and description not in responses[status].get("description", ""):
        responses[status]["description"] = f"{responses[status]['description']}; or {description}"


def _header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _problem_headers(response: dict[str, Any], code: int, *, retry: bool = False) -> None:
    if response.get("description") in (_FASTAPI_422, None):
        response["description"] = _DEFAULT_DESCRIPTIONS.get(str(code), "Error")
    response["content"] = problem_content()
    headers: dict[str, Any] = response.setdefault("headers", {})
    headers.setdefault("X-Request-ID", _header("X-Request-ID"))
    headers.setdefault("Content-Language", _header("Content-Language"))
    if code in (429, 503) or retry:
        headers.setdefault("Retry-After", _header("Retry-After"))
    if code == 401:
        headers.setdefault("WWW-Authenticate", _header("WWW-Authenticate"))


#: The gateway's rate-limit fields, on every answer it proxies (gateway/ratelimit.py).
RATE_LIMIT_HEADERS = (
    "RateLimit-Policy",
    "RateLimit",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
)


def add_rate_limit_headers(operation: dict[str, Any]) -> None:
    """Document the gateway's rate-limit fields on every answer of a proxied `operation`."""
    for response in operation.get("responses", {}).values():
        headers: dict[str, Any] = response.setdefault("headers", {})
        for name in RATE_LIMIT_HEADERS:
            headers.setdefault(name, _header(name))


def add_problem(operation: dict[str, Any], status: str, description: str | None = None) -> None:
    """Document that `operation` can answer the problem `status` (the description joins any the route gave);
    call `complete_components` on the document afterwards."""
    _add_error(operation, status, description)
    _problem_headers(operation["responses"][status], int(status))
    sort_responses(operation)


def sort_responses(operation: dict[str, Any]) -> None:
    """The answers of an operation by status: successes first, then the problems."""
    responses: dict[str, Any] = operation.get("responses", {})
    operation["responses"] = dict(sorted(responses.items(), key=lambda item: item[0]))


def _problem_schemas() -> dict[str, Any]:
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    defs = schema.pop("$defs", {})
    defs.setdefault("FieldProblem", FieldProblem.model_json_schema(mode="serialization"))
    return {"Problem": schema, **defs}


_UNKNOWN_PARAMETER = (
    "`unknown_parameter`: a query parameter this operation does not declare (named in `parameter`)"
)


def finish_operation(
    doc: dict[str, Any],
    method: str,
    operation: dict[str, Any],
    *,
    statuses: set[int],
    public: bool,
    idempotent: bool,
) -> None:
    """Document one operation's errors and headers (see the module docstring)."""
    if public:
        operation["security"] = []
    for status in sorted(statuses):
        _add_error(operation, str(status))
    if _names_a_record(doc, operation):
        _add_error(operation, "404")
    if operation.get("parameters") or operation.get("requestBody"):
        _add_error(operation, "422")
    # Every route refuses query parameters it does not declare (shared/routing.py): 400 `unknown_parameter`.
    _add_error(operation, "400", _UNKNOWN_PARAMETER)
    replayable = idempotent and method in _MUTATING
    if replayable:
        parameters: list[dict[str, Any]] = operation.setdefault("parameters", [])
        if not any(p.get("$ref") == "#/components/parameters/IdempotencyKey" for p in parameters):
            parameters.append({"$ref": "#/components/parameters/IdempotencyKey"})
        for refusal, description in _IDEMPOTENCY_ERRORS.items():
            _add_error(operation, refusal, description)
    _add_error(operation, "500")
    for status, response in operation["responses"].items():
        code = int(status) if status.isdigit() else 0
        if code >= 400:
            _problem_headers(response, code, retry=code == 409 and replayable)
            continue
        headers: dict[str, Any] = response.setdefault("headers", {})
        headers.setdefault("X-Request-ID", _header("X-Request-ID"))
        if code == 201:
            headers.setdefault("Location", _header("Location"))
        if (200 <= code < 300 and _is_versioned(doc, response)) or code == 304:
            headers.setdefault("ETag", _header("ETag"))
        if replayable and 200 <= code < 300:
            headers.setdefault("Idempotent-Replayed", _header("Idempotent-Replayed"))
    sort_responses(operation)


def _uses(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_uses(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_uses(v, ref) for v in node)
    return False


def complete_components(doc: dict[str, Any]) -> None:
    """Declare in `components` every shared header and parameter the document's operations reference."""
    components: dict[str, Any] = doc.setdefault("components", {})
    paths = doc.get("paths", {})
    for name, header in _HEADERS.items():
        if _uses(paths, f"#/components/headers/{name}"):
            components.setdefault("headers", {}).setdefault(name, copy.deepcopy(header))
    if _uses(paths, "#/components/parameters/IdempotencyKey"):
        components.setdefault("parameters", {}).setdefault("IdempotencyKey", copy.deepcopy(_IDEMPOTENCY_KEY))
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    if _uses(paths, PROBLEM_REF) and "Problem" not in schemas:
        schemas.update(_problem_schemas())


def finish_document(
    doc: dict[str, Any],
    routes: Sequence[BaseRoute],
    *,
    idempotent: bool,
    tags: Mapping[str, str],
    security_schemes: Mapping[str, Any] | None = None,
    security: list[dict[str, list[str]]] | None = None,
) -> dict[str, Any]:
    """Finish a FastAPI-generated document in place (and return it): see the module docstring."""
    components: dict[str, Any] = doc.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    schemas.update(_problem_schemas())
    by_key = {
        (route.path, method.lower()): route for route in documented_routes(routes) for method in route.methods
    }
    used_tags: list[str] = []
    for path, item in doc.get("paths", {}).items():
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            route = by_key.get((path, method))
            statuses = _route_statuses(route) if route is not None else set()
            finish_operation(
                doc,
                method,
                operation,
                statuses=statuses,
                public=route is not None and 401 not in statuses,
                idempotent=idempotent,
            )
            for tag in operation.get("tags", []):
                if tag not in used_tags:
                    used_tags.append(tag)
    for unused in ("HTTPValidationError", "ValidationError"):
        if not _uses(doc.get("paths", {}), f"#/components/schemas/{unused}"):
            schemas.pop(unused, None)
    complete_components(doc)
    components["securitySchemes"] = dict(security_schemes or _SECURITY_SCHEMES)
    doc["security"] = security or [{name: []} for name in components["securitySchemes"]]
    declared = {t["name"]: t for t in doc.get("tags", [])}
    for tag in used_tags:
        if tag not in declared and tag in tags:
            declared[tag] = {"name": tag, "description": tags[tag]}
    doc["tags"] = sorted(declared.values(), key=lambda t: str(t["name"]))
    info: dict[str, Any] = doc.setdefault("info", {})
    info.setdefault("contact", dict(CONTACT))
    info.setdefault("license", dict(LICENSE))
    return doc


def install_openapi(
    app: FastAPI,
    *,
    tags: Mapping[str, str] | None = None,
    security_schemes: Mapping[str, Any] | None = None,
    security: list[dict[str, list[str]]] | None = None,
) -> None:
    """Make `app.openapi()` answer the finished document (built once, on first use)."""
    generate = app.openapi
    catalogue = {**TAGS, **(tags or {})}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            idempotent = getattr(app.state, "idempotency_table", None) is not None
            app.openapi_schema = finish_document(
                doc,
                app.routes,
                idempotent=idempotent,
                tags=catalogue,
                security_schemes=security_schemes,
                security=security,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


# -- the docs, served offline -----------------------------------------------------------------------------------
_STATIC = Path(fastapi_offline.__file__).parent / "static"
#: The docs' assets: URL name → (file in fastapi_offline/static, media type).
DOC_ASSETS: dict[str, tuple[str, str]] = {
    "swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui.css": ("swagger-ui.css", "text/css"),
    "redoc.standalone.js": ("redoc.standalone.js", "text/javascript"),
    "favicon.png": ("favicon.png", "image/png"),
}
#: The prefix a reverse proxy says it serves this process under (the gateway sends `/api/{service}`), checked
#: as shared.problems.instance_of checks it: anything else is ignored, so a client cannot point the page elsewhere.
_FORWARDED_PREFIX = re.compile(r"^/api/[a-z][a-z_]{0,31}$")


def _prefix(request: Request) -> str:
    prefix = request.headers.get("x-forwarded-prefix", "")
    return prefix if _FORWARDED_PREFIX.match(prefix) else ""


def install_docs(
    app: FastAPI,
    *,
    document: Callable[[Request], Any] | None = None,
    title: str | None = None,
) -> None:
    """`/openapi.json`, `/docs` and `/redoc` (and `/docs/<asset>`), none of them in the document itself.

    `document(request)` builds the answer of `/openapi.json` (the gateway merges the services'); by default it is
    `app.openapi()` with `servers` set to the path the client called this process under."""
    name = title or app.title

    async def openapi_json(request: Request) -> Response:
        if document is not None:
            return JSONResponse(await document(request))
        doc = dict(app.openapi())
        doc["servers"] = [{"url": _prefix(request) or "/"}]
        return JSONResponse(doc)

    async def swagger(request: Request) -> HTMLResponse:
        base = _prefix(request)
        return get_swagger_ui_html(
            openapi_url=f"{base}/openapi.json",
            title=f"{name} (Swagger UI)",
            swagger_js_url=f"{base}/docs/swagger-ui-bundle.js",
            swagger_css_url=f"{base}/docs/swagger-ui.css",
            swagger_favicon_url=f"{base}/docs/favicon.png",
            # No badge from validator.swagger.io: the page makes no request outside this server.
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    async def redoc(request: Request) -> HTMLResponse:
        base = _prefix(request)
        return get_redoc_html(
            openapi_url=f"{base}/openapi.json",
            title=f"{name} (ReDoc)",
            redoc_js_url=f"{base}/docs/redoc.standalone.js",
            redoc_favicon_url=f"{base}/docs/favicon.png",
            with_google_fonts=False,
        )

    app.add_api_route("/openapi.json", openapi_json, methods=["GET"], include_in_schema=False)
    app.add_api_route("/docs", swagger, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    for asset, (filename, media_type) in DOC_ASSETS.items():
        app.add_api_route(
            f"/docs/{asset}", _asset(_STATIC / filename, media_type), methods=["GET"], include_in_schema=False
        )


def _asset(path: Path, media_type: str) -> Callable[[], Any]:
    async def serve() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})

    return serve
