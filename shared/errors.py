"""Domain errors: a rule says no. Pure: standard library only (domain modules raise these).

A domain error carries a stable `code` (clients switch on it; it becomes the problem's `code` member), a message
for people, and details. Its class says what kind of no it is, which the problem handlers of `shared.problems`
turn into an HTTP status, so a domain module never knows about HTTP:

| class | meaning | status |
|---|---|---|
| `Invalid` | the command itself is malformed or incomplete (missing minutes, bad votes) | 422 |
| `Refused` | the command is well-formed but the rules refuse it now (notice not over, quota exceeded) | 409 |
| `NotAllowed` | this actor may not take this decision (wrong level, recusal of a relative) | 403 |
| `Missing` | a record the command names does not exist (or is out of the caller's scope) | 404 |
| `TooLarge` | the input is over a limit the rules set (rows in a file, records in a batch) | 413 |
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["DomainError", "Invalid", "Missing", "NotAllowed", "Refused", "TooLarge"]


class DomainError(Exception):
    """A rule refused a command; `code` is stable for clients, the message explains."""

    kind: ClassVar[str] = "refused"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class Invalid(DomainError):
    """The command is malformed or incomplete (422)."""

    kind = "invalid"


class Refused(DomainError):
    """The rules refuse the command in the current state (409)."""

    kind = "refused"


class NotAllowed(DomainError):
    """This actor may not take this decision (403)."""

    kind = "not_allowed"


class Missing(DomainError):
    """A record the command names does not exist, or lies outside the caller's scope (404)."""

    kind = "missing"


class TooLarge(DomainError):
    """The input is over a limit the rules set (413)."""

    kind = "too_large"
