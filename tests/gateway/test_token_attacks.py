"""Forged, altered and malformed bearer tokens: each must be refused with 401 problem+json.

Every attack runs against the gateway (`GET /auth/me`, audience jingzhun-gateway) and against a service
(registry `GET /me`, audience jingzhun-registry), which verify tokens with the same code but separately
configured key sets. Forged tokens are built by hand (header and claims JSON, base64url, signature computed
with `cryptography` or `hmac`), so any header can be sent, including ones a JWT library refuses to produce.

A positive control (a token signed by the real key with the baseline claims) must be accepted at both
targets, so that a broken harness cannot make every test here pass vacuously.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from shared.jwt import SigningKey
from tests.factories import (
    COUNTY,
    bearer,
    login,
    token_for,
)

PROBLEM_JSON = "application/problem+json"
AUDIENCES = ["jingzhun-gateway", "jingzhun-registry", "jingzhun-planning", "jingzhun-assessment"]
ATTACKER_URL = "https://attacker.example/jwks.json"
DROP = object()  # claim/header override meaning "leave this one out"


# -- forging helpers -------------------------------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def sign_rs256(private_key: rsa.RSAPrivateKey, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """An RS256 JWS over exactly the given header and claims (no library opinion about either)."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def sign_hs256(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    signing_input = f"{segment(header)}.{segment(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{segment(header)}.{segment(claims)}."


def public_jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def uint(value: int) -> str:
        return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))

    return {
        "kty": "RSA",
        "n": uint(numbers.n),
        "e": uint(numbers.e),
        "kid": kid,
        "alg": "RS256",
        "use": "sig",
    }


def claims(role: Any = "cadre", **overrides: Any) -> dict[str, Any]:
    """The baseline: claims the gateway itself would issue. `name=DROP` removes a claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": "jingzhun-gateway",
        "aud": list(AUDIENCES),
        "sub": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "role": role,
        "region": COUNTY,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not DROP}


@dataclass(frozen=True)
class Keys:
    real: rsa.RSAPrivateKey
    real_kid: str
    real_public_pem: bytes
    attacker: rsa.RSAPrivateKey

    def header(self, **overrides: Any) -> dict[str, Any]:
        base: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": self.real_kid}
        base.update(overrides)
        return {k: v for k, v in base.items() if v is not DROP}

    def genuine(self, **claim_overrides: Any) -> str:
        return sign_rs256(self.real, self.header(), claims(**claim_overrides))


@pytest.fixture(scope="session")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def keys(signing_key: SigningKey, attacker_key: rsa.RSAPrivateKey) -> Keys:
    real = serialization.load_pem_private_key(signing_key.pem, password=None)
    assert isinstance(real, rsa.RSAPrivateKey)
    public_pem = real.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Keys(real=real, real_kid=signing_key.kid, real_public_pem=public_pem, attacker=attacker_key)


@dataclass(frozen=True)
class Target:
    name: str
    client: httpx.AsyncClient
    path: str

    async def call(self, headers: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.get(self.path, headers=headers or {})


@pytest.fixture(params=["gateway", "registry"])
def target(request: pytest.FixtureRequest) -> Target:
    client = request.getfixturevalue(request.param)
    return Target(request.param, client, "/auth/me" if request.param == "gateway" else "/me")


def assert_unauthorized(response: httpx.Response, detail: str | None = None) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith('Bearer realm="jingzhun"')
    body: dict[str, Any] = response.json()
    assert body["status"] == 401
    assert body["type"] == "https://jingzhun.example/problems/unauthorized"
    assert body["title"] == "Authentication required"
    if detail is not None:
        assert detail in body["detail"], body
    # Nothing about the caller may leak from a refused token.
    assert not {"sub", "role", "region"} & body.keys()
    return body


# -- positive control ------------------------------------------------------------------------------------
class TestPositiveControl:
    async def test_token_signed_by_the_real_key_with_baseline_claims_is_accepted(
        self, target: Target, keys: Keys
    ) -> None:
        token_claims = claims(role="township_officer", region="451025100000")
        response = await target.call(bearer(sign_rs256(keys.real, keys.header(), token_claims)))
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["sub"] == token_claims["sub"]
        assert body["role"] == "township_officer"
        assert body["region"] == "451025100000"

    async def test_forged_token_without_typ_header_is_accepted(self, target: Target, keys: Keys) -> None:
        # typ is optional; the control shows the hand-built header format itself is not what gets refused.
        response = await target.call(bearer(sign_rs256(keys.real, keys.header(typ=DROP), claims())))
        assert response.status_code == 200, response.text


# -- algorithm confusion ---------------------------------------------------------------------------------
class TestAlgorithmNone:
    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    async def test_unsigned_token_is_refused(self, target: Target, keys: Keys, alg: str) -> None:
        token = unsigned(keys.header(alg=alg), claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "algorithm not allowed")

    @pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
    async def test_unsigned_token_without_kid_is_refused(self, target: Target, keys: Keys, alg: str) -> None:
        token = unsigned({"alg": alg, "typ": "JWT"}, claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "algorithm not allowed")

    async def test_alg_none_keeping_the_original_signature_is_refused(
        self, target: Target, keys: Keys
    ) -> None:
        genuine = keys.genuine()
        _, payload, signature = genuine.split(".")
        token = f"{segment(keys.header(alg='none'))}.{payload}.{signature}"
        assert_unauthorized(await target.call(bearer(token)), "algorithm not allowed")


class TestAlgorithmConfusion:
    async def test_hs256_signed_with_the_public_key_pem_is_refused(self, target: Target, keys: Keys) -> None:
        token = sign_hs256(keys.real_public_pem, keys.header(alg="HS256"), claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "algorithm not allowed")

    async def test_hs256_with_public_key_pem_and_no_kid_is_refused(self, target: Target, keys: Keys) -> None:
        token = sign_hs256(keys.real_public_pem, {"alg": "HS256", "typ": "JWT"}, claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "algorithm not allowed")

    @pytest.mark.parametrize("alg", ["rs256", "RS512", "PS256", "ES256", "", None, ["RS256"]])
    async def test_other_or_malformed_alg_with_a_real_signature_is_refused(
        self, target: Target, keys: Keys, alg: Any
    ) -> None:
        token = sign_rs256(keys.real, keys.header(alg=alg), claims())
        assert_unauthorized(await target.call(bearer(token)), "algorithm not allowed")

    async def test_missing_alg_is_refused(self, target: Target, keys: Keys) -> None:
        token = sign_rs256(keys.real, keys.header(alg=DROP), claims())
        assert_unauthorized(await target.call(bearer(token)), "algorithm not allowed")


# -- claims ----------------------------------------------------------------------------------------------
def _now() -> int:
    return int(time.time())


CLAIM_CASES: dict[str, tuple[Callable[[], dict[str, Any]], str]] = {
    "expired": (lambda: claims(iat=_now() - 1200, nbf=_now() - 1200, exp=_now() - 300), "expired"),
    "expired_one_second_ago": (lambda: claims(exp=_now() - 1), "expired"),
    "not_yet_valid": (lambda: claims(nbf=_now() + 600, exp=_now() + 900), "not yet valid"),
    "wrong_issuer": (lambda: claims(iss="https://attacker.example"), "issuer"),
    "issuer_differs_in_case": (lambda: claims(iss="Jingzhun-Gateway"), "issuer"),
    "missing_issuer": (lambda: claims(iss=DROP), "iss"),
    "wrong_audience": (lambda: claims(aud=["jingzhun-elsewhere"]), "audience"),
    "wrong_audience_string": (lambda: claims(aud="jingzhun-planning-and-more"), "audience"),
    "missing_audience": (lambda: claims(aud=DROP), "aud"),
    "missing_subject": (lambda: claims(sub=DROP), "sub"),
    "empty_subject": (lambda: claims(sub=""), "subject"),
    "non_string_subject": (lambda: claims(sub=12345), "Subject"),
    "missing_expiry": (lambda: claims(exp=DROP), "exp"),
    "missing_issued_at": (lambda: claims(iat=DROP), "iat"),
    "missing_not_before": (lambda: claims(nbf=DROP), "nbf"),
    "missing_jti": (lambda: claims(jti=DROP), "jti"),
    "missing_role": (lambda: claims(role=DROP), "role"),
    "unknown_role": (lambda: claims(role="superuser"), "role"),
    "missing_region": (lambda: claims(region=DROP), "region"),
    "malformed_region": (lambda: claims(region="45102500000"), "region"),
    "region_with_bad_segments": (lambda: claims(region="450025000000"), "region"),
}


class TestClaims:
    @pytest.mark.parametrize("case", list(CLAIM_CASES))
    async def test_token_signed_by_the_real_key_with_bad_claims_is_refused(
        self, target: Target, keys: Keys, case: str
    ) -> None:
        make_claims, detail = CLAIM_CASES[case]
        token = sign_rs256(keys.real, keys.header(), make_claims())
        assert_unauthorized(await target.call(bearer(token)), detail)

    async def test_wrong_audience_for_this_target_only_is_refused(self, target: Target, keys: Keys) -> None:
        # Valid for every audience except the one of the target being called.
        own = "jingzhun-gateway" if target.name == "gateway" else "jingzhun-registry"
        token = keys.genuine(aud=[a for a in AUDIENCES if a != own])
        assert_unauthorized(await target.call(bearer(token)), "audience")


# -- tampering and truncation ----------------------------------------------------------------------------
def _tamper(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded.update(changes)
    return f"{header}.{segment(decoded)}.{signature}"


class TestTampering:
    async def test_forged_cadre_token_with_role_changed_to_county_admin_is_refused(
        self, target: Target, keys: Keys
    ) -> None:
        genuine = keys.genuine(role="cadre")
        assert (await target.call(bearer(genuine))).status_code == 200
        assert_unauthorized(await target.call(bearer(_tamper(genuine, role="county_admin"))), "Signature")

    async def test_issued_cadre_token_with_role_changed_to_county_admin_is_refused(
        self, target: Target, gateway: httpx.AsyncClient, make_user: Callable[..., Any]
    ) -> None:
        cadre = await make_user("cadre", COUNTY)
        genuine = await token_for(gateway, cadre)
        assert (await target.call(bearer(genuine))).status_code == 200
        assert_unauthorized(await target.call(bearer(_tamper(genuine, role="county_admin"))), "Signature")

    async def test_tampered_region_is_refused(self, target: Target, keys: Keys) -> None:
        genuine = keys.genuine(role="county_admin", region=COUNTY)
        assert_unauthorized(await target.call(bearer(_tamper(genuine, region="450000000000"))), "Signature")

    async def test_extended_expiry_is_refused(self, target: Target, keys: Keys) -> None:
        genuine = keys.genuine()
        assert_unauthorized(await target.call(bearer(_tamper(genuine, exp=_now() + 10**6))), "Signature")

    async def test_signature_of_another_genuine_token_is_refused(self, target: Target, keys: Keys) -> None:
        first, second = keys.genuine(role="cadre"), keys.genuine(role="county_admin")
        spliced = ".".join(second.split(".")[:2] + first.split(".")[2:])
        assert_unauthorized(await target.call(bearer(spliced)), "Signature")


TRUNCATIONS: dict[str, Callable[[str], str]] = {
    "signature_removed_keeping_dot": lambda t: t.rsplit(".", 1)[0] + ".",
    "signature_part_removed": lambda t: t.rsplit(".", 1)[0],
    "last_char_removed": lambda t: t[:-1],
    "last_five_chars_removed": lambda t: t[:-5],
    "half_the_signature_removed": lambda t: t[: len(t) - len(t.rsplit(".", 1)[1]) // 2],
    "header_only": lambda t: t.split(".")[0],
    "header_and_dot": lambda t: t.split(".")[0] + ".",
    "payload_removed": lambda t: t.split(".")[0] + ".." + t.split(".")[2],
    "extra_segment": lambda t: t + ".AAAA",
}


class TestTruncation:
    @pytest.mark.parametrize("case", list(TRUNCATIONS))
    async def test_truncated_or_restructured_genuine_token_is_refused(
        self, target: Target, keys: Keys, case: str
    ) -> None:
        token = TRUNCATIONS[case](keys.genuine())
        assert_unauthorized(await target.call(bearer(token)))


# -- key selection ---------------------------------------------------------------------------------------
class TestKeySelection:
    async def test_unknown_kid_is_refused(self, target: Target, keys: Keys) -> None:
        token = sign_rs256(keys.real, keys.header(kid="no-such-key"), claims())
        assert_unauthorized(await target.call(bearer(token)), "unknown signing key")

    async def test_missing_kid_is_refused(self, target: Target, keys: Keys) -> None:
        token = sign_rs256(keys.real, keys.header(kid=DROP), claims())
        assert_unauthorized(await target.call(bearer(token)), "unknown signing key")

    @pytest.mark.parametrize("kid", [None, 1, ["x"], {"kid": "x"}, ""])
    async def test_non_string_or_empty_kid_is_refused(self, target: Target, keys: Keys, kid: Any) -> None:
        token = sign_rs256(keys.real, keys.header(kid=kid), claims())
        assert_unauthorized(await target.call(bearer(token)), "unknown signing key")

    async def test_embedded_jwk_with_attacker_key_and_unknown_kid_is_ignored(
        self, target: Target, keys: Keys
    ) -> None:
        header = keys.header(kid="attacker-key", jwk=public_jwk(keys.attacker, "attacker-key"))
        token = sign_rs256(keys.attacker, header, claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "unknown signing key")

    async def test_embedded_jwk_with_attacker_key_and_the_real_kid_is_ignored(
        self, target: Target, keys: Keys
    ) -> None:
        header = keys.header(jwk=public_jwk(keys.attacker, keys.real_kid))
        token = sign_rs256(keys.attacker, header, claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "Signature")

    @pytest.mark.parametrize("param", ["jku", "x5u"])
    async def test_key_url_header_with_attacker_signature_is_ignored(
        self, target: Target, keys: Keys, param: str
    ) -> None:
        header = keys.header(kid="attacker-key", **{param: ATTACKER_URL})
        token = sign_rs256(keys.attacker, header, claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "unknown signing key")

    @pytest.mark.parametrize("param", ["jku", "x5u"])
    async def test_key_url_header_with_real_kid_and_attacker_signature_is_ignored(
        self, target: Target, keys: Keys, param: str
    ) -> None:
        header = keys.header(**{param: ATTACKER_URL})
        token = sign_rs256(keys.attacker, header, claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "Signature")

    async def test_x5c_certificate_chain_header_is_ignored(self, target: Target, keys: Keys) -> None:
        header = keys.header(kid="attacker-key", x5c=[b64url(b"not really a certificate")])
        token = sign_rs256(keys.attacker, header, claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "unknown signing key")

    async def test_different_rsa_key_with_the_real_kid_is_refused(self, target: Target, keys: Keys) -> None:
        token = sign_rs256(keys.attacker, keys.header(), claims(role="county_admin"))
        assert_unauthorized(await target.call(bearer(token)), "Signature")


# -- malformed input -------------------------------------------------------------------------------------
GARBAGE: dict[str, str | bytes] = {
    "word": "garbage",
    "dots_only": "..",
    "three_letters": "a.b.c",
    "empty_json_objects": "e30.e30.",
    "empty_header_object": "e30.e30.e30",
    "header_not_json": f"{b64url(b'not json')}.e30.e30",
    "header_json_array": f"{b64url(b'[]')}.e30.e30",
    "header_json_string": f"{b64url(json.dumps('RS256').encode())}.e30.e30",
    "deeply_nested_header": f"{b64url(b'[' * 5000)}.e30.e30",
    "invalid_base64": "!!!.@@@.###",
    "bad_padding": "eyJhbGciOiJSUzI1NiJ9=.e30=.e30=",
    "very_long": "a" * 4000 + "." + "b" * 4000 + "." + "c" * 100,
    "not_ascii": b"\xff\xfe.\xff.\xff",
    "control_characters": "\x01\x02.\x03.\x04",
}


class TestGarbage:
    @pytest.mark.parametrize("case", list(GARBAGE))
    async def test_garbage_bearer_token_is_refused(self, target: Target, case: str) -> None:
        value = GARBAGE[case]
        header = b"Bearer " + value if isinstance(value, bytes) else f"Bearer {value}"
        assert_unauthorized(await target.call({"Authorization": header}))

    async def test_header_signed_but_payload_not_an_object_is_refused(
        self, target: Target, keys: Keys
    ) -> None:
        signing_input = f"{segment(keys.header())}.{segment(['sub', 'x'])}"
        signature = keys.real.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        assert_unauthorized(await target.call(bearer(f"{signing_input}.{b64url(signature)}")))


class TestAuthorizationHeader:
    async def test_missing_authorization_header_is_401_with_challenge(self, target: Target) -> None:
        response = await target.call()
        body = assert_unauthorized(response)
        assert response.status_code != 422
        assert response.headers["www-authenticate"] == 'Bearer realm="jingzhun"'
        assert body["detail"] == "Authentication required"

    @pytest.mark.parametrize(
        "value",
        [
            "Basic xyz",
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "Bearer ",
            "Bearer    ",
            "Token abc",
            "Bearerabc",
            "JWT x.y.z",
        ],
    )
    async def test_wrong_scheme_or_empty_bearer_is_refused(self, target: Target, value: str) -> None:
        assert_unauthorized(await target.call({"Authorization": value}), "Bearer")

    async def test_wrong_scheme_carrying_a_valid_token_is_refused(self, target: Target, keys: Keys) -> None:
        assert_unauthorized(await target.call({"Authorization": f"Token {keys.genuine()}"}), "Bearer")

    async def test_scheme_name_is_case_insensitive(self, target: Target, keys: Keys) -> None:
        # RFC 7235 §2.1: the scheme is case-insensitive. The control for the tests above.
        response = await target.call({"Authorization": f"bearer {keys.genuine()}"})
        assert response.status_code == 200, response.text

    async def test_identity_headers_without_a_token_are_ignored(self, target: Target) -> None:
        headers = {
            "X-User": "admin",
            "X-Role": "county_admin",
            "X-Region": COUNTY,
            "X-Forwarded-User": "admin",
        }
        assert_unauthorized(await target.call(headers))


# -- revoked users ---------------------------------------------------------------------------------------
class TestDisabledUser:
    async def test_disabled_users_access_token_and_refresh_token_stop_working(
        self, gateway: httpx.AsyncClient, make_user: Callable[..., Any]
    ) -> None:
        admin = await make_user("county_admin", COUNTY)
        officer = await make_user("township_officer", "451025100000")
        issued = await login(gateway, officer.username)
        assert issued.status_code == 200, issued.text
        access, refresh = issued.json()["access_token"], issued.json()["refresh_token"]
        assert (await gateway.get("/auth/me", headers=bearer(access))).status_code == 200

        admin_token = await token_for(gateway, admin)
        disabled = await gateway.post(f"/users/{officer.id}/disable", headers=bearer(admin_token))
        assert disabled.status_code == 200, disabled.text
        assert disabled.json()["disabled"] is True

        assert_unauthorized(await gateway.get("/auth/me", headers=bearer(access)), "revoked")
        refreshed = await gateway.post(
            "/auth/token", data={"grant_type": "refresh_token", "refresh_token": refresh}
        )
        assert refreshed.status_code == 401, refreshed.text
        assert refreshed.headers["content-type"] == PROBLEM_JSON
        # Nor can they simply log in again.
        relogin = await login(gateway, officer.username)
        assert relogin.status_code == 401
        assert relogin.headers["content-type"] == PROBLEM_JSON

    async def test_disabled_user_stays_revoked_after_the_revocation_list_reloads(
        self, gateway: httpx.AsyncClient, make_user: Callable[..., Any]
    ) -> None:
        from gateway.identity import refresh_revocations

        admin = await make_user("county_admin", COUNTY)
        cadre = await make_user("cadre", COUNTY)
        access = await token_for(gateway, cadre)
        admin_token = await token_for(gateway, admin)
        assert (
            await gateway.post(f"/users/{cadre.id}/disable", headers=bearer(admin_token))
        ).status_code == 200
        app = gateway.app  # type: ignore[attr-defined]
        await refresh_revocations(app.state.revocations, app.state.sessions, access_ttl=900)
        assert_unauthorized(await gateway.get("/auth/me", headers=bearer(access)), "revoked")

    async def test_other_users_are_unaffected_by_a_disable(
        self, gateway: httpx.AsyncClient, make_user: Callable[..., Any]
    ) -> None:
        admin = await make_user("county_admin", COUNTY)
        victim = await make_user("cadre", COUNTY)
        bystander = await make_user("cadre", COUNTY)
        bystander_token = await token_for(gateway, bystander)
        admin_token = await token_for(gateway, admin)
        assert (
            await gateway.post(f"/users/{victim.id}/disable", headers=bearer(admin_token))
        ).status_code == 200
        assert (await gateway.get("/auth/me", headers=bearer(bystander_token))).status_code == 200
