"""Rules of the cross-county handover of a household (迁出申请 / 迁入确认, issue #15). Pure.

- The source county office asks (迁出申请): a whole household of its scope, at rest (not mid-review or notice,
  not closed), to an administrative village of **another** county (a move within the county is a relocation,
  `POST /households/{id}/relocate`), on a day that has come. At most one pending transfer per household; while
  one is pending the household is not relocated nor asked for again (409 `transfer_pending`).
- The destination county office (its scope holds the destination village) accepts (迁入确认) or rejects it; the
  source county office may cancel it while it is pending. Only the county office takes these steps.
- A transfer neither side's scope holds is missing (404), like a missing one.
"""

from __future__ import annotations

from datetime import date

from services.registry.households.domain import CLOSED_STATUSES, RELOCATABLE_STATUSES
from shared.errors import Invalid, NotAllowed, Refused
from shared.labels import LabelledEnum
from shared.roles import Principal, RegionLevel, Role, level_of

__all__ = [
    "TRANSFER_ADMINS",
    "Direction",
    "Side",
    "TransferStatus",
    "check_at_rest",
    "check_request",
    "county_of",
    "require_pending",
    "require_side",
    "require_transfer_admin",
    "side_of",
]

#: Who asks, accepts, rejects and cancels: the county office (户籍迁移 is a county matter).
TRANSFER_ADMINS: frozenset[Role] = frozenset({Role.county_admin})


class TransferStatus(LabelledEnum):
    """Where a handover stands."""

    pending = "pending", "待迁入确认", "Pending"
    accepted = "accepted", "已迁入", "Accepted"
    rejected = "rejected", "已拒绝", "Rejected"
    cancelled = "cancelled", "已撤回", "Cancelled"


class Direction(LabelledEnum):
    """Which transfers a list shows: into the caller's region, or out of it."""

    incoming = "incoming", "迁入", "Incoming"
    outgoing = "outgoing", "迁出", "Outgoing"


class Side(LabelledEnum):
    source = "source", "迁出地", "Source"
    destination = "destination", "迁入地", "Destination"


def county_of(code: str) -> str:
    """The county part of a 12-digit region code (its first six digits)."""
    return code[:6]


def require_transfer_admin(role: Role) -> None:
    if role not in TRANSFER_ADMINS:
        raise NotAllowed(
            "transfer_not_allowed", "households are handed over between counties by county offices"
        )


def check_at_rest(status: str) -> None:
    """The household can move now: its record is open and it is not in the middle of a review or a notice."""
    if status in CLOSED_STATUSES:
        raise Refused("record_closed", f"the household is {status}; its record is closed")
    if status not in RELOCATABLE_STATUSES:
        raise Refused(
            "relocation_in_workflow",
            f"the household is {status}: finish the running review or notice before moving it",
            status=status,
        )


def check_request(
    principal: Principal, status: str, from_village: str, to_village: str, *, effective: date, today: date
) -> None:
    """The source county office may ask to hand the household over to `to_village` (existence is checked by the
    service, after these rules, so the answer says nothing else about the destination)."""
    require_transfer_admin(principal.role)
    if status in CLOSED_STATUSES:
        raise Refused("record_closed", f"the household is {status}; its record is closed")
    if level_of(to_village) is not RegionLevel.village:
        raise Invalid(
            "not_a_village", "to_village_code must be an administrative village", field="/to_village_code"
        )
    if county_of(to_village) == county_of(from_village) or principal.covers(to_village):
        raise Invalid(
            "transfer_same_county",
            "the destination is in your county: use POST /households/{household_id}/relocate",
            field="/to_village_code",
        )
    if effective > today:
        raise Invalid(
            "relocation_date_future", "effective_date cannot be in the future", field="/effective_date"
        )
    check_at_rest(status)


def side_of(principal: Principal, from_village: str, to_village: str) -> Side | None:
    """The caller's side of a transfer (the source first), or None when neither village is in their scope."""
    if principal.covers(from_village):
        return Side.source
    if principal.covers(to_village):
        return Side.destination
    return None


def require_side(side: Side, needed: Side) -> None:
    """Accept and reject are the destination's, cancel is the source's."""
    if side is not needed:
        who = "destination" if needed is Side.destination else "source"
        raise NotAllowed("transfer_wrong_side", f"only the {who} county office takes this step")


def require_pending(status: str) -> None:
    if status != TransferStatus.pending:
        raise Refused("transfer_not_pending", f"the transfer is {status}", status=status)
