"""The rules of signed webhooks (变更推送, issue #15), pure: who subscribes, where to, the secret, the signature,
the retry schedule and when a subscription is taken for failing.

- **Subscription**: a province system or a county admin subscribes one https URL (http only for localhost) to
  feed types of a region of its scope. It is its owner's (login and region): anyone else finds nothing.
- **Secret** (Standard Webhooks): `whsec_` + base64 of 32 bytes, derived as HMAC-SHA256(`REGISTRY_WEBHOOK_KEY`,
  `"{id}:{generation}"`): nothing secret is stored; rotating bumps the generation. It is shown once. For a day
  after a rotation the previous secret signs too (`webhook-signature` holds both, space-separated), so a
  receiver can switch without losing a delivery.
- **Signature** (Standard Webhooks): headers `webhook-id` (one per delivery, the same on every retry),
  `webhook-timestamp` (unix seconds of the attempt), `webhook-signature` = `v1,` + base64 HMAC-SHA256 of
  `{id}.{timestamp}.{body}` with the secret's bytes. `verify` is the receiver's check.
- **Retries**: a delivery that is not answered 2xx is tried again after `backoff(attempt)` (5 s, 30 s, 2 min,
  10 min, 30 min, then every hour, with up to 20 % jitter); deliveries of a subscription go one at a time, in
  feed order. A delivery still failing after `FAILING_AFTER` (a day) and `MIN_FAILURES` attempts takes its
  subscription to `failing` with the reason: it delivers nothing until resumed (PATCH `status=active`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import time
import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from shared.errors import Invalid, NotAllowed
from shared.labels import LabelledEnum
from shared.roles import Role

__all__ = [
    "BACKOFF",
    "DELIVERY_RETENTION",
    "FAILING_AFTER",
    "MIN_FAILURES",
    "OWNER_ROLES",
    "ROTATION_GRACE",
    "SECRET_PREFIX",
    "TOLERANCE_SECONDS",
    "DeliveryStatus",
    "WebhookStatus",
    "WebhookVerificationError",
    "backoff",
    "check_owner",
    "check_url",
    "derive_secret",
    "is_failing",
    "message_id",
    "public_destination",
    "secret_bytes",
    "secret_text",
    "sign",
    "signing_generations",
    "verify",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - the Standard Webhooks prefix, not a secret
TOLERANCE_SECONDS = 300
OWNER_ROLES: frozenset[Role] = frozenset({Role.province_system, Role.county_admin})
#: The waits before the 2nd, 3rd, ... attempt of a delivery; the last repeats (the cap).
BACKOFF: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
)
JITTER = 0.2
FAILING_AFTER = timedelta(days=1)
#: After a rotation, deliveries are signed with the new and the previous secret for this long.
ROTATION_GRACE = timedelta(days=1)
#: Delivered and superseded deliveries are kept this long (`GET /webhooks/{id}/deliveries`).
DELIVERY_RETENTION = timedelta(days=30)
MIN_FAILURES = 8
_LOCAL_HOSTS = frozenset({"localhost", "localhost.localdomain"})


class WebhookStatus(LabelledEnum):
    """Where a subscription stands."""

    active = "active", "推送中", "Active"
    paused = "paused", "已暂停", "Paused"
    failing = "failing", "推送失败已暂停", "Failing (paused after repeated failures)"


class DeliveryStatus(LabelledEnum):
    """Where one delivery stands."""

    pending = "pending", "待送达", "Pending"
    delivered = "delivered", "已送达", "Delivered"
    superseded = "superseded", "已被重放取代", "Superseded by a replay"


class WebhookVerificationError(Exception):
    """A delivery whose headers or signature do not verify (the receiver answers 400 and ignores it)."""


def check_owner(role: Role) -> None:
    """Province systems and county admins subscribe (403 `webhook_not_allowed` otherwise)."""
    if role not in OWNER_ROLES:
        raise NotAllowed(
            "webhook_not_allowed",
            f"role '{role}' cannot subscribe webhooks; province systems and county admins do",
            role=str(role),
        )


def _is_local(host: str) -> bool:
    if host in _LOCAL_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str) -> str:
    """An absolute https URL (http only for localhost), without credentials (422 `invalid_webhook_url`)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # a malformed port raises
    except ValueError:
        raise Invalid("invalid_webhook_url", "the webhook URL is not a URL", url=url) from None
    if parts.scheme not in ("https", "http") or not host:
        raise Invalid("invalid_webhook_url", "the webhook URL must be an absolute https URL", url=url)
    if parts.scheme == "http" and not _is_local(host):
        raise Invalid(
            "invalid_webhook_url", "the webhook URL must use https (http only for localhost)", url=url
        )
    if parts.username or parts.password:
        raise Invalid("invalid_webhook_url", "the webhook URL must not hold credentials", url=url)
    return url


def public_destination(addresses: Iterable[str]) -> bool:
    """Whether a receiver's resolved addresses are all public (global unicast): a subscription must not make the
    registry POST into its own network (loopback, private, link-local, shared or reserved ranges: SSRF). An
    empty list (the name did not resolve) is not public either."""
    found = False
    for text in addresses:
        found = True
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            return False
        if not address.is_global or address.is_multicast:
            return False
    return found


def derive_secret(key: bytes, webhook_id: uuid.UUID, generation: int) -> bytes:
    """The 32 secret bytes of a subscription's `generation` (nothing secret is stored)."""
    return hmac.new(key, f"{webhook_id}:{generation}".encode(), hashlib.sha256).digest()


def secret_text(secret: bytes) -> str:
    return SECRET_PREFIX + base64.b64encode(secret).decode()


def secret_bytes(secret: str | bytes) -> bytes:
    """The bytes of a secret given as `whsec_…` text (or as bytes already)."""
    if isinstance(secret, bytes):
        return secret
    text = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise WebhookVerificationError("the secret is not whsec_ + base64") from None


def message_id(delivery_id: uuid.UUID) -> str:
    """The `webhook-id` of a delivery: stable across its retries (receivers de-duplicate on it)."""
    return f"msg_{delivery_id.hex}"


def sign(secret: str | bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str | bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Check a delivery as a receiver does: the three headers, the timestamp within `tolerance` seconds of
    `now`, and one `v1` signature (of the space-separated list) equal to ours. Raises WebhookVerificationError."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    stamp = lower.get("webhook-timestamp")
    signatures = lower.get("webhook-signature")
    if not msg_id or not stamp or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not unix seconds") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = sign(secret, msg_id, timestamp, body).encode()
    for candidate in signatures.split(" "):
        if hmac.compare_digest(candidate.encode(), expected):
            return
    raise WebhookVerificationError("no matching v1 signature")


def backoff(attempt: int, rand: float) -> timedelta:
    """The wait after the `attempt`-th failed attempt (1-based), with jitter: `rand` in [0, 1) scales it by
    1 - JITTER .. 1 + JITTER."""
    base = BACKOFF[min(max(attempt, 1), len(BACKOFF)) - 1]
    return base * (1 - JITTER + 2 * JITTER * rand)


def is_failing(attempts: int, first_attempt_at: datetime, now: datetime) -> bool:
    """A delivery failing for a day and at least MIN_FAILURES attempts takes its subscription to `failing`."""
    return attempts >= MIN_FAILURES and now - first_attempt_at >= FAILING_AFTER


def signing_generations(generation: int, rotated_at: datetime | None, now: datetime) -> list[int]:
    """The secret generations a delivery is signed with: the current, and the previous during the grace."""
    if generation > 1 and rotated_at is not None and now - rotated_at < ROTATION_GRACE:
        return [generation, generation - 1]
    return [generation]


def check_types(types: Collection[str]) -> list[str]:
    """The feed types of a subscription, de-duplicated in a stable order (at least one)."""
    out = sorted(set(types))
    if not out:
        raise Invalid("webhook_types_empty", "a subscription names at least one type")
    return out
