"""The default templates A-F of DOMAIN.md §6.5, shipped as data (`templates/*.json`, package data).

Each file is `{"code", "name", "description", "scheme"}`, the `scheme` a scheme document exactly as
`POST /schemes` takes it; `POST /schemes?template=B` drafts a copy for the county. Every template passes
validation (tests/assessment/test_schemes_domain.py).

| code | subject | what |
|---|---|---|
| A | household exit | the exit test: a pass/fail checklist of nine items, all must pass (§6.5 A, invariant 22) |
| B | village | the table of §6.5 B exactly, its vetoes; the worked example of §6.6 scores 86.76 (良好) by it |
| C | cadre | §6.5 C, graded 优秀 / 称职 / 基本称职 / 不称职; R7's `block_promotion` |
| D | helping unit | §6.5 D; R17's 10,000-yuan award for an advanced department |
| E | township | §6.5 E; R17's 10,000-yuan award for an advanced town |
| F | CPPCC unit | the 2018 performance scheme with the poverty scheme embedded as its 30-point first-level indicator (R1), the three vetoes of R3, the thresholds of R2 |
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from services.assessment.schemes.schemas import SchemeDocument

__all__ = ["TEMPLATES", "Template", "template"]

_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True, slots=True)
class Template:
    code: str
    name: str
    description: str
    document: SchemeDocument


def _load() -> dict[str, Template]:
    found: dict[str, Template] = {}
    for path in sorted(_DIR.glob("*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))
        found[raw["code"]] = Template(
            code=raw["code"],
            name=raw["name"],
            description=raw["description"],
            document=SchemeDocument.model_validate(raw["scheme"]),
        )
    return found


#: The templates by code (A-F), read once when the module is imported.
TEMPLATES: Mapping[str, Template] = _load()


def template(code: str) -> Template | None:
    return TEMPLATES.get(code)
