"""Public disclosure API models (村级公示): a village's projects of a year, their funding by source, the approval
steps of 四议两公开 with their dates, milestones, acceptance, the disbursements, the beneficiary households (head's
name, village, natural village — nothing else, invariant 49) and the village's totals.

Money is yuan on the wire (`"1750000.00"`), as everywhere outside the reports; each code comes with its zh-CN
label beside it (`*_label`), as the board prints it.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import Field, WithJsonSchema

from services.planning.funds.domain import DisbursementStage, FundingSource
from services.planning.projects.domain import ProjectCategory, ProjectStatus, QuantityUnit, Step
from shared.schemas import Percent, Quantity, ResponseModel, SignedYuan, Yuan

__all__ = [
    "DisclosedAcceptance",
    "DisclosedBeneficiary",
    "DisclosedDisbursement",
    "DisclosedFunding",
    "DisclosedMilestone",
    "DisclosedProject",
    "DisclosedStep",
    "DisclosedVillage",
    "DisclosurePrintPage",
    "DisclosureTotals",
    "VillageDisclosure",
]


class DisclosedVillage(ResponseModel):
    code: str
    name: str = Field(examples=["旧州村"])


class DisclosedFunding(ResponseModel):
    """One funding line of a project: where the money comes from, and how much arrived and was paid out."""

    source: FundingSource
    source_label: str = Field(examples=["行业部门资金"])
    funder: str = Field(description="The funder organisation (出资单位)")
    committed_yuan: Yuan
    received_yuan: Yuan = Field(description="Arrived (到位)")
    disbursed_yuan: Yuan = Field(description="Paid out (拨付)")


class DisclosedStep(ResponseModel):
    """A step of the project's approval and life: 四议两公开, the reviews, the start, the acceptance."""

    step: Step
    step_label: str = Field(examples=["村民（代表）会议决议"])  # noqa: RUF001
    on: date = Field(description="The meeting's, posting's or decision's day")
    place: str | None = Field(description="Where a 公开 was posted")
    attendees: int | None
    votes_for: int | None
    votes_against: int | None
    approve: bool | None = Field(description="A review: approved (true) or returned (false)")
    passed: bool | None = Field(description="An acceptance: passed or not")


class DisclosedMilestone(ResponseModel):
    name: str
    due_on: date
    percent: int = Field(description="Progress, 0-100 %")
    done_on: date | None


class DisclosedAcceptance(ResponseModel):
    """The completion acceptance (竣工验收)."""

    accepted_on: date
    passed: bool
    findings: str
    accepted_by: str = Field(description="Who accepted (验收组)")


class DisclosedProject(ResponseModel):
    """A project as the board shows it."""

    id: uuid.UUID
    name: str
    category: ProjectCategory
    category_label: str = Field(examples=["道路交通"])
    natural_village: str | None = Field(description="Where (自然村/屯/组)")
    quantity: Quantity | None
    unit: QuantityUnit | None
    unit_label: str | None = Field(examples=["公里"])
    starts_on: date | None
    finishes_on: date | None
    implementing_party: str | None = Field(description="Who builds or runs it (实施单位)")
    status: ProjectStatus
    status_label: str = Field(examples=["实施中"])
    budget_yuan: Yuan
    committed_yuan: Yuan = Field(description="Σ the funding lines")
    received_yuan: Yuan
    disbursed_yuan: Yuan
    funding: list[DisclosedFunding] = Field(description="By source, then funder")
    approval_steps: list[DisclosedStep] = Field(description="In the order taken (四议两公开, reviews, …)")
    milestones: list[DisclosedMilestone] = Field(description="By due date")
    progress_percent: Percent | None = Field(
        description="Mean of the milestones' percentages; null without milestones"
    )
    acceptance: DisclosedAcceptance | None
    beneficiary_households: int = Field(description="Households the project benefits")


class DisclosedDisbursement(ResponseModel):
    """A payment out of a project's funding line (资金拨付); a reversal (红字冲销) is negative and names the entry it
    reverses."""

    entry_id: int
    project_id: uuid.UUID
    project_name: str
    entry_date: date
    stage: DisbursementStage | None
    stage_label: str | None = Field(examples=["进度款"])
    amount_yuan: SignedYuan
    payee: str | None = Field(description="The payee organisation (收款单位)")
    voucher: str | None = Field(description="The voucher reference (凭证号)")
    reverses: int | None = Field(description="The entry this one reverses, if it is a reversal")


class DisclosedBeneficiary(ResponseModel):
    """A beneficiary household: its head's name, village and natural village only (invariant 49: never an ID
    number, a phone or bank data)."""

    head_name: str = Field(examples=["黄志强"])
    village_code: str
    natural_village: str | None = Field(examples=["那坡屯"])
    project_ids: list[uuid.UUID] = Field(description="The disclosed projects it benefits")


class DisclosureTotals(ResponseModel):
    """The village's totals over the disclosed projects."""

    projects: int
    budget_yuan: Yuan
    committed_yuan: Yuan
    received_yuan: Yuan
    disbursed_yuan: Yuan
    disbursement_rate: Percent | None = Field(
        description="Disbursed ÷ committed x 100, two places; null when nothing is committed"
    )
    beneficiary_households: int = Field(description="Distinct households benefiting from them")


class VillageDisclosure(ResponseModel):
    """A village's public disclosure of one year (村级项目及资金公示): the projects whose schedule starts in the
    year (from the villagers' public resolution on; drafts and returned projects are not shown), their funding,
    approval, progress and acceptance, every disbursement, the beneficiary households and the totals."""

    village: DisclosedVillage
    year: int
    posted_on: date = Field(description="The day of this disclosure (公示日期; today in China)")
    notice_ends_on: date = Field(
        description="The end of the notice period: at least 7 full days (invariant 14)"
    )
    projects: list[DisclosedProject] = Field(description="By start date, then name")
    disbursements: list[DisclosedDisbursement] = Field(description="By date, then as recorded")
    beneficiaries: list[DisclosedBeneficiary] = Field(
        description="By village, natural village, head's name; each household once"
    )
    totals: DisclosureTotals


#: The printable page: one self-contained HTML document (print CSS, A4).
DisclosurePrintPage = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "description": "A self-contained HTML page (UTF-8) with print styles for A4: the disclosure's tables,"
            " the date posted and the village committee's signature line",
        }
    ),
]
