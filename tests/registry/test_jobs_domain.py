"""Import and export jobs' pure rules (services/registry/jobs/domain.py) and the chunked file's lines."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.registry.jobs import domain
from services.registry.jobs.runner import lines_of
from shared.errors import Invalid, Refused


class TestJobRules:
    @pytest.mark.parametrize("status", ["queued", "running"])
    def test_a_job_not_ended_is_cancelled(self, status: str) -> None:
        domain.check_cancel(status)

    @pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
    def test_an_ended_job_is_not(self, status: str) -> None:
        with pytest.raises(Refused) as caught:
            domain.check_cancel(status)
        assert caught.value.code == "job_ended"

    def test_a_key_names_one_request(self) -> None:
        one = domain.RequestDigest("import", '{"mode": "registration"}')
        one.update(b'{"a": 1}\n')
        same = domain.RequestDigest("import", '{"mode": "registration"}')
        same.update(b'{"a": 1}\n')
        other = domain.RequestDigest("import", '{"mode": "migration"}')
        other.update(b'{"a": 1}\n')
        domain.check_key(one.hexdigest(), same.hexdigest())
        with pytest.raises(Invalid) as caught:
            domain.check_key(one.hexdigest(), other.hexdigest())
        assert caught.value.code == "idempotency_key_reused"

    def test_labels(self) -> None:
        assert domain.JobStatus.cancelled.label == "已取消"
        assert domain.JobKind.import_.value == "import"


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


class TestLinesOfChunks:
    async def test_lines_spanning_chunks(self) -> None:
        got = [line async for line in lines_of(_chunks(b'{"a"', b': 1}\n{"b": 2}\n', b"\n", b'{"c": 3}'))]
        assert got == [b'{"a": 1}', b'{"b": 2}', b"", b'{"c": 3}']

    async def test_empty(self) -> None:
        assert [line async for line in lines_of(_chunks())] == []
