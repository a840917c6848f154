"""Baseline: the planning schema starts empty; its tables arrive with their issue.

Revision ID: plan0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

revision: str = "plan0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
