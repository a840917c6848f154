"""The rules of gateway/users/domain.py, with no database: who administers users, who may manage whom, where a
new user may be placed, and who reads the identity audit log."""

from __future__ import annotations

import uuid

import pytest

from gateway.users import domain
from shared.errors import Invalid, NotAllowed
from shared.roles import Principal, Role
from tests.factories import (
    COUNTY,
    OTHER_COUNTY,
    TOWNSHIP,
    VILLAGE,
)

OTHER_TOWNSHIP_VILLAGE = "451025101201"


def principal(role: Role, region: str, sub: str | None = None) -> Principal:
    return Principal(sub=sub or str(uuid.uuid4()), role=role, region=region)


ADMIN = principal(Role.county_admin, COUNTY)
OFFICER = principal(Role.township_officer, TOWNSHIP)


class TestRequireManager:
    @pytest.mark.parametrize("role", [Role.county_admin, Role.township_officer])
    def test_managers(self, role: Role) -> None:
        domain.require_manager(principal(role, COUNTY))

    @pytest.mark.parametrize("role", [Role.village_officer, Role.cadre, Role.province_system, Role.service])
    def test_everyone_else_is_not_allowed(self, role: Role) -> None:
        with pytest.raises(NotAllowed) as raised:
            domain.require_manager(principal(role, COUNTY))
        assert raised.value.code == "not_a_manager"
        assert raised.value.message == f"role '{role}' does not administer users"


class TestRankBelow:
    @pytest.mark.parametrize(
        ("manager", "role", "allowed"),
        [
            (ADMIN, Role.township_officer, True),
            (ADMIN, Role.village_officer, True),
            (ADMIN, Role.cadre, True),
            (ADMIN, Role.county_admin, False),
            (OFFICER, Role.village_officer, True),
            (OFFICER, Role.cadre, True),
            (OFFICER, Role.township_officer, False),
            (OFFICER, Role.county_admin, False),
        ],
    )
    def test_only_roles_strictly_below(self, manager: Principal, role: Role, allowed: bool) -> None:
        if allowed:
            domain.require_rank_below(manager, role)
            return
        with pytest.raises(NotAllowed, match="below their own") as raised:
            domain.require_rank_below(manager, role)
        assert raised.value.code == "rank_not_below"


class TestCheckNewUser:
    @pytest.mark.parametrize(
        ("manager", "role", "region"),
        [
            (ADMIN, Role.township_officer, TOWNSHIP),
            (ADMIN, Role.village_officer, VILLAGE),
            (ADMIN, Role.cadre, COUNTY),
            (OFFICER, Role.village_officer, VILLAGE),
            (OFFICER, Role.cadre, TOWNSHIP),
        ],
    )
    def test_valid(self, manager: Principal, role: Role, region: str) -> None:
        domain.check_new_user(manager, role, region)

    def test_invalid_code(self) -> None:
        with pytest.raises(Invalid) as raised:
            domain.check_new_user(ADMIN, Role.cadre, "451000025000")
        assert raised.value.code == "region_code_invalid"
        assert raised.value.details == {"field": "region_code"}

    @pytest.mark.parametrize(
        ("manager", "region"), [(ADMIN, OTHER_COUNTY), (OFFICER, OTHER_TOWNSHIP_VILLAGE)]
    )
    def test_outside_the_subtree(self, manager: Principal, region: str) -> None:
        with pytest.raises(NotAllowed, match="outside your region") as raised:
            domain.check_new_user(manager, Role.cadre, region)
        assert raised.value.code == "region_outside_scope"

    @pytest.mark.parametrize(
        ("role", "region"), [(Role.village_officer, TOWNSHIP), (Role.township_officer, VILLAGE)]
    )
    def test_role_bound_to_the_wrong_level(self, role: Role, region: str) -> None:
        with pytest.raises(Invalid) as raised:
            domain.check_new_user(ADMIN, role, region)
        assert raised.value.code == "region_level_mismatch"
        assert raised.value.message == f"a {role} must be bound to a {role_level(role)}-level region"

    def test_rank_is_checked_before_the_region(self) -> None:
        with pytest.raises(NotAllowed) as raised:
            domain.check_new_user(OFFICER, Role.county_admin, "not a code")
        assert raised.value.code == "rank_not_below"

    def test_the_code_is_checked_before_the_scope(self) -> None:
        with pytest.raises(Invalid):
            domain.check_new_user(OFFICER, Role.cadre, "451026000201")


def role_level(role: Role) -> str:
    return {Role.village_officer: "village", Role.township_officer: "township"}[role]


class TestCreatorAndAuditReader:
    def test_creator_is_the_managers_user_id(self) -> None:
        user_id = uuid.uuid4()
        assert domain.creator_id(principal(Role.county_admin, COUNTY, str(user_id))) == user_id

    def test_a_machine_client_creates_anonymously(self) -> None:
        assert domain.creator_id(principal(Role.county_admin, COUNTY, "client:ops")) is None

    def test_only_county_admins_read_the_audit_log(self) -> None:
        domain.require_audit_reader(ADMIN)
        for role in Role:
            if role is not Role.county_admin:
                with pytest.raises(NotAllowed) as raised:
                    domain.require_audit_reader(principal(role, COUNTY))
                assert raised.value.code == "audit_reader_required"
