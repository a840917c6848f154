"""The code-list catalogue every service answers at `GET /code-lists` (代码表), built from `shared.labels`.

The lists are the labelled enums themselves (`shared.labels.code_list`). A process's catalogue holds the lists
defined by its own modules and by `shared/` (roles, region levels): `CodeListBook(("services.planning.",
"shared."))`. Filtering by the defining module keeps each service's answer its own even when several services'
modules are imported into one interpreter (the test suite runs them all in one process). The catalogue is built
once per book, with a strong ETag of its content; the lists change only with a deploy.

The answer models (`CodePublic`, `CodeListPublic`, `CodeListCatalogue`) are shared too, so every service
documents the same schemas.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pydantic import Field

from shared.labels import CodeList, code_lists, lookup
from shared.problems import NotFound
from shared.schemas import ResponseModel

__all__ = ["CACHE_CONTROL", "CodeListBook", "CodeListCatalogue", "CodeListPublic", "CodePublic"]

#: The lists change only with a deploy: a dashboard may keep them an hour, and revalidate with If-None-Match.
CACHE_CONTROL = "private, max-age=3600"


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


def _public(found: CodeList) -> CodeListPublic:
    return CodeListPublic(
        name=found.name,
        zh_cn=found.label,
        en=found.english,
        codes=[CodePublic(code=m.value, zh_cn=m.label, en=m.english) for m in found.enum],
    )


class CodeListBook:
    """The code lists of one process: those whose enum is defined in a module under one of `owners` (dotted
    prefixes such as "services.planning." and "shared.")."""

    def __init__(self, owners: Sequence[str]) -> None:
        self.owners = tuple(owners)
        self._built: tuple[CodeListCatalogue, str] | None = None

    def _owns(self, found: CodeList) -> bool:
        return found.enum.__module__.startswith(self.owners)

    def catalogue(self) -> tuple[CodeListCatalogue, str]:
        """Every list of the process, sorted by name, and the catalogue's strong ETag (built on first use, once
        the process's modules are imported)."""
        if self._built is None:
            catalogue = CodeListCatalogue(items=[_public(f) for f in code_lists().values() if self._owns(f)])
            digest = hashlib.sha256(catalogue.model_dump_json().encode()).hexdigest()[:32]
            self._built = (catalogue, f'"{digest}"')
        return self._built

    def one(self, name: str) -> CodeListPublic:
        """The list named `name` (404 when the process has none of that name)."""
        found = lookup(name)
        if found is None or not self._owns(found):
            raise NotFound(f"code list {name} not found")
        return _public(found)

    @staticmethod
    def not_modified(if_none_match: str | None, tag: str) -> bool:
        """Whether an If-None-Match header names the catalogue's current ETag (weak comparison)."""
        if if_none_match is None:
            return False
        return (
            tag in {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
            or if_none_match.strip() == "*"
        )
