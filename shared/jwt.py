"""JSON Web Tokens: the one module that imports python-jose, so the library can be swapped.

Access tokens are RS256, signed by the gateway's private key and verified everywhere else with public keys
from a JWKS. Verification is deliberately narrow: one algorithm, `kid` looked up only among keys we already
hold, and header parameters that would let a token choose its own key (`jku`, `x5u`, `jwk`) never consulted.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import JWTError, jwk
from jose import jwt as jose_jwt
from jose.backends.base import Key

__all__ = [
    "ALGORITHM",
    "DEV_KEY_MARKER",
    "InvalidToken",
    "KeySet",
    "SigningKey",
    "generate_private_key_pem",
    "write_dev_keys",
]

#: The only algorithm accepted. A fixed list (not the token's own `alg`) stops alg=none and RS/HS confusion.
ALGORITHM = "RS256"
#: A file of this name beside a private key marks it as a development key; production refuses to use it.
DEV_KEY_MARKER = "DEVELOPMENT_KEYS_DO_NOT_USE_IN_PRODUCTION"


class InvalidToken(Exception):
    """The token is not acceptable; the message says why (safe to show the caller)."""


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _public_jwk(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    jwk_dict = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    # RFC 7638 thumbprint: a kid that is stable for the key and needs no registry.
    canonical = json.dumps(jwk_dict, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**jwk_dict, "kid": kid, "alg": ALGORITHM, "use": "sig"}


def generate_private_key_pem(bits: int = 2048) -> bytes:
    """A new RSA private key in PKCS#8 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_dev_keys(directory: Path) -> Path:
    """Create (once) a development key pair under `directory`; returns the private key path."""
    directory.mkdir(parents=True, exist_ok=True)
    private = directory / "private.pem"
    if not private.exists():
        private.write_bytes(generate_private_key_pem())
        private.chmod(0o600)
        (directory / DEV_KEY_MARKER).write_text("Generated for local development by `ops.cli gen-keys`.\n")
    signing = SigningKey.from_pem(private.read_bytes())
    (directory / "jwks.json").write_text(json.dumps(signing.jwks(), indent=2))
    return private


@dataclass(frozen=True)
class SigningKey:
    """The gateway's private key with its kid."""

    kid: str
    pem: bytes
    public_jwk: dict[str, str]

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        private = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(private, rsa.RSAPrivateKey) or private.key_size < 2048:
            raise ValueError("the signing key must be an RSA private key of at least 2048 bits")
        public = _public_jwk(private.public_key())
        return cls(kid=public["kid"], pem=pem, public_jwk=public)

    @classmethod
    def from_file(cls, path: Path) -> SigningKey:
        return cls.from_pem(path.read_bytes())

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.public_jwk]}

    def sign(self, claims: dict[str, Any]) -> str:
        token: str = jose_jwt.encode(
            claims, self.pem.decode(), algorithm=ALGORITHM, headers={"kid": self.kid}
        )
        return token


class KeySet:
    """Public keys by kid, and the token verification built on them."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys: dict[str, Key] = {}
        for entry in jwks.get("keys", []):
            if entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
                continue
            if entry.get("alg", ALGORITHM) != ALGORITHM:
                continue
            self._keys[entry["kid"]] = jwk.construct(entry, ALGORITHM)

    @classmethod
    def from_file(cls, path: Path) -> KeySet:
        return cls(json.loads(path.read_text()))

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def verify(self, token: str, *, audience: str, issuer: str) -> dict[str, Any]:
        """Return the claims of a valid token or raise `InvalidToken`."""
        if token.count(".") != 2:
            raise InvalidToken("malformed token")
        try:
            header = jose_jwt.get_unverified_header(token)
        except JWTError as exc:
            raise InvalidToken("malformed token header") from exc
        # Compared exactly: "none", "None", "NONE", "HS256"... are all refused before any key is touched.
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("token algorithm not allowed")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown signing key")
        try:
            claims: dict[str, Any] = jose_jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=issuer,
                options={
                    "require_aud": True,
                    "require_iat": True,
                    "require_exp": True,
                    "require_nbf": True,
                    "require_iss": True,
                    "require_sub": True,
                    "require_jti": True,
                    "leeway": 0,
                },
            )
        except jose_jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jose_jwt.JWTClaimsError as exc:
            raise InvalidToken(f"token claims rejected: {exc}") from exc
        except JWTError as exc:
            raise InvalidToken(f"token rejected: {exc}") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("token has no subject")
        return claims
