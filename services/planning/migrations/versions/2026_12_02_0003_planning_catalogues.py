"""Planning catalogues shipped as data: the indicator catalogue (DOMAIN.md §5.3) and the default earmark matrix.

The indicator rows are the catalogue a village plan's targets pick from (a county may add its own rows). The
earmark matrix says which funding source (§5.6) may pay which project category (§5.5) — 专款专用, invariant 37;
a county may override single cells. Defaults: the special poverty fund pays the poor village's infrastructure,
industry, housing, training and finance but not administration, social security or the sector's own facilities
(schools, clinics, culture rooms: the sector departments pay those); credit and mutual aid pay only productive
projects and finance; the interest subsidy only finance; the risk fund pays no project (its payouts are
force-majeure relief, from its own account); every other source may pay every category.

Revision ID: plan0003
Revises: plan0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "plan0003"
down_revision: str | None = "plan0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (code, zh, en, unit, direction)
INDICATORS: list[tuple[str, str, str, str, str]] = [
    ("poverty_incidence", "贫困发生率", "Poverty incidence", "percent", "decrease"),
    ("poor_population", "贫困人口", "Poor population", "people", "decrease"),
    ("per_capita_net_income", "农村居民人均纯收入", "Rural per-capita net income", "yuan", "increase"),
    ("share_households_above_3500", "人均纯收入3500元以上农户比例", "Households above 3,500 yuan per capita", "percent", "increase"),
    ("income_vs_province_avg", "占全省平均水平比例", "Income as a share of the provincial average", "percent", "increase"),
    ("disposable_income_growth_vs_county", "可支配收入增速", "Disposable income growth vs the county", "ratio", "increase"),
    ("cement_road_to_group_rate", "农村水泥公路到组率", "Cement roads reaching villager groups", "percent", "increase"),
    ("village_road_access_rate", "村级公路畅通率", "Village roads passable", "percent", "increase"),
    ("hardened_road_all_groups", "组组通硬化公路", "Hardened road to every group", "bool", "increase"),
    ("safe_drinking_water_rate", "饮水安全率", "Safe drinking water", "percent", "increase"),
    ("people_water_solved", "解决饮水安全人数", "People given safe drinking water", "people", "increase"),
    ("biogas_household_rate", "农户沼气入户率", "Households with biogas", "percent", "increase"),
    ("grid_upgrade", "农网改造", "Rural grid upgraded", "bool", "increase"),
    ("household_electricity", "生活用电", "Household electricity", "bool", "increase"),
    ("broadband_tv_coverage", "广播电视宽带覆盖", "Radio, TV and broadband coverage", "percent", "increase"),
    ("broadband_to_households", "宽带入户", "Broadband to households", "bool", "increase"),
    ("junior_middle_enrollment", "初中阶段入学率", "Junior-middle-school enrolment", "percent", "increase"),
    ("compulsory_enrollment", "义务教育入学率", "Compulsory-education enrolment", "percent", "increase"),
    ("nine_year_retention", "九年义务教育巩固率", "Nine-year compulsory education retention", "percent", "increase"),
    ("preschool_gross_enrollment", "学前三年毛入园率", "Three-year preschool gross enrolment", "percent", "increase"),
    ("high_school_gross_enrollment", "高中阶段毛入学率", "Senior-high gross enrolment", "percent", "increase"),
    ("ncms_participation", "新农合参合率", "New rural cooperative medical scheme participation", "percent", "increase"),
    ("pension_coverage", "养老保险覆盖率", "Pension insurance coverage", "percent", "increase"),
    ("natural_population_growth", "人口自然增长率", "Natural population growth", "permille", "decrease"),
    ("village_greening_rate", "村庄绿化率", "Village greening", "percent", "increase"),
    ("greening_rate", "绿化率", "Greening", "percent", "increase"),
    ("sanitary_toilet_use_rate", "卫生厕所使用率", "Sanitary toilet use", "percent", "increase"),
    ("sewage_treatment_rate", "污水处理率", "Sewage treated", "percent", "increase"),
    ("garbage_harmless_rate", "生活垃圾无害化处理率", "Household waste treated harmlessly", "percent", "increase"),
    ("small_watershed_governance", "小流域治理率", "Small watersheds managed", "percent", "increase"),
    ("slope_erosion_governance", "坡耕地水土流失综合治理率", "Slope farmland erosion managed", "percent", "increase"),
    ("forest_cover", "森林覆盖率", "Forest cover", "percent", "increase"),
    ("affairs_openness", "政务村务党务公开率", "Government, village and party affairs made public", "percent", "increase"),
    ("villager_autonomy_coverage", "村民自治与民主法制创建面", "Villager self-government and rule-of-law coverage", "percent", "increase"),
    ("service_party_org_four_haves", "四有服务型党组织", "Service-oriented party organisations with the four haves", "percent", "increase"),
    ("irrigation_area_added", "新增和改善灌溉面积", "Irrigated area added or improved", "mu", "increase"),
    ("dangerous_houses_renovated", "农村危房改造", "Dangerous houses renovated", "households", "increase"),
    ("village_clinic", "村卫生室", "Village clinic", "bool", "increase"),
    ("village_culture_room", "村文化室", "Village culture room", "bool", "increase"),
    ("village_road_connected", "通村道路", "Road to the village", "bool", "increase"),
    ("practical_skill_per_villager", "掌握1-2门实用技术", "Villagers with 1-2 practical skills", "percent", "increase"),
    ("seasonal_jobs", "季节性就业岗位", "Seasonal jobs", "people", "increase"),
    ("long_term_jobs", "长期就业岗位", "Long-term jobs", "people", "increase"),
    ("labor_export", "劳动力输出", "Labour exported", "people", "increase"),
    ("collective_income", "村集体经济收入", "Village collective income", "yuan", "increase"),
    ("stable_industry_per_household", "每户稳定增收产业", "Willing poor households with a stable industry", "percent", "increase"),
    ("village_specialty", "一村一品", "One village, one product; a leading entrepreneur", "bool", "increase"),
    ("village_staff_roles", "村卫生员文化教员信息员防疫员农业技术员", "Health, culture, information, epidemic and farm staff", "bool", "increase"),
    ("disclosure_boards", "村务财务事务公开栏", "Village affairs and finance disclosure boards", "bool", "increase"),
]  # fmt: skip

SOURCES = [
    "fiscal_special_poverty_fund", "sector_department_fund", "integrated_fund", "helping_unit_fund",
    "social_donation", "cadre_donation", "beneficiary_self_raised", "credit", "interest_subsidy",
    "enterprise_self_funded", "collective", "mutual_aid_fund", "programme_fund", "risk_fund",
]  # fmt: skip
CATEGORIES = [
    "road", "water_drinking", "water_irrigation", "power_telecom", "energy", "housing", "industry_planting",
    "industry_breeding", "industry_processing_market", "cooperative", "education_facility", "health_facility",
    "culture_public_service", "governance", "training", "social_security", "environment", "land", "finance",
    "whole_village", "whole_township",
]  # fmt: skip
_PRODUCTIVE = {
    "industry_planting",
    "industry_breeding",
    "industry_processing_market",
    "cooperative",
    "finance",
}


def allowed(source: str, category: str) -> bool:
    if source == "fiscal_special_poverty_fund":
        return category not in {
            "governance", "social_security", "education_facility", "health_facility", "culture_public_service",
        }  # fmt: skip
    if source in {"credit", "mutual_aid_fund"}:
        return category in _PRODUCTIVE or (source == "credit" and category == "housing")
    if source == "interest_subsidy":
        return category == "finance"
    if source == "enterprise_self_funded":
        return category in _PRODUCTIVE - {"finance"}
    if source == "risk_fund":
        return False
    return True


def upgrade() -> None:
    indicator = sa.table(
        "planning_indicator",
        sa.column("code", sa.String),
        sa.column("label_zh", sa.String),
        sa.column("label_en", sa.String),
        sa.column("unit", sa.String),
        sa.column("direction", sa.String),
    )
    op.bulk_insert(
        indicator,
        [
            {"code": c, "label_zh": zh, "label_en": en, "unit": unit, "direction": direction}
            for c, zh, en, unit, direction in INDICATORS
        ],
    )
    earmark = sa.table(
        "planning_earmark_rule",
        sa.column("county_code", sa.String),
        sa.column("source", sa.String),
        sa.column("category", sa.String),
        sa.column("allowed", sa.Boolean),
    )
    op.bulk_insert(
        earmark,
        [
            {"county_code": "", "source": s, "category": c, "allowed": allowed(s, c)}
            for s in SOURCES
            for c in CATEGORIES
        ],
    )


def downgrade() -> None:
    op.execute("DELETE FROM planning_earmark_rule WHERE county_code = ''")
    op.execute("DELETE FROM planning_indicator WHERE county_code IS NULL")
