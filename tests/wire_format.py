"""The one time format on the wire, checked on every answer the tests receive.

Every time a process sends is RFC 3339 in UTC with `Z` and six digits of microseconds, or none when they are zero
(`2026-12-02T13:32:44.351080Z`, `2026-12-02T13:32:44Z`): what pydantic writes for an aware UTC datetime and what
the SQL of shared/sql_json.py writes for the JSON PostgreSQL builds. Dates are `YYYY-MM-DD`.

tests/conftest.py installs `check_time_format` as a response event hook on the in-process clients of every
process: a JSON answer holding a string that parses as a date-time in any other shape (`+00:00`, a space instead
of the `T`, PostgreSQL's trimmed fractions) fails the test that received it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import httpx

__all__ = ["WIRE_TIME", "check_time_format", "is_wire_time", "looks_like_a_time", "wrong_times"]

#: The one shape of a time on the wire (six digits of microseconds, or none when they are zero).
WIRE_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.(?!000000)[0-9]{6})?Z$")


def looks_like_a_time(text: str) -> bool:
    """Whether `text` parses as a date-time (ISO 8601 as Python reads it), a plain date excepted."""
    if len(text) < 11 or not text[:4].isdigit():
        return False  # cheap: most strings are no time
    try:
        date.fromisoformat(text)
    except ValueError:
        pass
    else:
        return False  # a date (2026-12-02, 20261202, 2026-W49-3): fine
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def is_wire_time(text: str) -> bool:
    """Whether `text` is a time in the wire format (and a real one: 2026-02-30T… is not)."""
    if not WIRE_TIME.match(text):
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def wrong_times(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON Pointer, text) of every string in the decoded JSON `value` that is a date-time not in the wire
    format."""
    if isinstance(value, str):
        if looks_like_a_time(value) and not is_wire_time(value):
            yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from wrong_times(item, f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from wrong_times(item, f"{path}/{index}")


def _content_type(response: httpx.Response) -> str:
    content_type: str = response.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower()


def _documents(response: httpx.Response) -> list[Any]:
    content_type = _content_type(response)
    if not response.content:
        return []
    lines = response.content.splitlines() if "ndjson" in content_type else [response.content]
    documents = []
    for line in lines:
        try:
            documents.append(json.loads(line))
        except ValueError:
            continue  # not JSON after all: other tests judge the body
    return documents


async def check_time_format(response: httpx.Response) -> None:
    """httpx response hook: fail on a JSON answer (or NDJSON line) holding a time not in the wire format."""
    if not _content_type(response).endswith("json"):
        return  # (application/json, application/problem+json, application/x-ndjson); other bodies stay unread
    await response.aread()
    wrong = [bad for document in _documents(response) for bad in wrong_times(document)]
    if wrong:
        shown = ", ".join(f"{pointer or '/'}: {text!r}" for pointer, text in wrong[:5])
        raise AssertionError(
            f"{response.request.method} {response.request.url.path} answered times that are not RFC 3339 with Z"
            f" (want e.g. 2026-12-02T13:32:44.351080Z): {shown}"
        )
