"""Help plan API models: measures from the catalogue of DOMAIN.md §4.1 (invariants 34, 35)."""

from __future__ import annotations

import enum
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import Field

from shared.schemas import RequestModel

Yuan = Annotated[Decimal, Field(ge=0, le=Decimal("99999999.99"), decimal_places=2, examples=["1200.00"])]


class Measure(enum.StrEnum):
    """Help measures (精选路子, DOMAIN.md §4.1)."""

    planting = "planting"  # 种植
    breeding = "breeding"  # 养殖
    education = "education"  # 教育扶贫
    labor_export = "labor_export"  # 劳务输出 / 转移就业
    housing_renovation = "housing_renovation"  # 危房改造
    skills_training = "skills_training"  # 技术培训 / 雨露计划
    relocation = "relocation"  # 易地搬迁
    equity_dividend = "equity_dividend"  # 入股分红 / 资产收益
    dibao_guarantee = "dibao_guarantee"  # 低保兜底
    infrastructure = "infrastructure"  # 基础设施建设
    industry_support = "industry_support"  # 产业扶持
    capital_support = "capital_support"  # 资金扶持 / 小额贷款
    tech_guidance = "tech_guidance"  # 技术指导
    medical_service = "medical_service"  # 医疗服务 / 大病救助
    public_welfare_job = "public_welfare_job"  # 公益岗位
    workshop_employment = "workshop_employment"  # 扶贫车间
    enterprise_employment = "enterprise_employment"  # 企业招工
    cooperative_join = "cooperative_join"  # 加入合作社
    temporary_relief = "temporary_relief"  # 临时救助 / 物资帮助
    insurance_subsidy = "insurance_subsidy"  # 保险个人缴费补助
    disability_support = "disability_support"  # 残疾人两项补贴
    motivation_support = "motivation_support"  # 扶志
    information_service = "information_service"  # 信息服务 / 电商
    ecological_compensation = "ecological_compensation"  # 生态补偿


class FundingSource(enum.StrEnum):
    fiscal_special = "fiscal_special"  # 财政专项扶贫资金
    industry_fund = "industry_fund"  # 行业部门资金
    helping_unit = "helping_unit"  # 帮扶单位
    credit = "credit"  # 信贷 (小额贷款)
    social_donation = "social_donation"  # 社会捐助
    self_raised = "self_raised"  # 自筹
    other = "other"


class PlanItem(RequestModel):
    item_id: uuid.UUID | None = Field(
        None, description="Keep an item's id across versions; new items get one"
    )
    measure: Measure
    description: Annotated[str, Field(min_length=1, max_length=1000)]
    responsible_cadre_id: uuid.UUID
    due_date: date
    expected_income_gain_yuan: Yuan = Decimal(0)
    cost_yuan: Yuan = Decimal(0)
    funding_source: FundingSource | None = None
    funding_amount_yuan: Yuan | None = None


class PlanSet(RequestModel):
    year_from: Annotated[int, Field(ge=2000, le=2100)]
    year_to: Annotated[int, Field(ge=2000, le=2100)]
    target_exit_year: Annotated[int, Field(ge=2000, le=2100)]
    items: Annotated[list[PlanItem], Field(min_length=1, max_length=100)]
    note: Annotated[str, Field(max_length=1000)] | None = None


class PlanAck(RequestModel):
    version: Annotated[int, Field(ge=1)]
    signatory: Annotated[str, Field(min_length=1, max_length=64, description="The household head who signed")]
    acknowledged_on: date


class ProgressIn(RequestModel):
    percent: Annotated[int, Field(ge=0, le=100)]
    completed_on: date | None = None
    note: Annotated[str, Field(max_length=1000)] | None = None
