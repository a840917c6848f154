"""The rules of gateway/tokens/domain.py, with no database: lockout, refresh-token reuse, audiences, lifetimes,
claims and revocation cut-offs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from gateway.tokens import domain
from gateway.tokens.domain import (
    ALL_AUDIENCES,
    AccessGrant,
    AccountState,
    LockoutPolicy,
    LoginFailure,
    RefreshVerdict,
)
from shared.errors import Invalid
from shared.roles import Role

NOW = datetime(2024, 3, 1, 8, 30, 15, 250_000, tzinfo=UTC)
POLICY = LockoutPolicy(max_failures=3, lockout=timedelta(minutes=15))


def account(failed: int = 0, locked_until: datetime | None = None, *, disabled: bool = False) -> AccountState:
    return AccountState(failed_logins=failed, locked_until=locked_until, disabled=disabled)


class TestJudgeLogin:
    def test_right_password_is_accepted_and_clears_the_counters(self) -> None:
        outcome = domain.judge_login(
            account(2, NOW - timedelta(seconds=1)), password_valid=True, now=NOW, policy=POLICY
        )
        assert outcome.accepted
        assert (outcome.failure, outcome.failed_logins, outcome.locked_until) == (None, 0, None)
        assert not outcome.locked_now

    def test_unknown_user_is_refused_without_counters(self) -> None:
        outcome = domain.judge_login(None, password_valid=False, now=NOW, policy=POLICY)
        assert outcome.failure is LoginFailure.unknown_user
        assert not outcome.accepted and not outcome.locked_now

    def test_wrong_password_counts(self) -> None:
        outcome = domain.judge_login(account(1), password_valid=False, now=NOW, policy=POLICY)
        assert outcome.failure is LoginFailure.wrong_password
        assert outcome.failed_logins == 2
        assert outcome.locked_until is None and not outcome.locked_now

    def test_reaching_the_limit_locks_and_restarts_the_count(self) -> None:
        outcome = domain.judge_login(account(2), password_valid=False, now=NOW, policy=POLICY)
        assert outcome.failure is LoginFailure.wrong_password
        assert outcome.locked_now
        assert outcome.locked_until == NOW + POLICY.lockout
        assert outcome.failed_logins == 0

    @pytest.mark.parametrize("valid", [True, False])
    def test_locked_account_is_refused_and_nothing_counts(self, valid: bool) -> None:
        until = NOW + timedelta(minutes=5)
        outcome = domain.judge_login(account(0, until), password_valid=valid, now=NOW, policy=POLICY)
        assert outcome.failure is LoginFailure.locked
        assert (outcome.failed_logins, outcome.locked_until, outcome.locked_now) == (0, until, False)

    def test_a_lock_that_has_passed_no_longer_counts(self) -> None:
        outcome = domain.judge_login(account(0, NOW), password_valid=True, now=NOW, policy=POLICY)
        assert outcome.accepted

    def test_disabled_account_with_the_right_password_is_refused_as_disabled(self) -> None:
        outcome = domain.judge_login(account(1, disabled=True), password_valid=True, now=NOW, policy=POLICY)
        assert outcome.failure is LoginFailure.disabled
        assert outcome.failed_logins == 1

    def test_disabled_account_with_a_wrong_password_counts_it(self) -> None:
        outcome = domain.judge_login(account(1, disabled=True), password_valid=False, now=NOW, policy=POLICY)
        assert outcome.failure is LoginFailure.wrong_password
        assert outcome.failed_logins == 2

    def test_failure_reasons_are_the_audit_strings(self) -> None:
        assert [str(r) for r in LoginFailure] == ["unknown user", "wrong password", "locked", "disabled"]


class TestJudgeRefresh:
    EXPIRES = NOW + timedelta(days=14)

    def test_fresh_token_rotates(self) -> None:
        verdict = domain.judge_refresh(rotated_at=None, revoked_at=None, expires_at=self.EXPIRES, now=NOW)
        assert verdict is RefreshVerdict.rotate

    def test_rotated_token_presented_again_is_a_replay(self) -> None:
        verdict = domain.judge_refresh(rotated_at=NOW, revoked_at=None, expires_at=self.EXPIRES, now=NOW)
        assert verdict is RefreshVerdict.replayed
        assert verdict in domain.REFUSED_REFRESH

    @pytest.mark.parametrize("rotated_at", [None, NOW])
    def test_revoked_token_is_spent_not_a_new_alarm(self, rotated_at: datetime | None) -> None:
        verdict = domain.judge_refresh(
            rotated_at=rotated_at, revoked_at=NOW, expires_at=self.EXPIRES, now=NOW
        )
        assert verdict is RefreshVerdict.spent
        assert verdict in domain.REFUSED_REFRESH

    def test_expired_token(self) -> None:
        verdict = domain.judge_refresh(rotated_at=None, revoked_at=None, expires_at=NOW, now=NOW)
        assert verdict is RefreshVerdict.expired
        assert verdict not in domain.REFUSED_REFRESH

    def test_tokens_are_stored_as_their_sha256(self) -> None:
        digest = domain.refresh_token_digest("abc")
        assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


class TestAudiences:
    def test_no_audience_asked_means_all(self) -> None:
        assert domain.audiences_for(None) == ALL_AUDIENCES
        assert ALL_AUDIENCES == (
            "jingzhun-gateway",
            "jingzhun-registry",
            "jingzhun-planning",
            "jingzhun-assessment",
        )

    @pytest.mark.parametrize("audience", ALL_AUDIENCES)
    def test_one_audience_asked_is_the_only_one(self, audience: str) -> None:
        assert domain.audiences_for(audience) == (audience,)

    def test_unknown_audience_is_invalid(self) -> None:
        with pytest.raises(domain.UnknownAudience) as raised:
            domain.audiences_for("https://attacker.example")
        assert isinstance(raised.value, Invalid)
        assert raised.value.code == "unknown_audience"
        assert raised.value.message == "unknown audience 'https://attacker.example'"


class TestAccessTokens:
    def test_service_tokens_are_short_lived(self) -> None:
        assert domain.access_ttl(Role.service, access_ttl=900, service_ttl=300) == 300
        for role in Role:
            if role is not Role.service:
                assert domain.access_ttl(role, access_ttl=900, service_ttl=300) == 900

    def test_claims(self) -> None:
        grant = AccessGrant(
            sub="u1", role=Role.cadre, region="451025000000", audiences=ALL_AUDIENCES, ttl=900, username="li"
        )
        claims = domain.access_claims(grant, issuer="jingzhun-gateway", issued_at=1_000, jti="j")
        assert claims == {
            "iss": "jingzhun-gateway",
            "aud": list(ALL_AUDIENCES),
            "sub": "u1",
            "iat": 1_000,
            "nbf": 1_000,
            "exp": 1_900,
            "jti": "j",
            "role": "cadre",
            "region": "451025000000",
            "preferred_username": "li",
        }

    def test_machine_clients_have_no_username(self) -> None:
        grant = AccessGrant(
            sub=domain.client_subject("gx"),
            role=Role.province_system,
            region="450000000000",
            audiences=(),
            ttl=1,
        )
        claims = domain.access_claims(grant, issuer="i", issued_at=0, jti="j")
        assert "preferred_username" not in claims
        assert claims["sub"] == "client:gx"

    def test_login_usernames_ignore_case_and_blanks(self) -> None:
        assert domain.login_username("  Cadre.LI ") == "cadre.li"


class TestRevocation:
    def test_cut_off_is_the_start_of_the_next_second(self) -> None:
        cut_off = domain.revocation_cut_off(NOW)
        assert cut_off == datetime(2024, 3, 1, 8, 30, 16, tzinfo=UTC)
        # A token issued earlier in the same second (iat in whole seconds) lies below it.
        assert math.floor(NOW.timestamp()) < cut_off.timestamp()

    def test_cut_off_on_a_whole_second_still_moves_to_the_next(self) -> None:
        whole = NOW.replace(microsecond=0)
        assert domain.revocation_cut_off(whole) == whole + timedelta(seconds=1)

    def test_disabled_subjects_accept_no_token(self) -> None:
        assert domain.subject_not_before(disabled=True, tokens_not_before=NOW) == math.inf
        assert domain.subject_not_before(disabled=False, tokens_not_before=None) == math.inf
        assert domain.subject_not_before(disabled=False, tokens_not_before=NOW) == NOW.timestamp()

    def test_enabling_keeps_the_disables_cut_off(self) -> None:
        assert domain.not_before_after_enable(NOW) == NOW.timestamp()
        assert domain.not_before_after_enable(None) == 0.0

    def test_horizon(self) -> None:
        assert domain.revocation_horizon(NOW, access_ttl=900) == NOW - timedelta(seconds=960)

    def test_deny_list_keeps_a_token_until_it_would_have_expired(self) -> None:
        expires_at = math.floor(NOW.timestamp()) + 600
        assert domain.deny_list_expiry(expires_at, NOW) == NOW + timedelta(seconds=601)
        assert domain.deny_list_expiry(0, NOW) == NOW + timedelta(seconds=1)  # already expired
