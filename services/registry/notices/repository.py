"""The one statement of the notice board: a village's posted households with their head's masked ID number and
their latest `start_notice` event, scoped by the caller's region prefix."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from services.registry.models import Household, Member, WorkflowEvent
from services.registry.notices.domain import NOTICE_STATUSES
from shared.context import Context
from shared.db import execute, scope_filter

__all__ = ["NoticeRepository", "PostedRow"]


@dataclass(frozen=True, slots=True)
class PostedRow:
    household_id: uuid.UUID
    status: str
    head_name: str
    head_id_masked: str | None
    natural_village: str | None
    villager_group: str | None
    household_size: int
    poverty_cause: str | None
    objection_open: bool
    posted_at: datetime | None
    data: dict[str, Any] | None


class NoticeRepository:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.session = ctx.session

    async def posted(self, village_code: str) -> list[PostedRow]:
        """The village's households in a notice status, by natural village, group and head's name."""
        hid = col(Household.id)
        head = (
            sa.select(col(Member.id_number_masked))
            .where(col(Member.household_id) == hid, col(Member.active), col(Member.relation) == "head")
            .limit(1)
            .scalar_subquery()
        )
        notice = (
            sa.select(col(WorkflowEvent.at).label("at"), col(WorkflowEvent.data).label("data"))
            .where(col(WorkflowEvent.household_id) == hid, col(WorkflowEvent.command) == "start_notice")
            .order_by(col(WorkflowEvent.seq).desc())
            .limit(1)
            .lateral("notice")
        )
        query = (
            sa.select(
                hid,
                col(Household.status),
                col(Household.head_name),
                head.label("head_id_masked"),
                col(Household.natural_village),
                col(Household.villager_group),
                col(Household.household_size),
                col(Household.poverty_cause_primary),
                col(Household.objection_open),
                notice.c.at,
                notice.c.data,
            )
            .select_from(sa.outerjoin(Household, notice, sa.true()))
            .where(
                scope_filter(self.ctx.principal, col(Household.village_code)),
                col(Household.village_code) == village_code,
                col(Household.status).in_([s.value for s in NOTICE_STATUSES]),
            )
            .order_by(
                col(Household.natural_village).nulls_last(),
                col(Household.villager_group).nulls_last(),
                col(Household.head_name),
                hid,
            )
        )
        rows = (await execute(self.session, query)).all()
        return [PostedRow(*row) for row in rows]
