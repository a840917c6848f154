"""Use case of the notice board: a village's running notices, as JSON and as the page posted on the board.

Reads only (no audit entry: the board is public by design, and it shows masked ID numbers only). The village
comes from the regions feature: outside the caller's scope it answers 404 exactly like a missing one.
"""

from __future__ import annotations

from datetime import datetime

from services.registry.households.schemas import PovertyCause
from services.registry.notices import domain
from services.registry.notices.domain import NoticeStage, PostedNotice
from services.registry.notices.repository import NoticeRepository, PostedRow
from services.registry.notices.schemas import NoticeBoardPublic, NoticeGroup, PostedHousehold
from services.registry.regions.service import RegionService
from shared import print_page as pp
from shared.clock import CHINA_TIME
from shared.context import Context
from shared.problems import NotFound
from shared.roles import RegionLevel

__all__ = ["OBJECTIONS", "NoticeService", "print_board"]

OBJECTIONS = (
    "公示期内，对公示对象有异议的，可向村民委员会或乡镇人民政府实名或匿名反映；"  # noqa: RUF001
    "村或乡镇工作人员受理后登记异议（file_objection），该户暂停办理，由审核层级核实处理。"  # noqa: RUF001
)


def _posted(row: PostedRow) -> PostedHousehold:
    data = row.data or {}
    notice = None
    if row.posted_at is not None:
        closes = data.get("closes_at")
        notice = PostedNotice(
            posted_at=row.posted_at,
            places=tuple(str(p) for p in data.get("places") or ()),
            notice_days=int(data["notice_days"]) if data.get("notice_days") else None,
            closes_at=datetime.fromisoformat(closes) if isinstance(closes, str) else None,
        )
    known = row.poverty_cause is not None and row.poverty_cause in PovertyCause._value2member_map_
    cause = PovertyCause(row.poverty_cause) if known and row.poverty_cause else None
    return PostedHousehold(
        household_id=row.household_id,
        head_name=row.head_name,
        head_id_number_masked=row.head_id_masked,
        natural_village=row.natural_village,
        villager_group=row.villager_group,
        household_size=row.household_size,
        poverty_cause=cause,
        poverty_cause_label=cause.label if cause else None,
        posted_at=notice.posted_at if notice else None,
        closes_at=domain.closes_at(notice) if notice else None,
        places=list(notice.places) if notice else [],
        objection_pending=row.objection_open,
    )


class NoticeService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.regions = RegionService(ctx)
        self.repo = NoticeRepository(ctx)

    async def board(self, code: str) -> NoticeBoardPublic:
        village = await self.regions.get(code)
        if village.level != RegionLevel.village:
            raise NotFound(f"village {code} not found", code="not_a_village")
        groups: dict[NoticeStage, list[PostedHousehold]] = {stage: [] for stage in NoticeStage}
        for row in await self.repo.posted(code):
            stage = domain.stage_of(row.status)
            if stage is not None:
                groups[stage].append(_posted(row))
        return NoticeBoardPublic(
            village_code=village.code,
            village_name=village.name,
            as_of=self.ctx.now,
            notices=[
                NoticeGroup(
                    stage=stage,
                    stage_label=stage.label,
                    heading=domain.heading(village.name, stage),
                    households=households,
                )
                for stage, households in groups.items()
                if households
            ],
            objections=OBJECTIONS,
        )


def _local(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(CHINA_TIME).strftime("%Y年%m月%d日 %H:%M")


_PLACES = {"administrative_village": "行政村", "natural_village": "自然村（屯）"}  # noqa: RUF001


def print_board(board: NoticeBoardPublic) -> str:
    """The board as one self-contained page to print and post (A4): one table per running notice."""
    sections = [
        (
            group.heading,
            pp.table(
                [
                    "序号",
                    "户主姓名",
                    "身份证号",
                    "自然村（屯）",  # noqa: RUF001
                    "村民小组",
                    "家庭人口",
                    "主要致贫原因",
                    "公示期至",
                    "张贴地点",
                ],
                [
                    [
                        pp.num(i),
                        pp.text(h.head_name),
                        pp.text(h.head_id_number_masked or ""),
                        pp.text(h.natural_village or ""),
                        pp.text(h.villager_group or ""),
                        pp.num(h.household_size),
                        pp.text(h.poverty_cause_label or ""),
                        pp.text(_local(h.closes_at)),
                        pp.text("、".join(_PLACES.get(p, p) for p in h.places)),
                    ]
                    for i, h in enumerate(group.households, start=1)
                ],
                empty="",
            ),
        )
        for group in board.notices
    ]
    if not sections:
        sections = [("", pp.table(["公示对象"], [], empty="目前没有正在公示的农户"))]
    meta = f"行政村代码 {pp.e(board.village_code)} · 打印时间：{pp.e(_local(board.as_of))}"  # noqa: RUF001
    return pp.page(
        title=f"{board.village_name}公示",
        heading=f"{board.village_name}贫困户识别与退出公示",
        meta=meta,
        sections=sections,
        notice=OBJECTIONS,
        signer=f"{board.village_name}村民委员会",
    )
