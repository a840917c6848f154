"""The answer of `GET /code-lists`: every code list with its codes and their zh-CN and English labels."""

from __future__ import annotations

from pydantic import Field

from shared.schemas import ResponseModel

__all__ = ["CodeListCatalogue", "CodeListPublic", "CodePublic"]


class CodePublic(ResponseModel):
    """One code of a list, as sent and accepted on the wire, with its labels."""

    code: str = Field(examples=["illness"])
    zh_cn: str = Field(description="The zh-CN label (中文标签)", examples=["因病"])
    en: str = Field(description="The English label", examples=["Illness"])


class CodeListPublic(ResponseModel):
    """A code list: its stable name (the `{name}` of `GET /code-lists/{name}`), labels and codes in order."""

    name: str = Field(examples=["poverty_cause"])
    zh_cn: str = Field(description="The list's zh-CN name", examples=["致贫原因"])
    en: str = Field(description="The list's English name", examples=["Poverty cause"])
    codes: list[CodePublic]


class CodeListCatalogue(ResponseModel):
    """Every code list of the API, sorted by name: a dashboard loads it once (it changes only on deploys)."""

    items: list[CodeListPublic]
