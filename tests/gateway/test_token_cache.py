"""Verified tokens are cached per token string; expiry and key changes still take effect."""

from __future__ import annotations

import time

import pytest

from shared.auth import TokenAuthority
from shared.jwt import KeySet, SigningKey, generate_private_key_pem
from shared.problems import Unauthorized
from tests.factories import issue


def authority(key: SigningKey) -> TokenAuthority:
    return TokenAuthority(KeySet(key.jwks()), audience="jingzhun-registry", issuer="jingzhun-gateway")


def test_cached_token_still_expires(signing_key: SigningKey) -> None:
    auth = authority(signing_key)
    now = int(time.time())
    token = issue(signing_key, "county_admin", "451025000000", exp=now + 1)
    assert auth.authenticate(token).role == "county_admin"
    assert auth.authenticate(token).role == "county_admin"  # served from the cache
    time.sleep(max(0.0, now + 1 - time.time()) + 0.05)
    with pytest.raises(Unauthorized, match="expired"):
        auth.authenticate(token)


def test_changing_the_key_set_drops_cached_tokens(signing_key: SigningKey) -> None:
    auth = authority(signing_key)
    token = issue(signing_key, "county_admin", "451025000000")
    auth.authenticate(token)
    auth.keys = KeySet(SigningKey.from_pem(generate_private_key_pem()).jwks())  # the old key was rotated out
    with pytest.raises(Unauthorized, match="unknown signing key"):
        auth.authenticate(token)


def test_a_tampered_variant_of_a_cached_token_is_verified_afresh(signing_key: SigningKey) -> None:
    auth = authority(signing_key)
    token = issue(signing_key, "cadre", "451025000000")
    auth.authenticate(token)
    header, payload, signature = token.split(".")
    with pytest.raises(Unauthorized):
        flipped = "A" if signature[10] != "A" else "B"
        auth.authenticate(f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}")
