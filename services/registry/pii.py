"""Protected personal data: encryption at rest, blind indexes for exact lookup, and masking.

- Values (ID numbers, phones, bank accounts) are stored AES-256-GCM encrypted, with the field and record as
  associated data so a ciphertext cannot be moved to another field or row and still decrypt.
- A keyed HMAC-SHA256 of the normalised value (a blind index) allows exact-match lookup and uniqueness (one
  person, one active membership: invariant 2) without storing the value in clear.
- Responses mask values unless the role needs them (invariant 49: ID numbers show the first 6 and last 4).

Keys carry an id so that they can be rotated: ciphertexts name the key that made them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.jwt import DEV_KEY_MARKER

__all__ = [
    "PersonalDataCipher",
    "cipher_from_json",
    "generate_keys",
    "mask_bank_account",
    "mask_id_number",
    "mask_phone",
    "write_dev_keys",
]

_NONCE = 12


@dataclass
class PersonalDataCipher:
    """Encrypts and indexes personal data with versioned keys (32 bytes each)."""

    encryption_keys: dict[str, bytes]
    current_key_id: str
    index_key: bytes
    _aead: dict[str, AESGCM] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.current_key_id not in self.encryption_keys:
            raise ValueError("current_key_id names no key")
        if any(len(k) != 32 for k in self.encryption_keys.values()) or len(self.index_key) < 32:
            raise ValueError("encryption keys are 32 bytes; the index key at least 32 bytes")
        self._aead = {kid: AESGCM(key) for kid, key in self.encryption_keys.items()}

    def encrypt(self, value: str, *, context: str) -> str:
        """`v1:<key id>:<base64(nonce | ciphertext)>`; `context` (e.g. "member:<id>:id_number") is bound in."""
        nonce = os.urandom(_NONCE)
        sealed = self._aead[self.current_key_id].encrypt(nonce, value.encode(), context.encode())
        return f"v1:{self.current_key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, *, context: str) -> str:
        version, kid, payload = token.split(":", 2)
        if version != "v1" or kid not in self._aead:
            raise ValueError("unknown ciphertext version or key")
        raw = base64.b64decode(payload)
        return self._aead[kid].decrypt(raw[:_NONCE], raw[_NONCE:], context.encode()).decode()

    def blind_index(self, value: str, *, kind: str) -> str:
        """Deterministic keyed digest of the normalised value; `kind` separates ID numbers from phones."""
        normalised = "".join(value.split()).upper()
        return hmac.new(self.index_key, f"{kind}:{normalised}".encode(), hashlib.sha256).hexdigest()

    def needs_reencryption(self, token: str) -> bool:
        return token.split(":", 2)[1] != self.current_key_id


def mask_id_number(number: str) -> str:
    """First 6 and last 4 characters (DOMAIN.md §7 invariant 49): 452625********1234."""
    return (
        number[:6] + "*" * max(0, len(number) - 10) + number[-4:] if len(number) > 10 else "*" * len(number)
    )


def mask_phone(phone: str) -> str:
    """Keeps the last 4 digits: *******5678."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    return "*" * max(0, len(digits) - 4) + digits[-4:]


def mask_bank_account(account: str) -> str:
    """Keeps the last 4 digits: ************1234."""
    digits = "".join(ch for ch in account if ch.isalnum())
    return "*" * max(0, len(digits) - 4) + digits[-4:]


def generate_keys() -> dict[str, object]:
    """A fresh key file's content: one 32-byte encryption key (id k1) and a 32-byte index key, base64."""
    return {
        "current": "k1",
        "encryption_keys": {"k1": base64.b64encode(os.urandom(32)).decode()},
        "index_key": base64.b64encode(os.urandom(32)).decode(),
    }


def cipher_from_json(text: str) -> PersonalDataCipher:
    """Parse a key file: {"current": id, "encryption_keys": {id: base64}, "index_key": base64}."""
    data = json.loads(text)
    return PersonalDataCipher(
        encryption_keys={kid: base64.b64decode(v) for kid, v in data["encryption_keys"].items()},
        current_key_id=data["current"],
        index_key=base64.b64decode(data["index_key"]),
    )


def write_dev_keys(directory: Path) -> Path:
    """Development key file in `directory` (kept if present), beside the dev-key marker."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pii-keys.json"
    if not path.exists():
        path.write_text(json.dumps(generate_keys()))
        path.chmod(0o600)
    (directory / DEV_KEY_MARKER).touch()
    return path
