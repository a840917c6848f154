"""Household API models: the fields of DOMAIN.md §2.2-§2.7 with their standard code lists, and every answer.

Enumerations keep the Chinese term beside each code (the ones the rules use live in `households/domain.py`).
Money is a decimal string with two places (`shared.schemas.Yuan`), never a float; areas and counts are
non-negative (invariants 8, 9). Derived
values (household size, labour count, per-capita net income) are never accepted from the client (invariant 11).

`HouseholdCard` is the JSON that PostgreSQL builds for the card's fast path (households/fast.py): the model
declares the same keys, and renders times as PostgreSQL does, so the documented route, the unmasked read and the
fast path answer one shape (tests/registry/test_households_routes.py checks them against each other).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from services.registry.households.domain import (
    WORKING,
    FlagCode,
    HouseGrade,
    HouseholdStatus,
    LaborCapacity,
    LeftReason,
    PovertyAttribute,
    Relation,
    RelocationReason,
    Sex,
)
from services.registry.identification.domain import Status
from shared.labels import LabelledEnum, code_list
from shared.schemas import Percent, Quantity, RegionCode, RequestModel, ResponseModel, SignedYuan, Yuan

__all__ = [
    "LIST_FIELDS",
    "LOOKUP_LIMIT",
    "WORKING",
    "FlagClear",
    "FlagCode",
    "HeadChange",
    "HouseGrade",
    "HouseholdCard",
    "HouseholdCreate",
    "HouseholdListItem",
    "HouseholdLookup",
    "HouseholdLookupAnswer",
    "HouseholdQuery",
    "HouseholdSplit",
    "HouseholdStats",
    "HouseholdSummary",
    "HouseholdUpdate",
    "HouseholdVersion",
    "IncomeSet",
    "IncomeVersion",
    "LaborCapacity",
    "LeftReason",
    "MemberCreate",
    "MemberLeave",
    "MemberMoved",
    "MemberUpdate",
    "MemberVersion",
    "MergeRequest",
    "MoveRequest",
    "PovertyAttribute",
    "RegionCounts",
    "Relation",
    "Relocated",
    "RelocationReason",
    "RelocationRequest",
    "Sex",
    "SortKey",
    "SplitRequest",
    "StatusFilter",
    "Year",
]

Money = Annotated[Yuan, Field(le=Decimal("999999999.99"))]
Area = Quantity
Year = Annotated[int, Field(ge=2000, le=2100, examples=[2014])]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=1000, examples=["户主申请"])]


@code_list("health_status", "健康状况", "Health status")
class HealthStatus(LabelledEnum):
    """健康状况."""

    healthy = "healthy", "健康"
    chronic_illness = "chronic_illness", "长期慢性病"
    serious_illness = "serious_illness", "大病"
    disabled = "disabled", "残疾"


@code_list("education_level", "文化程度", "Education level")
class EducationLevel(LabelledEnum):
    """文化程度."""

    illiterate = "illiterate", "文盲半文盲", "Illiterate or semi-literate"
    primary = "primary", "小学", "Primary school"
    junior_middle = "junior_middle", "初中", "Junior middle school"
    senior_high = "senior_high", "高中", "Senior high school"
    college_plus = "college_plus", "大专及以上", "College or above"
    preschool = "preschool", "学龄前", "Preschool age"


@code_list("school_status", "在校生状况", "School status")
class SchoolStatus(LabelledEnum):
    """在校生状况."""

    not_in_school = "not_in_school", "非在校生"
    preschool = "preschool", "学前教育", "Preschool"
    primary = "primary", "小学", "Primary school"
    junior_middle = "junior_middle", "初中", "Junior middle school"
    senior_high = "senior_high", "高中", "Senior high school"
    secondary_vocational = "secondary_vocational", "中职", "Secondary vocational school"
    college = "college", "大中专院校", "College or university"


@code_list("work_status", "务工/务农状况", "Work status")
class WorkStatus(LabelledEnum):
    """务工/务农状况."""

    migrant_long_term = "migrant_long_term", "常年在外务工", "Long-term migrant work"
    farming = "farming", "在家务农", "Farming at home"
    odd_jobs = "odd_jobs", "打零工"
    public_welfare_post = "public_welfare_post", "公益岗位", "Public-welfare post"
    poverty_workshop = "poverty_workshop", "扶贫车间", "Poverty-alleviation workshop"
    student = "student", "在校生"
    none = "none", "无"


@code_list("work_location", "务工地点", "Work location")
class WorkLocation(LabelledEnum):
    township = "township", "乡镇内", "Within the township"
    county = "county", "县内", "Within the county"
    province = "province", "省内", "Within the province"
    outside_province = "outside_province", "省外"


@code_list("poverty_cause", "致贫原因", "Poverty cause")
class PovertyCause(LabelledEnum):
    """致贫原因 (national list + local causes, DOMAIN.md §2.6)."""

    illness = "illness", "因病"
    disability = "disability", "因残"
    schooling = "schooling", "因学", "Schooling costs"
    disaster = "disaster", "因灾", "Natural disaster"
    lack_of_land = "lack_of_land", "缺土地"
    lack_of_water = "lack_of_water", "缺水"
    lack_of_skills = "lack_of_skills", "缺技术", "Lack of skills / technology"
    lack_of_labor = "lack_of_labor", "缺劳力", "Lack of labour"
    lack_of_capital = "lack_of_capital", "缺资金"
    poor_transport = "poor_transport", "交通条件落后"
    low_motivation = "low_motivation", "自身发展动力不足", "Insufficient self-motivation"
    old_age = "old_age", "因老"
    lack_of_information = "lack_of_information", "缺信息"
    dangerous_housing = "dangerous_housing", "住房危旧"
    low_education = "low_education", "文化程度低"
    other = "other", "其他"


@code_list("main_income_source", "家庭经济收入主要来源", "Main income source")
class IncomeSource(LabelledEnum):
    """家庭经济收入主要依靠."""

    migrant_work = "migrant_work", "外出务工"
    farming = "farming", "种植", "Farming"
    local_odd_jobs = "local_odd_jobs", "本地零工"
    breeding = "breeding", "养殖", "Breeding (livestock)"
    public_welfare_job = "public_welfare_job", "公益岗位", "Public-welfare job"
    transfer = "transfer", "转移性收入", "Transfer income"
    other = "other", "其他"


@code_list("house_structure", "房屋结构", "House structure")
class HouseStructure(LabelledEnum):
    """房屋结构."""

    mud_brick = "mud_brick", "泥砖房"
    adobe = "adobe", "土坯房", "Adobe (rammed earth)"
    thatched = "thatched", "茅草房"
    earth_wood = "earth_wood", "土木", "Earth and wood"
    stone_wood_tile = "stone_wood_tile", "石木瓦", "Stone, wood and tile"
    brick_wood = "brick_wood", "砖木", "Brick and wood"
    brick_concrete = "brick_concrete", "砖混", "Brick and concrete"


@code_list("social_security_item", "社会保障和救助项目", "Social-security and assistance item")
class SocialSecurityItem(LabelledEnum):
    """Social-security and assistance items (DOMAIN.md §2.5)."""

    ncms = "ncms", "新农合 / 城乡居民医保", "Rural cooperative medical scheme"
    critical_illness_insurance = "critical_illness_insurance", "大病医疗保险"
    medical_assistance = "medical_assistance", "医疗救助"
    pension = "pension", "城乡居民基本养老保险", "Basic pension insurance"
    dibao = "dibao", "农村最低生活保障(低保)", "Minimum living guarantee (dibao)"
    wubao = "wubao", "五保供养", "Five-guarantee support (wubao)"
    temporary_assistance = "temporary_assistance", "临时救助"
    disability_subsidy = "disability_subsidy", "残疾人两项补贴", "Disability subsidies"
    education_aid = "education_aid", "教育扶贫补贴 / 雨露计划", "Education aid"
    family_doctor = "family_doctor", "家庭医生签约", "Family doctor contract"


# -- member -----------------------------------------------------------------------------------------------------
class Disability(RequestModel):
    certificate: bool = False  # 残疾证
    category: Annotated[str, Field(max_length=32)] | None = None
    grade: Annotated[int, Field(ge=1, le=4)] | None = None
    subsidies: bool = False  # 残疾人两项补贴


class Training(RequestModel):
    programme: ShortText  # 雨露计划, 职业技能培训
    on: date
    hours: Annotated[int, Field(ge=0, le=10_000)] = 0
    certificate: bool = False


class Insurance(RequestModel):
    ncms_enrolled: bool = False  # 新农合
    critical_illness_insurance: bool = False  # 大病保险
    pension_enrolled: bool = False  # 养老保险
    premium_subsidised: bool = False  # 个人缴费财政补贴
    family_doctor_signed: bool = False  # 家庭医生签约


class MemberDetails(RequestModel):
    """Member fields kept together in one JSON column (queried through the card, not filtered on)."""

    disease: Annotated[str, Field(max_length=200)] | None = None
    chronic_disease_card: bool = False
    disability: Disability | None = None
    self_care: bool = True  # 生活能否自理
    dropout: bool = False  # 辍学
    work_status: WorkStatus | None = None
    work_location: WorkLocation | None = None
    work_months: Annotated[int, Field(ge=0, le=12)] | None = None
    skills: list[ShortText] = Field(default_factory=list, max_length=20)
    trainings: list[Training] = Field(default_factory=list, max_length=50)
    insurance: Insurance = Insurance()
    is_party_member: bool = False
    is_needy_party_member: bool = False
    is_veteran: bool = False
    is_left_behind_child: bool = False
    is_elderly_alone: bool = False


_YM = r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$"


class MemberFields(RequestModel):
    """Editable member fields (a PATCH sends any subset)."""

    @field_validator("birth_year_month")
    @classmethod
    def _not_future(cls, value: str | None) -> str | None:
        if value is not None and value > date.today().strftime("%Y-%m"):
            raise ValueError("birth_year_month is in the future (invariant 12)")
        return value

    name: Annotated[str, Field(min_length=1, max_length=64, examples=["黄某某"])] | None = None
    sex: Sex | None = None
    ethnicity: Annotated[str, Field(max_length=16, examples=["zhuang"])] | None = None
    birth_year_month: Annotated[str, Field(pattern=_YM, examples=["1968-04"])] | None = None
    resident_id_number: Annotated[str, Field(min_length=18, max_length=18)] | None = Field(
        None, description="18-character resident ID (公民身份号码); stored encrypted, shown masked"
    )
    no_id_reason: Annotated[str, Field(max_length=200)] | None = Field(
        None, description="Why there is no ID number yet (an infant not yet issued one)"
    )
    labor_capacity: LaborCapacity | None = None
    health_status: HealthStatus | None = None
    education_level: EducationLevel | None = None
    school_status: SchoolStatus | None = None
    resident: bool | None = Field(None, description="Actually lives in the household (空挂户 check)")
    annual_personal_income: Money | None = None
    phone: Annotated[str, Field(pattern=r"^[0-9+\- ]{5,20}$")] | None = None
    details: MemberDetails | None = None


class MemberCreate(MemberFields):
    name: Annotated[str, Field(min_length=1, max_length=64, examples=["黄某某"])]
    relation: Relation
    sex: Sex
    birth_year_month: Annotated[str, Field(pattern=_YM, examples=["1968-04"])]
    labor_capacity: LaborCapacity
    health_status: HealthStatus = HealthStatus.healthy
    resident: bool = True
    details: MemberDetails = Field(default_factory=MemberDetails)

    @model_validator(mode="after")
    def _id_or_reason(self) -> MemberCreate:
        if self.resident_id_number is None and not self.no_id_reason:
            raise ValueError("resident_id_number is required unless no_id_reason says why there is none")
        return self


class MemberUpdate(MemberFields):
    """A member's fields to change (any subset; the required ones may not be nulled)."""


class MemberLeave(RequestModel):
    reason: LeftReason
    on: date
    note: Annotated[str, Field(max_length=500)] | None = None


class HeadChange(RequestModel):
    member_id: uuid.UUID
    former_head_relation: Relation = Field(description="The former head's relation to the new head")
    reason: Reason


# -- household --------------------------------------------------------------------------------------------------
class Development(RequestModel):
    willing: bool = True  # 发展意愿
    wishes: Annotated[str, Field(max_length=500)] | None = None


class Housing(RequestModel):
    rooms_total: Annotated[int, Field(ge=0, le=100)] | None = None
    rooms_main: Annotated[int, Field(ge=0, le=100)] | None = None
    rooms_side: Annotated[int, Field(ge=0, le=100)] | None = None
    area_m2: Area | None = None
    built_period: Annotated[str, Field(max_length=16, examples=["1980s"])] | None = None
    structure: HouseStructure | None = None
    condition_notes: Annotated[str, Field(max_length=500)] | None = None
    needs_renovation: bool = False


class Land(RequestModel):
    arable_mu: Area | None = None
    irrigated_mu: Area | None = None
    dry_mu: Area | None = None
    forest_mu: Area | None = None
    tools_adequate: bool | None = None


class Categories(RequestModel):
    is_dibao_household: bool = False  # 低保户
    is_wubao_household: bool = False  # 五保户
    is_extremely_poor: bool = False  # 特困户
    is_reservoir_migrant: bool = False  # 水库移民
    is_returned_overseas: bool = False  # 归侨侨眷
    is_relocation_household: bool = False  # 易地搬迁户
    is_geo_hazard_household: bool = False  # 地质灾害户
    is_military_martyr_family: bool = False  # 军烈属
    is_only_child_family: bool = False  # 独生子女户
    is_two_daughter_family: bool = False  # 双女户


class LivingConditions(RequestModel):
    production_power: bool | None = None  # 生产用电
    living_power: bool | None = None  # 生活用电
    road_distance_km: Area | None = None  # 距主干路距离
    access_road_type: Annotated[str, Field(max_length=32)] | None = None
    drinking_water_difficulty: bool | None = None  # 饮水困难
    drinking_water_safe: bool | None = None  # 饮水安全
    main_fuel: Annotated[str, Field(max_length=32)] | None = None
    sanitary_toilet: bool | None = None


class Cooperative(RequestModel):
    name: ShortText
    share_yuan: Money = Decimal("0.00")


class SocialSecurity(RequestModel):
    item: SocialSecurityItem
    member_id: uuid.UUID | None = Field(None, description="The member concerned; null for the household")
    year: Year
    start_date: date | None = None
    monthly_amount: Money | None = None


class RelatedOfficial(RequestModel):
    """A declared relation to a village cadre, reviewer or work-team member (优亲厚友 check)."""

    user_sub: Annotated[str, Field(max_length=64)] | None = Field(None, description="Their Jingzhun user id")
    name: Annotated[str, Field(min_length=1, max_length=64)]
    position: Annotated[str, Field(max_length=64)] | None = None
    relation: Annotated[str, Field(min_length=1, max_length=32)]


class HouseholdDetails(RequestModel):
    development: Development = Development()
    housing: Housing = Housing()
    land: Land = Land()
    categories: Categories = Categories()
    living_conditions: LivingConditions = LivingConditions()
    cooperatives: list[Cooperative] = Field(default_factory=list, max_length=20)
    social_security: list[SocialSecurity] = Field(default_factory=list, max_length=200)
    related_officials: list[RelatedOfficial] = Field(default_factory=list, max_length=20)


class HouseholdFields(RequestModel):
    natural_village: Annotated[str, Field(min_length=1, max_length=64, examples=["那坡屯"])] | None = Field(
        None, description="自然村 (屯) the household lives in"
    )
    villager_group: Annotated[str, Field(min_length=1, max_length=32, examples=["第三组"])] | None = Field(
        None, description="村民小组"
    )
    national_household_code: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    poverty_cause_primary: PovertyCause | None = None
    poverty_causes_other: Annotated[list[PovertyCause], Field(max_length=15)] | None = None
    poverty_attribute: PovertyAttribute | None = None
    main_income_source: IncomeSource | None = None
    dangerous_house_grade: HouseGrade | None = None
    planned_exit_year: Year | None = None
    contact_phone: Annotated[str, Field(pattern=r"^[0-9+\- ]{5,20}$")] | None = None
    bank_account: Annotated[str, Field(pattern=r"^[0-9 ]{8,32}$")] | None = None
    bank_name: Annotated[str, Field(max_length=64)] | None = None
    details: HouseholdDetails | None = None

    @field_validator("poverty_causes_other")
    @classmethod
    def _distinct(cls, value: list[PovertyCause] | None) -> list[PovertyCause] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("causes must be distinct")
        return value


class HouseholdCreate(HouseholdFields):
    village_code: RegionCode
    identification_year: Year
    formed_on: date | None = Field(None, description="When the household was formed (分户 date), if known")
    details: HouseholdDetails = Field(default_factory=HouseholdDetails)
    members: Annotated[list[MemberCreate], Field(min_length=1, max_length=30)]

    @model_validator(mode="after")
    def _one_head(self) -> HouseholdCreate:
        heads = sum(1 for m in self.members if m.relation is Relation.head)
        if heads != 1:
            raise ValueError(f"exactly one member must have relation 'head' (found {heads})")
        return self


class HouseholdUpdate(HouseholdFields):
    """Household fields to change (any subset), with the reason for the audit log."""

    reason: Annotated[str, Field(max_length=1000)] | None = None


class IncomeSet(RequestModel):
    """Income components for one reference year (DOMAIN.md §2.4); net and per-capita are computed."""

    wage: Money = Field(description="工资性收入")
    operating: Money = Field(description="生产经营性收入")
    property: Money = Field(description="财产性收入")
    transfer: Money = Field(description="转移性收入")
    operating_expenses: Money = Field(description="生产经营性支出")
    surveyed_on: date | None = None
    note: Annotated[str, Field(max_length=500)] | None = None


class IncomePublic(ResponseModel):
    year: int
    version: int
    wage: Yuan
    operating: Yuan
    property: Yuan
    transfer: Yuan
    operating_expenses: Yuan
    household_size: int
    net_income: SignedYuan
    per_capita_net_income: SignedYuan
    surveyed_on: date | None
    note: str | None
    recorded_at: datetime
    recorded_by: str


class SplitRequest(RequestModel):
    member_ids: Annotated[list[uuid.UUID], Field(min_length=1, max_length=30)]
    new_head_id: uuid.UUID
    relations: dict[uuid.UUID, Relation] = Field(
        default_factory=dict, description="New relation to the new head of each other moved member"
    )
    reason: Reason
    national_household_code: Annotated[str, Field(max_length=40)] | None = None


class MergeRequest(RequestModel):
    from_household_id: uuid.UUID
    from_version: int = Field(description="The absorbed household's current version (its ETag)")
    relations: dict[uuid.UUID, Relation] = Field(
        description="Relation to this household's head of every active member of the absorbed household"
    )
    reason: Reason


class MoveRequest(RequestModel):
    to_household_id: uuid.UUID
    to_version: int = Field(description="The receiving household's current version")
    relation: Relation
    reason: Reason


class RelocationRequest(RequestModel):
    """Move the whole household to another administrative village (易地扶贫搬迁 / 户籍迁移)."""

    to_village_code: RegionCode
    reason: RelocationReason
    effective_date: date = Field(description="The day the household lives in the new village (迁入日期)")
    document_reference: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="The relocation approval or household-registration document (批复文号)"
    )
    natural_village: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="自然村 in the new village (the old one is not kept)"
    )
    villager_group: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="村民小组 in the new village (the old one is not kept)"
    )
    note: Annotated[str, Field(max_length=1000)] | None = None


class FlagClear(RequestModel):
    reason: Reason


# == answers to writes ==========================================================================================
class HouseholdVersion(BaseModel):
    """A household after a write; its `version` is the new ETag."""

    id: uuid.UUID
    version: int


class MemberVersion(BaseModel):
    """The household after a member was added or edited."""

    id: uuid.UUID
    member_id: uuid.UUID
    version: int


class MemberMoved(BaseModel):
    """The household a member left; `new_member_id` is their membership in the receiving household."""

    id: uuid.UUID
    new_member_id: uuid.UUID
    version: int


class Relocated(BaseModel):
    """The household after a relocation: its new village, the one it left, and its new `version` (ETag)."""

    id: uuid.UUID
    version: int
    village_code: str
    from_village_code: str
    active_pairings: int = Field(description="Pairings kept through the move (不脱贫不脱钩, P3/P4)")


class HouseholdSplit(BaseModel):
    """The household split from (`id`, at its new `version`) and the household split into."""

    id: uuid.UUID
    new_household_id: uuid.UUID
    version: int


class IncomeVersion(BaseModel):
    """The household after an income year was recorded."""

    id: uuid.UUID
    year: int
    version: int


# == the card (扶贫手册 view) =====================================================================================
#: A timestamp of the card: RFC 3339 in UTC with `Z`, as every answer writes it (the card's SQL writes it the same
#: way, shared/sql_json.py, so the fast path's text and the model's agree).
CardTime = datetime


class _Card(BaseModel):
    # Exactly the keys of the card: an unknown key is an error, so the model and the SQL cannot drift.
    model_config = ConfigDict(extra="forbid")


class CardMember(_Card):
    id: uuid.UUID
    person_id: uuid.UUID
    name: str
    relation: Relation
    sex: Sex
    ethnicity: str | None
    birth_year_month: str
    resident_id_number: str | None = Field(description="Masked (first 6, last 4) unless the card is unmasked")
    no_id_reason: str | None
    labor_capacity: LaborCapacity
    health_status: HealthStatus
    education_level: EducationLevel | None
    school_status: SchoolStatus | None
    resident: bool
    annual_personal_income: Yuan | None
    phone: str | None = Field(description="Masked (last 4) unless the card is unmasked")
    details: dict[str, Any]
    joined_on: date


class CardFormerMember(_Card):
    id: uuid.UUID
    person_id: uuid.UUID
    name: str
    relation: Relation
    joined_on: date
    left_on: date | None
    left_reason: LeftReason | None


class CardIncome(_Card):
    year: int
    version: int
    wage: Yuan
    operating: Yuan
    property: Yuan
    transfer: Yuan
    operating_expenses: Yuan
    household_size: int
    net_income: SignedYuan
    per_capita_net_income: SignedYuan
    surveyed_on: date | None
    note: str | None
    recorded_at: CardTime
    recorded_by: str


class CardImport(_Card):
    """How a household came in through an explicit import mode (issue #13 item 2): `migration` is an already
    registered history brought over from an older system, on the county's authority and its source document."""

    mode: str = Field(description="`migration`: registered elsewhere, imported by the county")
    source_document: str | None = Field(description="The document or system the history comes from (文号)")
    at: CardTime
    by: str


class CardWorkflowEvent(_Card):
    seq: int
    command: str = Field(
        description="A workflow command, `import` for a bulk-registered household, `relocate` for a relocation"
    )
    at: CardTime
    actor: str
    role: str
    reason: str | None
    data: dict[str, Any]
    status_after: str
    batch_id: uuid.UUID | None


class CardFlag(_Card):
    id: int
    code: str
    detail: dict[str, Any]
    raised_at: CardTime
    cleared_at: CardTime | None
    cleared_by: str | None
    clear_reason: str | None


class CardMembershipChange(_Card):
    person_id: uuid.UUID
    kind: str
    from_household_id: uuid.UUID | None
    to_household_id: uuid.UUID | None
    at: CardTime
    actor: str
    reason: str


class CardPairing(_Card):
    id: uuid.UUID
    cadre_id: uuid.UUID
    cadre_name: str
    position_level: str
    position: str | None
    cadre_phone: str | None
    unit_id: uuid.UUID
    unit_name: str
    role: str
    valid_from: date
    valid_to: date | None
    end_reason: str | None


class HouseholdCard(_Card):
    """The whole household record in one answer (扶贫手册 view): personal data masked unless `unmasked`."""

    id: uuid.UUID
    village_code: str
    village_name: str
    natural_village: str | None
    villager_group: str | None
    national_household_code: str | None
    status: str = Field(description="`objection_pending` while an objection is open, else `workflow_status`")
    workflow_status: str
    chain: str | None
    returned: bool
    identification_year: int
    quota_year: int
    head_name: str
    household_size: int
    labor_count: int
    has_labor_capacity: bool
    poverty_cause_primary: PovertyCause | None
    poverty_causes_other: list[PovertyCause]
    poverty_attribute: PovertyAttribute | None
    main_income_source: IncomeSource | None
    dangerous_house_grade: HouseGrade | None
    income_year: int | None
    net_income: SignedYuan | None
    per_capita_net_income: SignedYuan | None
    contact_phone: str | None
    bank_account: str | None
    bank_name: str | None
    details: dict[str, Any]
    origin_household_id: uuid.UUID | None
    origin_kind: str | None
    formed_on: date | None
    flags: list[str]
    planned_exit_year: int | None
    exit_effective_year: int | None
    imported: CardImport | None = Field(
        description="Set when the household was migrated in as registered (not through 两公示一公告 here)"
    )
    version: int
    created_at: CardTime
    created_by: str
    updated_at: CardTime
    updated_by: str
    members: list[CardMember]
    former_members: list[CardFormerMember]
    incomes: list[CardIncome]
    workflow: list[CardWorkflowEvent]
    flags_detail: list[CardFlag]
    membership_changes: list[CardMembershipChange]
    pairings: list[CardPairing]
    unmasked: bool = Field(
        False, description="Present (true) only on an unmasked read: full ID numbers, phones, bank account"
    )


# == the list ===================================================================================================
@code_list("household_sort", "农户列表排序", "Household list order")
class SortKey(LabelledEnum):
    """List orders; each is served by an index (keyset pages stay as fast at depth 100 000 as on page 1)."""

    village = "village", "按村", "By village"  # village code, then id
    head_name = "head_name", "按户主姓名", "By the head's name"
    # per-capita net income (households with an income record only)
    income = "income", "按人均纯收入", "By per-capita net income"
    updated = "updated", "按更新时间", "By last update"


class HouseholdListItem(BaseModel):
    """One household of a list page: the fields asked for with `fields=` (all of them by default); `id` always."""

    id: uuid.UUID = Field(description="Always present, whatever `fields=` selects")
    village_code: str | None = None
    natural_village: str | None = None
    status: str | None = Field(
        None, description="The workflow status (an open objection is `objection_open`)"
    )
    objection_open: bool | None = None
    returned: bool | None = None
    identification_year: int | None = None
    head_name: str | None = None
    household_size: int | None = None
    labor_count: int | None = None
    has_labor_capacity: bool | None = None
    poverty_cause_primary: str | None = None
    poverty_causes_other: list[str] | None = None
    poverty_attribute: str | None = None
    dangerous_house_grade: str | None = None
    income_year: int | None = None
    per_capita_net_income: SignedYuan | None = None
    flags: list[str] | None = None
    version: int | None = None
    updated_at: datetime | None = None


#: Fields a list item may carry (`fields=` selects a subset; `id` is always included).
LIST_FIELDS: tuple[str, ...] = tuple(HouseholdListItem.model_fields)

#: A list item as the repository reads it: the selected fields only, as their Python values.
ListRow = dict[str, uuid.UUID | str | bool | int | Decimal | datetime | list[str] | None]


@dataclass(frozen=True, slots=True)
class ListPage:
    """A list page as read: the rows (selected fields only) and the cursor continuing after them."""

    rows: list[ListRow]
    next_cursor: str | None

    def json(self) -> bytes:
        return list_page_json(self.rows, self.next_cursor)


def list_page_json(rows: Sequence[ListRow], next_cursor: str | None) -> bytes:
    """The JSON of `Page[HouseholdListItem]` for rows of plain values, without building a model per item.

    The busiest list of the platform (a province pulling pages, a dashboard scrolling): serialising the values
    directly costs a sixth of validating 50 models per page. The values are those `HouseholdListItem` declares
    (a test checks that the answer validates against `Page[HouseholdListItem]` and equals its serialisation).
    """
    return pydantic_core.to_json({"items": rows, "next_cursor": next_cursor})


@code_list("household_list_status", "农户状态(列表筛选)", "Household status (list filter)")
class StatusFilter(LabelledEnum):
    """A status `GET /households?status=` filters by: a workflow status (`identification.domain.Status`), one of
    the record's own (`HouseholdStatus`: `candidate`, `dissolved`), or `objection_pending` (an objection is open,
    DOMAIN.md §2.15). The labels are the members' own (tests/registry/test_openapi.py checks the codes agree)."""

    none = "none", Status.none.label, Status.none.english
    applied = "applied", Status.applied.label, Status.applied.english
    return_applied = "return_applied", Status.return_applied.label, Status.return_applied.english
    village_reviewed = "village_reviewed", Status.village_reviewed.label, Status.village_reviewed.english
    first_notice = "first_notice", Status.first_notice.label, Status.first_notice.english
    township_reviewed = "township_reviewed", Status.township_reviewed.label, Status.township_reviewed.english
    second_notice = "second_notice", Status.second_notice.label, Status.second_notice.english
    county_reviewed = "county_reviewed", Status.county_reviewed.label, Status.county_reviewed.english
    registered = "registered", Status.registered.label, Status.registered.english
    exit_proposed = "exit_proposed", Status.exit_proposed.label, Status.exit_proposed.english
    exit_first_notice = "exit_first_notice", Status.exit_first_notice.label, Status.exit_first_notice.english
    exit_township_reviewed = (
        "exit_township_reviewed",
        Status.exit_township_reviewed.label,
        Status.exit_township_reviewed.english,
    )
    exit_second_notice = (
        "exit_second_notice",
        Status.exit_second_notice.label,
        Status.exit_second_notice.english,
    )
    exit_county_reviewed = (
        "exit_county_reviewed",
        Status.exit_county_reviewed.label,
        Status.exit_county_reviewed.english,
    )
    exited = "exited", Status.exited.label, Status.exited.english
    rejected = "rejected", Status.rejected.label, Status.rejected.english
    removed = "removed", Status.removed.label, Status.removed.english
    candidate = "candidate", HouseholdStatus.candidate.label, HouseholdStatus.candidate.english
    dissolved = "dissolved", HouseholdStatus.dissolved.label, HouseholdStatus.dissolved.english
    objection_pending = "objection_pending", "异议处理中", "Objection pending"


class HouseholdQuery(BaseModel):
    """A list request: filters, order, page and the fields of each item."""

    model_config = ConfigDict(frozen=True)

    region: str | None = None
    statuses: tuple[str, ...] = ()
    cause: str | None = None
    attribute: str | None = None
    income_min: Decimal | None = None
    income_max: Decimal | None = None
    name_prefix: str | None = None
    flag: str | None = None
    year: int | None = None
    has_labor_capacity: bool | None = None
    returned: bool | None = None
    sort: SortKey = SortKey.village
    descending: bool = False
    cursor: str | None = None
    limit: int = 50
    fields: tuple[str, ...] = LIST_FIELDS


# == statistics =================================================================================================
class RegionCounts(BaseModel):
    """Households and people of one region by where they stand, with the poverty incidence (贫困发生率)."""

    region_code: str
    name: str
    level: str
    poor_households: int = Field(description="Registered and not yet exited")
    poor_people: int
    exited_households: int
    exited_people: int
    in_identification_households: int = Field(description="Applied (or returning) up to the county re-review")
    returned_households: int = Field(description="Poor households that had exited before (返贫)")
    population: int | None = Field(
        description="The region's registered rural population of the year, if known"
    )
    incidence_percent: Percent | None = Field(description="poor people / population x 100 (贫困发生率)")
    flags: list[str] = Field(
        default_factory=list,
        description="`poor_above_population`: more poor people counted now than the population recorded for the "
        "year (invariant 10), so the incidence is above 100 % — record the population again",
    )


class HouseholdStats(BaseModel):
    """Counts and incidence for a region and each of its child regions, from the records."""

    year: int
    region: RegionCounts
    children: list[RegionCounts]
    note: str


# == lookup by id (other services: planning's beneficiary checks) ================================================
#: One lookup names at most this many households.
LOOKUP_LIMIT = 500


class HouseholdLookup(RequestModel):
    """Households by id, for a service checking the ids it was given (planning's project beneficiaries)."""

    ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=LOOKUP_LIMIT, description="At most 500 household ids"
    )
    paired_with: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Only households paired today with the cadre whose login is this user id (services only);"
        " with no `ids`, all of them (at most 500)",
    )


class HouseholdSummary(BaseModel):
    """What another service needs of a household: where it lives, its status, its head (for disclosure)."""

    id: uuid.UUID
    village_code: str
    status: str = Field(
        description="The workflow status (`registered`, `exit_proposed`, …) or the record's own"
    )
    head_name: str
    household_size: int
    natural_village: str | None = Field(
        None, description="The natural village or group (自然村/屯/组), for public disclosure boards"
    )


class HouseholdLookupAnswer(BaseModel):
    """The households among the ids that exist in your scope (missing and out-of-scope ids are absent)."""

    items: list[HouseholdSummary]
