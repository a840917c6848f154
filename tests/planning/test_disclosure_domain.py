"""Public disclosure rules with no database (services/planning/disclosure/domain.py): what is disclosed, who reads
it, what a beneficiary household shows (invariant 49), the notice period (invariant 14)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import date

import pytest

from services.planning.disclosure.domain import (
    DISCLOSED_STATUSES,
    NOTICE_DAYS,
    PublicHousehold,
    check_village,
    notice_ends_on,
    public_households,
    require_in_scope,
)
from services.planning.projects.domain import ProjectStatus
from shared.errors import Missing
from shared.roles import Role

COUNTY = "451025000000"
TOWNSHIP = "451025100000"
VILLAGE = "451025100201"
SIBLING = "451025100202"


@dataclass(frozen=True)
class Found:
    """A registry household as the lookup answers it (with more than the board may show)."""

    id: uuid.UUID
    village_code: str
    head_name: str
    natural_village: str | None
    status: str = "registered"
    household_size: int = 4


class TestWhatIsDisclosed:
    def test_from_the_villagers_public_resolution_on(self) -> None:
        assert DISCLOSED_STATUSES == {
            ProjectStatus.village_decided,
            ProjectStatus.township_reviewed,
            ProjectStatus.approved,
            ProjectStatus.in_progress,
            ProjectStatus.accepted,
            ProjectStatus.rejected,
        }

    @pytest.mark.parametrize(
        "status", [ProjectStatus.draft, ProjectStatus.village_deciding, ProjectStatus.returned]
    )
    def test_not_before(self, status: ProjectStatus) -> None:
        assert status not in DISCLOSED_STATUSES

    def test_a_notice_lasts_seven_full_days(self) -> None:
        assert NOTICE_DAYS == 7
        assert notice_ends_on(date(2016, 12, 28)) == date(2017, 1, 4)


class TestWhoReads:
    @pytest.mark.parametrize(
        ("role", "region"),
        [
            (Role.village_officer, VILLAGE),
            (Role.township_officer, TOWNSHIP),
            (Role.county_admin, COUNTY),
            (Role.province_system, "450000000000"),
            (Role.service, "000000000000"),
        ],
    )
    def test_every_role_of_the_region(self, role: Role, region: str) -> None:
        require_in_scope(role, region, VILLAGE)

    @pytest.mark.parametrize(
        ("role", "region"),
        [
            (Role.village_officer, SIBLING),
            (Role.township_officer, "451025101000"),
            (Role.county_admin, "451026000000"),
            (Role.province_system, "440000000000"),
        ],
    )
    def test_out_of_the_region_is_missing(self, role: Role, region: str) -> None:
        with pytest.raises(Missing) as missing:
            require_in_scope(role, region, VILLAGE)
        assert missing.value.code == "village_missing"

    def test_a_cadre_where_a_household_is_paired_with_them(self) -> None:
        require_in_scope(Role.cadre, COUNTY, VILLAGE, paired_villages={VILLAGE})
        for paired in (set(), {SIBLING}, None):
            with pytest.raises(Missing):
                require_in_scope(Role.cadre, COUNTY, VILLAGE, paired_villages=paired)

    @pytest.mark.parametrize("code", [TOWNSHIP, COUNTY, "450000000000"])
    def test_a_disclosure_is_of_a_village(self, code: str) -> None:
        with pytest.raises(Missing):
            check_village(code)
        check_village(VILLAGE)


class TestPublicHouseholds:
    def test_only_the_head_the_village_and_the_natural_village(self) -> None:
        assert [f.name for f in fields(PublicHousehold)] == [
            "head_name",
            "village_code",
            "natural_village",
            "project_ids",
        ]

    def test_each_household_once_with_its_projects_in_order(self) -> None:
        road, water = uuid.uuid4(), uuid.uuid4()
        huang, li, wei, gone = (uuid.uuid4() for _ in range(4))
        found = {
            huang: Found(huang, VILLAGE, "黄志强", "那坡屯"),
            li: Found(li, VILLAGE, "李美华", "那坡屯"),
            wei: Found(wei, VILLAGE, "韦国强", "弄卜屯"),
        }
        listed = public_households(
            [(road, huang), (road, li), (water, li), (water, wei), (water, gone), (road, li)], found
        )
        assert listed == [
            PublicHousehold("韦国强", VILLAGE, "弄卜屯", (water,)),
            PublicHousehold("李美华", VILLAGE, "那坡屯", (road, water)),
            PublicHousehold("黄志强", VILLAGE, "那坡屯", (road,)),
        ]

    def test_by_village_then_natural_village(self) -> None:
        project = uuid.uuid4()
        a, b, c = (uuid.uuid4() for _ in range(3))
        found = {
            a: Found(a, SIBLING, "甲", None),
            b: Found(b, VILLAGE, "乙", None),
            c: Found(c, VILLAGE, "丙", "那坡屯"),
        }
        listed = public_households([(project, a), (project, b), (project, c)], found)
        assert [(h.village_code, h.natural_village) for h in listed] == [
            (VILLAGE, None),
            (VILLAGE, "那坡屯"),
            (SIBLING, None),
        ]

    def test_nothing_found_nothing_shown(self) -> None:
        assert public_households([(uuid.uuid4(), uuid.uuid4())], {}) == []
