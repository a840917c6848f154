"""scripts/check_imports.py: the arrows of the one shape, checked on small trees built in tmp_path.

The script finds its root from its own location (`scripts/..`), so each test copies it into a fresh tree,
writes the modules that keep or break one rule, runs it, and reads its report: one `path:line: message` line
per broken rule and exit status 1, or exit status 0 when the tree keeps the shape.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_imports.py"
#: The method the rules keep to the commit point, spelled apart so that grepping the tests for the call finds none.
COMMIT = "commit"
LINE = re.compile(r"^(?P<path>[\w./-]+\.py):(?P<line>\d+): (?P<message>.+)$")

#: A minimal tree that keeps every rule: one feature of the registry in the full shape, a gateway, shared/.
CLEAN: dict[str, str] = {
    "shared/__init__.py": "",
    "shared/roles.py": "import enum\n",
    "shared/clock.py": "from datetime import UTC\n",
    "shared/errors.py": "from typing import Any\n",
    "shared/db.py": "import sqlalchemy\nfrom fastapi import Depends\nfrom shared.roles import Principal\n",
    "shared/routing.py": f"async def _commit(session):\n    await session.{COMMIT}()\n",
    "gateway/__init__.py": "",
    "gateway/main.py": "from fastapi import FastAPI\nfrom shared.routing import APIRouter\n",
    "services/__init__.py": "",
    "services/registry/__init__.py": "",
    "services/registry/models.py": "import sqlmodel\n",
    "services/registry/deps.py": "from fastapi import Depends\n",
    "services/registry/main.py": "from services.registry.households.routes import router\n",
    "services/registry/migrations/versions/reg0001.py": "from services.planning import models\n",
    "services/registry/households/__init__.py": "",
    "services/registry/households/domain.py": (
        "import dataclasses\nfrom datetime import date\n"
        "from shared.roles import Role\nfrom shared.clock import china_date\nfrom shared.errors import Refused\n"
        "from services.registry.pairing.domain import active_on\n"
    ),
    "services/registry/households/routes.py": (
        "from fastapi import Response\nfrom shared.routing import APIRouter\nfrom shared.context import ContextDep\n"
        "from services.registry.deps import CipherDep\n"
        "from services.registry.households.service import HouseholdService\n"
        "from services.registry.households import schemas\n"
        "from services.registry.pairing.schemas import PairingPublic\n"
    ),
    "services/registry/households/service.py": (
        "from shared.context import Context\nfrom shared.errors import Missing\n"
        "from services.registry.households.repository import HouseholdRepository\n"
        "from services.registry.households import domain\n"
        "from services.registry.pairing.service import PairingService\n"
        "from services.registry.models import Household\n"
    ),
    "services/registry/households/repository.py": (
        "import sqlalchemy as sa\nfrom sqlmodel import col, select\nfrom shared.db import scope_filter\n"
        "from services.registry.models import Household\nfrom services.registry.households import domain\n"
    ),
    "services/registry/households/schemas.py": (
        "from pydantic import BaseModel\nfrom services.registry.households.domain import Status\n"
    ),
    "services/registry/households/fast.py": (
        "import asyncpg\nfrom starlette.responses import Response\n"
        "from services.registry.households import domain, schemas\n"
    ),
    "services/registry/pairing/__init__.py": "",
    "services/registry/pairing/domain.py": "from datetime import date\n",
    "services/registry/pairing/schemas.py": "from pydantic import BaseModel\n",
    "services/registry/pairing/service.py": "from shared.context import Context\n",
    "services/planning/__init__.py": "",
    "services/planning/models.py": "import sqlmodel\n",
}


@dataclass(frozen=True)
class Report:
    status: int
    lines: list[str]

    def mentions(self, path: str, message: str) -> bool:
        return any(line.startswith(f"{path}:") and message in line for line in self.lines)


def run(root: Path) -> Report:
    done = subprocess.run(  # noqa: S603 - our own script, our own interpreter
        [sys.executable, str(root / "scripts" / "check_imports.py")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return Report(done.returncode, lines)


def tree(root: Path, files: dict[str, str]) -> Path:
    (root / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy(SCRIPT, root / "scripts" / "check_imports.py")
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_clean_tree_keeps_the_shape(tmp_path: Path) -> None:
    report = run(tree(tmp_path, CLEAN))
    assert report.status == 0, report.lines
    assert report.lines == [
        f"import rules: {sum(1 for p in CLEAN if 'migrations' not in p)} modules keep the shape"
    ]


# (file, its text, the line that must be reported: path and a part of the message)
BROKEN: dict[str, tuple[str, str, str]] = {
    "shared imports a service": (
        "shared/cli.py",
        "import os\nfrom services.registry.models import Household\n",
        "shared/ imports services.registry.models",
    ),
    "shared imports the gateway": (
        "shared/auth.py",
        "import gateway.models\n",
        "shared/ imports gateway.models",
    ),
    "a service imports another": (
        "services/registry/households/service.py",
        "from services.planning.models import Plan\n",
        "processes talk over HTTP",
    ),
    "a service's top level imports another": (
        "services/registry/main.py",
        "import services.planning.models\n",
        "processes talk over HTTP",
    ),
    "the gateway imports a service": (
        "gateway/main.py",
        "from services.registry.main import create_app\n",
        "processes talk over HTTP",
    ),
    "domain imports sqlalchemy": (
        "services/registry/households/domain.py",
        "import sqlalchemy as sa\n",
        "domain imports sqlalchemy",
    ),
    "domain imports fastapi": (
        "services/registry/households/domain.py",
        "from fastapi import HTTPException\n",
        "domain imports fastapi",
    ),
    "domain imports shared beyond roles/clock/errors": (
        "services/registry/households/domain.py",
        "from shared.auth import Role\n",
        "domain imports shared.auth",
    ),
    "domain imports its repository": (
        "services/registry/households/domain.py",
        "from services.registry.households.repository import HouseholdRepository\n",
        "domain imports services.registry.households.repository",
    ),
    "domain imports the models": (
        "services/registry/households/domain.py",
        "from services.registry.models import Household\n",
        "domain imports services.registry.models",
    ),
    "routes import a repository": (
        "services/registry/households/routes.py",
        "from services.registry.households.repository import HouseholdRepository\n",
        "routes call their service and speak in schemas",
    ),
    "routes import a repository by module name": (
        "services/registry/households/routes.py",
        "from services.registry.households import repository\n",
        "routes call their service and speak in schemas",
    ),
    "routes import another feature's service": (
        "services/registry/households/routes.py",
        "from services.registry.pairing.service import PairingService\n",
        "routes call their service and speak in schemas",
    ),
    "routes import the models": (
        "services/registry/households/routes.py",
        "from services.registry.models import Household\n",
        "routes never touch tables",
    ),
    "routes import SQL": (
        "services/registry/households/routes.py",
        "import sqlalchemy as sa\n",
        "SQL belongs",
    ),
    "service imports fastapi": (
        "services/registry/households/service.py",
        "from fastapi import Request\n",
        "service imports fastapi",
    ),
    "service imports starlette": (
        "services/registry/households/service.py",
        "from starlette.requests import Request\n",
        "service imports starlette",
    ),
    "service imports sqlmodel": (
        "services/registry/households/service.py",
        "from sqlmodel import select\n",
        "service imports sqlmodel",
    ),
    "service imports shared.db": (
        "services/registry/households/service.py",
        "from shared.db import execute\n",
        "service imports shared.db",
    ),
    "service imports routes": (
        "services/registry/households/service.py",
        "from services.registry.households.routes import router\n",
        "arrows point down",
    ),
    "service imports a fast path": (
        "services/registry/households/service.py",
        "from services.registry.households import fast\n",
        "arrows point down",
    ),
    "repository imports the web stack": (
        "services/registry/households/repository.py",
        "from fastapi import HTTPException\n",
        "no HTTP in the data layer",
    ),
    "repository imports a service": (
        "services/registry/households/repository.py",
        "from services.registry.households.service import HouseholdService\n",
        "arrows point down",
    ),
    "schemas import SQL": (
        "services/registry/households/schemas.py",
        "from sqlmodel import Field\n",
        "API models do not know tables",
    ),
    "schemas import a service": (
        "services/registry/households/schemas.py",
        "from services.registry.households.service import HouseholdService\n",
        "schemas are leaves",
    ),
    "a relative import is resolved": (
        "services/registry/households/routes.py",
        "from .repository import HouseholdRepository\n",
        "routes import services.registry.households.repository",
    ),
    "a route commits": (
        "services/registry/households/routes.py",
        f"async def handler(session):\n    await session.{COMMIT}()\n",
        "outside the commit point",
    ),
    "a service commits": (
        "services/registry/households/service.py",
        f"class S:\n    async def go(self):\n        await self.ctx.session.{COMMIT}()\n",
        "outside the commit point",
    ),
    "shared code other than the commit point commits": (
        "shared/db.py",
        f"async def helper(session):\n    await session.{COMMIT}()\n",
        "outside the commit point",
    ),
    "the gateway commits": (
        "gateway/main.py",
        f"async def f(s):\n    await s.{COMMIT}()\n",
        "outside the commit point",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_broken_rule_is_reported(tmp_path: Path, case: str) -> None:
    path, text, message = BROKEN[case]
    report = run(tree(tmp_path, CLEAN | {path: text}))
    assert report.status == 1, report.lines
    assert report.mentions(path, message), report.lines
    # Only the file that breaks the rule is named.
    assert {m.group("path") for m in map(LINE.match, report.lines) if m} == {path}


def test_the_reported_line_number_is_the_import(tmp_path: Path) -> None:
    text = '"""A service."""\n\nfrom shared.context import Context\n\nimport sqlalchemy\n'
    report = run(tree(tmp_path, CLEAN | {"services/registry/households/service.py": text}))
    assert report.lines == [
        "services/registry/households/service.py:5: service imports sqlalchemy: no SQL and no HTTP in a use case"
    ]


def test_every_broken_rule_is_listed_at_once(tmp_path: Path) -> None:
    broken = {path: text for path, text, _ in BROKEN.values()}
    report = run(tree(tmp_path, CLEAN | broken))
    assert report.status == 1
    for case, (path, text, message) in BROKEN.items():
        if broken[path] == text:  # cases sharing a file: only the last text written is there
            assert report.mentions(path, message), (case, report.lines)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("shared/routing.py", f"async def _commit(session):\n    await session.{COMMIT}()\n"),
        ("services/registry/migrations/versions/reg0002.py", f"def upgrade(conn):\n    conn.{COMMIT}()\n"),
        ("services/registry/households/domain.py", "import json\nfrom shared.errors import Invalid\n"),
        (
            "services/registry/households/fast.py",
            "import asyncpg\nfrom starlette.responses import Response\n",
        ),
        ("services/registry/households/routes.py", "from services.registry.households import schemas\n"),
    ],
)
def test_what_the_rules_allow(tmp_path: Path, path: str, text: str) -> None:
    report = run(tree(tmp_path, CLEAN | {path: text}))
    assert report.status == 0, report.lines


def test_the_real_tree_keeps_the_shape() -> None:
    """The project itself: every arrow points down a feature's layers or into shared/, and nothing but the
    commit point commits."""
    report = run(SCRIPT.parent.parent)
    assert report.status == 0, report.lines
    assert len(report.lines) == 1 and report.lines[0].endswith("modules keep the shape")
