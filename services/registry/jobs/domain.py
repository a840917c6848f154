"""The rules of import and export jobs (导入导出任务, issue #15). Pure.

A job belongs to the principal that asked for it (its `sub`, role and region): anyone else, and a principal whose
scope no longer holds the job's region, gets the answer of a job that does not exist. A job is `queued`, then
`running`, and ends `succeeded`, `failed` or `cancelled`; only a job that has not ended can be cancelled (a running
import stops between chunks and writes nothing: it is one transaction, all or nothing).

`Idempotency-Key`: a principal's key names one job; the same key with the same request (its hash) is the same job,
with a different request it is refused (`idempotency_key_reused`).
"""

from __future__ import annotations

import hashlib

from shared.errors import Invalid, Refused
from shared.labels import LabelledEnum

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_PAGE",
    "ENDED",
    "MAX_JOB_BYTES",
    "MAX_PAGE",
    "JobKind",
    "JobStatus",
    "RequestDigest",
    "check_cancel",
    "check_key",
]

#: A job's input and output are stored in chunks of this size (bytea rows: memory stays flat).
CHUNK_BYTES = 1024 * 1024
#: The largest file an import job takes (the sync import's 256 MiB, times four).
MAX_JOB_BYTES = 1024 * 1024 * 1024
DEFAULT_PAGE = 100
MAX_PAGE = 1000


class JobKind(LabelledEnum):
    """What a job does."""

    import_ = "import", "导入", "Import"
    export = "export", "导出", "Export"


class JobStatus(LabelledEnum):
    """Where a job stands."""

    queued = "queued", "排队中", "Queued"
    running = "running", "运行中", "Running"
    succeeded = "succeeded", "已完成", "Succeeded"
    failed = "failed", "失败", "Failed"
    cancelled = "cancelled", "已取消", "Cancelled"


ENDED: frozenset[str] = frozenset(
    {JobStatus.succeeded.value, JobStatus.failed.value, JobStatus.cancelled.value}
)


def check_cancel(status: str) -> None:
    """Only a job that has not ended is cancelled (409 `job_ended` otherwise)."""
    if status in ENDED:
        raise Refused(
            "job_ended", f"the job has already ended ({status}); it cannot be cancelled", status=status
        )


def check_key(stored_hash: str, request_hash: str) -> None:
    """The same Idempotency-Key names the same request (422 `idempotency_key_reused` otherwise)."""
    if stored_hash != request_hash:
        raise Invalid(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request; use a new key for a new job",
        )


class RequestDigest:
    """The hash of a job's request: its kind, its parameters and its body, fed as they arrive."""

    def __init__(self, kind: str, params: str) -> None:
        self._hash = hashlib.sha256()
        for part in (kind.encode(), params.encode()):
            self._hash.update(len(part).to_bytes(8, "big") + part)

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()
