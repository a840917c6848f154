"""`GET /code-lists` and `GET /code-lists/{name}`: one class per route; then problems in the caller's language
(Accept-Language: zh-CN) on the registry's own routes — 404, 409 with a domain code, 422 — with Content-Language."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shared.jwt import SigningKey
from tests.factories import COUNTY, VILLAGE, assert_problem, auth, household_payload, issue

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture
def cadre(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "cadre", COUNTY))


@pytest.fixture
def clerk(signing_key: SigningKey) -> dict[str, str]:
    return auth(issue(signing_key, "village_officer", VILLAGE))


def _codes(found: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {c["code"]: c for c in found["codes"]}


class TestListCodeLists:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/code-lists"), 401)

    async def test_valid(self, registry: httpx.AsyncClient, cadre: dict[str, str]) -> None:
        response = await registry.get("/code-lists", headers=cadre)
        assert response.status_code == 200, response.text
        lists = {found["name"]: found for found in response.json()["items"]}
        assert list(lists) == sorted(lists)
        causes = lists["poverty_cause"]
        assert (causes["zh_cn"], causes["en"]) == ("致贫原因", "Poverty cause")
        assert len(causes["codes"]) == 16
        assert _codes(causes)["illness"] == {"code": "illness", "zh_cn": "因病", "en": "Illness"}
        assert _codes(lists["role"])["cadre"]["zh_cn"] == "帮扶干部"
        assert _codes(lists["workflow_status"])["registered"]["zh_cn"] == "建档立卡"
        assert _codes(lists["measure"])["dibao_guarantee"]["zh_cn"] == "低保兜底"
        for found in lists.values():
            assert found["codes"] and all(c["zh_cn"] and c["en"] for c in found["codes"]), found["name"]
        assert response.headers["etag"].startswith('"') and "max-age" in response.headers["cache-control"]

    async def test_not_modified(self, registry: httpx.AsyncClient, cadre: dict[str, str]) -> None:
        tag = (await registry.get("/code-lists", headers=cadre)).headers["etag"]
        response = await registry.get("/code-lists", headers={**cadre, "If-None-Match": tag})
        assert response.status_code == 304 and response.content == b""
        assert response.headers["etag"] == tag
        changed = await registry.get("/code-lists", headers={**cadre, "If-None-Match": '"other"'})
        assert changed.status_code == 200


class TestGetCodeList:
    async def test_anonymous(self, registry: httpx.AsyncClient) -> None:
        assert_problem(await registry.get("/code-lists/poverty_cause"), 401)

    async def test_valid(self, registry: httpx.AsyncClient, cadre: dict[str, str]) -> None:
        response = await registry.get("/code-lists/monitoring_half", headers=cadre)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["name"] == "monitoring_half" and [c["code"] for c in body["codes"]] == ["H1", "H2"]
        assert body["codes"][0]["zh_cn"] == "上半年(6月监测)"

    async def test_unknown(self, registry: httpx.AsyncClient, cadre: dict[str, str]) -> None:
        assert_problem(await registry.get("/code-lists/no_such_list", headers=cadre), 404, "no_such_list")

    async def test_invalid(self, registry: httpx.AsyncClient, cadre: dict[str, str]) -> None:
        body = assert_problem(await registry.get("/code-lists/Not-A-Name", headers=cadre), 422)
        assert (body["errors"][0]["parameter"], body["errors"][0]["in"]) == ("name", "path")


@pytest.mark.usefixtures("seed_regions")
class TestLocalisedProblems:
    async def test_english_by_default(self, registry: httpx.AsyncClient, cadre: dict[str, str]) -> None:
        response = await registry.get("/code-lists/no_such_list", headers=cadre)
        body = assert_problem(response, 404)
        assert (body["title"], body["detail"]) == ("Not found", "code list no_such_list not found")
        assert response.headers["content-language"] == "en"
        assert "accept-language" in response.headers["vary"].lower()

    async def test_not_found_in_chinese(self, registry: httpx.AsyncClient, cadre: dict[str, str]) -> None:
        response = await registry.get("/code-lists/no_such_list", headers={**cadre, **ZH})
        body = assert_problem(response, 404)
        assert (body["title"], body["detail"]) == ("未找到", "未找到代码表 no_such_list。")
        assert response.headers["content-language"] == "zh-CN"

    async def test_quality_values(self, registry: httpx.AsyncClient, cadre: dict[str, str]) -> None:
        path = "/code-lists/no_such_list"
        chinese = await registry.get(path, headers={**cadre, "Accept-Language": "en;q=0.3, zh-Hans;q=0.8"})
        assert chinese.headers["content-language"] == "zh-CN" and chinese.json()["title"] == "未找到"
        english = await registry.get(path, headers={**cadre, "Accept-Language": "zh;q=0.2, en-US;q=0.9"})
        assert english.headers["content-language"] == "en" and english.json()["title"] == "Not found"
        bare = await registry.get(path, headers={**cadre, "Accept-Language": "zh"})
        assert bare.headers["content-language"] == "zh-CN"

    async def test_unauthorized_in_chinese(self, registry: httpx.AsyncClient) -> None:
        response = await registry.get("/code-lists", headers=ZH)
        body = assert_problem(response, 401)
        assert body["title"] == "需要身份认证" and response.headers["content-language"] == "zh-CN"
        assert response.headers["www-authenticate"] == 'Bearer realm="jingzhun"'

    async def test_validation_in_chinese(self, registry: httpx.AsyncClient, clerk: dict[str, str]) -> None:
        payload = household_payload(VILLAGE)
        payload["members"][0]["name"] = ""
        response = await registry.post("/households", json=payload, headers={**clerk, **ZH})
        body = assert_problem(response, 422)
        assert body["title"] == "输入校验失败"
        error = body["errors"][0]
        assert (error["pointer"], error["code"]) == ("/members/0/name", "string_too_short")
        assert error["message"] == "至少 1 个字符"
        assert body["detail"] == "/members/0/name：至少 1 个字符"  # noqa: RUF001
        assert response.headers["content-language"] == "zh-CN"

    async def test_domain_code_in_chinese(self, registry: httpx.AsyncClient, clerk: dict[str, str]) -> None:
        created = await registry.post("/households", json=household_payload(VILLAGE), headers=clerk)
        assert created.status_code == 201, created.text
        household = created.json()
        path = f"/households/{household['id']}/workflow/apply"
        applied = await registry.post(
            path, json={"data": {}}, headers={**clerk, "If-Match": f'"{household["version"]}"'}
        )
        assert applied.status_code == 200, applied.text
        again = {**clerk, **ZH, "If-Match": f'"{applied.json()["version"]}"'}
        response = await registry.post(path, json={"data": {}}, headers=again)
        body = assert_problem(response, 409)
        assert body["code"] == "wrong_state"
        assert body["title"] == "与业务规则或当前状态冲突"
        assert body["detail"] == "当前状态“农户申请”下不能申请。"
        assert response.headers["content-language"] == "zh-CN"
        english = await registry.post(path, json={"data": {}}, headers={**again, "Accept-Language": "en"})
        assert assert_problem(english, 409)["detail"] == "cannot apply from applied"
