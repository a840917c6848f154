#!/usr/bin/env python3
"""The import rules of the one shape, checked on the AST of every module (`make lint` runs this).

Arrows point one way: routes → service → repository → models, service → domain, everything → shared/.

- `shared/` imports no service and not the gateway; no service imports another service or the gateway; the
  gateway imports no service. Processes talk over HTTP.
- In a feature folder (`services/<service>/<feature>/`, `gateway/<feature>/`):
  - `domain.py` imports the standard library, the pure shared modules (`PURE_SHARED`: `shared.roles`,
    `shared.clock`, `shared.errors`, `shared.labels`, the exchange's rules `shared.exchange.feed` and
    `shared.exchange.export`), and other `domain` modules of its own process only: no web, database or I/O
    library; a pure shared module itself imports only the standard library and other pure shared modules;
  - `routes.py` imports its own feature's `service` and `schemas`, other features' `schemas`, its process's
    `deps`, and `shared/`; never a repository, a model or SQL;
  - `service.py` imports repositories, domains, schemas and services of its process, its `models` (the typed
    rows repositories return) and `shared/`; never SQLAlchemy, SQLModel, asyncpg, FastAPI or Starlette (no SQL,
    no HTTP), and never routes;
  - `repository.py` never imports routes, services or FastAPI/Starlette;
  - `schemas.py` never imports SQL libraries, repositories, services or routes.
- No module outside the commit point (`shared/routing.py`) calls `.commit()`.

Exit status 1 and one line per broken rule; 0 when the tree keeps the shape.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("gateway", "services/registry", "services/planning", "services/assessment")
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}
PURE_SHARED = frozenset(
    {
        "shared.roles",
        "shared.clock",
        "shared.errors",
        "shared.labels",
        # the exchange's rules (issue #15): the feed's and the export's, every service's domain uses them
        "shared.exchange",
        "shared.exchange.feed",
        "shared.exchange.export",
    }
)
SQL = ("sqlalchemy", "sqlmodel", "asyncpg")
WEB = ("fastapi", "starlette", "uvicorn", "httpx", "aiohttp")
COMMIT_POINT = ROOT / "shared" / "routing.py"


@dataclass(frozen=True)
class Module:
    path: Path
    name: str  # dotted
    process: str | None  # "gateway", "services.registry", ... or None for shared/scripts/bench
    feature: str | None  # the feature folder's name, when the module is in one
    role: str  # file stem: domain, routes, service, repository, schemas, fast, models, main, ...


def _module(path: Path) -> Module:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts
    name = ".".join(p for p in parts if p != "__init__")
    process = None
    feature = None
    for proc in PROCESSES:
        proc_parts = tuple(proc.split("/"))
        if parts[: len(proc_parts)] == proc_parts:
            process = ".".join(proc_parts)
            rest = parts[len(proc_parts) :]
            if len(rest) >= 2 and rest[0] != "migrations":
                feature = rest[0]
            break
    return Module(path, name, process, feature, parts[-1])


def _imports(tree: ast.AST, module: Module) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = module.name.split(".")[: -node.level]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.append((node.lineno, target))
            # `from services.registry.households import service` names a module too
            for alias in node.names:
                candidate = ROOT.joinpath(*f"{target}.{alias.name}".split("."))
                if candidate.with_suffix(".py").exists() or (candidate / "__init__.py").exists():
                    out.append((node.lineno, f"{target}.{alias.name}"))
    return out


def _top(name: str) -> str:
    return name.split(".")[0]


def _process_of(name: str) -> str | None:
    if name == "gateway" or name.startswith("gateway."):
        return "gateway"
    parts = name.split(".")
    if parts[0] == "services" and len(parts) >= 2:
        return f"services.{parts[1]}"
    return None


def _feature_role(name: str, process: str) -> tuple[str | None, str | None]:
    """(feature, role) of an imported module of `process`; feature None for process-level modules."""
    rest = name[len(process) + 1 :].split(".") if name.startswith(process + ".") else []
    if len(rest) >= 2:
        return rest[0], rest[1]
    if len(rest) == 1:
        return None, rest[0]
    return None, None


def check(module: Module, tree: ast.AST) -> list[str]:
    problems: list[str] = []

    def bad(line: int, message: str) -> None:
        problems.append(f"{module.path.relative_to(ROOT)}:{line}: {message}")

    for line, target in _imports(tree, module):
        if not target:
            continue
        target_process = _process_of(target)
        # -- between processes --------------------------------------------------------------------------
        if module.name.startswith("shared") and target_process is not None:
            bad(line, f"shared/ imports {target}: shared code may not depend on a process")
        if module.process and target_process and target_process != module.process:
            bad(line, f"{module.process} imports {target}: processes talk over HTTP, never by import")
        if module.name in PURE_SHARED and not (_top(target) in STDLIB or target in PURE_SHARED):
            bad(
                line,
                f"pure shared module imports {target}: the standard library and pure shared modules only",
            )
        if module.feature is None or module.process is None:
            continue
        # -- inside a feature ---------------------------------------------------------------------------
        own = module.process
        feature, role = _feature_role(target, own) if target_process == own else (None, None)
        top = _top(target)
        if module.role == "domain":
            pure = (
                top in STDLIB
                or target in PURE_SHARED
                or (target_process == own and role == "domain")
                or target == own
                or (target_process == own and feature is not None and role is None)
            )
            if not pure:
                bad(
                    line,
                    f"domain imports {target}: rules use the standard library and shared.roles/clock/errors only",
                )
        elif module.role == "routes":
            if top in SQL:
                bad(line, f"routes import {target}: SQL belongs in the repository")
            if target_process == own and feature is not None:
                allowed = role in ("schemas", None) or (feature == module.feature and role == "service")
                if not allowed:
                    bad(line, f"routes import {target}: routes call their service and speak in schemas")
            elif target_process == own and role in ("models", "repository"):
                bad(line, f"routes import {target}: routes never touch tables")
        elif module.role == "service":
            if top in SQL or top in WEB:
                bad(line, f"service imports {target}: no SQL and no HTTP in a use case")
            if target == "shared.db":
                bad(line, "service imports shared.db: the repository runs the queries")
            if target_process == own and role in ("routes", "fast"):
                bad(line, f"service imports {target}: arrows point down (routes → service)")
        elif module.role == "repository":
            if top in WEB:
                bad(line, f"repository imports {target}: no HTTP in the data layer")
            if target_process == own and role in ("routes", "service"):
                bad(line, f"repository imports {target}: arrows point down (service → repository)")
        elif module.role == "schemas":
            if top in SQL:
                bad(line, f"schemas import {target}: API models do not know tables")
            if target_process == own and role in ("routes", "service", "repository", "fast"):
                bad(line, f"schemas import {target}: schemas are leaves")
    return problems


def _commits(module: Module, tree: ast.AST) -> list[str]:
    if module.path == COMMIT_POINT:
        return []
    out = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "commit"
            and not node.args
            and not node.keywords
        ):
            out.append(
                f"{module.path.relative_to(ROOT)}:{node.lineno}: commit() outside the commit point "
                "(shared/routing.py commits the request's unit of work)"
            )
    return out


def main() -> int:
    files = [
        p
        for top in ("shared", "gateway", "services")
        for p in sorted((ROOT / top).rglob("*.py"))
        if "migrations" not in p.parts
    ]
    problems: list[str] = []
    for path in files:
        module = _module(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        problems += check(module, tree)
        problems += _commits(module, tree)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} import rule(s) broken (see scripts/check_imports.py)", file=sys.stderr)
        return 1
    print(f"import rules: {len(files)} modules keep the shape")
    return 0


if __name__ == "__main__":
    sys.exit(main())
