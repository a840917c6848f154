"""The rules of a snapshot export (issue #15), pure: which datasets, who may export, which fields, how a row is written.

- **Datasets** (`ExportDataset`): `households` (贫困户: the card with its active members and latest income),
  `help_records` (帮扶记录: every record of the region at its newest version, as the REST reads answer it, with
  its signatures, photos' metadata, goods, measures, flags and version history nested) and `pairings` (结对帮扶:
  every current pairing row, in force or ended, with its cadre and helping unit nested). A dataset is a field
  catalogue (`Dataset`: top-level fields, nested lists and objects) and, in the repository, the SQL of its rows;
  everything else (checks, selection, projection, CSV, trailer, audit) is one pipeline for all of them. An
  unknown dataset is 404 `unknown_export_dataset`.
- **Who** (DOMAIN.md §1.4): county admins, township and village officers (their region subtree), the province
  client (read-only) and internal services. Cadres see only their paired households, one at a time: they have
  no bulk export (403 `export_not_allowed`).
- **Masked only** (invariant 49): an export carries personal data exactly as the API shows it — ID numbers first
  6 and last 4, phones and accounts last 4 (the card; a cadre's `phone_masked`) — for every role.
- **Fields**: a catalogue of each dataset's top-level fields and `<nested>.<field>` (`members.name`,
  `latest_income.net_income`, `confirmations.party`, `cadre.name`, `unit.name` …). A nested name alone selects
  all its fields. An unknown name is 422 `unknown_export_field`.
- **Rows** are projected from the record's API JSON, so the values (and their masks) are the API's own.
- **CSV** (Excel/WPS): UTF-8 with a BOM, a header row, CRLF line ends; a nested list as one JSON column (a fixed
  set of repeated columns would truncate or sprawl), a nested object flattened as `<nested>.<field>` columns.
  A cell beginning with `=`, `+`, `-`, `@` (or a tab or carriage return) gets a leading apostrophe, so a
  spreadsheet never evaluates it as a formula (CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.errors import Invalid, Missing, NotAllowed
from shared.labels import LabelledEnum
from shared.roles import Role

__all__ = [
    "ATTACHMENT_FIELDS",
    "BOM",
    "CADRE_FIELDS",
    "CONFIRMATION_FIELDS",
    "DATASETS",
    "EXPORT_ROLES",
    "GOODS_FIELDS",
    "HELP_RECORDS",
    "HELP_RECORD_FIELDS",
    "HOUSEHOLDS",
    "HOUSEHOLD_FIELDS",
    "INCOME_FIELDS",
    "MEASURE_FIELDS",
    "MEMBER_FIELDS",
    "PAIRINGS",
    "PAIRING_FIELDS",
    "UNIT_FIELDS",
    "VERSION_FIELDS",
    "Dataset",
    "ExportDataset",
    "ExportFormat",
    "FieldSelection",
    "Nested",
    "check_exporter",
    "csv_cell",
    "csv_header",
    "csv_lines",
    "csv_row",
    "dataset_of",
    "ndjson_line",
    "parse_fields",
    "project",
    "trailer_line",
]


class ExportDataset(LabelledEnum):
    """What an export carries."""

    households = "households", "贫困户", "Households with members and latest income"
    help_records = "help_records", "帮扶记录", "Help records with signatures and photos"
    pairings = "pairings", "结对帮扶", "Pairings with their cadre and helping unit"


class ExportFormat(LabelledEnum):
    """The file formats of an export."""

    ndjson = "ndjson", "NDJSON 每行一条记录", "NDJSON, one record per line"
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

BOM = "\ufeff"
#: First characters a spreadsheet may read as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class Nested:
    """Nested data of a row: a list (`many`; one JSON column in CSV) or one object (`name.field` columns)."""

    name: str
    fields: tuple[str, ...]
    many: bool
    #: The record's key it is read from (default: `name`); `first`: the first item of that list (or null).
    source: str | None = None
    first: bool = False

    def take(self, record: Mapping[str, Any], fields: Sequence[str]) -> Any:
        value = record.get(self.source or self.name)
        if self.first:
            value = value[0] if value else None
        if self.many:
            return [{f: item.get(f) for f in fields} for item in value or ()]
        return None if value is None else {f: value.get(f) for f in fields}


@dataclass(frozen=True, slots=True)
class Dataset:
    """One exportable dataset: its field catalogue and the audit action of its exports."""

    name: ExportDataset
    fields: tuple[str, ...]
    nested: tuple[Nested, ...]
    audit_action: str

    def nested_named(self, name: str) -> Nested | None:
        return next((n for n in self.nested if n.name == name), None)


#: `HelpRecordPublic` (help_records/schemas.py) without its lists, which are nested below; and those lists' fields
#: (`GoodsItem`, `MeasureAdvanced`, `ConfirmationPublic`, `AttachmentPublic`, `HelpRecordVersion`). The pure
#: tests hold every catalogue to its schema (tests/registry/test_exports_datasets.py).
HELP_RECORD_FIELDS: tuple[str, ...] = (
    "id",
    "version",
    "household_id",
    "cadre_id",
    "record_type",
    "device_time",
    "received_at",
    "device_id",
    "place",
    "gps_lat",
    "gps_lon",
    "content",
    "money_yuan",
    "flags",
    "correction_reason",
    "confirmation_status",
)
GOODS_FIELDS: tuple[str, ...] = ("item", "quantity", "value_yuan")
MEASURE_FIELDS: tuple[str, ...] = ("measure", "note")
CONFIRMATION_FIELDS: tuple[str, ...] = ("party", "signatory", "note", "confirmed_at", "confirmed_by")
ATTACHMENT_FIELDS: tuple[str, ...] = ("id", "sha256", "content_type", "size", "uploaded_at")
VERSION_FIELDS: tuple[str, ...] = (
    "version",
    "received_at",
    "created_by",
    "correction_reason",
    "payload_hash",
)
#: `PairingPublic`, `CadrePublic` (the phone only as `phone_masked`) and `UnitPublic` (pairing/schemas.py).
PAIRING_FIELDS: tuple[str, ...] = (
    "row_id",
    "id",
    "household_id",
    "cadre_id",
    "unit_id",
    "role",
    "valid_from",
    "valid_to",
    "end_reason",
    "successor_id",
    "reason",
    "recorded_at",
    "recorded_by",
    "superseded_at",
)
CADRE_FIELDS: tuple[str, ...] = (
    "id",
    "unit_id",
    "name",
    "position_level",
    "position",
    "phone_masked",
    "user_sub",
    "region_code",
    "active",
    "version",
    "created_at",
    "created_by",
    "updated_at",
)
UNIT_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "kind",
    "region_code",
    "liaison_name",
    "leader_max_households",
    "middle_cadres_per_household",
    "version",
    "created_at",
    "created_by",
    "updated_at",
)

HOUSEHOLDS = Dataset(
    ExportDataset.households,
    HOUSEHOLD_FIELDS,
    (
        Nested("members", MEMBER_FIELDS, many=True),
        Nested("latest_income", INCOME_FIELDS, many=False, source="incomes", first=True),
    ),
    "household.export",
)
#: Help records at their newest version: `HelpRecordPublic`, its lists nested.
HELP_RECORDS = Dataset(
    ExportDataset.help_records,
    HELP_RECORD_FIELDS,
    (
        Nested("goods", GOODS_FIELDS, many=True),
        Nested("measures", MEASURE_FIELDS, many=True),
        Nested("confirmations", CONFIRMATION_FIELDS, many=True),
        Nested("attachments", ATTACHMENT_FIELDS, many=True),
        Nested("versions", VERSION_FIELDS, many=True),
    ),
    "help_record.export",
)
#: Current pairing rows (`PairingPublic`) with their cadre (`CadrePublic`, phone masked) and unit (`UnitPublic`).
PAIRINGS = Dataset(
    ExportDataset.pairings,
    PAIRING_FIELDS,
    (Nested("cadre", CADRE_FIELDS, many=False), Nested("unit", UNIT_FIELDS, many=False)),
    "pairing.export",
)
DATASETS: dict[ExportDataset, Dataset] = {d.name: d for d in (HOUSEHOLDS, HELP_RECORDS, PAIRINGS)}


def dataset_of(name: str) -> Dataset:
    """The dataset called `name`; 404 `unknown_export_dataset` for any other."""
    try:
        return DATASETS[ExportDataset(name)]
    except ValueError:
        known = ", ".join(d.value for d in ExportDataset)
        raise Missing(
            "unknown_export_dataset", f"no export dataset '{name}' (datasets: {known})", dataset=name
        ) from None


@dataclass(frozen=True, slots=True)
class FieldSelection:
    """What each row carries: top-level fields, and the selected fields of each nested part (in catalogue order;
    a nested part not selected is absent)."""

    dataset: Dataset
    top: tuple[str, ...]
    nested: tuple[tuple[Nested, tuple[str, ...]], ...]

    @classmethod
    def everything(cls, dataset: Dataset = HOUSEHOLDS) -> FieldSelection:
        return cls(dataset, dataset.fields, tuple((n, n.fields) for n in dataset.nested))

    def names(self) -> list[str]:
        """The selection as a `fields=` value would spell it (for the audit entry)."""
        return list(self.top) + [f"{n.name}.{f}" for n, fields in self.nested for f in fields]


def check_exporter(role: Role, dataset: Dataset = HOUSEHOLDS) -> None:
    """Cadres (and any role not listed) have no bulk export."""
    if role not in EXPORT_ROLES:
        raise NotAllowed(
            "export_not_allowed",
            f"role '{role}' has no {dataset.name.value} export; it is for officers, the province system and"
            " services",
            role=str(role),
        )


def parse_fields(text: str | None, dataset: Dataset = HOUSEHOLDS) -> FieldSelection:
    """`fields=id,head_name,members.name,latest_income.per_capita_net_income` (absent: every field).

    Output keeps catalogue order whatever the order asked; a name given twice counts once."""
    if text is None:
        return FieldSelection.everything(dataset)
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    if not wanted:
        raise Invalid("unknown_export_field", "fields names no field", field="")
    top: set[str] = set()
    nested: dict[str, set[str]] = {n.name: set() for n in dataset.nested}
    for name in wanted:
        head, dot, rest = name.partition(".")
        part = dataset.nested_named(head)
        if part is not None and not dot:
            nested[head].update(part.fields)
        elif part is not None and rest in part.fields:
            nested[head].add(rest)
        elif not dot and head in dataset.fields:
            top.add(head)
        else:
            raise Invalid("unknown_export_field", f"unknown export field '{name}'", field=name)
    return FieldSelection(
        dataset,
        top=tuple(f for f in dataset.fields if f in top),
        nested=tuple(
            (n, tuple(f for f in n.fields if f in nested[n.name])) for n in dataset.nested if nested[n.name]
        ),
    )


def project(record: Mapping[str, Any], selection: FieldSelection) -> dict[str, Any]:
    """One export row from the record's (masked) API JSON: its selected fields, then its nested parts."""
    row: dict[str, Any] = {name: record.get(name) for name in selection.top}
    for part, fields in selection.nested:
        row[part.name] = part.take(record, fields)
    return row


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def ndjson_line(row: Mapping[str, Any]) -> str:
    return _json(row) + "\n"


def trailer_line(*, rows: int, feed_cursor: str, as_of: str) -> str:
    """The last NDJSON line: how many rows, and the change feed's position as of the snapshot."""
    return _json({"_trailer": {"rows": rows, "feed_cursor": feed_cursor, "as_of": as_of}}) + "\n"


def csv_header(selection: FieldSelection) -> list[str]:
    header = list(selection.top)
    for part, fields in selection.nested:
        header += [part.name] if part.many else [f"{part.name}.{f}" for f in fields]
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
    cells = [csv_cell(row.get(name)) for name in selection.top]
    for part, fields in selection.nested:
        if part.many:
            cells.append(csv_cell(row.get(part.name)))
        else:
            value = row.get(part.name) or {}
            cells += [csv_cell(value.get(f)) for f in fields]
    return cells


def csv_lines(rows: Sequence[Sequence[str]]) -> str:
    """Rows as CSV text (RFC 4180 quoting, CRLF)."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()
