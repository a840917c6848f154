"""Gateway settings (identity, tokens, proxy, limits)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from shared.settings import CommonSettings, database_url_field, is_dev_key

__all__ = ["GatewaySettings"]


class GatewaySettings(CommonSettings):
    database_url: str | None = Field(None, validation_alias=database_url_field("gateway"))
    jwt_private_key_file: Path | None = None
    access_token_ttl_seconds: int = Field(900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(14 * 86400, ge=3600)
    service_token_ttl_seconds: int = Field(300, ge=30, le=3600)

    registry_url: str = "http://127.0.0.1:8001"
    planning_url: str = "http://127.0.0.1:8002"
    assessment_url: str = "http://127.0.0.1:8003"
    proxy_client: Literal["aiohttp", "httpx"] = "aiohttp"
    proxy_connect_timeout: float = Field(3.0, gt=0)
    #: Seconds the proxy waits for each read of an answer (its first byte, then between chunks), unless a
    #: `route_timeouts` prefix says otherwise.
    proxy_read_timeout: float = Field(30.0, gt=0)
    #: Per-route read timeouts, a JSON object of `[METHOD ]/path-prefix` to seconds, merged over
    #: `gateway.route_timeouts.DEFAULT_ROUTE_TIMEOUTS` (the long-poll feed 45 s, the exports 300 s per read with
    #: no total): `ROUTE_TIMEOUTS='{"GET /api/registry/changes": 45, "/api/registry/exports/": 600}'`. The
    #: longest matching prefix wins; one naming the method beats one without at the same length.
    route_timeouts: dict[str, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, validation_alias=AliasChoices("route_timeouts", "gateway_route_timeouts")
    )
    proxy_pool_size: int = Field(100, ge=1)
    #: How often the proxy relearns each service's route templates (its OpenAPI paths) for metrics and logs.
    route_templates_refresh_seconds: float = Field(300.0, gt=0)

    #: gzip JSON answers of at least this many bytes for clients that accept it (gateway/edge.py).
    gzip_min_bytes: int = Field(1024, ge=0)
    #: zlib level: 1 (nginx's default) costs half the CPU of 6 for a few per cent more bytes.
    gzip_level: int = Field(1, ge=1, le=9)

    #: Peers whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed (IP addresses or CIDR networks, comma
    #: separated): the client is the right-most address of the chain that is not one of them. None by default,
    #: so a client cannot pick the address its limits are counted under (gateway/forwarded.py).
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(default_factory=list)

    redis_url: str | None = None
    #: Prefix of the rate-limit counters in Redis (`{prefix}{key}:{window}`): replicas sharing limits share it.
    redis_key_prefix: str = "jz:rl:"
    #: Requests per principal per minute for people (every role but the machine ones). Each answer through
    #: `/api/…` says what is left (`RateLimit-Policy` / `RateLimit` and the legacy `RateLimit-Limit/-Remaining/
    #: -Reset`, gateway/ratelimit.py); past it, 429 `rate_limited` with `Retry-After`. A long-poll counts once.
    rate_limit_per_minute: int = Field(
        1200, ge=1, validation_alias=AliasChoices("rate_limit_per_minute", "gateway_rate_limit_per_minute")
    )
    #: Requests per principal per minute for machine clients (`province_system`, `service`): a provincial
    #: mirror pulling pages and following the feed needs more than a person at a screen.
    rate_limit_machine_per_minute: int = Field(
        12_000,
        ge=1,
        validation_alias=AliasChoices(
            "rate_limit_machine_per_minute", "gateway_rate_limit_machine_per_minute"
        ),
    )
    #: Per-client limits overriding the tier, a JSON object of a machine client's id (or any principal's `sub`:
    #: a user id) to requests per minute: `RATE_LIMIT_OVERRIDES='{"guangxi-province": 30000}'`.
    rate_limit_overrides: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        validation_alias=AliasChoices("rate_limit_overrides", "gateway_rate_limit_overrides"),
    )
    #: Token-endpoint requests per client address per minute, every grant counted.
    rate_limit_login_per_minute: int = Field(30, ge=1)
    #: Wrong passwords (or client secrets) in a row from one address lock that address out of that account (only
    #: that pair) for `login_lockout_seconds`; the owner elsewhere is not locked out.
    login_max_failures: int = Field(5, ge=1)
    login_lockout_seconds: int = Field(900, ge=1)
    #: Past `login_max_failures` failures of an account from any address, each attempt on it waits first: the base,
    #: doubled per further failure, at most the max; cleared by a success (gateway/tokens/throttle.py).
    login_backoff_base_seconds: float = Field(0.5, ge=0)
    login_backoff_max_seconds: float = Field(8.0, ge=0, le=60)
    revocation_refresh_seconds: float = Field(2.0, gt=0)

    argon2_time_cost: int = Field(3, ge=1)
    argon2_memory_kib: int = Field(65536, ge=8)
    argon2_parallelism: int = Field(2, ge=1)

    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [o.strip() for o in value.split(",") if o.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: object) -> object:
        if isinstance(value, list):
            return [ip_network(v, strict=False) if isinstance(v, str) else v for v in value]
        return value

    @property
    def upstreams(self) -> dict[str, str]:
        return {
            "registry": self.registry_url,
            "planning": self.planning_url,
            "assessment": self.assessment_url,
        }

    @model_validator(mode="after")
    def _production_keys(self) -> GatewaySettings:
        if self.production:
            if self.jwt_private_key_file is None:
                raise ValueError("production requires JWT_PRIVATE_KEY_FILE")
            if is_dev_key(self.jwt_private_key_file):
                raise ValueError("refusing development keys in production (JWT_PRIVATE_KEY_FILE)")
            if "*" in self.cors_origins:
                raise ValueError("CORS_ORIGINS='*' is not allowed in production")
        return self
