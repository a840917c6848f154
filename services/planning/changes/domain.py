"""The rules of planning's change feed (变更订阅, issue #15), pure: its record types, its readers, its retention.

The machinery (positions, the gapless rule, de-duplication, tombstones, the cursor) is every service's
(shared/exchange/feed.py); planning names:

- **Record types** (`RecordType`): `plan` (a plan version as `PlanPublic`: the `plans` export's line), `project`
  (`projects`), `ledger_entry` (`funds_ledger`). The record of an upsert is the export's line of every field.
- **Tombstones**: `deleted` only when the row is gone. A plan or a project never changes village, so there is no
  `left_scope`; nothing leaves a planning dataset while it exists, so there is no `removed`.
- **Who**: the exporters (exports/domain.py `EXPORT_ROLES`), on their region subtree; cadres 403
  `feed_not_allowed`.
- **Retention**: feed rows older than `change_feed_retention_days` (default 90) are pruned hourly; a cursor from
  before that answers 410 `cursor_expired`, naming the exports to start again from (`EXPORTS`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.planning.exports.domain import EXPORT_ROLES
from shared.errors import NotAllowed
from shared.exchange import feed
from shared.labels import LabelledEnum
from shared.roles import Role

__all__ = [
    "DEFAULT_RETENTION_DAYS",
    "EXPORTS",
    "FEED_ROLES",
    "RecordType",
    "check_reader",
    "parse_types",
    "retention_cutoff",
]

FEED_ROLES: frozenset[Role] = EXPORT_ROLES
#: Feed rows are kept this long unless the setting says otherwise.
DEFAULT_RETENTION_DAYS = 90
#: Where a reader whose cursor expired starts again (410 `cursor_expired`): the exports, one per record type.
EXPORTS: tuple[str, ...] = ("/exports/plans", "/exports/projects", "/exports/funds_ledger")


class RecordType(LabelledEnum):
    """What a planning feed item is about (and the export whose line its record is)."""

    plan = "plan", "村级规划(plans 导出的一行)", "Plan version (a line of the plans export)"
    project = "project", "项目(projects 导出的一行)", "Project (a line of the projects export)"
    ledger_entry = (
        "ledger_entry",
        "资金台账分录(funds_ledger 导出的一行)",
        "Ledger entry (funds_ledger export)",
    )


def check_reader(role: Role) -> None:
    if role not in FEED_ROLES:
        raise NotAllowed(
            "feed_not_allowed",
            f"role '{role}' has no change feed; it is for officers, the province system and services",
            role=str(role),
        )


def parse_types(text: str | None) -> frozenset[RecordType]:
    """`types=plan,project,ledger_entry` (absent: all); an unknown name is 422 `unknown_feed_type`."""
    return feed.parse_types(text, RecordType)


def retention_cutoff(now: datetime, retention_days: int | None = None) -> datetime:
    """Feed rows written before this are pruned."""
    return now - timedelta(days=retention_days or DEFAULT_RETENTION_DAYS)
