"""One OpenAPI document for the whole API: the gateway's own routes plus each service's, under /api/{service}.

Service documents are fetched from the services (cached for a minute); a service that is down is listed in
`x-jingzhun-unavailable` instead of failing the whole document. Schema names that differ between services are
prefixed with the service name and their `$ref`s rewritten.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from typing import Any

import httpx

__all__ = ["OpenAPIMerger"]

_REF = "#/components/schemas/"


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if not renames:
        return node
    text = json.dumps(node)
    for old, new in renames.items():
        text = text.replace(f'"{_REF}{old}"', f'"{_REF}{new}"')
    return json.loads(text)


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
        merged = copy.deepcopy(gateway_doc)
        paths: dict[str, Any] = merged.setdefault("paths", {})
        schemas: dict[str, Any] = merged.setdefault("components", {}).setdefault("schemas", {})
        tags = {t["name"]: t for t in merged.get("tags", [])}
        unavailable = []
        for name, doc in services.items():
            if doc is None:
                unavailable.append(name)
                continue
            service_schemas = doc.get("components", {}).get("schemas", {})
            renames = {
                schema: f"{name.capitalize()}{schema}"
                for schema, body in service_schemas.items()
                if schema in schemas and schemas[schema] != _rename_refs(body, {})
            }
            for schema, body in service_schemas.items():
                schemas[renames.get(schema, schema)] = _rename_refs(body, renames)
            for path, item in doc.get("paths", {}).items():
                if path in ("/healthz", "/readyz", "/metrics"):
                    continue
                item = _rename_refs(item, renames)
                for operation in item.values():
                    if isinstance(operation, dict):
                        operation["tags"] = [f"{name}: {t}" for t in operation.get("tags", [name])] or [name]
                        if "operationId" in operation:
                            operation["operationId"] = f"{name}_{operation['operationId']}"
                        for t in operation["tags"]:
                            tags.setdefault(t, {"name": t})
                paths[f"/api/{name}{path}"] = item
        merged["tags"] = list(tags.values())
        if unavailable:
            merged["x-jingzhun-unavailable"] = unavailable
        return merged
