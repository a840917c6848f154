"""Who reads the registry's audit log, and how a query of it must be put (DOMAIN.md invariant 50). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.errors import Invalid, NotAllowed
from shared.roles import Principal, Role

__all__ = ["AuditQuery", "audit_query"]


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters of an audit-log read; times are timezone-aware, `since` inclusive and `until` exclusive."""

    record_id: str | None = None
    household_id: str | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def audit_query(principal: Principal, query: AuditQuery) -> AuditQuery:
    """The query as asked, once the caller may read the log (county administrators) and its window makes sense."""
    if principal.role is not Role.county_admin:
        raise NotAllowed("audit_reader_required", "the audit log is for county administrators")
    for name, value in (("since", query.since), ("until", query.until)):
        if value is not None and value.tzinfo is None:
            raise Invalid(
                "timezone_required", f"{name} needs a timezone (e.g. 2026-01-01T00:00:00Z)", field=name
            )
    if query.since is not None and query.until is not None and query.until <= query.since:
        raise Invalid("window_empty", "until must be after since", field="until")
    return query
