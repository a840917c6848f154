"""The rules of the assessment's change feed (变更订阅, issue #15), pure: what a feed item is about and who reads it.

The positions, the cursor, retention (410 `cursor_expired`), de-duplication and tombstones are every service's
(shared/exchange/feed.py). Here:

- **Record types** (`RecordType`): `run` (a run, `RunPublic`; id: the run's id) and `result` (a subject's result,
  the `results` export's row; id: `<run id>:<subject id>`). A run changes through its lifecycle (queued →
  freezing → scoring → scored → published, superseded, failed); a result is written once by the scorer, and
  changes when its run is published (`run_status`, and who may read it); `finding` (an inspection finding, the
  `findings` export's row; id: the finding's id) changes with its review, its evidence and its rectifications.
- **Who** reads: the roles that export (exports/domain.py `EXPORT_ROLES`), each in its REST view: county admins
  their county, township officers their county's runs and their township's results, the province system and
  services published runs and their results only. A change of a record the reader may not read (an unpublished
  run, for the province) is not in its feed at all: no item, no tombstone; it appears when the run is published
  (only a purge's tombstone reaches every reader of the region).
- **Tombstones**: `deleted` when the record no longer exists (runs, results and findings are never deleted by the
  service: only an operator's purge removes one); `left_scope` when a finding's region changed out of the
  reader's.
"""

from __future__ import annotations

from shared.errors import NotAllowed
from shared.labels import LabelledEnum
from shared.roles import Role

__all__ = ["EXPORT_PATH", "FEED_ROLES", "RecordType", "check_reader"]

#: Where a client whose cursor expired starts again (the 410's `Link`).
EXPORT_PATH = "/exports/results"

FEED_ROLES: frozenset[Role] = frozenset(
    {Role.county_admin, Role.township_officer, Role.province_system, Role.service}
)


class RecordType(LabelledEnum):
    """What an assessment feed item is about."""

    run = "run", "考核运行", "Assessment run"
    result = "result", "考核结果(含指标得分明细)", "Assessment result with its indicator breakdown"
    finding = "finding", "检查发现问题(含整改)", "Inspection finding with its rectifications"


def check_reader(role: Role) -> None:
    if role not in FEED_ROLES:
        raise NotAllowed(
            "feed_not_allowed",
            f"role '{role}' has no assessment change feed; you read your own result: "
            "GET /runs/{run_id}/results/{subject_id}",
            role=str(role),
        )
