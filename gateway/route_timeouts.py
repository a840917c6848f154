"""Per-route read timeouts of the proxy (`ROUTE_TIMEOUTS`): pure, no I/O.

A rule is `"[METHOD ]/path-prefix": seconds`. For a request, the longest prefix of its path wins; at the same
length a rule naming the request's method beats one naming none; with no rule the global `PROXY_READ_TIMEOUT`
applies. The timeout is the proxy's per-read timeout (first byte, then each chunk): a streamed export of any
length passes as long as chunks keep coming, and a long-poll that holds the answer for `wait` seconds passes
when its rule is longer than the longest `wait` (30 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DEFAULT_ROUTE_TIMEOUTS", "RouteTimeouts"]

#: The defaults every deployment gets (configuration merges over them): the change feed long-polls up to 30 s,
#: so its reads may wait 45 s; an export opens a snapshot and may pause between rows of a large county.
DEFAULT_ROUTE_TIMEOUTS: dict[str, float] = {
    "GET /api/registry/changes": 45.0,
    "GET /api/planning/changes": 45.0,
    "GET /api/assessment/changes": 45.0,
    "/api/registry/exports/": 300.0,
    "/api/planning/exports/": 300.0,
    "/api/assessment/exports/": 300.0,
}


@dataclass(frozen=True, slots=True)
class _Rule:
    method: str | None
    prefix: str
    seconds: float


def _rule(key: str, seconds: float) -> _Rule:
    method, _, prefix = key.strip().rpartition(" ")
    method = method.strip().upper()
    if not prefix.startswith("/"):
        raise ValueError(f"route timeout {key!r}: the path prefix must start with '/'")
    if seconds <= 0:
        raise ValueError(f"route timeout {key!r}: seconds must be positive")
    return _Rule(method or None, prefix, float(seconds))


class RouteTimeouts:
    """The rules of `ROUTE_TIMEOUTS` over the defaults, and the lookup of one request's timeout."""

    def __init__(
        self,
        rules: Mapping[str, float],
        default: float,
        *,
        defaults: Mapping[str, float] = DEFAULT_ROUTE_TIMEOUTS,
    ) -> None:
        merged = {**defaults, **rules}
        parsed = [_rule(k, v) for k, v in merged.items()]
        # Longest prefix first; at equal length a method-specific rule first.
        self._rules = sorted(parsed, key=lambda r: (-len(r.prefix), r.method is None))
        self.default = default

    def for_request(self, method: str, path: str) -> float:
        """The read timeout of `method path` (`path` as the client called it: `/api/registry/...`)."""
        method = method.upper()
        for rule in self._rules:
            if path.startswith(rule.prefix) and (rule.method is None or rule.method == method):
                return rule.seconds
        return self.default
