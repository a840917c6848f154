"""Optimistic concurrency over HTTP: a record's version is its ETag, and a write names the version it read.

A versioned record answers with `ETag: "<version>"`; a write to it must send `If-Match: "<version>"` (428 when
missing, 412 with `current_version` when another write came first). Routes declare `IfMatchDep` for the
version and set the new ETag on the response with `etag()`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, Header

from shared.problems import PreconditionFailed, PreconditionRequired

__all__ = ["IfMatchDep", "IfMatchHeader", "etag", "parse_if_match", "stale"]

#: A version in an entity tag: ASCII digits only (str.isdigit() would accept '³' and '٣').
_VERSION = re.compile(r"^[0-9]{1,9}$")


def etag(version: int) -> str:
    """The strong ETag of a record at `version`."""
    return f'"{version}"'


def parse_if_match(value: str | None, *, what: str = "record") -> int:
    """The version a write is based on, from `If-Match: "<version>"` (428 when absent, 412 when malformed)."""
    if value is None or not value.strip():
        raise PreconditionRequired(
            f'this write needs If-Match: "<version>" (the ETag of the {what} you read)'
        )
    tag = value.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    tag = tag.strip('"')
    if not _VERSION.match(tag):
        raise PreconditionFailed(f"If-Match must be the {what}'s ETag, a quoted version number")
    return int(tag)


def stale(current: int, *, what: str = "record", **extra: Any) -> PreconditionFailed:
    """The 412 for a write based on an older version than `current`."""
    return PreconditionFailed(
        f"the {what} changed since you read it: current version is {current}",
        headers={"ETag": etag(current)},
        current_version=current,
        **extra,
    )


#: The raw header, documented in the OpenAPI (for routes that parse it with their own `what`).
IfMatchHeader = Annotated[str | None, Header(alias="If-Match", description='The ETag you read: "<version>"')]


async def _if_match(if_match: IfMatchHeader = None) -> int:
    return parse_if_match(if_match)


#: The version named by a required `If-Match` header.
IfMatchDep = Annotated[int, Depends(_if_match)]
