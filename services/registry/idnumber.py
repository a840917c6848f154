"""Resident ID numbers (公民身份号码, GB 11643-1999), checked as DOMAIN.md §7 invariant 1 states.

18 characters: 6-digit region of issue, 8-digit birth date YYYYMMDD, 3-digit sequence (odd = male, even =
female), and a check character computed with ISO 7064 MOD 11-2. Plain domain code: no HTTP, no SQL.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

__all__ = ["IdNumberError", "ResidentId", "Sex", "check_character", "parse_resident_id"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")


class Sex(enum.StrEnum):
    male = "male"  # 男
    female = "female"  # 女


class IdNumberError(ValueError):
    """Why an ID number is not acceptable (the message is safe to show)."""


@dataclass(frozen=True, slots=True)
class ResidentId:
    number: str
    region_of_issue: str
    birth_date: date
    sex: Sex


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def parse_resident_id(raw: str, *, today: date | None = None) -> ResidentId:
    """Validate and decompose an ID number; raises `IdNumberError` with the reason."""
    number = raw.strip().upper()
    if not _SHAPE.match(number):
        raise IdNumberError("an ID number is 17 digits followed by a digit or X")
    if check_character(number[:17]) != number[17]:
        raise IdNumberError("the check character does not match (ISO 7064 MOD 11-2)")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError as exc:
        raise IdNumberError("positions 7-14 are not a real birth date") from exc
    if born > (today or date.today()) or born.year < 1890:
        raise IdNumberError("the birth date is in the future or implausibly old")
    sex = Sex.male if int(number[16]) % 2 else Sex.female
    return ResidentId(number=number, region_of_issue=number[:6], birth_date=born, sex=sex)
