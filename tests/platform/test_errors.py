"""shared/errors.py and the problem handlers of shared/problems.py: a domain rule says no, a client reads why.

Each kind of domain error has its HTTP status (Invalid 422, Refused 409, NotAllowed 403, Missing 404,
TooLarge 413); its stable `code` and its details become members of the RFC 9457 problem, beside `type`,
`title`, `status`, `detail` and `instance`. Domain modules raise these without knowing HTTP (shared/errors.py is pure).
"""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import shared.errors
from shared.errors import DomainError, Invalid, Missing, NotAllowed, Refused, TooLarge
from shared.problems import PROBLEM_JSON, AppError, Forbidden, NotFound, from_domain, install_problem_handlers
from shared.routing import APIRouter
from tests.factories import assert_problem

KINDS: list[tuple[type[DomainError], int, str]] = [
    (Invalid, 422, "unprocessable"),
    (Refused, 409, "conflict"),
    (NotAllowed, 403, "forbidden"),
    (Missing, 404, "not-found"),
    (TooLarge, 413, "payload-too-large"),
    (DomainError, 409, "conflict"),  # the base class is a refusal
]


class QuotaExceeded(Refused):
    """A feature's own error, as a domain module declares them (a stable code per rule)."""

    def __init__(self, village: str, quota: int) -> None:
        super().__init__("quota_exceeded", f"规模控制: village {village} is at its quota", quota=quota)


class TestDomainError:
    @pytest.mark.parametrize(("cls", "status", "slug"), KINDS)
    def test_kind_gives_the_status(self, cls: type[DomainError], status: int, slug: str) -> None:
        error = from_domain(cls("some_rule", "the rule says no", limit=3, names=["a"]))
        assert isinstance(error, AppError)
        assert (error.status, error.slug) == (status, slug)
        assert error.detail == "the rule says no"
        assert error.extensions == {"code": "some_rule", "limit": 3, "names": ["a"]}
        assert error.keeps_writes is False

    def test_carries_code_message_and_details(self) -> None:
        error = QuotaExceeded("451025100201", 12)
        assert isinstance(error, Refused) and isinstance(error, DomainError)
        assert error.code == "quota_exceeded"
        assert str(error) == error.message
        assert error.details == {"quota": 12}

    def test_from_domain_does_not_change_the_problem_classes(self) -> None:
        from_domain(Missing("gone", "gone"))
        from_domain(NotAllowed("nope", "nope"))
        assert (NotFound.status, NotFound.slug) == (404, "not-found")
        assert (Forbidden.status, Forbidden.slug) == (403, "forbidden")
        assert (AppError.status, AppError.title) == (400, "Bad request")

    def test_module_is_pure(self) -> None:
        tree = ast.parse(Path(shared.errors.__file__).read_text(encoding="utf-8"))
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert imported <= {"__future__", "typing"}


# -- over HTTP -------------------------------------------------------------------------------------------------
router = APIRouter()


@router.post("/raise/{kind}")
async def raise_kind(kind: str) -> None:
    cls = {c.__name__: c for c, _, _ in KINDS}[kind]
    raise cls("some_rule", "the rule says no", limit=3, village="451025100201")


@router.post("/quota")
async def quota() -> None:
    raise QuotaExceeded("451025100201", 12)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


class TestProblems:
    @pytest.mark.parametrize(("cls", "status", "slug"), KINDS)
    async def test_each_kind_is_its_problem(
        self, client: httpx.AsyncClient, cls: type[DomainError], status: int, slug: str
    ) -> None:
        response = await client.post(f"/raise/{cls.__name__}")
        body = assert_problem(response, status, "the rule says no")
        assert response.headers["content-type"] == PROBLEM_JSON
        assert body == {
            "type": f"https://jingzhun.example/problems/{slug}",
            "title": body["title"],
            "status": status,
            "detail": "the rule says no",
            "instance": f"/raise/{cls.__name__}",
            "code": "some_rule",
            "limit": 3,
            "village": "451025100201",
        }

    async def test_a_feature_error_keeps_its_code(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.post("/quota"), 409)
        assert body["code"] == "quota_exceeded" and body["quota"] == 12
        assert "规模控制" in body["detail"]

    async def test_details_cannot_overwrite_the_standard_members(self) -> None:
        app = FastAPI()
        install_problem_handlers(app)

        @app.post("/clash")
        async def clash() -> None:
            raise Refused("clash", "a detail named like a member", status=1, instance="elsewhere")

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            body = assert_problem(await c.post("/clash"), 409)
        assert body["instance"] == "/clash"
