"""Household API models: the fields of DOMAIN.md §2.2-§2.7 with their standard code lists.

Enumerations keep the Chinese term beside each code. Money is `Decimal` with two places, never a float;
areas and counts are non-negative (invariants 8, 9). Derived values (household size, labour count, per-capita
net income) are never accepted from the client (invariant 11).
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from shared.schemas import RegionCode, RequestModel, ResponseModel

Money = Annotated[Decimal, Field(ge=0, le=Decimal("999999999.99"), decimal_places=2, examples=["3600.00"])]
Area = Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"), decimal_places=2)]
Year = Annotated[int, Field(ge=2000, le=2100, examples=[2014])]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=1000, examples=["户主申请"])]


class Relation(enum.StrEnum):
    """与户主关系 (relation to the head)."""

    head = "head"  # 户主
    spouse = "spouse"  # 配偶
    son = "son"  # 之子
    daughter = "daughter"  # 之女
    daughter_in_law = "daughter_in_law"  # 儿媳
    son_in_law = "son_in_law"  # 女婿
    grandchild = "grandchild"  # 孙子女
    parent = "parent"  # 父母
    sibling = "sibling"  # 兄弟姐妹
    other = "other"  # 其他


class Sex(enum.StrEnum):
    male = "male"  # 男
    female = "female"  # 女


class LaborCapacity(enum.StrEnum):
    """劳动能力."""

    ordinary = "ordinary"  # 普通劳动力
    skilled = "skilled"  # 技能劳动力
    lost = "lost"  # 丧失劳动力
    none = "none"  # 无劳动力 (child, student, elderly)


WORKING = frozenset({LaborCapacity.ordinary, LaborCapacity.skilled})


class HealthStatus(enum.StrEnum):
    """健康状况."""

    healthy = "healthy"  # 健康
    chronic_illness = "chronic_illness"  # 长期慢性病
    serious_illness = "serious_illness"  # 大病
    disabled = "disabled"  # 残疾


class EducationLevel(enum.StrEnum):
    """文化程度."""

    illiterate = "illiterate"  # 文盲半文盲
    primary = "primary"  # 小学
    junior_middle = "junior_middle"  # 初中
    senior_high = "senior_high"  # 高中
    college_plus = "college_plus"  # 大专及以上
    preschool = "preschool"  # 学龄前


class SchoolStatus(enum.StrEnum):
    """在校生状况."""

    not_in_school = "not_in_school"  # 非在校生
    preschool = "preschool"  # 学前教育
    primary = "primary"  # 小学
    junior_middle = "junior_middle"  # 初中
    senior_high = "senior_high"  # 高中
    secondary_vocational = "secondary_vocational"  # 中职
    college = "college"  # 大中专院校


class WorkStatus(enum.StrEnum):
    """务工/务农状况."""

    migrant_long_term = "migrant_long_term"  # 常年在外务工
    farming = "farming"  # 在家务农
    odd_jobs = "odd_jobs"  # 打零工
    public_welfare_post = "public_welfare_post"  # 公益岗位
    poverty_workshop = "poverty_workshop"  # 扶贫车间
    student = "student"  # 在校生
    none = "none"  # 无


class WorkLocation(enum.StrEnum):
    township = "township"  # 乡镇内
    county = "county"  # 县内
    province = "province"  # 省内
    outside_province = "outside_province"  # 省外


class PovertyCause(enum.StrEnum):
    """致贫原因 (national list + local causes, DOMAIN.md §2.6)."""

    illness = "illness"  # 因病
    disability = "disability"  # 因残
    schooling = "schooling"  # 因学
    disaster = "disaster"  # 因灾
    lack_of_land = "lack_of_land"  # 缺土地
    lack_of_water = "lack_of_water"  # 缺水
    lack_of_skills = "lack_of_skills"  # 缺技术
    lack_of_labor = "lack_of_labor"  # 缺劳力
    lack_of_capital = "lack_of_capital"  # 缺资金
    poor_transport = "poor_transport"  # 交通条件落后
    low_motivation = "low_motivation"  # 自身发展动力不足
    old_age = "old_age"  # 因老
    lack_of_information = "lack_of_information"  # 缺信息
    dangerous_housing = "dangerous_housing"  # 住房危旧
    low_education = "low_education"  # 文化程度低
    other = "other"  # 其他


class PovertyAttribute(enum.StrEnum):
    """贫困户属性 (DOMAIN.md §2.7)."""

    general_poor = "general_poor"  # 一般贫困户
    dibao_poor = "dibao_poor"  # 低保贫困户
    wubao_poor = "wubao_poor"  # 五保(特困供养)贫困户


class IncomeSource(enum.StrEnum):
    """家庭经济收入主要依靠."""

    migrant_work = "migrant_work"  # 外出务工
    farming = "farming"  # 种植
    local_odd_jobs = "local_odd_jobs"  # 本地零工
    breeding = "breeding"  # 养殖
    public_welfare_job = "public_welfare_job"  # 公益岗位
    transfer = "transfer"  # 转移性收入
    other = "other"  # 其他


class HouseStructure(enum.StrEnum):
    """房屋结构."""

    mud_brick = "mud_brick"  # 泥砖房
    adobe = "adobe"  # 土坯房
    thatched = "thatched"  # 茅草房
    earth_wood = "earth_wood"  # 土木
    stone_wood_tile = "stone_wood_tile"  # 石木瓦
    brick_wood = "brick_wood"  # 砖木
    brick_concrete = "brick_concrete"  # 砖混


class HouseGrade(enum.StrEnum):
    """危房等级: C and D count as dangerous."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class LeftReason(enum.StrEnum):
    """减员原因."""

    death = "death"  # 死亡
    marriage_out = "marriage_out"  # 婚出
    household_transfer = "household_transfer"  # 户口迁出 / 分户
    military_service = "military_service"  # 服兵役
    other = "other"


class SocialSecurityItem(enum.StrEnum):
    """Social-security and assistance items (DOMAIN.md §2.5)."""

    ncms = "ncms"  # 新农合 / 城乡居民医保
    critical_illness_insurance = "critical_illness_insurance"  # 大病医疗保险
    medical_assistance = "medical_assistance"  # 医疗救助
    pension = "pension"  # 城乡居民基本养老保险
    dibao = "dibao"  # 农村最低生活保障
    wubao = "wubao"  # 五保供养
    temporary_assistance = "temporary_assistance"  # 临时救助
    disability_subsidy = "disability_subsidy"  # 残疾人两项补贴
    education_aid = "education_aid"  # 教育扶贫补贴 / 雨露计划
    family_doctor = "family_doctor"  # 家庭医生签约


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


class MemberPatch(MemberFields):
    pass


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
    share_yuan: Money = Decimal(0)


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


class HouseholdPatch(HouseholdFields):
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
    wage: Decimal
    operating: Decimal
    property: Decimal
    transfer: Decimal
    operating_expenses: Decimal
    household_size: int
    net_income: Decimal
    per_capita_net_income: Decimal
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


class WorkflowCommandIn(RequestModel):
    reason: Annotated[str, Field(max_length=1000)] | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="Command-specific fields (see README)")


class BatchItem(RequestModel):
    household_id: uuid.UUID
    version: int | None = Field(None, description="If given, the command applies only at this version")


class BatchCommandIn(WorkflowCommandIn):
    items: Annotated[list[BatchItem], Field(min_length=1, max_length=1000)]


class FlagClear(RequestModel):
    reason: Reason


class QuotaOverrideIn(RequestModel):
    household_id: uuid.UUID
    reason: Reason


class PopulationSet(RequestModel):
    population: Annotated[int, Field(ge=0, le=2**31 - 1, examples=[1560])]
    households: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
