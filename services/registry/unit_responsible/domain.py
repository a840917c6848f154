"""Who the helping unit's responsible person (帮扶单位责任人) is, as a login (issue #13 item 10). Pure.

- The county office links (or unlinks) the gateway login `sub` of a helping unit's responsible person; the link is
  audited. Township and village officers manage cadres, not who signs for a unit (403).
- With a linked login, only that principal records the unit's signature (`unit_responsible`) of the unit's help
  records (help_records/domain.py `may_confirm`); without one, a township or county officer records it.
"""

from __future__ import annotations

from shared.errors import Invalid, NotAllowed
from shared.roles import Role

__all__ = ["RESPONSIBLE_SETTERS", "normal_sub", "require_setter"]

#: Who links a unit's responsible login: the county office (it registers the units and answers for the card).
RESPONSIBLE_SETTERS: frozenset[Role] = frozenset({Role.county_admin})


def require_setter(role: Role) -> None:
    if role not in RESPONSIBLE_SETTERS:
        raise NotAllowed(
            "unit_responsible_not_allowed", "the county office links a helping unit's responsible person"
        )


def normal_sub(sub: str | None) -> str | None:
    """The login to link (surrounding blanks dropped), or None to unlink; a blank login is refused."""
    if sub is None:
        return None
    value = sub.strip()
    if not value:
        raise Invalid(
            "field_required",
            "responsible_sub cannot be blank (send null to unlink)",
            field="/responsible_sub",
        )
    return value
