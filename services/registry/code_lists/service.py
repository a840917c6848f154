"""The code-list catalogue: read from the labelled enums themselves (shared.labels), the one catalogue.

Importing the modules below files every registry code list in the registry of `shared.labels` (roles and region
levels come with `shared.roles`); the catalogue is built once per process, with a strong ETag of its content.
"""

from __future__ import annotations

import functools
import hashlib

# Imported for their code lists (each module files its enums when it is imported).
import services.registry.help_plans.domain
import services.registry.help_records.domain
import services.registry.households.domain
import services.registry.households.schemas
import services.registry.identification.domain
import services.registry.monitoring.domain
import services.registry.pairing.domain
import services.registry.regions.domain  # noqa: F401
from services.registry.code_lists.schemas import CodeListCatalogue, CodeListPublic, CodePublic
from shared.labels import CodeList, code_lists, lookup
from shared.problems import NotFound

__all__ = ["CodeListService"]


def _public(found: CodeList) -> CodeListPublic:
    return CodeListPublic(
        name=found.name,
        zh_cn=found.label,
        en=found.english,
        codes=[CodePublic(code=m.value, zh_cn=m.label, en=m.english) for m in found.enum],
    )


@functools.cache
def _catalogue() -> tuple[CodeListCatalogue, str]:
    catalogue = CodeListCatalogue(items=[_public(found) for found in code_lists().values()])
    digest = hashlib.sha256(catalogue.model_dump_json().encode()).hexdigest()[:32]
    return catalogue, f'"{digest}"'


class CodeListService:
    """Reads the code lists; no database, no scope: the lists are the same for every caller."""

    def catalogue(self) -> tuple[CodeListCatalogue, str]:
        """Every code list, and the catalogue's ETag."""
        return _catalogue()

    def one(self, name: str) -> CodeListPublic:
        """The code list named `name` (404 when there is none)."""
        found = lookup(name)
        if found is None:
            raise NotFound(f"code list {name} not found")
        return _public(found)
