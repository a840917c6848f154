"""Fuzzing the edge (issue #14, item 2): query parameters, cursors and paths a hostile or broken client sends.

Hypothesis draws query strings for the registry's list routes and the gateway's audit route from strategies aimed
at what once became 500s: NUL and other control characters, times whose UTC value leaves years 1-9999 (and
near-misses), numbers beyond any column (`1E+20`, `Infinity`, `NaN`, `1E-1000000`), forged cursors (any JSON
array, bad base64), huge and negative integers, unknown parameters. The only property: never a 5xx, and every
refusal is problem+json. The time budget is fixed by `max_examples` (about 10 s in all on 2 cores), so it runs in
CI with the rest of the suite; `HYPOTHESIS_PROFILE=fuzz` draws ten times as many.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.jwt import SigningKey
from tests.factories import COUNTY, VILLAGE, Headers, headers_for

pytestmark = pytest.mark.usefixtures("seed_regions")

_EXAMPLES = int(os.environ.get("JINGZHUN_FUZZ_EXAMPLES", "0")) or (
    400 if os.environ.get("HYPOTHESIS_PROFILE") == "fuzz" else 40
)
FUZZ = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("HYPOTHESIS_PROFILE") != "fuzz",  # CI: the same examples every run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

#: Times near and beyond the edges of what PostgreSQL and Python hold, in the formats clients get wrong.
TIMES = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-12:00",
        "9999-12-31T23:59:59Z",
        "2026-02-30T00:00:00Z",
        "2026-12-04T25:00:00Z",
        "2026-12-04T12:00:00",
        "2026-12-04",
        "-2026-12-04T00:00:00Z",
        "+12026-12-04T00:00:00Z",
        "2026-12-04T12:00:00+24:00",
        "1970-01-01T00:00:00.0000000001Z",
        "now",
        "",
    ]
) | st.tuples(st.datetimes(), st.sampled_from(["Z", "+14:00", "-12:00", ""])).map(
    lambda t: t[0].isoformat() + t[1]
)
NUMBERS = st.sampled_from(
    [
        "1E+20",
        "-1E+20",
        "Infinity",
        "-Infinity",
        "NaN",
        "1E+1000000",
        "1E-1000000",
        "9" * 40,
        "-0",
        "0x10",
        "1_000",
    ]
) | st.integers(min_value=-(2**80), max_value=2**80).map(str)
NASTY_TEXT = st.sampled_from(
    ["a\x00b", "\x00", "x\ny", "\r\n", "\x7f", "\ufeff", "%00", "' OR 1=1 --"]
) | st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from(["\x00", "\n", "\r", "\x7f"]),
    max_size=40,
)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


JSON_PARTS = st.recursive(
    st.none() | st.booleans() | NUMBERS | TIMES | NASTY_TEXT | st.integers() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=6,
)
CURSORS = (
    st.lists(JSON_PARTS, max_size=4).map(lambda parts: _b64(json.dumps(parts).encode()))
    | st.binary(max_size=60).map(_b64)
    | NASTY_TEXT
    | st.sampled_from(["", "=", "!!!!", "W10", "bnVsbA"])
)
ANY_VALUE = TIMES | NUMBERS | NASTY_TEXT | CURSORS


def _query(fields: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A list of (name, value) pairs: the route's own parameters with hostile values, repeats, and strangers."""
    known = st.sampled_from(sorted(fields)).flatmap(
        lambda name: st.tuples(st.just(name), fields[name] | ANY_VALUE)
    )
    stranger = st.tuples(NASTY_TEXT.filter(bool), ANY_VALUE)
    return st.lists(known | stranger, max_size=4)


HOUSEHOLDS = _query(
    {
        "region": st.sampled_from([COUNTY, VILLAGE, COUNTY + "\n", "45102500000"]),
        "status": st.sampled_from(["registered", "objection_pending", "nope"]),
        "sort": st.sampled_from(["updated", "income", "name", "created", "x"]),
        "order": st.sampled_from(["asc", "desc"]),
        "income_min": NUMBERS,
        "income_max": NUMBERS,
        "name": NASTY_TEXT,
        "year": NUMBERS,
        "cursor": CURSORS,
        "limit": NUMBERS,
        "fields": NASTY_TEXT,
    }
)
AUDIT = _query(
    {
        "since": TIMES,
        "until": TIMES,
        "actor": NASTY_TEXT,
        "record_id": NASTY_TEXT,
        "action": NASTY_TEXT,
        "cursor": CURSORS,
        "limit": NUMBERS,
    }
)
REGIONS = _query({"under": NASTY_TEXT, "cursor": CURSORS, "limit": NUMBERS, "level": NASTY_TEXT})


def _qs(params: list[tuple[str, str]]) -> str:
    """The query string as sent: every name and value percent-encoded (NUL as %00), nothing dropped."""
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in params)


def _never_a_5xx(response: httpx.Response, sent: Any) -> None:
    assert response.status_code < 500, (sent, response.status_code, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json"), (sent, response.text)
        problem = response.json()
        assert problem["status"] == response.status_code


@pytest.fixture
def admin(signing_key: SigningKey) -> Headers:
    return headers_for(signing_key, "county_admin", COUNTY)


@FUZZ
@given(params=HOUSEHOLDS)
async def test_household_list(
    registry: httpx.AsyncClient, admin: Headers, params: list[tuple[str, str]]
) -> None:
    _never_a_5xx(await registry.get(f"/households?{_qs(params)}", headers=admin), params)


@FUZZ
@given(params=AUDIT)
async def test_registry_audit(
    registry: httpx.AsyncClient, admin: Headers, params: list[tuple[str, str]]
) -> None:
    _never_a_5xx(await registry.get(f"/audit?{_qs(params)}", headers=admin), params)


@FUZZ
@given(params=REGIONS)
async def test_region_list(
    registry: httpx.AsyncClient, admin: Headers, params: list[tuple[str, str]]
) -> None:
    _never_a_5xx(await registry.get(f"/regions?{_qs(params)}", headers=admin), params)


@FUZZ
@given(suffix=NASTY_TEXT)
async def test_region_paths(registry: httpx.AsyncClient, admin: Headers, suffix: str) -> None:
    path = f"/regions/{COUNTY}{quote(suffix, safe='')}"
    _never_a_5xx(await registry.get(path, headers=admin), path)
