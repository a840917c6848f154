"""The answers of `GET /code-lists`: the shared models of every service's catalogue (shared/code_lists.py)."""

from __future__ import annotations

from shared.code_lists import CodeListCatalogue, CodeListPublic, CodePublic

__all__ = ["CodeListCatalogue", "CodeListPublic", "CodePublic"]
