"""Identification workflow API models: a step's request, batches, quota overrides, and their answers."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

from services.registry.households.domain import HouseholdStatus
from services.registry.identification.domain import Command, Status
from shared.labels import LabelledEnum
from shared.schemas import RequestModel

__all__ = [
    "BatchApplied",
    "BatchCommandIn",
    "BatchItem",
    "BatchRefused",
    "BatchResult",
    "Command",
    "FromStatus",
    "QuotaOverrideIn",
    "QuotaOverridePublic",
    "Status",
    "WorkflowCommandIn",
    "WorkflowStepResult",
]

#: The status a region batch takes households from: a workflow status, or the record's own (`candidate`).
#: One enum on the wire (not a union of two), so generated clients get one enum class.
if TYPE_CHECKING:
    FromStatus: TypeAlias = Status | HouseholdStatus
else:
    FromStatus = LabelledEnum(
        "FromStatus",
        {
            member.name: (member.value, member.label, member.english)
            for member in (*Status, HouseholdStatus.candidate)
        },
    )

Reason = Annotated[str, Field(min_length=1, max_length=1000, examples=["2014年洪灾致贫, 县扶贫办批准"])]


class WorkflowCommandIn(RequestModel):
    """One step: its reason (required for rejections, objections, removals) and its command-specific data."""

    reason: Annotated[str, Field(max_length=1000)] | None = None
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="Command-specific fields (see README), e.g. village_review: minutes_ref, attendees, votes_for, "
        "approved; start_notice: places; propose_exit: minutes_ref, attendees, votes_for and the exit survey "
        "answers (housing_safe when the house has no danger grade); apply_return: cause (and evidence_ref for a "
        "shock when the latest income is not under the line)",
    )


class BatchItem(RequestModel):
    household_id: uuid.UUID
    version: int | None = Field(None, description="If given, the command applies only at this version")


class BatchCommandIn(WorkflowCommandIn):
    items: Annotated[list[BatchItem], Field(min_length=1, max_length=1000)]


class QuotaOverrideIn(RequestModel):
    """The override's reason; the household is the path's (issue #13 item 19)."""

    household_id: uuid.UUID | None = Field(
        None,
        description="Optional and redundant: the household is the path's; when given it must equal it (else 422)",
    )
    reason: Reason


class WorkflowStepResult(BaseModel):
    """The household after a step: its status, the step's sequence number in its history, the new version."""

    id: uuid.UUID
    status: str
    seq: int
    version: int


def _outcome_required(schema: dict[str, Any]) -> None:
    # `outcome` always appears (it discriminates the union): documented as required though it has a default.
    required: list[str] = schema.setdefault("required", [])
    if "outcome" not in required:
        required.append("outcome")


class BatchApplied(BaseModel):
    model_config = ConfigDict(json_schema_extra=_outcome_required)

    household_id: uuid.UUID
    outcome: Literal["applied"] = "applied"
    status: str
    version: int


class BatchRefused(BaseModel):
    """An item the rules refused: the problem's status, detail and (when it has them) code, earliest, version."""

    model_config = ConfigDict(json_schema_extra=_outcome_required)

    household_id: uuid.UUID
    outcome: Literal["refused"] = "refused"
    status_code: int
    detail: str
    code: str | None = None
    earliest: str | None = Field(None, description="When a notice can close (notice_not_over)")
    current_version: int | None = Field(None, description="The household's version (a stale item)")


class BatchResult(BaseModel):
    """Every item of a batch, applied or refused on its own (one savepoint each)."""

    batch_id: uuid.UUID
    applied: int
    refused: int
    items: list[Annotated[BatchApplied | BatchRefused, Field(discriminator="outcome")]]


class QuotaOverridePublic(BaseModel):
    """A county's override of the village quota for one household and its quota year (invariant 24)."""

    id: int
    household_id: uuid.UUID
    year: int
    reason: str
