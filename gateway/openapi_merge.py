"""One OpenAPI document for the whole API: the gateway's own routes plus each service's, under /api/{service}.

Service documents are fetched from the services (cached for a minute); a service that is down is listed in
`x-jingzhun-unavailable` instead of failing the whole document. `merge` is pure (scripts/contract.py builds
the same document offline from each process's `app.openapi()`):

- paths are prefixed with `/api/{service}`; operationIds stay as the services name them (`listHouseholds`),
  and only an id that two processes both use is prefixed with its service (`registryGetCaller`);
- tags become `{service}: {tag}`, declared with the service's description, and grouped by process
  (`x-tagGroups`, for ReDoc);
- every proxied operation also documents what the gateway itself answers before the service is reached: 401
  (no valid token), 429 (the caller's rate limit, with `Retry-After`), 502 and 504 (the service unreachable or
  too slow), all `application/problem+json` `Problem`s;
- schema names that differ between services are prefixed with the service name and their `$ref`s rewritten;
  the shared components (the `Problem` schema, the documented headers and parameters) are one.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections import Counter
from typing import Any

import httpx

from shared.openapi import add_problem, add_rate_limit_headers, complete_components

__all__ = ["GATEWAY_PROBLEMS", "OpenAPIMerger"]

_REF = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
#: Paths of a service the gateway does not expose as part of the API (probes and metrics).
_SKIPPED = frozenset({"/healthz", "/readyz", "/metrics"})
#: What the gateway answers on a proxied call before (or instead of) the service.
GATEWAY_PROBLEMS: dict[str, str] = {
    "401": "No valid token at the gateway (missing, invalid, expired or revoked)",
    "429": "The caller's rate limit at the gateway: wait `Retry-After` seconds",
    "502": "The service is unreachable from the gateway",
    "504": "The service did not answer the gateway in time",
}


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if not renames:
        return node
    text = json.dumps(node)
    for old, new in renames.items():
        text = text.replace(f'"{_REF}{old}"', f'"{_REF}{new}"')
    return json.loads(text)


def _operations(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        operation
        for path, item in doc.get("paths", {}).items()
        if path not in _SKIPPED
        for method, operation in item.items()
        if method in _METHODS and isinstance(operation, dict)
    ]


def _prefixed(service: str, operation_id: str) -> str:
    return service + operation_id[:1].upper() + operation_id[1:]


class OpenAPIMerger:
    def __init__(self, upstreams: dict[str, str], *, ttl: float = 60.0) -> None:
        self.upstreams = upstreams
        self.ttl = ttl
        self._cache: tuple[float, dict[str, Any]] | None = None

    async def _fetch(
        self, client: httpx.AsyncClient, name: str, base: str
    ) -> tuple[str, dict[str, Any] | None]:
        try:
            response = await client.get(f"{base}/openapi.json")
            response.raise_for_status()
            doc: dict[str, Any] = response.json()
            return name, doc
        except (httpx.HTTPError, ValueError):
            return name, None

    async def document(self, gateway_doc: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        if self._cache and now - self._cache[0] < self.ttl:
            return self._cache[1]
        async with httpx.AsyncClient(timeout=3) as client:
            fetched = await asyncio.gather(*(self._fetch(client, n, b) for n, b in self.upstreams.items()))
        merged = self.merge(gateway_doc, dict(fetched))
        if all(doc is not None for _, doc in fetched):
            self._cache = (now, merged)
        return merged

    @staticmethod
    def merge(gateway_doc: dict[str, Any], services: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
        """The gateway's document with every available service's operations under `/api/{service}`."""
        merged = copy.deepcopy(gateway_doc)
        merged["servers"] = [{"url": "/", "description": "The gateway"}]
        paths: dict[str, Any] = merged.setdefault("paths", {})
        components: dict[str, Any] = merged.setdefault("components", {})
        schemas: dict[str, Any] = components.setdefault("schemas", {})
        tags: dict[str, dict[str, Any]] = {t["name"]: t for t in merged.get("tags", [])}
        groups = [{"name": "gateway", "tags": list(tags)}]
        available = {name: doc for name, doc in services.items() if doc is not None}
        # An operationId used by more than one process is prefixed with its service (the gateway's stay short).
        ids = Counter(
            op["operationId"]
            for doc in (merged, *available.values())
            for op in _operations(doc)
            if "operationId" in op
        )
        for name, doc in available.items():
            service_schemas = doc.get("components", {}).get("schemas", {})
            # A schema is renamed when it differs from the one of that name already merged — compared with its
            # references renamed, to a fixpoint: a schema that points at a renamed schema differs too.
            renames: dict[str, str] = {}
            while True:
                more = {
                    schema: f"{name.capitalize()}{schema}"
                    for schema, body in service_schemas.items()
                    if schema not in renames
                    and schema in schemas
                    and schemas[schema] != _rename_refs(body, renames)
                }
                if not more:
                    break
                renames.update(more)
            for schema, body in service_schemas.items():
                schemas[renames.get(schema, schema)] = _rename_refs(body, renames)
            for kind in ("headers", "parameters"):
                for key, body in doc.get("components", {}).get(kind, {}).items():
                    components.setdefault(kind, {}).setdefault(key, body)
            descriptions = {t["name"]: t.get("description") for t in doc.get("tags", [])}
            group: list[str] = []
            for path, item in doc.get("paths", {}).items():
                if path in _SKIPPED:
                    continue
                item = _rename_refs(item, renames)
                for method, operation in item.items():
                    if method not in _METHODS or not isinstance(operation, dict):
                        continue
                    own = operation.get("tags") or [name]
                    operation["tags"] = [f"{name}: {t}" for t in own]
                    for tag, merged_tag in zip(own, operation["tags"], strict=True):
                        if merged_tag not in tags:
                            tags[merged_tag] = {"name": merged_tag}
                            if descriptions.get(tag):
                                tags[merged_tag]["description"] = descriptions[tag]
                            group.append(merged_tag)
                    if ids[operation.get("operationId", "")] > 1:
                        operation["operationId"] = _prefixed(name, operation["operationId"])
                    for status, description in GATEWAY_PROBLEMS.items():
                        add_problem(operation, status, description)
                    add_rate_limit_headers(operation)
                paths[f"/api/{name}{path}"] = item
            groups.append({"name": name, "tags": sorted(group)})
        complete_components(merged)
        merged["tags"] = list(tags.values())
        merged["x-tagGroups"] = [g for g in groups if g["tags"]]
        unavailable = [name for name, doc in services.items() if doc is None]
        if unavailable:
            merged["x-jingzhun-unavailable"] = unavailable
        return merged
