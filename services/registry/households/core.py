"""Pure rules of the household record: derived fields, member rows, ID checks, income computation.

No I/O: the service and the bulk loader both build rows here, so they cannot drift apart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from services.registry.households.schemas import (
    WORKING,
    HouseholdDetails,
    IncomeSet,
    LaborCapacity,
    MemberCreate,
    MemberFields,
    Relation,
)
from services.registry.idnumber import IdNumberError, parse_resident_id
from services.registry.pii import PersonalDataCipher, mask_bank_account, mask_id_number, mask_phone
from shared.problems import UnprocessableEntity

__all__ = [
    "CENT",
    "Derived",
    "compute_income",
    "derive",
    "encrypt_household_contact",
    "id_number_columns",
    "id_warnings",
    "member_row",
]

CENT = Decimal("0.01")


def id_number_columns(
    cipher: PersonalDataCipher, number: str | None, member_id: uuid.UUID, *, pointer: str
) -> dict[str, Any]:
    """Encrypted value, blind index and mask of a resident ID number (invariant 1 checked first)."""
    if number is None:
        return {"id_number_enc": None, "id_number_index": None, "id_number_masked": None}
    try:
        parse_resident_id(number)
    except IdNumberError as exc:
        raise UnprocessableEntity(f"resident_id_number: {exc}", field=pointer) from exc
    normal = number.upper()
    return {
        "id_number_enc": cipher.encrypt(normal, context=f"member:{member_id}:id_number"),
        "id_number_index": cipher.blind_index(normal, kind="id_number"),
        "id_number_masked": mask_id_number(normal),
    }


def id_warnings(number: str | None, sex: str, birth_year_month: str) -> list[str]:
    """Invariant 1 (W): the ID's birth date and sex should equal the member's record."""
    if number is None:
        return []
    info = parse_resident_id(number)
    out = []
    if info.birth_date.strftime("%Y-%m") != birth_year_month:
        out.append("birth date in the ID number differs from birth_year_month")
    if info.sex != sex:
        out.append("sex in the ID number differs from the member's sex")
    return out


def member_row(
    cipher: PersonalDataCipher,
    payload: MemberCreate,
    household_id: uuid.UUID,
    *,
    joined_on: date,
    pointer: str,
    person_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    member_id = uuid.uuid4()
    row: dict[str, Any] = {
        "id": member_id,
        "person_id": person_id or uuid.uuid4(),
        "household_id": household_id,
        "relation": str(payload.relation),
        "active": True,
        "joined_on": joined_on,
    }
    row.update(member_columns(cipher, payload, member_id, pointer=pointer))
    return row


def member_columns(
    cipher: PersonalDataCipher, payload: MemberFields, member_id: uuid.UUID, *, pointer: str
) -> dict[str, Any]:
    """Column values for the fields present in `payload` (a create sends all, a PATCH a subset)."""
    given = payload.model_dump(exclude_unset=True)
    out: dict[str, Any] = {}
    for name in (
        "name",
        "sex",
        "ethnicity",
        "birth_year_month",
        "no_id_reason",
        "labor_capacity",
        "health_status",
        "education_level",
        "school_status",
        "resident",
        "annual_personal_income",
    ):
        if name in given or isinstance(payload, MemberCreate):
            value = getattr(payload, name)
            out[name] = str(value) if hasattr(value, "value") else value
    if "resident_id_number" in given or isinstance(payload, MemberCreate):
        out.update(
            id_number_columns(
                cipher, payload.resident_id_number, member_id, pointer=f"{pointer}/resident_id_number"
            )
        )
    if "details" in given or isinstance(payload, MemberCreate):
        details = payload.details.model_dump(mode="json") if payload.details is not None else {}
        if payload.phone is not None:
            details["phone_enc"] = cipher.encrypt(payload.phone, context=f"member:{member_id}:phone")
            details["phone_masked"] = mask_phone(payload.phone)
        out["details"] = details
    return out


def encrypt_household_contact(
    cipher: PersonalDataCipher, household_id: uuid.UUID, phone: str | None, bank: str | None
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if phone is not None:
        out["contact_phone_enc"] = cipher.encrypt(phone, context=f"household:{household_id}:phone")
        out["contact_phone_masked"] = mask_phone(phone)
    if bank is not None:
        digits = "".join(bank.split())
        out["bank_account_enc"] = cipher.encrypt(digits, context=f"household:{household_id}:bank_account")
        out["bank_account_masked"] = mask_bank_account(digits)
    return out


@dataclass(frozen=True)
class Derived:
    """Household values derived from its active members (never typed in: invariants 4, 11)."""

    household_size: int
    labor_count: int
    has_labor_capacity: bool
    head_name: str


def derive(members: Iterable[Mapping[str, Any]]) -> Derived:
    """Size, labour and head from the active members; raises unless exactly one head (invariant 4)."""
    active = [m for m in members if m.get("active", True)]
    heads = [m for m in active if m["relation"] == Relation.head]
    if len(heads) != 1:
        raise UnprocessableEntity(
            f"a household has exactly one active head (found {len(heads)})", field="/members"
        )
    labor = sum(1 for m in active if LaborCapacity(m["labor_capacity"]) in WORKING)
    return Derived(
        household_size=len(active),
        labor_count=labor,
        has_labor_capacity=labor > 0,
        head_name=str(heads[0]["name"]),
    )


def compute_income(payload: IncomeSet, household_size: int) -> dict[str, Decimal]:
    """net = wage + operating + property + transfer - operating expenses; per capita = net / size (§2.4)."""
    if household_size < 1:
        raise UnprocessableEntity("the household has no active members", field="/household_size")
    net = payload.wage + payload.operating + payload.property + payload.transfer - payload.operating_expenses
    per_capita = (net / household_size).quantize(CENT, rounding=ROUND_HALF_UP)
    return {"net_income": net.quantize(CENT), "per_capita_net_income": per_capita}


def details_json(details: HouseholdDetails) -> dict[str, Any]:
    return details.model_dump(mode="json")
