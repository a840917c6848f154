"""The pairing rules (DOMAIN.md §3.1, invariants 27-29, 32) with no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import NamedTuple

import pytest

from services.registry.pairing import domain
from services.registry.pairing.domain import (
    EndPairing,
    EndReason,
    Helper,
    PairingFacts,
    PairingRole,
    PositionLevel,
    Successor,
    UnitPolicy,
)
from shared.errors import Invalid, NotAllowed, Refused
from shared.roles import Role

HOUSEHOLD = uuid.uuid4()
UNIT = uuid.uuid4()
WANG = Helper(id=uuid.uuid4(), unit_id=UNIT, name="王", position_level=PositionLevel.staff)
LI = Helper(id=uuid.uuid4(), unit_id=UNIT, name="李", position_level=PositionLevel.staff)


def facts(cadre: Helper, valid_from: date, valid_to: date | None = None) -> PairingFacts:
    return PairingFacts(
        id=uuid.uuid4(),
        household_id=HOUSEHOLD,
        cadre_id=cadre.id,
        unit_id=cadre.unit_id,
        role=PairingRole.primary,
        valid_from=valid_from,
        valid_to=valid_to,
    )


def end(
    current: PairingFacts,
    command: EndPairing,
    *,
    status: str = "registered",
    others: list[PairingFacts] | None = None,
    successor: Helper | None = None,
) -> domain.Handover:
    return domain.end_pairing(
        current,
        command,
        household_status=status,
        others=[current] if others is None else others,
        successor=successor,
        successor_id=uuid.uuid4(),
    )


class TestActiveOn:
    def test_valid_time_is_half_open(self) -> None:
        assert not domain.active_on(date(2015, 3, 1), date(2016, 7, 1), date(2015, 2, 28))
        assert domain.active_on(date(2015, 3, 1), date(2016, 7, 1), date(2015, 3, 1))
        assert domain.active_on(date(2015, 3, 1), date(2016, 7, 1), date(2016, 6, 30))
        assert not domain.active_on(date(2015, 3, 1), date(2016, 7, 1), date(2016, 7, 1))

    def test_open_end(self) -> None:
        assert domain.active_on(date(2015, 3, 1), None, date(2030, 1, 1))


class Row(NamedTuple):
    name: str
    valid_from: date
    valid_to: date | None
    recorded_at: datetime
    superseded_at: datetime | None


class TestAsKnown:
    """Valid time and transaction time together: who was responsible on D, as the registry knew it at T."""

    recorded = datetime(2015, 3, 1, tzinfo=UTC)
    handed_over = datetime(2016, 7, 1, tzinfo=UTC)
    rows = (
        Row("王 open", date(2015, 3, 1), None, recorded, handed_over),
        Row("王 ended", date(2015, 3, 1), date(2016, 7, 1), handed_over, None),
        Row("李", date(2016, 7, 1), None, handed_over, None),
    )

    def names(self, on: date | None = None, as_of: datetime | None = None) -> list[str]:
        return [r.name for r in domain.as_known(self.rows, on=on, as_of=as_of)]

    def test_current_rows(self) -> None:
        assert self.names() == ["王 ended", "李"]

    def test_on_a_day(self) -> None:
        assert self.names(on=date(2015, 2, 28)) == []
        assert self.names(on=date(2016, 6, 30)) == ["王 ended"]
        assert self.names(on=date(2016, 7, 1)) == ["李"]

    def test_as_known_before_the_handover_was_recorded(self) -> None:
        assert self.names(on=date(2016, 8, 1), as_of=datetime(2016, 1, 1, tzinfo=UTC)) == ["王 open"]
        assert self.names(as_of=datetime(2016, 1, 1, tzinfo=UTC)) == ["王 open"]

    def test_as_of_needs_a_timezone(self) -> None:
        domain.require_aware(None)
        domain.require_aware(datetime(2016, 1, 1, tzinfo=UTC))
        with pytest.raises(Invalid) as err:
            domain.require_aware(datetime(2016, 1, 1))  # naive on purpose
        assert err.value.code == "naive_time" and err.value.details == {"field": "as_of"}


class TestRolesAndRegions:
    def test_managers_register_units(self) -> None:
        domain.require_role(Role.township_officer, domain.MANAGERS, "register helping units")
        with pytest.raises(NotAllowed) as err:
            domain.require_role(Role.village_officer, domain.MANAGERS, "register helping units")
        assert err.value.message == "role 'village_officer' may not register helping units"

    def test_village_officers_pair(self) -> None:
        assert Role.village_officer in domain.PAIRING_WRITERS and Role.cadre not in domain.PAIRING_WRITERS

    def test_only_cadres_have_households(self) -> None:
        domain.require_cadre(Role.cadre)
        with pytest.raises(NotAllowed):
            domain.require_cadre(Role.county_admin)

    def test_work_teams_go_to_villages(self) -> None:
        domain.require_village("451025100201")
        with pytest.raises(Invalid) as err:
            domain.require_village("451025100000")
        assert err.value.code == "not_a_village"


class TestWorkTeamTerm:
    """P7: a resident work team stays at least one year."""

    def test_short(self) -> None:
        with pytest.raises(Invalid) as err:
            domain.check_term(date(2015, 3, 1), date(2015, 12, 31))
        assert err.value.code == "term_too_short" and err.value.details == {"field": "/ends_on"}

    def test_a_year_or_open(self) -> None:
        domain.check_term(date(2015, 3, 1), date(2016, 2, 29))  # 365 days
        domain.check_term(date(2015, 3, 1), None)
        with pytest.raises(Invalid):
            domain.check_term(date(2015, 3, 1), date(2016, 2, 28))


class TestPair:
    def test_only_registered_households(self) -> None:
        for status in ("registered", "exit_proposed", "exit_county_reviewed"):
            domain.require_pairable(status)
        for status in ("candidate", "applied", "exited", "removed"):
            with pytest.raises(Refused) as err:
                domain.require_pairable(status)
            assert err.value.code == "not_registered"

    def test_valid(self) -> None:
        pid = uuid.uuid4()
        new = domain.pair(
            WANG,
            [],
            pairing_id=pid,
            household_id=HOUSEHOLD,
            role=PairingRole.secondary,
            valid_from=date(2015, 3, 1),
        )
        assert new == PairingFacts(pid, HOUSEHOLD, WANG.id, UNIT, PairingRole.secondary, date(2015, 3, 1))

    def test_inactive_cadre(self) -> None:
        retired = Helper(WANG.id, UNIT, "王", PositionLevel.staff, active=False)
        with pytest.raises(Refused) as err:
            domain.pair(
                retired, [], pairing_id=uuid.uuid4(), household_id=HOUSEHOLD, role=PairingRole.primary,
                valid_from=date(2015, 3, 1),
            )  # fmt: skip
        assert err.value.code == "cadre_inactive"

    def test_already_paired(self) -> None:
        current = [facts(WANG, date(2015, 3, 1))]
        with pytest.raises(Refused) as err:
            domain.pair(
                WANG, current, pairing_id=uuid.uuid4(), household_id=HOUSEHOLD, role=PairingRole.primary,
                valid_from=date(2015, 6, 1),
            )  # fmt: skip
        assert err.value.code == "already_paired"

    def test_again_after_the_end(self) -> None:
        current = [facts(WANG, date(2015, 3, 1), date(2015, 6, 1)), facts(LI, date(2015, 6, 1))]
        domain.pair(
            WANG, current, pairing_id=uuid.uuid4(), household_id=HOUSEHOLD, role=PairingRole.primary,
            valid_from=date(2015, 6, 1),
        )  # fmt: skip


class TestEndPairing:
    """不脱贫不脱钩 (P3, P4, invariant 28): the last pairing of a household that has not exited needs a successor."""

    current = facts(WANG, date(2015, 3, 1))
    handover = EndPairing(date(2016, 7, 1), EndReason.handover, reason="王干部调岗")

    def test_successor_required(self) -> None:
        with pytest.raises(Refused) as err:
            end(self.current, self.handover)
        assert err.value.code == "successor_required"

    def test_another_pairing_in_force_keeps_the_link(self) -> None:
        other = facts(LI, date(2015, 3, 1))
        assert end(self.current, self.handover, others=[self.current, other]).successor is None

    def test_another_pairing_ending_that_day_does_not(self) -> None:
        other = facts(LI, date(2015, 3, 1), date(2016, 7, 1))
        with pytest.raises(Refused):
            end(self.current, self.handover, others=[self.current, other])

    def test_handover(self) -> None:
        command = EndPairing(date(2016, 7, 1), EndReason.handover, Successor(LI.id), "王干部调岗")
        result = end(self.current, command, successor=LI)
        assert result.successor is not None
        assert result.successor.valid_from == date(2016, 7, 1) and result.successor.cadre_id == LI.id
        assert result.successor.reason == f"successor of {self.current.id}"
        assert result.ended.id == self.current.id and result.ended.valid_to == date(2016, 7, 1)
        assert (
            result.ended.successor_id == result.successor.id and result.ended.end_reason is EndReason.handover
        )
        assert result.ended.reason == "王干部调岗" and result.ended.valid_from == self.current.valid_from

    def test_exited_household_unlinks_without_successor(self) -> None:
        command = EndPairing(date(2016, 1, 10), EndReason.household_exited)
        for status in ("exited", "removed", "dissolved"):
            if status != "exited":
                command = EndPairing(date(2016, 1, 10), EndReason.household_removed)
            result = end(self.current, command, status=status)
            assert result.successor is None and result.ended.successor_id is None

    def test_not_exited(self) -> None:
        command = EndPairing(date(2016, 7, 1), EndReason.household_exited, Successor(LI.id))
        with pytest.raises(Refused) as err:
            end(self.current, command, successor=LI)
        assert err.value.code == "not_exited"

    def test_already_ended(self) -> None:
        ended = facts(WANG, date(2015, 3, 1), date(2016, 7, 1))
        with pytest.raises(Refused) as err:
            end(ended, EndPairing(date(2016, 8, 1), EndReason.handover, Successor(LI.id)), successor=LI)
        assert err.value.code == "already_ended"

    def test_ends_before_start(self) -> None:
        with pytest.raises(Invalid) as err:
            end(
                self.current, EndPairing(date(2015, 2, 1), EndReason.handover, Successor(LI.id)), successor=LI
            )
        assert err.value.details == {"field": "/valid_to"}

    def test_successor_is_another_active_cadre(self) -> None:
        with pytest.raises(Invalid) as err:
            end(
                self.current,
                EndPairing(date(2016, 7, 1), EndReason.handover, Successor(WANG.id)),
                successor=WANG,
            )
        assert err.value.details == {"field": "/successor/cadre_id"}
        retired = Helper(LI.id, UNIT, "李", PositionLevel.staff, active=False)
        with pytest.raises(Refused) as inactive:
            end(
                self.current,
                EndPairing(date(2016, 7, 1), EndReason.handover, Successor(LI.id)),
                successor=retired,
            )
        assert inactive.value.code == "cadre_inactive"


class TestRatioWarnings:
    """P1, invariant 29: a leader pairs with ≤ N households, middle-level cadres M per household — warnings."""

    policy = UnitPolicy(UNIT)

    def test_leader_over_limit(self) -> None:
        leader = Helper(uuid.uuid4(), UNIT, "干部0", PositionLevel.unit_leader)
        assert domain.ratio_warnings(leader, self.policy, leader_households=1, middle_sharing=0) == []
        assert domain.ratio_warnings(leader, self.policy, leader_households=2, middle_sharing=0) == [
            "leader_over_limit: 干部0 is paired with 2 households (unit policy: 1)"
        ]

    def test_middle_level_share(self) -> None:
        middle = Helper(uuid.uuid4(), UNIT, "干部1", PositionLevel.middle_level)
        assert domain.ratio_warnings(middle, self.policy, leader_households=1, middle_sharing=1) == [
            "middle_level_share: 1 middle-level cadre(s) of the unit on this household (unit policy: 2)"
        ]
        assert domain.ratio_warnings(middle, self.policy, leader_households=1, middle_sharing=2) == []

    def test_staff_never_warned(self) -> None:
        assert domain.ratio_warnings(WANG, self.policy, leader_households=9, middle_sharing=0) == []


class TestGapRule:
    """P2, invariant 27: registered households with labour capacity and willingness have a pairing in force."""

    def test_needs_pairing(self) -> None:
        assert domain.needs_pairing("registered", has_labor_capacity=True, willing=None, paired=False)
        assert domain.needs_pairing("exit_proposed", has_labor_capacity=True, willing=True, paired=False)

    def test_does_not(self) -> None:
        assert not domain.needs_pairing("registered", has_labor_capacity=True, willing=None, paired=True)
        assert not domain.needs_pairing("registered", has_labor_capacity=False, willing=True, paired=False)
        assert not domain.needs_pairing("registered", has_labor_capacity=True, willing=False, paired=False)
        assert not domain.needs_pairing("exited", has_labor_capacity=True, willing=True, paired=False)
