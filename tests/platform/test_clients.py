"""The client proofs of the API contract (issue #10): clients generated from the merged OpenAPI document work.

- `TestTypeScriptExample`: `scripts/contract.py example` generates the types (openapi-typescript) and compiles
  clients/typescript/example.ts with `tsc --strict`; the platform is started as `make run` starts it
  (`ops.cli.start_platform`: migrations, the demo county, four uvicorn processes on free ports, the demo
  households) on this session's databases, and node runs the program against the gateway: it logs in as the
  demo cadre, lists households, reads a card, posts a help-record batch and reads two problems; and the
  gateway's `/openapi.json` is the very document the check builds offline.
- `TestKotlinModels`: `scripts/contract.py kotlin` generates the Kotlin models (openapi-generator) and checks that
  every model class carries every property of its schema.
- The other classes are pure: the offline document, the pinned tools, and the checks the script applies.

Skipped only when node (or, for Kotlin, java) is not installed; CI has both (`make test`).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ops.cli import SERVICES, start_platform
from tests.harness import free_socket

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "contract.py"
EXAMPLE_JS = ROOT / "clients" / "typescript" / "dist" / "example.js"


def _load_script() -> ModuleType:
    """scripts/contract.py as a module (scripts/ is no package: mypy checks it as the top-level `contract`)."""
    spec = importlib.util.spec_from_file_location("jingzhun_contract_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


contract = _load_script()

needs_node = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node 20+ and npm are not installed: the TypeScript client proof needs them (https://nodejs.org)",
)
needs_java = pytest.mark.skipif(
    shutil.which("java") is None, reason="java is not installed: the Kotlin generator needs Java 17+"
)


def _contract(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _free_ports() -> dict[str, int]:
    sockets = [free_socket() for _ in SERVICES]
    try:
        return {service: sock.getsockname()[1] for service, sock in zip(SERVICES, sockets, strict=True)}
    finally:
        for sock in sockets:
            sock.close()


@needs_node
class TestTypeScriptExample:
    def test_runs_against_the_platform(self, db_urls: dict[str, str]) -> None:
        built = _contract("example")
        assert built.returncode == 0, built.stdout + built.stderr
        with start_platform(db_urls, _free_ports()) as platform:
            assert platform.demo is not None, "the demo households were not loaded"
            run = subprocess.run(  # noqa: S603
                ["node", str(EXAMPLE_JS), platform.gateway],  # noqa: S607
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            with urllib.request.urlopen(f"{platform.gateway}/openapi.json", timeout=30) as answer:  # noqa: S310
                served = json.load(answer)
        # The document the check builds offline is the one the gateway serves.
        assert served == contract.build_document()
        out = run.stdout
        assert run.returncode == 0, out + run.stderr
        assert "logged in: cadre.wang" in out
        # The demo cadre is paired with three households of 旧州村, and sees only those.
        listed = re.search(r"^households listed: (\d+)", out, re.M)
        assert listed is not None and int(listed.group(1)) == len(platform.demo["paired"]) == 3, out
        card = re.search(
            r"^card read: (\S+) of 旧州村, status registered, version \d+, (\d+) members", out, re.M
        )
        assert card is not None, out
        assert int(card.group(2)) >= 1
        assert "batch answered: created=3 already_present=0 rejected=1" in out
        assert re.search(r"^  record 3 rejected: 422 ", out, re.M), out
        problems = re.findall(r"^problem read: (.*)$", out, re.M)
        assert len(problems) == 2, out
        # The empty batch: a validation problem naming the input by a JSON Pointer, at the path the client called.
        assert problems[0].startswith("status=422 code=- pointers=/records "), problems[0]
        assert "instance=/api/registry/help-records/batch " in problems[0]
        # A visit to a household that is not the cadre's: 404 like a missing one, with its stable code.
        assert problems[1].startswith("status=404 code=not_found "), problems[1]


@needs_java
class TestKotlinModels:
    def test_every_property(self, tmp_path: Path) -> None:
        result = _contract("kotlin", "--out", str(tmp_path / "kotlin"))
        assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
        assert "HelpRecordPublic: gpsLat, gpsLon, moneyYuan" in result.stdout
        assert "Problem: errors, status" in result.stdout
        assert "kotlin models: ok" in result.stdout


class TestDocument:
    def test_built_offline(self) -> None:
        doc = contract.build_document()
        assert "x-jingzhun-unavailable" not in doc, "a service's document was missing from the merge"
        paths = doc["paths"]
        assert "/auth/token" in paths
        assert "/api/registry/households" in paths
        assert "/api/registry/households/{household_id}" in paths
        assert "/api/registry/help-records/batch" in paths
        assert doc["components"]["securitySchemes"], "the gateway's own document (app.openapi()) is the base"


class TestPinnedTools:
    def test_majors_and_lock(self) -> None:
        package = json.loads((ROOT / "clients" / "package.json").read_text())
        lock = json.loads((ROOT / "clients" / "package-lock.json").read_text())
        majors = {
            "openapi-typescript": "7",
            "typescript": "5",
            "@stoplight/spectral-cli": "6",
            "@redocly/cli": "2",
        }
        for name, major in majors.items():
            pinned = package["devDependencies"][name]
            assert pinned.split(".")[0] == major, f"{name} {pinned}: issue #10 pins major {major}"
            assert lock["packages"][f"node_modules/{name}"]["version"] == pinned, (
                f"{name}: lock file out of date"
            )


class TestNoCasts:
    def test_example_has_none(self) -> None:
        assert contract.casts_in(contract.EXAMPLE.read_text(encoding="utf-8")) == []

    @pytest.mark.parametrize(
        "line",
        [
            "const page = body as Page;",
            "const x: any = 1;",
            "function f(a: Array<any>) {}",
            "const card = <HouseholdCard>value;",
            "const id = households[0]!.id;",
            "// @ts-ignore",
            "const y = z as unknown as Problem;",
            "console.log(`card read: ${card.data as Card}`);",
        ],
    )
    def test_found(self, line: str) -> None:
        assert len(contract.casts_in(line)) >= 1, line

    @pytest.mark.parametrize(
        "line",
        [
            "const roles = ['cadre', 'admin'] as const;",
            'console.log("no cast here as you see, any day");',
            "console.log(`read as ${problem.status}: any code`);",
            "/* the `as` cast\n   and `any` */ const a = 1;",
            "if (a !== b) { return; }",
            "const fields = (problem.errors ?? []).map((field) => field.pointer);",
            "// a comment may say any thing and name casts as such",
            "type Problem = components['schemas']['Problem'];",
        ],
    )
    def test_not_found(self, line: str) -> None:
        assert contract.casts_in(line) == [], line


class TestKotlinCheck:
    DOC = {  # noqa: RUF012 - read only
        "paths": {
            "/auth/token": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {"$ref": "#/components/schemas/TokenForm"}
                            }
                        }
                    }
                }
            }
        },
        "components": {
            "schemas": {
                "TokenForm": {"type": "object", "properties": {"username": {"type": "string"}}},
                "HelpRecordPublic": {
                    "type": "object",
                    "properties": {"money_yuan": {"type": "string"}, "gps_lat": {}, "gps_lon": {}},
                },
                "Problem": {"type": "object", "properties": {"status": {}, "errors": {}}},
                "Page_HelpRecordPublic_": {"type": "object", "properties": {"items": {}, "next_cursor": {}}},
            }
        },
    }

    @staticmethod
    def _model(name: str, **properties: str) -> Any:
        return contract.KotlinModel(name, "data class", frozenset(properties.values()), frozenset(properties))

    def _models(self) -> dict[str, Any]:
        return {
            m.name: m
            for m in (
                self._model("HelpRecordPublic", moneyYuan="money_yuan", gpsLat="gps_lat", gpsLon="gps_lon"),
                self._model("Problem", status="status", errors="errors"),
                self._model("PageHelpRecordPublic", items="items", nextCursor="next_cursor"),
            )
        }

    def test_complete(self) -> None:
        # TokenForm is a form body: the generator makes method parameters of it, not a class.
        assert contract.check_kotlin_models(self.DOC, self._models()) == []

    def test_missing_property(self) -> None:
        models = self._models()
        models["HelpRecordPublic"] = self._model("HelpRecordPublic", moneyYuan="money_yuan")
        failures = contract.check_kotlin_models(self.DOC, models)
        assert "HelpRecordPublic (HelpRecordPublic): no property for gps_lat, gps_lon" in failures
        assert "HelpRecordPublic: no Kotlin property gpsLat, gpsLon" in failures

    def test_empty_class(self) -> None:
        models = {
            **self._models(),
            "MoneyYuan": contract.KotlinModel("MoneyYuan", "class", frozenset(), frozenset()),
        }
        assert contract.check_kotlin_models(self.DOC, models) == ["MoneyYuan: a model class with no property"]

    def test_parsed_from_generated_source(self, tmp_path: Path) -> None:
        (tmp_path / "Problem.kt").write_text(
            "package cn.jingzhun.client.models\n\nimport com.squareup.moshi.Json\n\n"
            "data class Problem (\n"
            '    @Json(name = "status")\n    val status: kotlin.Int,\n'
            '    @Json(name = "errors")\n    val errors: kotlin.collections.List<FieldProblem>? = null,\n'
            '    @Json(name = "in")\n    val `in`: Problem.`In`? = null\n'
            ") {\n    enum class `In`(val value: kotlin.String) {\n"
            '        @Json(name = "query")\n        query("query");\n    }\n}\n'
        )
        (tmp_path / "IncomeMax.kt").write_text("package x\n\nclass IncomeMax (\n\n) {\n\n}\n")
        models = {m.name: m for m in contract.kotlin_models(tmp_path)}
        assert models["Problem"].properties == {"status", "errors", "in"}
        assert models["Problem"].json_names == {"status", "errors", "in"}
        assert models["IncomeMax"].properties == frozenset()

    def test_class_names(self) -> None:
        assert contract.kotlin_class_name("Page_HouseholdListItem_") == "PageHouseholdListItem"
        assert contract.kotlin_class_name("HelpRecordPublic") == "HelpRecordPublic"
