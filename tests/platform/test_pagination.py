"""shared/pagination.py: `Page[T]` and the one keyset cursor codec.

Every value type round-trips; anything that is not a cursor of the ordering asked for (malformed, another
ordering, the wrong number of values, a value that does not fit its type or its column) is a 400 problem
with `code: cursor_invalid`, never a 500 and never a query.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.pagination import MAX_CURSOR_LENGTH, CursorValue, Page, decode_cursor, encode_cursor
from shared.problems import BadRequest, install_problem_handlers
from shared.routing import APIRouter
from tests.factories import assert_problem

INT64 = 2**63 - 1


def raw(*parts: Any) -> str:
    """A cursor made by hand, the way a client could forge one."""
    text = json.dumps(list(parts), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def assert_invalid(cursor: str, kind: str, types: list[type[Any]]) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        decode_cursor(cursor, kind, types)
    error = caught.value
    assert error.status == 400
    assert error.extensions["code"] == "cursor_invalid"
    assert error.detail.startswith("invalid cursor")
    return error


class TestRoundTrip:
    @pytest.mark.parametrize(
        ("value", "kind"),
        [
            ("旧州村 黄志强", str),
            ("", str),
            (0, int),
            (-INT64, int),
            (INT64, int),
            (Decimal("12345.67"), Decimal),
            (Decimal("-0.01"), Decimal),
            (Decimal("1E+3"), Decimal),
            (datetime(2016, 7, 1, 2, 3, 4, 567890, tzinfo=UTC), datetime),
            (datetime(2016, 7, 1, 10, 3, 4, tzinfo=timezone(timedelta(hours=8))), datetime),
            (date(2014, 2, 28), date),
            (uuid.UUID("8c3a1d52-7a0e-4b7b-9a55-0c4c4f3b2a11"), uuid.UUID),
            (None, str),
            (None, datetime),
        ],
    )
    def test_each_type(self, value: CursorValue, kind: type[Any]) -> None:
        cursor = encode_cursor("by_thing", value)
        (back,) = decode_cursor(cursor, "by_thing", [kind])
        assert back == value
        assert type(back) is type(value)

    def test_a_compound_key(self) -> None:
        key: tuple[CursorValue, ...] = (
            "451025100201",
            Decimal("2300.50"),
            datetime(2016, 1, 1, tzinfo=UTC),
            uuid.uuid4(),
        )
        cursor = encode_cursor("by_income", *key)
        assert decode_cursor(cursor, "by_income", [str, Decimal, datetime, uuid.UUID]) == key

    def test_the_cursor_is_url_safe_and_unpadded(self) -> None:
        for n in range(6):
            cursor = encode_cursor("k", "x" * n, n)
            assert "=" not in cursor
            assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

    def test_padding_a_client_adds_back_is_accepted(self) -> None:
        cursor = encode_cursor("k", "abcd")
        padded = cursor + "=" * (-len(cursor) % 4)
        assert decode_cursor(padded, "k", [str]) == ("abcd",)

    def test_a_cursor_with_no_values(self) -> None:
        assert decode_cursor(encode_cursor("k"), "k", []) == ()

    def test_naive_times_are_refused_when_encoding(self) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            encode_cursor("k", datetime(2016, 1, 1))


class TestMalformed:
    @pytest.mark.parametrize(
        "cursor",
        [
            "",
            "!!!!",
            "a",  # not a whole base64 quantum
            b64("not json"),
            b64('{"kind": "k"}'),
            b64("[]"),
            b64('"k"'),
            b64("[1, 2"),
            "\u00e9\u00e9\u00e9\u00e9",
            "x" * (MAX_CURSOR_LENGTH + 1),
        ],
    )
    def test_not_a_cursor(self, cursor: str) -> None:
        assert_invalid(cursor, "k", [str])

    def test_another_ordering(self) -> None:
        error = assert_invalid(encode_cursor("by_village", "451025100201"), "by_income", [str])
        assert "another ordering" in error.detail

    @pytest.mark.parametrize("values", [(), ("a", "b")])
    def test_wrong_arity(self, values: tuple[str, ...]) -> None:
        error = assert_invalid(encode_cursor("k", *values), "k", [str])
        assert "number of values" in error.detail

    def test_too_long(self) -> None:
        cursor = encode_cursor("k", "x" * MAX_CURSOR_LENGTH)
        assert len(cursor) > MAX_CURSOR_LENGTH
        assert "too long" in assert_invalid(cursor, "k", [str]).detail


class TestValuesThatDoNotFit:
    @pytest.mark.parametrize(
        "value",
        [
            1e20,  # JSON `1E+20`: a float, not an integer
            INT64 + 1,
            -INT64 - 1,
            10**30,
            True,
            "7",
            1.0,
        ],
    )
    def test_integers(self, value: Any) -> None:
        assert_invalid(raw("k", value), "k", [int])

    def test_integer_written_as_1e20(self) -> None:
        assert_invalid(b64('["k",1E+20]'), "k", [int])

    @pytest.mark.parametrize(
        "value",
        ["NaN", "sNaN", "Infinity", "-Infinity", "1E+20", "1000000000000000", "12,5", "", 12.5, 12],
    )
    def test_decimals(self, value: Any) -> None:
        assert_invalid(raw("k", value), "k", [Decimal])

    def test_decimal_just_inside_the_limit(self) -> None:
        """Decimals are money: the limit is numeric(14, 2)'s, beyond which PostgreSQL overflows (issue #14)."""
        assert decode_cursor(raw("k", "999999999999.99"), "k", [Decimal]) == (Decimal("999999999999.99"),)
        for outside in ("1000000000000.00", "999999999999999.99", "0.001", "1E-1000000"):
            assert_invalid(raw("k", outside), "k", [Decimal])

    @pytest.mark.parametrize("value", ["2016-01-01T00:00:00", "2016-01-01", "yesterday", 1451606400])
    def test_times(self, value: Any) -> None:
        assert_invalid(raw("k", value), "k", [datetime])

    @pytest.mark.parametrize("value", ["2016-02-30", "2016-13-01", "20160101x", 20160101])
    def test_dates(self, value: Any) -> None:
        assert_invalid(raw("k", value), "k", [date])

    @pytest.mark.parametrize("value", ["not-a-uuid", "", 12])
    def test_uuids(self, value: Any) -> None:
        assert_invalid(raw("k", value), "k", [uuid.UUID])

    @pytest.mark.parametrize("value", ["a\x00b", "\x00", 12, ["a"], {"a": 1}])
    def test_strings(self, value: Any) -> None:
        assert_invalid(raw("k", value), "k", [str])


class TestPage:
    def test_last_page_has_no_cursor(self) -> None:
        page = Page[int](items=[1, 2])
        assert page.model_dump() == {"items": [1, 2], "next_cursor": None}

    def test_schema_names_the_item_type(self) -> None:
        schema = Page[str].model_json_schema()
        assert schema["properties"]["items"]["items"] == {"type": "string"}
        assert "next_cursor" in schema["properties"]


# -- over HTTP: the problem a client sees ----------------------------------------------------------------------
router = APIRouter()


@router.get("/things", response_model=Page[int])
async def things(cursor: str | None = None) -> Page[int]:
    after = 0
    if cursor is not None:
        (last,) = decode_cursor(cursor, "by_id", [int])
        assert isinstance(last, int)
        after = last
    items = list(range(after + 1, after + 3))
    return Page[int](items=items, next_cursor=encode_cursor("by_id", items[-1]))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        yield c


class TestOverHttp:
    async def test_a_cursor_continues_the_list(self, client: httpx.AsyncClient) -> None:
        first = (await client.get("/things")).json()
        assert first["items"] == [1, 2]
        second = (await client.get("/things", params={"cursor": first["next_cursor"]})).json()
        assert second["items"] == [3, 4]

    @pytest.mark.parametrize(
        "cursor",
        [
            "garbage",
            raw("by_id", 1e20),
            raw("by_name", 1),
            raw("by_id", 1, 2),
            raw("by_id", "a\x00"),
            raw("by_id", INT64 + 1),
        ],
    )
    async def test_invalid_cursor_is_a_400_problem(self, client: httpx.AsyncClient, cursor: str) -> None:
        response = await client.get("/things", params={"cursor": cursor})
        body = assert_problem(response, 400)
        assert body["code"] == "cursor_invalid"
        assert body["instance"] == "/things"
