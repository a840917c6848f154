"""The rules of a household export (issue #15), pure: who may export, which fields, and how a row is written.

- **Who** (DOMAIN.md §1.4): county admins, township and village officers (their region subtree), the province
  client (read-only) and internal services. Cadres see only their paired households, one at a time: they have
  no bulk export (403 `export_not_allowed`).
- **Masked only** (invariant 49): an export carries personal data exactly as the masked card
  (`GET /households/{id}`) shows it — ID numbers first 6 and last 4, phones and accounts last 4 — for every
  role. A bulk file is easily copied and forwarded, so no export is ever unmasked; the audited unmasked card
  stays the only way to read a full ID number.
- **Fields**: a catalogue of the card's top-level fields, `members.<field>` (the active members) and
  `latest_income.<field>` (the newest income record: the latest year, its newest version). `members` or
  `latest_income` alone selects all their fields. An unknown name is 422 `unknown_export_field`.
- **Rows** are projected from the card JSON, so the values (and their masks) are the card's own.
- **CSV** (Excel/WPS): UTF-8 with a BOM, a header row, CRLF line ends; members as one JSON column `members`
  (a household has one to a dozen members: a fixed set of repeated columns would truncate or sprawl), the latest
  income flattened as `latest_income.<field>` columns. A cell beginning with `=`, `+`, `-`, `@` (or a tab or
  carriage return) gets a leading apostrophe, so a spreadsheet never evaluates it as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import Invalid, NotAllowed
from shared.labels import LabelledEnum
from shared.roles import Role

__all__ = [
    "BOM",
    "EXPORT_ROLES",
    "HOUSEHOLD_FIELDS",
    "INCOME_FIELDS",
    "MEMBER_FIELDS",
    "ExportFormat",
    "FieldSelection",
    "check_exporter",
    "csv_cell",
    "csv_header",
    "csv_lines",
    "csv_row",
    "ndjson_line",
    "parse_fields",
    "project",
    "trailer_line",
]


class ExportFormat(LabelledEnum):
    """The file formats of an export."""

    ndjson = "ndjson", "NDJSON 每行一户", "NDJSON, one household per line"
    csv = "csv", "CSV 表格 (Excel, WPS)", "CSV for Excel/WPS"


#: Roles with a bulk export of their region subtree (cadres have none: they see paired households only).
EXPORT_ROLES: frozenset[Role] = frozenset(
    {Role.county_admin, Role.township_officer, Role.village_officer, Role.province_system, Role.service}
)

#: Top-level fields of the card an export may carry, in output order.
HOUSEHOLD_FIELDS: tuple[str, ...] = (
    "id",
    "village_code",
    "village_name",
    "natural_village",
    "villager_group",
    "national_household_code",
    "status",
    "workflow_status",
    "chain",
    "returned",
    "identification_year",
    "quota_year",
    "head_name",
    "household_size",
    "labor_count",
    "has_labor_capacity",
    "poverty_cause_primary",
    "poverty_causes_other",
    "poverty_attribute",
    "main_income_source",
    "dangerous_house_grade",
    "income_year",
    "net_income",
    "per_capita_net_income",
    "contact_phone",
    "bank_account",
    "bank_name",
    "flags",
    "planned_exit_year",
    "exit_effective_year",
    "version",
    "created_at",
    "updated_at",
)
#: Fields of an active member (as on the card: ID number and phone masked).
MEMBER_FIELDS: tuple[str, ...] = (
    "id",
    "person_id",
    "name",
    "relation",
    "sex",
    "ethnicity",
    "birth_year_month",
    "resident_id_number",
    "no_id_reason",
    "labor_capacity",
    "health_status",
    "education_level",
    "school_status",
    "resident",
    "annual_personal_income",
    "phone",
    "joined_on",
)
#: Fields of the latest income record (the card's `incomes[0]`: newest year, newest version).
INCOME_FIELDS: tuple[str, ...] = (
    "year",
    "version",
    "wage",
    "operating",
    "property",
    "transfer",
    "operating_expenses",
    "household_size",
    "net_income",
    "per_capita_net_income",
    "surveyed_on",
    "recorded_at",
)

_NESTED: dict[str, tuple[str, ...]] = {"members": MEMBER_FIELDS, "latest_income": INCOME_FIELDS}
BOM = "\ufeff"
#: First characters a spreadsheet may read as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class FieldSelection:
    """What each row carries: household fields, member fields (empty: no `members`), income fields."""

    household: tuple[str, ...]
    members: tuple[str, ...]
    latest_income: tuple[str, ...]

    @classmethod
    def everything(cls) -> FieldSelection:
        return cls(HOUSEHOLD_FIELDS, MEMBER_FIELDS, INCOME_FIELDS)

    def names(self) -> list[str]:
        """The selection as a `fields=` value would spell it (for the audit entry)."""
        out = list(self.household)
        out += [f"members.{f}" for f in self.members]
        out += [f"latest_income.{f}" for f in self.latest_income]
        return out


def check_exporter(role: Role) -> None:
    """Cadres (and any role not listed) have no bulk export."""
    if role not in EXPORT_ROLES:
        raise NotAllowed(
            "export_not_allowed",
            f"role '{role}' has no household export; it is for officers, the province system and services",
            role=str(role),
        )


def parse_fields(text: str | None) -> FieldSelection:
    """`fields=id,head_name,members.name,latest_income.per_capita_net_income` (absent: every field).

    Output keeps catalogue order whatever the order asked; a name given twice counts once."""
    if text is None:
        return FieldSelection.everything()
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    if not wanted:
        raise Invalid("unknown_export_field", "fields names no field", field="")
    top: set[str] = set()
    nested: dict[str, set[str]] = {"members": set(), "latest_income": set()}
    for name in wanted:
        head, dot, rest = name.partition(".")
        if head in _NESTED:
            if not dot:
                nested[head].update(_NESTED[head])
            elif rest in _NESTED[head]:
                nested[head].add(rest)
            else:
                raise Invalid("unknown_export_field", f"unknown export field '{name}'", field=name)
        elif not dot and head in HOUSEHOLD_FIELDS:
            top.add(head)
        else:
            raise Invalid("unknown_export_field", f"unknown export field '{name}'", field=name)
    return FieldSelection(
        household=tuple(f for f in HOUSEHOLD_FIELDS if f in top),
        members=tuple(f for f in MEMBER_FIELDS if f in nested["members"]),
        latest_income=tuple(f for f in INCOME_FIELDS if f in nested["latest_income"]),
    )


def project(card: Mapping[str, Any], selection: FieldSelection) -> dict[str, Any]:
    """One export row from the household's (masked) card: its selected fields, members and latest income."""
    row: dict[str, Any] = {name: card.get(name) for name in selection.household}
    if selection.members:
        row["members"] = [{f: m.get(f) for f in selection.members} for m in card.get("members") or ()]
    if selection.latest_income:
        incomes: Sequence[Mapping[str, Any]] = card.get("incomes") or ()
        latest = incomes[0] if incomes else None  # the card lists incomes newest year first
        row["latest_income"] = None if latest is None else {f: latest.get(f) for f in selection.latest_income}
    return row


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def ndjson_line(row: Mapping[str, Any]) -> str:
    return _json(row) + "\n"


def trailer_line(*, rows: int, feed_cursor: str, as_of: str) -> str:
    """The last NDJSON line: how many rows, and the change feed's position as of the snapshot."""
    return _json({"_trailer": {"rows": rows, "feed_cursor": feed_cursor, "as_of": as_of}}) + "\n"


def csv_header(selection: FieldSelection) -> list[str]:
    header = list(selection.household)
    if selection.members:
        header.append("members")
    header += [f"latest_income.{f}" for f in selection.latest_income]
    return header


def csv_cell(value: Any) -> str:
    """A value as CSV text: null empty, booleans true/false, lists and objects as JSON; formula-guarded."""
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = _json(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_row(row: Mapping[str, Any], selection: FieldSelection) -> list[str]:
    cells = [csv_cell(row.get(name)) for name in selection.household]
    if selection.members:
        cells.append(csv_cell(row.get("members")))
    income = row.get("latest_income") or {}
    cells += [csv_cell(income.get(f)) for f in selection.latest_income]
    return cells


def csv_lines(rows: Sequence[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180 quoting, CRLF)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()
