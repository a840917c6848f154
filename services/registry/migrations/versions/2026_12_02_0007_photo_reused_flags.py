"""Backfill `photo_reused` as a raised flag on records stored before it was raised at upload time.

Since issue #9 the flag is raised when a photo is attached: every record carrying a photo whose sha256 also
sits on another household's record gets a row in `registry_help_record_flag` (as `impossible_speed` does), on
its newest version. Records whose photos were uploaded before this release get the same rows here.

Revision ID: reg0007
Revises: reg0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

revision: str = "reg0007"
down_revision: str | None = "reg0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        INSERT INTO registry_help_record_flag (record_id, version, flag, because_of, household_id)
        SELECT DISTINCT ON (a.record_id, b.record_id)
               a.record_id,
               (SELECT max(v.version) FROM registry_help_record v WHERE v.id = a.record_id),
               'photo_reused', b.record_id, a.household_id
        FROM registry_attachment a
        JOIN registry_attachment b ON b.sha256 = a.sha256 AND b.household_id <> a.household_id
        ON CONFLICT DO NOTHING
        """
    )


def downgrade() -> None:
    # The flag rows are append-only evidence; rows raised at upload time cannot be told apart from these, so the
    # downgrade keeps them (reg0006's downgrade drops the table).
    pass
