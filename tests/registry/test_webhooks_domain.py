"""The pure rules of signed webhooks (issue #15): the Standard Webhooks signature, verification, the derived
secret, URLs, the retry schedule, when a subscription fails."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.registry.webhooks import domain
from services.registry.webhooks.domain import WebhookVerificationError
from shared.errors import Invalid, NotAllowed
from shared.roles import Role

#: The test vector of the Standard Webhooks reference libraries (standard-webhooks/standard-webhooks).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _headers(signature: str = VECTOR_SIGNATURE, ts: int = VECTOR_TS) -> dict[str, str]:
    return {"webhook-id": VECTOR_ID, "webhook-timestamp": str(ts), "webhook-signature": signature}


class TestSignature:
    def test_known_answer(self) -> None:
        assert domain.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIGNATURE

    def test_verify_accepts_the_vector(self) -> None:
        domain.verify(VECTOR_SECRET, _headers(), VECTOR_BODY, now=VECTOR_TS + 10)

    def test_verify_finds_its_signature_among_several(self) -> None:
        both = "v1,bm90IHRoaXMgb25l " + VECTOR_SIGNATURE
        domain.verify(VECTOR_SECRET, _headers(both), VECTOR_BODY, now=VECTOR_TS)

    def test_header_names_are_case_insensitive(self) -> None:
        upper = {k.title(): v for k, v in _headers().items()}
        domain.verify(VECTOR_SECRET, upper, VECTOR_BODY, now=VECTOR_TS)

    @pytest.mark.parametrize(
        ("headers", "body", "now"),
        [
            (_headers(), b'{"test": 2432232315}', VECTOR_TS),  # the body changed
            (_headers("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OF="), VECTOR_BODY, VECTOR_TS),
            (_headers(ts=VECTOR_TS + 1), VECTOR_BODY, VECTOR_TS),  # the timestamp is signed
            (_headers(), VECTOR_BODY, VECTOR_TS + 301),  # too old
            (_headers(), VECTOR_BODY, VECTOR_TS - 301),  # too new
            ({"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TS)}, VECTOR_BODY, VECTOR_TS),
            (_headers() | {"webhook-timestamp": "soon"}, VECTOR_BODY, VECTOR_TS),
            (_headers(VECTOR_SIGNATURE.replace("v1,", "v2,")), VECTOR_BODY, VECTOR_TS),
        ],
    )
    def test_verify_refuses(self, headers: dict[str, str], body: bytes, now: int) -> None:
        with pytest.raises(WebhookVerificationError):
            domain.verify(VECTOR_SECRET, headers, body, now=now)

    def test_another_secret_does_not_verify(self) -> None:
        other = domain.secret_text(b"\x01" * 32)
        with pytest.raises(WebhookVerificationError):
            domain.verify(other, _headers(), VECTOR_BODY, now=VECTOR_TS)


class TestSecret:
    def test_derived_per_subscription_and_generation(self) -> None:
        a, b = uuid.uuid4(), uuid.uuid4()
        key = b"k" * 32
        assert domain.derive_secret(key, a, 1) == domain.derive_secret(key, a, 1)
        assert domain.derive_secret(key, a, 1) != domain.derive_secret(key, a, 2)
        assert domain.derive_secret(key, a, 1) != domain.derive_secret(key, b, 1)
        assert domain.derive_secret(key, a, 1) != domain.derive_secret(b"other", a, 1)

    def test_text_round_trip(self) -> None:
        raw = domain.derive_secret(b"k", uuid.uuid4(), 1)
        text = domain.secret_text(raw)
        assert text.startswith("whsec_") and len(base64.b64decode(text[6:])) == 32
        assert domain.secret_bytes(text) == raw

    def test_previous_secret_signs_for_a_day_after_a_rotation(self) -> None:
        at = datetime(2026, 12, 6, tzinfo=UTC)
        assert domain.signing_generations(1, None, at) == [1]
        assert domain.signing_generations(2, at, at + timedelta(hours=23)) == [2, 1]
        assert domain.signing_generations(2, at, at + timedelta(days=1)) == [2]

    def test_message_id_is_stable(self) -> None:
        delivery = uuid.uuid4()
        assert domain.message_id(delivery) == domain.message_id(delivery) == f"msg_{delivery.hex}"


class TestUrlAndOwner:
    @pytest.mark.parametrize(
        "url",
        [
            "https://sjk.gxfp.gov.cn/hooks/jingzhun",
            "http://localhost:8080/hook",
            "http://127.0.0.1/h",
            "http://[::1]/h",
        ],
    )
    def test_accepted(self, url: str) -> None:
        assert domain.check_url(url) == url

    @pytest.mark.parametrize(
        "url",
        [
            "http://sjk.gxfp.gov.cn/hook",
            "ftp://localhost/hook",
            "https:///nohost",
            "/relative",
            "https://user:pw@sjk.gxfp.gov.cn/hook",
            "https://sjk.gxfp.gov.cn:99999/hook",
        ],
    )
    def test_refused(self, url: str) -> None:
        with pytest.raises(Invalid) as caught:
            domain.check_url(url)
        assert caught.value.code == "invalid_webhook_url"

    def test_owners(self) -> None:
        domain.check_owner(Role.province_system)
        domain.check_owner(Role.county_admin)
        for role in (Role.village_officer, Role.township_officer, Role.cadre, Role.service):
            with pytest.raises(NotAllowed):
                domain.check_owner(role)

    def test_types(self) -> None:
        assert domain.check_types(["pairing", "household", "pairing"]) == ["household", "pairing"]
        with pytest.raises(Invalid):
            domain.check_types([])


class TestRetries:
    def test_schedule_grows_and_is_capped(self) -> None:
        waits = [domain.backoff(n, 0.5) for n in range(1, 10)]
        assert waits[:3] == [timedelta(seconds=5), timedelta(seconds=30), timedelta(minutes=2)]
        assert waits == sorted(waits)
        assert waits[-1] == timedelta(hours=1)

    def test_jitter_stays_within_a_fifth(self) -> None:
        assert domain.backoff(1, 0.0) == timedelta(seconds=4)
        assert domain.backoff(1, 0.999999) < timedelta(seconds=6)
        assert domain.backoff(6, 0.999999) < timedelta(hours=1.2)

    def test_failing_after_a_day_and_enough_attempts(self) -> None:
        first = datetime(2026, 12, 6, tzinfo=UTC)
        assert not domain.is_failing(domain.MIN_FAILURES, first, first + timedelta(hours=23))
        assert not domain.is_failing(domain.MIN_FAILURES - 1, first, first + timedelta(days=2))
        assert domain.is_failing(domain.MIN_FAILURES, first, first + timedelta(days=1))
