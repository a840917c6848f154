"""Localised problems (shared/i18n.py and the zh-CN catalogue): negotiation, coverage and translation (pure)."""

from __future__ import annotations

import ast
import importlib
import itertools
import string
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import problems
from shared.errors import DomainError
from shared.i18n import (
    LOCALE_DIR,
    ProblemLocaliser,
    default_localiser,
    parse_accept_language,
    template_holes,
)
from shared.jwt import SigningKey
from shared.labels import lookup
from tests.factories import COUNTY, assert_problem, auth, issue

ROOT = Path(__file__).resolve().parents[2]
TYPE = "https://jingzhun.example/problems/"
QUOTA_EXCEEDED_ZH = "再登记 5 人将超过村规模指标（已用 10/12）；县扶贫办可填写理由记录超规模登记。"  # noqa: RUF001
VALIDATION_ZH = "/name：至少 1 个字符；查询参数 limit：必须小于或等于 500；请求体：Something new"  # noqa: RUF001


@pytest.fixture(scope="module")
def localiser() -> ProblemLocaliser:
    # The code lists that templates name ({status:workflow_status}) are filed by the registry's domain modules.
    importlib.import_module("services.registry.code_lists.service")
    return ProblemLocaliser.from_directory(LOCALE_DIR)


def _codes_raised(top: Path) -> dict[str, list[tuple[str, set[str]]]]:
    """Every constant `code` the modules under `top` give a domain error (`Invalid("code", …)`, a subclass's
    `super().__init__("code", …)`, or a helper called with the error class and then the code), with where and
    the names of the details each raise passes."""
    found: dict[str, list[tuple[str, set[str]]]] = {}
    for path in sorted(top.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))

        def is_error(node: ast.AST) -> bool:
            name = (
                node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else ""
            )
            obj = getattr(module, name, None)  # noqa: B023 - used within the iteration
            return isinstance(obj, type) and issubclass(obj, DomainError)

        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            is_super = (
                isinstance(func, ast.Attribute)
                and func.attr == "__init__"
                and isinstance(func.value, ast.Call)
                and isinstance(func.value.func, ast.Name)
                and func.value.func.id == "super"
            )
            args = list(node.args)
            if is_error(func) or is_super:
                candidates = args[:1]
            else:  # _need(condition, Refused, "code", message)
                candidates = [b for a, b in itertools.pairwise(args) if is_error(a)]
            for arg in candidates:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    details = {k.arg for k in node.keywords if k.arg is not None}
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(arg.value, []).append((where, details))
    return found


class TestNegotiation:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("zh-CN", "zh_CN"),
            ("zh", "zh_CN"),
            ("zh-Hans", "zh_CN"),
            ("zh-Hans-CN", "zh_CN"),
            ("zh-cn", "zh_CN"),
            ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
            ("fr;q=0.9, zh-CN;q=0.8", "zh_CN"),
            ("en;q=0.5, zh;q=0.6", "zh_CN"),
            ("xx-YY, zh", "zh_CN"),
            ("en-US,zh;q=0.9", "en"),
            ("zh;q=0, en", "en"),
            ("zh;q=0", "en"),
            ("*", "en"),
            ("*;q=0.9, zh;q=0.1", "en"),
            ("de", "en"),
            ("", "en"),
            (None, "en"),
            ("zh;q=abc", "en"),
            ("???", "en"),
        ],
    )
    def test_quality_values_choose(
        self, localiser: ProblemLocaliser, header: str | None, expected: str
    ) -> None:
        assert localiser.negotiate(header) == expected

    def test_ranges_are_ordered_by_quality_then_position(self) -> None:
        assert parse_accept_language("en;q=0.5, zh, fr;q=0.5, de;q=0") == ["zh", "en", "fr"]

    def test_the_process_reads_the_catalogues_once(self) -> None:
        assert default_localiser() is default_localiser()
        assert "zh_CN" in default_localiser().catalogues


class TestCatalogue:
    def test_every_registry_domain_code_has_a_zh_cn_message(self, localiser: ProblemLocaliser) -> None:
        codes = _codes_raised(ROOT / "services" / "registry")
        assert len(codes) > 100  # the scan finds the codes (a broken scan must not pass silently)
        missing = {code: at for code, at in codes.items() if code not in localiser.catalogues["zh_CN"].codes}
        assert not missing, f"codes without a zh-CN message in shared/locale/zh_CN: {missing}"

    def test_code_messages_fill_only_details_every_raise_passes(self, localiser: ProblemLocaliser) -> None:
        codes = _codes_raised(ROOT / "services" / "registry") | _codes_raised(ROOT / "gateway")
        for code, raises in codes.items():
            holes = set(template_holes(localiser.catalogues["zh_CN"].codes[code]))
            for where, details in raises:
                assert holes <= details, f"{code} at {where} passes {details}, the message needs {holes}"

    def test_every_gateway_domain_code_has_a_zh_cn_message(self, localiser: ProblemLocaliser) -> None:
        codes = _codes_raised(ROOT / "gateway")
        assert not set(codes) - set(localiser.catalogues["zh_CN"].codes)

    @pytest.mark.parametrize(
        "status", [400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 428, 429, 500, 502, 504]
    )
    def test_every_framework_problem_has_a_zh_cn_title(
        self, localiser: ProblemLocaliser, status: int
    ) -> None:
        slugs = {cls.slug for cls in _app_errors() if cls.status == status}
        slugs |= {slug for code, (slug, _title) in problems._STATUS_SLUGS.items() if code == status}
        slugs |= {slug for code, slug, _title in problems._DOMAIN_STATUS.values() if code == status}
        assert slugs, status
        for slug in slugs:
            assert localiser.catalogues["zh_CN"].titles.get(slug), f"{status} {slug}"

    def test_templates_are_well_formed(self, localiser: ProblemLocaliser) -> None:
        catalogue = localiser.catalogues["zh_CN"]
        tables: list[dict[str, str]] = [
            dict(catalogue.codes),
            dict(catalogue.validation),
            {english: zh for (_, zh), english in zip(catalogue.details, _detail_ids(), strict=True)},
        ]
        for table in tables:
            for key, template in table.items():
                for _literal, name, spec, _conversion in string.Formatter().parse(template):
                    if name is None:
                        continue
                    assert name.isidentifier(), (key, template)
                    assert not spec or spec == "word" or lookup(spec) is not None, (key, spec)

    def test_detail_templates_fill_only_what_they_capture_or_carry(self, localiser: ProblemLocaliser) -> None:
        for pattern, template in localiser.catalogues["zh_CN"].details:
            assert set(template_holes(template)) <= set(pattern.groupindex), (pattern.pattern, template)


def _detail_ids() -> list[str]:
    from babel.messages.pofile import read_po

    with (LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "problems.po").open("rb") as fileobj:
        catalog = read_po(fileobj)
    return [str(m.id) for m in catalog if m.context == "detail" and m.string]


def _app_errors() -> list[type[problems.AppError]]:
    return [problems.AppError, *problems.AppError.__subclasses__()]


def _problem(slug: str, title: str, detail: str, **members: Any) -> dict[str, Any]:
    return {"type": TYPE + slug, "title": title, "status": 400, "detail": detail, **members}


class TestTranslation:
    def test_english_is_the_default_and_unchanged(self, localiser: ProblemLocaliser) -> None:
        body = _problem("not-found", "Not found", "household 42 not found")
        assert localiser.localise(body, None) == (body, "en")
        assert localiser.localise(body, "en-GB,en;q=0.9") == (body, "en")

    def test_a_domain_code_is_translated_with_its_details(self, localiser: ProblemLocaliser) -> None:
        body = _problem(
            "conflict",
            "Refused by a rule",
            "registering 5 more people would exceed the village quota (10 of 12 used); …",
            code="quota_exceeded",
            quota=12,
            used=10,
            household_size=5,
        )
        out, language = localiser.localise(body, "zh-CN")
        assert language == "zh-CN"
        assert out["title"] == "与业务规则或当前状态冲突"
        assert out["detail"] == QUOTA_EXCEEDED_ZH
        assert out["code"] == "quota_exceeded" and out["quota"] == 12  # members stay as they were

    def test_the_specific_sentence_wins_and_labels_come_from_the_code_lists(
        self, localiser: ProblemLocaliser
    ) -> None:
        body = _problem("conflict", "Refused by a rule", "cannot apply from applied", code="wrong_state")
        out, _ = localiser.localise(body, "zh")
        assert out["detail"] == "当前状态“农户申请”下不能申请。"

    def test_an_unknown_sentence_of_a_known_code_gets_the_generic_message(
        self, localiser: ProblemLocaliser
    ) -> None:
        body = _problem("conflict", "Refused by a rule", "some new sentence", code="wrong_state")
        assert localiser.localise(body, "zh")[0]["detail"] == "该户当前状态不允许此步骤。"

    def test_a_template_missing_a_value_falls_back(self, localiser: ProblemLocaliser) -> None:
        body = _problem("conflict", "Conflict", "the sentence", code="quota_exceeded")  # no details
        out, _ = localiser.localise(body, "zh-CN")
        assert out["detail"] == "the sentence" and out["title"] == "与业务规则或当前状态冲突"

    def test_an_unknown_code_and_sentence_stay_english(self, localiser: ProblemLocaliser) -> None:
        body = _problem("no-such-slug", "Some title", "some detail", code="no_such_code")
        out, language = localiser.localise(body, "zh-CN")
        assert (out["title"], out["detail"], language) == ("Some title", "some detail", "zh-CN")

    def test_a_detail_without_a_code_is_matched_by_its_sentence(self, localiser: ProblemLocaliser) -> None:
        body = _problem("not-found", "Not found", "help record 0b7c-11 not found")
        assert localiser.localise(body, "zh-CN")[0]["detail"] == "未找到帮扶记录 0b7c-11。"
        body = _problem("forbidden", "Forbidden", "role 'cadre' may not do this")
        assert localiser.localise(body, "zh-CN")[0]["detail"] == "角色“帮扶干部”无权执行此操作。"

    def test_a_detail_repeating_the_title_becomes_the_title(self, localiser: ProblemLocaliser) -> None:
        body = _problem("unauthorized", "Authentication required", "Authentication required")
        out, _ = localiser.localise(body, "zh-CN")
        assert out["title"] == out["detail"] == "需要身份认证"

    def test_validation_errors_by_pydantic_type(self, localiser: ProblemLocaliser) -> None:
        body = _problem(
            "validation-error",
            "Validation failed",
            "/name: String should have at least 1 character; query parameter limit: …",
            errors=[
                {
                    "pointer": "/name",
                    "message": "String should have at least 1 character",
                    "code": "string_too_short",
                },
                {
                    "parameter": "limit",
                    "in": "query",
                    "message": "Input should be …",
                    "code": "less_than_equal",
                },
                {"pointer": "", "message": "Something new", "code": "brand_new_type"},
            ],
        )
        out, _ = localiser.localise(body, "zh-CN", contexts=[{"min_length": 1}, {"le": 500}, None])
        assert out["title"] == "输入校验失败"
        assert [e["message"] for e in out["errors"]] == [
            "至少 1 个字符",
            "必须小于或等于 500",
            "Something new",
        ]
        assert out["errors"][1]["parameter"] == "limit" and out["errors"][1]["in"] == "query"
        assert out["detail"] == VALIDATION_ZH


class TestGatewayProblems:
    """The gateway's own problems (401, 404, 502) localise like the services' (same handlers, same catalogue)."""

    async def test_unauthorized(self, gateway: httpx.AsyncClient) -> None:
        response = await gateway.get("/users", headers={"Accept-Language": "zh-CN"})
        body = assert_problem(response, 401)
        assert body["title"] == "需要身份认证" and response.headers["content-language"] == "zh-CN"

    async def test_unreachable_service(self, gateway: httpx.AsyncClient, signing_key: SigningKey) -> None:
        headers = auth(issue(signing_key, "county_admin", COUNTY), **{"Accept-Language": "zh"})
        response = await gateway.get("/api/registry/regions", headers=headers)
        body = assert_problem(response, 502)
        assert (body["title"], body["detail"]) == ("上游服务不可用", "无法连接到服务。")
        assert response.headers["content-language"] == "zh-CN"

    async def test_english_by_default(self, gateway: httpx.AsyncClient, signing_key: SigningKey) -> None:
        response = await gateway.get(
            "/api/nosuch/x", headers=auth(issue(signing_key, "county_admin", COUNTY))
        )
        body = assert_problem(response, 404)
        assert body["detail"] == "no service named 'nosuch'" and response.headers["content-language"] == "en"
        zh = await gateway.get(
            "/api/nosuch/x",
            headers=auth(issue(signing_key, "county_admin", COUNTY), **{"Accept-Language": "zh"}),
        )
        assert assert_problem(zh, 404)["detail"] == "没有名为“nosuch”的服务。"
