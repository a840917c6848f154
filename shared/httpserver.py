"""uvicorn's HTTP protocol with problem+json for the errors uvicorn answers itself.

A request line or header uvicorn's parser (httptools) cannot read never reaches the app; uvicorn then answers a
`text/plain` 400 ("Invalid HTTP request received."). Every other error of the platform is RFC 9457 problem+json,
so clients would need a second error path for these: this protocol sends the same 400 as a problem. Every process
is served with it (`ops.cli.uvicorn_command`: `--http shared.httpserver:ProblemHttpToolsProtocol`).
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = ["ProblemHttpToolsProtocol", "problem_400"]

_TYPE = "https://jingzhun.example/problems/bad-request"


def problem_400(msg: str) -> bytes:
    """The body of uvicorn's own 400, as problem+json (ASCII-only JSON: `msg` is uvicorn's English text)."""
    return json.dumps(
        {"type": _TYPE, "title": "Bad request", "status": 400, "detail": msg, "code": "unreadable_request"}
    ).encode("ascii")


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` whose parser-level 400 is problem+json (the connection is still closed after it)."""

    def send_400_response(self, msg: str) -> None:
        body = problem_400(msg)
        content = [STATUS_LINE[400]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/problem+json\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"x-content-type-options: nosniff\r\n",
                b"connection: close\r\n",
                b"\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        self.transport.close()
