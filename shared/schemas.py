"""Base request/response models and constrained scalar types.

Request models reject unknown fields (no mass assignment) and NUL bytes anywhere in the payload; integers
are range-checked against PostgreSQL's column types before a query is ever sent.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, model_validator

#: Validation-context key: the input is known to hold no NUL character (see RequestModel).
NUL_CHECKED = "nul_checked"

__all__ = [
    "NUL_CHECKED",
    "Int32",
    "Int64",
    "PositiveInt32",
    "RegionCode",
    "RequestModel",
    "ResponseModel",
    "reject_nul",
]

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

Int32 = Annotated[int, Field(ge=-(2**31), le=INT32_MAX)]
Int64 = Annotated[int, Field(ge=-(2**63), le=INT64_MAX)]
PositiveInt32 = Annotated[int, Field(ge=1, le=INT32_MAX)]
RegionCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{12}$"),
    Field(description="12-digit statistical division code (统计用区划代码)", examples=["451025100201"]),
]


def reject_nul(value: Any) -> Any:
    """Walk a decoded JSON value and raise if any string (key or value) holds a NUL byte.

    PostgreSQL text cannot store NUL; letting one through turns a client error into a 500.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise ValueError("strings must not contain NUL (\\u0000) characters")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return value


class RequestModel(BaseModel):
    """Base for every request body: unknown fields are an error, strings are stripped of nothing."""

    model_config = ConfigDict(extra="forbid", str_max_length=10_000)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any, info: ValidationInfo) -> Any:
        # Callers that checked the raw input already (bulk loaders: no `\u0000` in the line) say so in the
        # validation context; nested models would otherwise walk their subtree once per level.
        if isinstance(info.context, dict) and info.context.get(NUL_CHECKED):
            return data
        return reject_nul(data)


class ResponseModel(BaseModel):
    """Base for response bodies, built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)
