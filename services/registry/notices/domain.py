"""The public notice (公示) as the village board shows it (DOMAIN.md §2.9, seed 002 两公示一公告). Pure.

Which households are posted (a household is on the board while its status is one of the four notice statuses),
under which heading, and when its notice may close: the length it was posted with, stored on its `start_notice`
event (older events: the statutory 7 full days). What of a household the board shows is fixed here too: the
head's name, the natural village and group, the household size and the poverty cause; the head's ID number only
masked, first 6 and last 4 (invariant 49) — never a phone or bank data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.registry.identification.domain import STATUTORY_NOTICE_DAYS, NoticeWindow, Status
from shared.labels import LabelledEnum

__all__ = ["NOTICE_STATUSES", "NoticeStage", "PostedNotice", "closes_at", "heading", "stage_of"]


class NoticeStage(LabelledEnum):
    """The four notices of the identification and exit chains."""

    first_notice = "first_notice", "拟识别贫困户第一次公示", "First notice of identification"
    second_notice = "second_notice", "拟识别贫困户第二次公示", "Second notice of identification"
    exit_first_notice = "exit_first_notice", "拟脱贫户第一次公示", "First notice of exit"
    exit_second_notice = "exit_second_notice", "拟脱贫户第二次公示", "Second notice of exit"


#: The statuses in which a household is on the board, and the notice each is.
NOTICE_STATUSES: dict[Status, NoticeStage] = {
    Status.first_notice: NoticeStage.first_notice,
    Status.second_notice: NoticeStage.second_notice,
    Status.exit_first_notice: NoticeStage.exit_first_notice,
    Status.exit_second_notice: NoticeStage.exit_second_notice,
}


def stage_of(status: str) -> NoticeStage | None:
    """The notice a household of `status` is on, or None when it is not posted."""
    try:
        return NOTICE_STATUSES.get(Status(status))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class PostedNotice:
    """A household's running notice, from its latest `start_notice` event."""

    posted_at: datetime
    places: tuple[str, ...]
    notice_days: int | None
    closes_at: datetime | None


def closes_at(notice: PostedNotice) -> datetime:
    """When the notice may close: as stored with it, else its length (or the statutory 7 days) in full days."""
    if notice.closes_at is not None:
        return notice.closes_at
    window = NoticeWindow(
        started_at=notice.posted_at, places=notice.places, days=notice.notice_days or STATUTORY_NOTICE_DAYS
    )
    return window.earliest_close()


def heading(village_name: str, stage: NoticeStage) -> str:
    """The board's heading of one notice: 旧州村拟识别贫困户第一次公示."""
    return f"{village_name}{stage.label}"
