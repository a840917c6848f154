"""API models of the notice board (公示): each posted household as the board shows it, grouped by notice."""

from __future__ import annotations

import uuid

from pydantic import Field

from services.registry.households.schemas import PovertyCause
from services.registry.notices.domain import NoticeStage
from shared.schemas import ResponseModel, UtcDatetime

__all__ = ["NoticeBoardPublic", "NoticeGroup", "PostedHousehold"]


class PostedHousehold(ResponseModel):
    """A household on the board: what villagers see, and no more (no phone, no bank data, the ID masked)."""

    household_id: uuid.UUID
    head_name: str = Field(description="户主姓名")
    head_id_number_masked: str | None = Field(
        description="The head's ID number, first 6 and last 4 only (invariant 49); null when the head has none"
    )
    natural_village: str | None = Field(description="自然村 (屯)")
    villager_group: str | None = Field(description="村民小组")
    household_size: int = Field(description="家庭人口")
    poverty_cause: PovertyCause | None = Field(description="主要致贫原因")
    poverty_cause_label: str | None
    posted_at: UtcDatetime | None = Field(
        description="When this notice was posted (its `start_notice` event)"
    )
    closes_at: UtcDatetime | None = Field(
        description="The earliest moment the notice may close (full days, CST)"
    )
    places: list[str] = Field(description="Where it is posted: `administrative_village`, `natural_village`")
    objection_pending: bool = Field(description="An objection filed during this notice awaits its resolution")


class NoticeGroup(ResponseModel):
    stage: NoticeStage
    stage_label: str
    heading: str = Field(description="The board's heading, e.g. 旧州村拟识别贫困户第一次公示")
    households: list[PostedHousehold]


class NoticeBoardPublic(ResponseModel):
    """A village's notice board: one group per notice running, households by natural village, group and name."""

    village_code: str
    village_name: str
    as_of: UtcDatetime
    notices: list[NoticeGroup]
    objections: str = Field(
        description="How a villager objects: to the village committee or the township during the notice; an "
        "officer records it with `POST /households/{id}/workflow/file_objection` (the household is suspended)"
    )
