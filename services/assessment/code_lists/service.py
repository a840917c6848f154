"""Assessment's code-list catalogue: its own lists (`assessment_*`, defined by the feature domains imported below)
and the shared ones (roles, region levels), read from the labelled enums (shared/code_lists.py, shared/labels.py)."""

from __future__ import annotations

# Imported for their code lists (each module files its enums when it is imported).
import services.assessment.inspections.domain
import services.assessment.metrics.domain
import services.assessment.runs.domain
import services.assessment.schemes.domain  # noqa: F401
from services.assessment.code_lists.schemas import CodeListCatalogue, CodeListPublic
from shared.code_lists import CodeListBook

__all__ = ["CodeListService"]

#: Assessment's lists and the shared ones; never another service's (they may share the interpreter in tests).
_BOOK = CodeListBook(("services.assessment.", "shared."))


class CodeListService:
    """Reads the code lists; no database, no scope: the lists are the same for every caller."""

    def catalogue(self) -> tuple[CodeListCatalogue, str]:
        """Every code list, and the catalogue's ETag."""
        return _BOOK.catalogue()

    def one(self, name: str) -> CodeListPublic:
        """The code list named `name` (404 when assessment has none)."""
        return _BOOK.one(name)

    def not_modified(self, if_none_match: str | None, tag: str) -> bool:
        return _BOOK.not_modified(if_none_match, tag)
