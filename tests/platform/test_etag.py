"""shared/etag.py: a record's version is its ETag, and a write names the version it read (If-Match).

Missing If-Match is 428, a malformed one 412; a weak tag is accepted (a proxy may weaken it); a write based
on an older version gets the 412 of `stale()`, which carries `current_version` and the current ETag so the
client can re-read or retry.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Response
from pydantic import BaseModel

from shared.etag import IfMatchDep, IfMatchHeader, etag, parse_if_match, stale
from shared.problems import PreconditionFailed, PreconditionRequired, install_problem_handlers
from shared.routing import APIRouter
from tests.factories import assert_problem

CURRENT = 7


class TestEtag:
    @pytest.mark.parametrize(("version", "tag"), [(1, '"1"'), (42, '"42"'), (0, '"0"')])
    def test_a_strong_quoted_version(self, version: int, tag: str) -> None:
        assert etag(version) == tag

    @pytest.mark.parametrize("version", [1, 9, 123456789])
    def test_round_trip(self, version: int) -> None:
        assert parse_if_match(etag(version)) == version


class TestParseIfMatch:
    @pytest.mark.parametrize("value", [None, "", "   "])
    def test_missing_is_428(self, value: str | None) -> None:
        with pytest.raises(PreconditionRequired) as caught:
            parse_if_match(value, what="household")
        assert caught.value.status == 428
        assert "household" in caught.value.detail

    @pytest.mark.parametrize(
        ("value", "version"),
        [('"3"', 3), ('W/"3"', 3), (' "3" ', 3), ("3", 3), ('"000012"', 12)],
    )
    def test_accepted_forms(self, value: str, version: int) -> None:
        assert parse_if_match(value) == version

    @pytest.mark.parametrize(
        "value", ['"abc"', "*", '"-1"', '"1.5"', '"1234567890"', '"3", "4"', 'W/""', '"½"']
    )
    def test_malformed_is_412(self, value: str) -> None:
        with pytest.raises(PreconditionFailed) as caught:
            parse_if_match(value, what="pairing")
        assert caught.value.status == 412
        assert "pairing" in caught.value.detail

    @pytest.mark.parametrize("value", ['"\u00b3"', '"\u00b2\u00b9"', '"\u0663"'])
    def test_non_ascii_digits_are_412(self, value: str) -> None:
        with pytest.raises(PreconditionFailed):
            parse_if_match(value)


class TestStale:
    def test_carries_the_current_version_and_etag(self) -> None:
        error = stale(CURRENT, what="household", household_id="h-1")
        assert isinstance(error, PreconditionFailed) and error.status == 412
        assert error.headers == {"ETag": '"7"'}
        assert error.extensions == {"current_version": CURRENT, "household_id": "h-1"}
        assert "household" in error.detail and "7" in error.detail


# -- over HTTP -------------------------------------------------------------------------------------------------
class Versioned(BaseModel):
    version: int


router = APIRouter()


@router.put("/records/1", response_model=Versioned)
async def write(version: IfMatchDep, response: Response) -> Versioned:
    if version != CURRENT:
        raise stale(CURRENT)
    response.headers["ETag"] = etag(CURRENT + 1)
    return Versioned(version=CURRENT + 1)


@router.put("/households/1", response_model=Versioned)
async def write_named(if_match: IfMatchHeader = None) -> Versioned:
    return Versioned(version=parse_if_match(if_match, what="household"))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


class TestOverHttp:
    async def test_missing_if_match_is_428(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.put("/records/1"), 428)
        assert "If-Match" in body["detail"]

    async def test_malformed_if_match_is_412(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.put("/records/1", headers={"If-Match": "*"}), 412)

    async def test_latin1_superscript_digit_is_412_not_500(self, client: httpx.AsyncClient) -> None:
        assert_problem(await client.put("/records/1", headers=[(b"If-Match", b'"\xb3"')]), 412)

    async def test_stale_version_is_412_with_current_version_and_etag(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.put("/records/1", headers={"If-Match": '"6"'})
        body = assert_problem(response, 412)
        assert body["current_version"] == CURRENT
        assert response.headers["etag"] == '"7"'

    @pytest.mark.parametrize("tag", ['"7"', 'W/"7"'])
    async def test_current_version_writes_and_answers_the_new_etag(
        self, client: httpx.AsyncClient, tag: str
    ) -> None:
        response = await client.put("/records/1", headers={"If-Match": tag})
        assert response.status_code == 200, response.text
        assert response.json() == {"version": 8}
        assert response.headers["etag"] == '"8"'

    async def test_the_raw_header_names_the_record(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.put("/households/1"), 428)
        assert "household" in body["detail"]

    def test_the_header_is_documented(self) -> None:
        app = FastAPI()
        app.include_router(router)
        parameters = app.openapi()["paths"]["/records/1"]["put"]["parameters"]
        assert [(p["name"], p["in"]) for p in parameters] == [("If-Match", "header")]
