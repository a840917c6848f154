"""API models of village profiles (村情, DOMAIN.md §5.2): the declared figures, the registry's, the flags."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from services.planning.indicators.schemas import IndicatorValue
from services.planning.profiles.domain import ProfileFlag
from shared.schemas import INT32_MAX, Percent, Quantity, RequestModel, ResponseModel, Yuan

__all__ = [
    "ArableLand",
    "Infrastructure",
    "MeasureGroup",
    "ProfileDerived",
    "ProfileFigures",
    "ProfileFlag",
    "ProfileFlagPublic",
    "ProfilePublic",
    "RegistryFiguresPublic",
]

#: A count of people, households, places …: a whole number >= 0.
Count = Annotated[int, Field(ge=0, le=INT32_MAX)]
#: A share of a whole: 0-100 with two places.
Percent100 = Annotated[Percent, Field(le=Decimal(100))]


class ArableLand(RequestModel):
    """Arable land by kind (耕地), in 亩; high-yield land (高产稳产田) is a quality, not a third kind."""

    total_mu: Quantity | None = Field(None, examples=["3835.00"])
    paddy_mu: Quantity | None = Field(None, description="水田", examples=["1137.00"])
    dry_mu: Quantity | None = Field(None, description="旱地")
    high_yield_mu: Quantity | None = Field(None, description="高产稳产田", examples=["500.00"])


class Infrastructure(RequestModel):
    """Infrastructure and public services of the village (基础设施现状)."""

    grid_coverage_percent: Percent100 | None = Field(None, description="电网覆盖", examples=["100.00"])
    mobile_coverage_percent: Percent100 | None = Field(None, description="移动信号覆盖", examples=["90.00"])
    tv_coverage_percent: Percent100 | None = Field(None, description="广播电视覆盖", examples=["75.00"])
    broadband_coverage_percent: Percent100 | None = Field(None, description="宽带入户")
    road_to_village_hardened: bool | None = Field(None, description="通村道路已硬化")
    hardened_road_km: Quantity | None = Field(None, description="已硬化道路里程")
    clinics: Count | None = Field(None, description="村卫生室")
    schools: Count | None = Field(None, description="学校、教学点")
    culture_rooms: Count | None = Field(None, description="文化室")


class MeasureGroup(RequestModel):
    """The poor households and people one help measure reaches (措施到户: 种植 31 户 158 人 …)."""

    name: Annotated[str, Field(min_length=1, max_length=100, examples=["种植业"])]
    households: Count
    people: Count


class ProfileFigures(RequestModel):
    """A village's declared figures for a year (村情, DOMAIN.md §5.2), as its plan documents state them; every
    figure may be left out. The registry's figures are fetched, never typed in; what disagrees is flagged."""

    distance_to_county_km: Quantity | None = Field(None, description="距县城")
    distance_to_township_km: Quantity | None = Field(None, description="距乡镇")
    villager_groups: Count | None = Field(None, description="村民小组 / 社", examples=[5])
    natural_villages: Count | None = Field(None, description="自然村 / 屯", examples=[18])
    households: Count | None = Field(None, description="总户数", examples=[544])
    population: Count | None = Field(None, description="总人口", examples=[1718])
    resident_population: Count | None = Field(None, description="常住人口", examples=[1146])
    area_km2: Quantity | None = Field(None, description="面积 (km²)", examples=["9.60"])
    arable_land: ArableLand | None = None
    forest_land_mu: Quantity | None = Field(None, description="林地 (亩)", examples=["4000.00"])
    forest_cover_percent: Percent100 | None = Field(None, description="森林覆盖率", examples=["76.00"])
    poor_village: bool | None = Field(None, description="贫困村")
    poor_households: Count | None = Field(None, description="贫困户 (as declared)", examples=[107])
    poor_people: Count | None = Field(None, description="贫困人口 (as declared)", examples=[242])
    incidence_percent: Percent100 | None = Field(None, description="贫困发生率 (as declared)")
    poor_by_measure: Annotated[list[MeasureGroup], Field(max_length=30)] | None = Field(
        None, description="The poor households and people by help measure (措施到户)"
    )
    per_capita_net_income_yuan: Yuan | None = Field(None, description="人均纯收入", examples=["5463.00"])
    district_average_income_yuan: Yuan | None = Field(
        None, description="区县人均纯收入", examples=["5185.00"]
    )
    income_ratio_to_district_percent: Percent | None = Field(
        None, description="占区县平均水平 (as declared)", examples=["78.00"]
    )
    income_growth_percent: Percent | None = Field(None, description="年均增长率", examples=["12.50"])
    main_income_sources: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(max_length=20)] | None
    ) = Field(None, description="主要作物和收入来源", examples=[["榨菜", "肉牛"]])
    infrastructure: Infrastructure | None = None
    collective_income_yuan: Yuan | None = Field(None, description="村集体经济收入", examples=["8000.00"])
    dibao_people: Count | None = Field(None, description="低保人数", examples=[53])
    ncms_participants: Count | None = Field(None, description="新农合参合人数", examples=[1680])
    ncms_participation_percent: Percent100 | None = Field(None, description="新农合参合率")
    pension_participants: Count | None = Field(None, description="养老保险参保人数")
    pension_coverage_percent: Percent100 | None = Field(
        None, description="养老保险覆盖率", examples=["99.70"]
    )
    safe_water_people: Count | None = Field(None, description="饮水安全人数")
    dangerous_houses: Count | None = Field(None, description="危房户数")
    dangerous_houses_renovated: Count | None = Field(None, description="已改造危房户数")
    dangerous_houses_renovated_percent: Percent100 | None = Field(None, description="危房改造比例")
    note: Annotated[str, Field(max_length=2000)] | None = None


class RegistryFiguresPublic(ResponseModel):
    """The registry's figures of the village for the year, fetched over HTTP when the profile was saved."""

    poor_households: int = Field(description="Registered and not yet exited (建档立卡)")
    poor_people: int
    population: int | None = Field(
        description="The registry's population of the year; null when none recorded"
    )
    incidence_percent: Percent | None = Field(description="poor people / population x 100")
    fetched_at: datetime


class ProfileDerived(ResponseModel):
    """Figures computed from the declared ones."""

    incidence_percent: Percent | None = Field(description="Declared poor people / declared population x 100")
    per_capita_arable_mu: Quantity | None = Field(description="Arable land / population (人均耕地)")
    income_ratio_percent: Percent | None = Field(description="Per-capita income / district average x 100")


class ProfileFlagPublic(ResponseModel):
    """An inconsistency found when the profile was saved: stored and shown, not refused (invariants 10, 41)."""

    code: ProfileFlag
    field: str = Field(description="The declared figure concerned", examples=["ncms_participants"])
    value: IndicatorValue = Field(description="Its value")
    compared_with: IndicatorValue = Field(
        description="What it was checked against (the registry's, a total …)"
    )
    message: str


class ProfilePublic(ResponseModel):
    """A village's profile for a year; its `version` is the ETag."""

    village_code: str
    year: int
    version: int
    declared: ProfileFigures
    registry: RegistryFiguresPublic | None = Field(description="The registry's figures for the year")
    derived: ProfileDerived
    flags: list[ProfileFlagPublic]
    updated_at: datetime
    updated_by: str
