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

The machinery (catalogue, selection, projection, NDJSON, CSV) is every service's (shared/exchange/export.py);
this module holds the registry's datasets, its exporters and its defaults (households).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import NotAllowed
from shared.exchange import export
from shared.exchange.export import (
    BOM,
    Nested,
    csv_cell,
    csv_header,
    csv_lines,
    csv_row,
    ndjson_line,
    project,
    trailer_line,
)
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


#: A dataset of the registry (shared/exchange/export.py `Dataset`, named by `ExportDataset`; an annotation:
#: build one with `export.Dataset`).
Dataset = export.Dataset[ExportDataset]

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

HOUSEHOLDS: Dataset = export.Dataset(
    ExportDataset.households,
    HOUSEHOLD_FIELDS,
    (
        Nested("members", MEMBER_FIELDS, many=True),
        Nested("latest_income", INCOME_FIELDS, many=False, source="incomes", first=True),
    ),
    "household.export",
)
#: Help records at their newest version: `HelpRecordPublic`, its lists nested.
HELP_RECORDS: Dataset = export.Dataset(
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
PAIRINGS: Dataset = export.Dataset(
    ExportDataset.pairings,
    PAIRING_FIELDS,
    (Nested("cadre", CADRE_FIELDS, many=False), Nested("unit", UNIT_FIELDS, many=False)),
    "pairing.export",
)
DATASETS: dict[ExportDataset, Dataset] = {d.name: d for d in (HOUSEHOLDS, HELP_RECORDS, PAIRINGS)}


def dataset_of(name: str) -> Dataset:
    """The dataset called `name`; 404 `unknown_export_dataset` for any other."""
    return export.dataset_of(name, DATASETS.values())


@dataclass(frozen=True, slots=True)
class FieldSelection(export.FieldSelection):
    """What each row carries (shared/exchange/export.py `FieldSelection`); every field of the households when
    no dataset is named."""

    @classmethod
    def everything(cls, dataset: Dataset = HOUSEHOLDS) -> FieldSelection:
        return cls(dataset, dataset.fields, tuple((n, n.fields) for n in dataset.nested))


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
    return export.parse_fields(text, dataset, kind=FieldSelection)
