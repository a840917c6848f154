#!/usr/bin/env python3
"""The API as a contract (issue #10): the merged OpenAPI document, linted, and clients generated from it.

`make contract` runs `check`: it builds the merged document offline — each process's `create_app().openapi()`
(no server, no database), merged by `gateway.openapi_merge.OpenAPIMerger.merge` exactly as the gateway's
`/openapi.json` merges the live ones — writes it to `var/openapi.json`, then

1. Spectral (`spectral:oas`, clients/.spectral.yaml): fails on any warning;
2. Redocly (`recommended`, clients/redocly.yaml): fails on any error;
3. openapi-typescript: generates `clients/typescript/generated/api.d.ts` (git-ignored: regenerated every run);
4. the example program `clients/typescript/example.ts` must hold no cast and no `any`;
5. `tsc --noEmit` (strict) over the example program and the generated types.

Every step runs even when an earlier one failed, so one run lists every problem (rule and path). The npm tools
are the ones pinned in clients/package-lock.json, installed with `npm ci` when the lock file changed.

Other commands:

- `document`: only write var/openapi.json.
- `example`: write the document, generate the types and compile the example to `clients/typescript/dist/`
  (tests/platform/test_clients.py runs it with node against a running platform).
- `kotlin`: generate the Kotlin models with openapi-generator (the PyPI package `openapi-generator-cli`, which
  ships the generator's jar; installed into var/cache/ on first use; needs Java 17+) and check by grepping
  them that every schema's model class carries every property of the schema, and that no model class is empty.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = ROOT / "clients"
NODE_BIN = CLIENTS / "node_modules" / ".bin"
#: The hash of the lock file `npm ci` last installed, kept inside node_modules (so a fresh clone has none).
NPM_STAMP = CLIENTS / "node_modules" / ".jingzhun-lock-sha256"
VAR = ROOT / "var"
DOCUMENT = VAR / "openapi.json"
TYPESCRIPT = CLIENTS / "typescript"
GENERATED_TYPES = TYPESCRIPT / "generated" / "api.d.ts"
EXAMPLE = TYPESCRIPT / "example.ts"
EXAMPLE_DIST = TYPESCRIPT / "dist"

OPENAPI_GENERATOR_VERSION = "7.26.0"
GENERATOR_CACHE = VAR / "cache" / f"openapi-generator-cli-{OPENAPI_GENERATOR_VERSION}"
KOTLIN_OUT = VAR / "kotlin"
KOTLIN_PACKAGE = "cn.jingzhun.client"

#: Telemetry and update checks of the npm tools, off: CI and county offices run them without asking.
QUIET_ENV = {
    "REDOCLY_TELEMETRY": "off",
    "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true",
    "SCARF_ANALYTICS": "false",
    "DO_NOT_TRACK": "1",
    "NO_UPDATE_NOTIFIER": "1",
    "npm_config_update_notifier": "false",
    "npm_config_fund": "false",
    "npm_config_audit": "false",
}

#: Kotlin model classes that must carry these properties (issue #10: the empty `MoneyYuan()` of the old
#: document left a help record without its amount or position).
KOTLIN_REQUIRED: dict[str, tuple[str, ...]] = {
    "HelpRecordPublic": ("moneyYuan", "gpsLat", "gpsLon"),
    "Problem": ("status", "errors"),
}


def _say(message: str = "") -> None:
    print(message, flush=True)


def _shown(path: Path) -> str:
    """A path as printed: relative to the repository when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


# -- the document ------------------------------------------------------------------------------------------
def build_document() -> dict[str, Any]:
    """The merged OpenAPI document, built from the apps themselves: no server, no database."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from gateway.main import create_app as create_gateway
    from gateway.openapi_merge import OpenAPIMerger
    from gateway.settings import GatewaySettings
    from services.assessment.main import create_app as create_assessment
    from services.assessment.settings import AssessmentSettings
    from services.planning.main import create_app as create_planning
    from services.planning.settings import PlanningSettings
    from services.registry.main import create_app as create_registry
    from services.registry.settings import RegistrySettings

    quiet: dict[str, Any] = {"environment": "test", "json_logs": False, "log_level": "WARNING"}
    gateway = create_gateway(GatewaySettings(**quiet))
    services = {
        "registry": create_registry(RegistrySettings(**quiet)).openapi(),
        "planning": create_planning(PlanningSettings(**quiet)).openapi(),
        "assessment": create_assessment(AssessmentSettings(**quiet)).openapi(),
    }
    return OpenAPIMerger.merge(gateway.openapi(), dict(services))


def write_document(path: Path = DOCUMENT) -> dict[str, Any]:
    doc = build_document()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    operations = sum(
        1 for item in doc.get("paths", {}).values() for op in item.values() if isinstance(op, dict)
    )
    _say(f"wrote {_shown(path)}: {len(doc.get('paths', {}))} paths, {operations} operations")
    return doc


# -- npm tools ---------------------------------------------------------------------------------------------
def node_env() -> dict[str, str]:
    return {**os.environ, **QUIET_ENV}


def ensure_node_modules(*, force: bool = False) -> None:
    """`npm ci` in clients/ when node_modules is missing or was installed from another lock file."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        raise SystemExit("the contract check needs node 20+ and npm (https://nodejs.org)")
    lock = hashlib.sha256((CLIENTS / "package-lock.json").read_bytes()).hexdigest()
    if not force and NPM_STAMP.exists() and NPM_STAMP.read_text() == lock:
        return
    _say("$ npm ci (clients/package-lock.json)")
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],  # noqa: S607
        cwd=CLIENTS,
        env=node_env(),
        check=True,
    )
    NPM_STAMP.write_text(lock)


def _tool(name: str) -> str:
    return str(NODE_BIN / name)


def _run(args: Sequence[str], *, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, env=node_env(), capture_output=True, text=True, check=False)  # noqa: S603


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    summary: str = ""


def _timed(name: str, action: Callable[[], tuple[bool, str]]) -> Step:
    _say(f"\n== {name}")
    started = time.monotonic()
    ok, summary = action()
    step = Step(name, ok, time.monotonic() - started, summary)
    _say(f"-- {name}: {'ok' if ok else 'FAILED'} ({step.seconds:.1f} s){' — ' + summary if summary else ''}")
    return step


def _json_path(path: Sequence[object]) -> str:
    return "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def spectral() -> tuple[bool, str]:
    """spectral:oas over the document; every warning (and error) is a failure."""
    report = VAR / "spectral.json"
    result = _run(
        [
            _tool("spectral"), "lint", str(DOCUMENT), "--ruleset", str(CLIENTS / ".spectral.yaml"),
            "--fail-severity", "warn", "--format", "json", "--output", str(report), "--quiet",
        ]
    )  # fmt: skip
    if not report.exists():
        _say(result.stdout + result.stderr)
        return False, "spectral did not run"
    text = report.read_text() or "[]"
    findings: list[dict[str, Any]] = json.loads(text[text.find("[") :]) if "[" in text else []
    names = {0: "error", 1: "warning", 2: "info", 3: "hint"}
    failing = [f for f in findings if f.get("severity", 0) <= 1]
    for finding in sorted(findings, key=lambda f: (f.get("severity", 0), f.get("code", ""))):
        _say(
            f"  {names.get(finding.get('severity', 0), '?'):<7} {finding.get('code')}  "
            f"#/{_json_path(finding.get('path', []))}  {finding.get('message')}"
        )
    counts = Counter(f"{f.get('code')}" for f in failing)
    summary = ", ".join(f"{code} x{n}" for code, n in counts.most_common())
    ok = result.returncode == 0 and not failing
    return ok, (
        f"{len(failing)} errors/warnings: {summary}"
        if failing
        else f"0 warnings ({len(findings)} info/hints)"
    )


def redocly() -> tuple[bool, str]:
    """Redocly's `recommended` over the document; every error is a failure (warnings are listed)."""
    result = _run(
        [
            _tool("redocly"),
            "lint",
            str(DOCUMENT),
            "--config",
            str(CLIENTS / "redocly.yaml"),
            "--format",
            "json",
        ]
    )
    out = result.stdout
    try:
        report: dict[str, Any] = json.loads(out[out.find("{") :])
    except ValueError:
        _say(out + result.stderr)
        return False, "redocly did not answer a report"
    problems: list[dict[str, Any]] = report.get("problems", [])
    for problem in sorted(problems, key=lambda p: (p.get("severity", ""), p.get("ruleId", ""))):
        where = ", ".join(loc.get("pointer", "") for loc in problem.get("location", []))
        _say(
            f"  {problem.get('severity', '?'):<7} {problem.get('ruleId')}  {where}  {problem.get('message')}"
        )
    errors = Counter(str(p.get("ruleId")) for p in problems if p.get("severity") == "error")
    warnings = sum(1 for p in problems if p.get("severity") == "warn")
    summary = f"{sum(errors.values())} errors" + (
        ": " + ", ".join(f"{rule} x{n}" for rule, n in errors.most_common()) if errors else ""
    )
    return result.returncode == 0 and not errors, f"{summary}; {warnings} warnings"


def generate_types() -> tuple[bool, str]:
    GENERATED_TYPES.parent.mkdir(parents=True, exist_ok=True)
    result = _run([_tool("openapi-typescript"), str(DOCUMENT), "--output", str(GENERATED_TYPES)])
    if result.returncode != 0:
        _say(result.stdout + result.stderr)
        return False, "openapi-typescript failed"
    return True, f"{GENERATED_TYPES.relative_to(ROOT)} ({GENERATED_TYPES.stat().st_size // 1024} kB)"


#: What "no cast and no `any`" forbids in the example program: `as T` (but `as const`), `<T>expr` casts,
#: non-null assertions (`x!.y`), the `any` type — and comments that switch the checker off.
_CASTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("`as` cast", re.compile(r"\bas\s+(?!const\b)[A-Za-z_{(\[]")),
    ("`any`", re.compile(r"\bany\b")),
    ("angle-bracket cast", re.compile(r"(?:^|[=(,:]\s*)<[A-Z][\w.]*(?:<[^>]*>)?>\s*[\w(]")),
    ("non-null assertion", re.compile(r"[\w)\]]!(?=[.;,)\]\s])(?!=)")),
)
_CHECKER_OFF = re.compile(r"@ts-(?:ignore|expect-error|nocheck)")
#: Comments and string literals, matched left to right (whichever starts first wins, as in the lexer).
_NOT_CODE = re.compile(
    r"//[^\n]*|/\*.*?\*/|\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`", re.S
)


def casts_in(source: str) -> list[str]:
    """Where a TypeScript source casts, asserts non-null or uses `any`, as `line: what: text` (the code only:
    strings and comments are blanked first, keeping the line numbers)."""

    def blank(match: re.Match[str]) -> str:
        text = match.group(0)
        if not text.startswith("`"):
            return re.sub(r"[^\n]", " ", text)
        # A template literal: its text is blanked, its `${…}` expressions are code.
        parts = re.split(r"(\$\{[^{}]*\})", text)
        return "".join(part if i % 2 else re.sub(r"[^\n]", " ", part) for i, part in enumerate(parts))

    code = _NOT_CODE.sub(blank, source)
    found: list[str] = []
    for number, (line, text) in enumerate(zip(source.splitlines(), code.splitlines(), strict=True), start=1):
        found.extend(f"{number}: {what}: {line.strip()}" for what, pattern in _CASTS if pattern.search(text))
        if _CHECKER_OFF.search(line):
            found.append(f"{number}: checker switched off: {line.strip()}")
    return found


def no_casts() -> tuple[bool, str]:
    found = casts_in(EXAMPLE.read_text(encoding="utf-8"))
    for line in found:
        _say(f"  {EXAMPLE.relative_to(ROOT)}:{line}")
    return not found, f"{len(found)} casts or `any`" if found else "no cast, no `any`"


def tsc(*, emit: bool = False) -> tuple[bool, str]:
    args = [_tool("tsc"), "-p", str(CLIENTS / "tsconfig.json")]
    if emit:
        args += ["--noEmit", "false", "--outDir", str(EXAMPLE_DIST)]
    result = _run(args)
    errors = [line for line in result.stdout.splitlines() if ": error TS" in line]
    if result.returncode != 0:
        _say(result.stdout + result.stderr)
    return result.returncode == 0, f"{len(errors)} errors" if result.returncode else "0 errors (--strict)"


def cmd_check(args: argparse.Namespace) -> int:
    started = time.monotonic()
    ensure_node_modules(force=args.ci)
    write_document()
    steps = [
        _timed("Spectral (spectral:oas, fail on warnings)", spectral),
        _timed("Redocly (recommended, fail on errors)", redocly),
        _timed("openapi-typescript", generate_types),
        _timed("example program: no cast, no any", no_casts),
        _timed("tsc --noEmit --strict", tsc),
    ]
    _say(f"\ncontract check ({time.monotonic() - started:.0f} s):")
    for step in steps:
        _say(f"  {'ok    ' if step.ok else 'FAILED'}  {step.name}: {step.summary}")
    return 0 if all(step.ok for step in steps) else 1


def cmd_document(args: argparse.Namespace) -> int:
    write_document(Path(args.out) if args.out else DOCUMENT)
    return 0


def cmd_example(args: argparse.Namespace) -> int:
    """The document, the generated types and the example compiled to clients/typescript/dist/example.js."""
    ensure_node_modules()
    write_document()
    for name, action in (
        ("openapi-typescript", generate_types),
        ("no cast, no any", no_casts),
        ("tsc", lambda: tsc(emit=True)),
    ):
        if not _timed(name, action).ok:
            return 1
    _say(f"compiled: {(EXAMPLE_DIST / 'example.js').relative_to(ROOT)}")
    return 0


# -- Kotlin ------------------------------------------------------------------------------------------------
def openapi_generator_jar() -> Path:
    """The jar the PyPI package `openapi-generator-cli` ships, installed into var/cache/ on first use."""
    jar = GENERATOR_CACHE / "openapi_generator_cli" / "openapi-generator.jar"
    if not jar.exists():
        _say(f"$ pip install openapi-generator-cli=={OPENAPI_GENERATOR_VERSION} (into {GENERATOR_CACHE})")
        pip = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
            "--target", str(GENERATOR_CACHE), f"openapi-generator-cli=={OPENAPI_GENERATOR_VERSION}",
        ]  # fmt: skip
        subprocess.run(pip, check=True)  # noqa: S603
    return jar


def kotlin_class_name(schema: str) -> str:
    """openapi-generator's model name for a schema name (`Page_HouseholdPublic_` → `PageHouseholdPublic`)."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", schema) if p]
    return "".join(p[:1].upper() + p[1:] for p in parts)


@dataclass(frozen=True)
class KotlinModel:
    name: str
    kind: str  # "data class", "class", "enum class", "interface", …
    json_names: frozenset[str]  # the `@Json(name = "…")` of its properties
    properties: frozenset[str]  # the Kotlin property names


_CLASS = re.compile(
    r"^(?:@\w+(?:\([^)]*\))?\s+)*(data class|enum class|class|interface|sealed class)\s+(\w+)", re.M
)
_JSON_NAME = re.compile(r'@(?:field:)?Json\(name\s*=\s*"([^"]+)"\)')
_PROPERTY = re.compile(r"^\s*(?:override\s+)?va[lr]\s+`?(\w+)`?\s*:", re.M)


def kotlin_models(directory: Path) -> Iterator[KotlinModel]:
    for path in sorted(directory.rglob("*.kt")):
        text = path.read_text(encoding="utf-8")
        match = _CLASS.search(text)
        if match is None:
            continue
        # Only the outer class's own body: nested enums (`enum class Status`) carry their own `@Json` values.
        body = text[match.end() :]
        nested = re.search(r"^\s+(?:enum class|data class|class)\s", body, re.M)
        own = body[: nested.start()] if nested else body
        yield KotlinModel(
            name=match.group(2),
            kind=match.group(1),
            json_names=frozenset(_JSON_NAME.findall(own)),
            properties=frozenset(_PROPERTY.findall(own)),
        )


#: Request bodies the generator turns into method parameters, not model classes.
_FORM_MEDIA = ("application/x-www-form-urlencoded", "multipart/form-data")


def form_body_schemas(doc: dict[str, Any]) -> set[str]:
    """Schemas used as form bodies (`/auth/token`'s `TokenForm`): openapi-generator makes no class of them."""
    names = set()
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            content = operation.get("requestBody", {}).get("content", {})
            for media in _FORM_MEDIA:
                ref = content.get(media, {}).get("schema", {}).get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    names.add(ref.rsplit("/", 1)[1])
    return names


def check_kotlin_models(doc: dict[str, Any], models: dict[str, KotlinModel]) -> list[str]:
    """What the generated models miss: a schema without its class, a property missing, an empty class."""
    failures = []
    form_bodies = form_body_schemas(doc)
    for schema_name, schema in doc.get("components", {}).get("schemas", {}).items():
        properties = schema.get("properties") or {}
        name = kotlin_class_name(schema_name)
        model = models.get(name)
        if model is None:
            if properties and schema_name not in form_bodies:
                failures.append(f"{schema_name}: no model class {name}")
            continue
        missing = sorted(set(properties) - model.json_names)
        if missing:
            failures.append(f"{name} ({schema_name}): no property for {', '.join(missing)}")
    for model in models.values():
        if model.kind != "enum class" and not model.properties:
            failures.append(f"{model.name}: a model class with no property")
    for name, required in KOTLIN_REQUIRED.items():
        model = models.get(name)
        if model is None:
            failures.append(f"{name}: no model class")
        elif missing_props := sorted(set(required) - model.properties):
            failures.append(f"{name}: no Kotlin property {', '.join(missing_props)}")
    return failures


def cmd_kotlin(args: argparse.Namespace) -> int:
    if shutil.which("java") is None:
        raise SystemExit("the Kotlin check needs Java 17+ (`java` on PATH)")
    if args.document:
        document = Path(args.document)
        doc: dict[str, Any] = json.loads(document.read_text(encoding="utf-8"))
    else:
        document, doc = DOCUMENT, write_document()
    jar = openapi_generator_jar()
    out = Path(args.out) if args.out else KOTLIN_OUT
    shutil.rmtree(out, ignore_errors=True)
    started = time.monotonic()
    _say(f"$ openapi-generator {OPENAPI_GENERATOR_VERSION} generate -g kotlin (models only) → {out}")
    generate = [
        "java", "-jar", str(jar), "generate", "-g", "kotlin", "-i", str(document), "-o", str(out),
        "--package-name", KOTLIN_PACKAGE, "--global-property", "models,modelDocs=false,modelTests=false",
    ]  # fmt: skip
    result = subprocess.run(generate, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        _say(result.stdout[-6000:] + result.stderr[-6000:])
        _say(f"FAILED: openapi-generator exited with {result.returncode}")
        return 1
    models = {m.name: m for m in kotlin_models(out)}
    _say(f"generated {len(models)} model files in {time.monotonic() - started:.1f} s")
    failures = check_kotlin_models(doc, models)
    for failure in failures:
        _say(f"  {failure}")
    for name, required in KOTLIN_REQUIRED.items():
        if name in models:
            _say(f"  {name}: {', '.join(sorted(set(required) & models[name].properties))}")
    _say(f"kotlin models: {'FAILED, ' + str(len(failures)) + ' problems' if failures else 'ok'}")
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/contract.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", help="document, Spectral, Redocly, openapi-typescript, tsc (the default)")
    check.add_argument("--ci", action="store_true", help="always reinstall the npm tools (npm ci)")
    check.set_defaults(func=cmd_check)
    document = sub.add_parser("document", help="write the merged OpenAPI document only")
    document.add_argument("--out", help=f"where (default {DOCUMENT.relative_to(ROOT)})")
    document.set_defaults(func=cmd_document)
    sub.add_parser("example", help="compile the TypeScript example to clients/typescript/dist/").set_defaults(
        func=cmd_example
    )
    kotlin = sub.add_parser("kotlin", help="generate Kotlin models and check they carry every property")
    kotlin.add_argument("--out", help=f"where (default {KOTLIN_OUT.relative_to(ROOT)})")
    kotlin.add_argument(
        "--document", help="check this document (e.g. a saved /openapi.json) instead of building one"
    )
    kotlin.set_defaults(func=cmd_kotlin)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or (arguments[0].startswith("-") and arguments[0] not in ("-h", "--help")):
        arguments.insert(0, "check")
    args = parser.parse_args(arguments)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
