"""zh-CN labels of every code list (代码表): the one catalogue is the enums themselves. Pure: standard library only.

A code list a client sees is a `LabelledEnum`, a `StrEnum` whose members carry their Chinese label and, where
the code does not read well as English, an English one:

    @code_list("poverty_cause", "致贫原因", "Poverty cause")
    class PovertyCause(LabelledEnum):
        illness = "illness", "因病"
        schooling = "schooling", "因学", "Schooling costs"

The value stays the plain code (`PovertyCause.illness == "illness"`, `PovertyCause("illness")`), so nothing
changes on the wire or in the database; `.label` is the Chinese, `.english` the English (the code read as words
unless one is given). A member without a Chinese label is refused when the class is defined.

`code_list` files the enum under a stable snake_case name, the `{name}` of `GET /code-lists/{name}`; there is no
second table to keep in step. Every JSON Schema pydantic generates for such an enum (and so every OpenAPI
component and parameter) carries the labels in member order as `x-enum-descriptions` and the member names as
`x-enum-varnames`, the extensions openapi-generator, orval and openapi-typescript read for documented enums.

Domain modules may import this module (it is in `PURE_SHARED` of `scripts/check_imports.py`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Self, TypeVar

__all__ = [
    "CodeList",
    "LabelledEnum",
    "code_list",
    "code_lists",
    "label_of",
    "lookup",
]


class LabelledEnum(enum.StrEnum):
    """A code list whose members carry a zh-CN label (and optionally an English one): `code = "code", "标签"`."""

    #: The member's zh-CN label (DOMAIN.md §8, §2-§4).
    label: str
    _english: str

    def __new__(cls, value: str, label: str = "", english: str = "") -> Self:
        if not label.strip():
            raise ValueError(f"{cls.__name__}.{value}: every member of a code list has a zh-CN label")
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        member._english = english
        return member

    @property
    def english(self) -> str:
        """The English label: the one given, else the code as words (`lack_of_land` → "Lack of land")."""
        return self._english or self.value.replace("_", " ").strip().capitalize()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        """pydantic's hook: the enum's JSON Schema with `x-enum-descriptions` and `x-enum-varnames`."""
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        target["x-enum-descriptions"] = [member.label for member in cls]
        target["x-enum-varnames"] = [member.name for member in cls]
        return schema


E = TypeVar("E", bound=LabelledEnum)


@dataclass(frozen=True, slots=True)
class CodeList:
    """A registered code list: its stable name, its own labels and the enum holding its codes."""

    name: str
    label: str
    english: str
    enum: type[LabelledEnum]


_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_REGISTRY: dict[str, CodeList] = {}


def code_list(name: str, label: str, english: str) -> Callable[[type[E]], type[E]]:
    """Class decorator: file a `LabelledEnum` under `name` (the list's zh-CN `label` and `english` name)."""
    if not _NAME.match(name):
        raise ValueError(f"code list name {name!r} is not snake_case")
    if not label.strip() or not english.strip():
        raise ValueError(f"code list {name!r} needs a zh-CN label and an English name")

    def register(cls: type[E]) -> type[E]:
        if not issubclass(cls, LabelledEnum):
            raise TypeError(f"{cls.__name__} is not a LabelledEnum")
        known = _REGISTRY.get(name)
        if known is not None and _where(known.enum) != _where(cls):
            raise ValueError(f"code list {name!r} is already {_where(known.enum)}")
        _REGISTRY[name] = CodeList(name, label, english, cls)
        return cls

    return register


def _where(cls: type[Any]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def code_lists() -> Mapping[str, CodeList]:
    """Every registered code list by name, sorted (the lists of the modules imported so far)."""
    return {name: _REGISTRY[name] for name in sorted(_REGISTRY)}


def lookup(name: str) -> CodeList | None:
    """The code list named `name`, or None."""
    return _REGISTRY.get(name)


def label_of(list_name: str, code: str) -> str | None:
    """The zh-CN label of `code` in the list `list_name`, or None when either is unknown."""
    found = _REGISTRY.get(list_name)
    if found is None:
        return None
    member = found.enum._value2member_map_.get(code)
    return member.label if isinstance(member, LabelledEnum) else None
