"""Who the client is behind a proxy: `X-Forwarded-For` and `X-Forwarded-Proto` believed only from trusted proxies.

Every per-address limit of the gateway (the token endpoint's, the address-account lockout) counts under the
request's client address, so whoever can choose that address can dodge the limits or spend someone else's. A
client may send any `X-Forwarded-For` it likes; only a proxy of ours appends the address it really saw. So the
header is read only when the connection comes from one of `TRUSTED_PROXIES` (none by default), and then from the
right: the client is the right-most address that is not itself a trusted proxy (what each of our proxies saw),
never the left-most (what the client wrote). Uvicorn's own proxy-header handling is switched off for the gateway
(`--no-proxy-headers`), so this is the one place the decision is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["TrustedProxies", "TrustedProxyMiddleware", "client_address"]

Network = IPv4Network | IPv6Network


class TrustedProxies:
    """The configured proxy networks, and the client address a chain of forwarded addresses names."""

    def __init__(self, networks: Sequence[Network]) -> None:
        self._networks = tuple(networks)

    def __bool__(self) -> bool:
        return bool(self._networks)

    def trusts(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in network for network in self._networks)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client of a connection from `peer` carrying `forwarded_for` (the joined X-Forwarded-For values)."""
        if not self.trusts(peer) or not forwarded_for:
            return peer
        client = peer
        for hop in reversed(forwarded_for.split(",")):
            hop = hop.strip()
            if _address(hop) is None:
                break  # garbage in the chain: stop at the last address a trusted proxy vouched for
            client = hop
            if not self.trusts(hop):
                break
        return client


def _address(host: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(host)
    except ValueError:
        return None


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class TrustedProxyMiddleware:
    """Sets the ASGI `client` (and `scheme`) from the forwarded headers of a trusted proxy's connection."""

    def __init__(self, app: ASGIApp, *, trusted: Sequence[Network]) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.trusted and scope["type"] in ("http", "websocket"):
            peer = client_address(scope)
            if self.trusted.trusts(peer):
                forwarded_for: list[str] = []
                proto: str | None = None
                for name, value in scope["headers"]:
                    if name == b"x-forwarded-for":
                        forwarded_for.append(value.decode("latin-1"))
                    elif name == b"x-forwarded-proto":
                        proto = value.decode("latin-1").split(",")[-1].strip().lower()
                client = self.trusted.client(peer, ",".join(forwarded_for) or None)
                scope = dict(scope)
                scope["client"] = (client, 0)
                if proto in ("http", "https"):
                    scope["scheme"] = (
                        proto if scope["type"] == "http" else ("wss" if proto == "https" else "ws")
                    )
        await self.app(scope, receive, send)
