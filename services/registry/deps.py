"""Dependencies of the registry's routes beyond shared/: the personal-data cipher."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.registry.pii import PersonalDataCipher

__all__ = ["CipherDep", "cipher_of"]


def cipher_of(request: Request) -> PersonalDataCipher:
    """The registry's personal-data cipher (keys from PII_KEYS_FILE; see services/registry/settings.py)."""
    cipher: PersonalDataCipher = request.app.state.cipher
    return cipher


async def _cipher(request: Request) -> PersonalDataCipher:
    return cipher_of(request)


#: The cipher that encrypts, decrypts, masks and indexes ID numbers, phones and bank accounts.
CipherDep = Annotated[PersonalDataCipher, Depends(_cipher)]
