"""Project library API models (项目库): `ProjectCreate` / `ProjectUpdate` / `ProjectPublic` and the answers of the
approval chain, beneficiaries, milestones, attachments, acceptance and assets.

Money is yuan on the wire (`shared.schemas.Yuan`, `"1750000.00"`; more than two decimals or a negative amount is
a 422) and integer fen in the database; quantities are `Quantity` strings; dates are `YYYY-MM-DD`, times RFC 3339
with `Z`. Code lists are the domain's `LabelledEnum`s (each code with its zh-CN label in the schema).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema, model_validator

from services.planning.funds.schemas import FundingSummary
from services.planning.projects.domain import (
    ATTACHMENT_TYPES,
    MAX_ATTACHMENT_BYTES,
    MAX_HOUSEHOLDS,
    AssetOwnerKind,
    AssetType,
    ProjectCategory,
    ProjectStatus,
    QuantityUnit,
    Step,
)
from shared.schemas import Quantity, RequestModel, ResponseModel, Yuan

__all__ = [
    "ATTACHMENT_TYPES",
    "MAX_ATTACHMENT_BYTES",
    "AcceptanceCreate",
    "AcceptancePublic",
    "AcceptanceRecorded",
    "ApprovalStepIn",
    "AssetCreate",
    "AssetPublic",
    "AttachmentContent",
    "BeneficiariesIn",
    "BeneficiariesResult",
    "BeneficiaryPublic",
    "DisclosureIn",
    "MeetingIn",
    "MilestoneCreate",
    "MilestonePublic",
    "MilestoneUpdate",
    "OverdueMilestone",
    "ProjectAttachmentPublic",
    "ProjectCategory",
    "ProjectCreate",
    "ProjectDetail",
    "ProjectEventPublic",
    "ProjectPublic",
    "ProjectQuery",
    "ProjectStatus",
    "ProjectStepResult",
    "ProjectUpdate",
    "ResolutionIn",
    "ReviewIn",
]

Name = Annotated[str, Field(min_length=1, max_length=200, examples=["旧州村委会至那坡屯水泥路"])]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Person = Annotated[str, Field(min_length=1, max_length=64, examples=["黄建国"])]
LongText = Annotated[str, Field(min_length=1, max_length=4000)]
Reason = Annotated[str, Field(min_length=1, max_length=1000, examples=["预算偏高，请核减后重报"])]  # noqa: RUF001
Minutes = Annotated[str, Field(min_length=1, max_length=200, examples=["旧州村〔2016〕3号会议记录"])]  # noqa: RUF001
People = Annotated[int, Field(ge=1, le=100_000)]
Votes = Annotated[int, Field(ge=0, le=100_000)]
Percent100 = Annotated[int, Field(ge=0, le=100, description="Progress, 0-100 %")]
HouseholdIds = Annotated[list[uuid.UUID], Field(max_length=MAX_HOUSEHOLDS)]


# == projects ====================================================================================================
class _ProjectFields(RequestModel):
    natural_village: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="Natural village or group (自然村/屯/组)",
        examples=["那坡屯"],
    )
    plan_id: uuid.UUID | None = Field(
        None, description="The village plan the project belongs to (same village)"
    )
    quantity: Quantity | None = Field(None, description="How much: km, m³, mu, households … (with `unit`)")
    unit: QuantityUnit | None = None
    starts_on: date | None = Field(None, description="Planned start (YYYY-MM-DD)")
    finishes_on: date | None = Field(None, description="Planned completion, not before the start")
    implementing_party: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Who builds or runs it (实施单位)",
        examples=["县交通局"],
    )
    responsible_person: str | None = Field(None, min_length=1, max_length=64, description="项目负责人")
    expected_outputs: str | None = Field(None, min_length=1, max_length=4000, description="预期效益")


class ProjectCreate(_ProjectFields):
    """A project of the village's library (项目库), drafted by the village (status `draft`)."""

    category: ProjectCategory
    name: Name
    budget_yuan: Yuan = Field(
        description="The total budget (项目总投资), yuan with two places", examples=["1750000.00"]
    )


#: Fields a PATCH may not set to null.
_REQUIRED = ("category", "name", "budget_yuan")


class ProjectUpdate(_ProjectFields):
    """The fields to change (absent: unchanged; null clears an optional field), while a draft or returned."""

    category: ProjectCategory | None = None
    name: Name | None = None
    budget_yuan: Yuan | None = Field(None, examples=["1750000.00"])

    @model_validator(mode="after")
    def _required_stay(self) -> ProjectUpdate:
        cleared = [f for f in _REQUIRED if f in self.model_fields_set and getattr(self, f) is None]
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be cleared")
        return self

    def changes(self) -> dict[str, object]:
        """The fields sent, as given."""
        return {name: getattr(self, name) for name in self.model_fields_set}


class ProjectPublic(ResponseModel):
    """A project as every list and answer shows it; `version` is its ETag."""

    id: uuid.UUID
    plan_id: uuid.UUID | None
    village_code: str
    natural_village: str | None
    category: ProjectCategory
    name: str
    quantity: Quantity | None
    unit: QuantityUnit | None
    starts_on: date | None
    finishes_on: date | None
    implementing_party: str | None
    responsible_person: str | None
    expected_outputs: str | None
    budget_yuan: Yuan
    status: ProjectStatus
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime


class ProjectEventPublic(ResponseModel):
    """One event of the project: a step of 四议两公开, a review, the start, the acceptance (append-only)."""

    seq: int
    step: Step
    on: date = Field(description="The step's date: the meeting, the posting, the decision, the acceptance")
    status_after: ProjectStatus
    at: datetime
    actor: str
    role: str
    reason: str | None
    minutes_ref: str | None = None
    attendees: int | None = None
    votes_for: int | None = None
    votes_against: int | None = None
    place: str | None = Field(None, description="Where a 公开 was posted")
    approve: bool | None = Field(None, description="A review: approved (true) or returned (false)")
    passed: bool | None = Field(None, description="An acceptance: passed or not")


class MilestonePublic(ResponseModel):
    """A milestone of the schedule with its progress."""

    id: uuid.UUID
    name: str
    due_on: date
    percent: int
    done_on: date | None
    note: str | None
    updated_at: datetime
    updated_by: str


class ProjectAttachmentPublic(ResponseModel):
    """A photo or document's metadata; its bytes are at `/projects/{id}/attachments/{attachment_id}`."""

    id: uuid.UUID
    milestone_id: uuid.UUID | None
    sha256: str
    content_type: str
    size: int
    uploaded_at: datetime
    uploaded_by: str


#: A photo or document as the server answers it: its raw bytes, typed by the `Content-Type`.
AttachmentContent = Annotated[bytes, WithJsonSchema({"type": "string", "format": "binary"})]


class AcceptancePublic(ResponseModel):
    """The completion acceptance (验收)."""

    accepted_on: date
    passed: bool
    findings: str
    accepted_by: str = Field(description="Who accepted (验收组)")
    recorded_at: datetime
    recorded_by: str


class AcceptanceRecorded(AcceptancePublic):
    """The acceptance recorded, with the project's status and version after it."""

    status: ProjectStatus
    version: int


class AssetPublic(ResponseModel):
    """An asset the project formed (资产确权)."""

    id: uuid.UUID
    project_id: uuid.UUID
    asset_type: AssetType
    description: str
    value_yuan: Yuan
    owner_kind: AssetOwnerKind
    owner_name: str
    beneficiary_household_ids: list[uuid.UUID]
    recorded_at: datetime
    recorded_by: str


class ProjectDetail(ProjectPublic):
    """A project with its money, beneficiaries, approval history, milestones, attachments, acceptance, assets."""

    funding: FundingSummary = Field(
        description="Budget, Σ of the funding lines, the funding gap (invariant 36)"
    )
    beneficiaries_count: int = Field(description="Registry households the project benefits")
    poor_beneficiaries_count: int = Field(
        description="Of them, registered poor households (带贫益贫): computed from registry statuses, never typed"
    )
    events: list[ProjectEventPublic]
    next_steps: list[Step] = Field(description="What the approval chain takes next (empty: nothing now)")
    milestones: list[MilestonePublic]
    attachments: list[ProjectAttachmentPublic]
    acceptance: AcceptancePublic | None
    assets: list[AssetPublic]


class ProjectQuery(BaseModel):
    """A list request."""

    region: str | None = None
    status: ProjectStatus | None = None
    category: ProjectCategory | None = None
    plan_id: uuid.UUID | None = None
    year: int | None = None
    cursor: str | None = None
    limit: int = 50


# == the approval chain ==========================================================================================
class MeetingIn(RequestModel):
    """One of the first three meetings of 四议: the party branch proposes, the two committees discuss, the party
    members review."""

    step: Literal["party_branch_proposal", "committees_discussion", "party_members_review"]
    held_on: date
    minutes_ref: Minutes | None = None
    attendees: People | None = None


class ResolutionIn(RequestModel):
    """The villagers' (representatives') meeting resolves (村民(代表)会议决议): a majority of those present."""

    step: Literal["villagers_resolution"]
    held_on: date
    attendees: People
    votes_for: Votes
    votes_against: Votes
    minutes_ref: Minutes | None = None


class DisclosureIn(RequestModel):
    """A 公开: the resolution (before the township review) or the implementation results (once implementing)."""

    step: Literal["resolution_disclosure", "results_disclosure"]
    posted_on: date
    place: ShortText = Field(examples=["村务公开栏"])


class ReviewIn(RequestModel):
    """The township's review (乡镇审核) or the county's approval (县级审批): approve, or return with a reason."""

    step: Literal["township_review", "county_approval"]
    approve: bool
    reason: Reason | None = None
    decided_on: date | None = Field(
        None, description="The day of the decision (批复日期); default today. Not before the previous step"
    )


#: One step of the approval chain, by its `step`.
ApprovalStepIn = Annotated[MeetingIn | ResolutionIn | DisclosureIn | ReviewIn, Field(discriminator="step")]


class ProjectStepResult(BaseModel):
    """The step recorded: the project's status and version after it."""

    id: uuid.UUID
    step: Step
    status: ProjectStatus
    seq: int
    version: int


# == beneficiaries ===============================================================================================
class BeneficiariesIn(RequestModel):
    """Registry households (at most 500 per request), checked over HTTP: they exist and live in the project's
    village (its township for a township-wide project, 整乡推进)."""

    household_ids: HouseholdIds


class BeneficiariesResult(BaseModel):
    """The project's beneficiaries after the change."""

    id: uuid.UUID
    version: int
    beneficiaries_count: int
    poor_beneficiaries_count: int


class BeneficiaryPublic(ResponseModel):
    """A household the project benefits, with its registry status when it was added."""

    household_id: uuid.UUID
    village_code: str
    status_when_added: str
    poor: bool = Field(description="A registered poor household (registered or in the exit chain) when added")
    added_at: datetime
    added_by: str


# == milestones ==================================================================================================
class MilestoneCreate(RequestModel):
    """A milestone of the schedule (due within it)."""

    name: ShortText
    due_on: date
    percent: Percent100 = 0
    done_on: date | None = None
    note: str | None = Field(None, min_length=1, max_length=1000)


class MilestoneUpdate(RequestModel):
    """Progress or a correction of a milestone (absent: unchanged; null clears `done_on` or `note`)."""

    name: ShortText | None = None
    due_on: date | None = None
    percent: Percent100 | None = None
    done_on: date | None = None
    note: str | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _required_stay(self) -> MilestoneUpdate:
        cleared = [
            f
            for f in ("name", "due_on", "percent")
            if f in self.model_fields_set and getattr(self, f) is None
        ]
        if cleared:
            raise ValueError(f"{', '.join(cleared)} cannot be cleared")
        return self


class OverdueMilestone(BaseModel):
    """A milestone due before the day and not done, of a project being implemented."""

    project_id: uuid.UUID
    project_name: str
    village_code: str
    milestone_id: uuid.UUID
    name: str
    due_on: date
    percent: int
    days_overdue: int


# == acceptance and assets =======================================================================================
class AcceptanceCreate(RequestModel):
    """The completion acceptance (竣工验收): when, what was found, who accepted, and whether it passed."""

    accepted_on: date
    passed: bool
    findings: LongText = Field(examples=["路面宽4.5米，厚18厘米，符合设计要求"])  # noqa: RUF001
    accepted_by: ShortText = Field(examples=["县扶贫办、县交通局联合验收组"])


class AssetCreate(RequestModel):
    """An asset the project formed (资产确权), recorded after a passed acceptance."""

    asset_type: AssetType
    description: Annotated[str, Field(min_length=1, max_length=500)]
    value_yuan: Yuan = Field(examples=["1750000.00"])
    owner_kind: AssetOwnerKind
    owner_name: ShortText = Field(examples=["旧州村村民委员会"])
    beneficiary_household_ids: HouseholdIds = Field(default_factory=list)
