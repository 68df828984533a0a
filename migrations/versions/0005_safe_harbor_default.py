"""safe-harbor default: a stock Asterisk sound

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 23:10:00

The old default, sound:ccd-safe-harbor, is shipped nowhere: on a stock Asterisk the dropped
contact heard silence. Existing campaigns keep their value (someone may have recorded that
file); ccd falls back to a stock sound when a campaign's message fails to play.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("campaigns", "safe_harbor_media", server_default="sound:all-reps-busy")


def downgrade() -> None:
    op.alter_column("campaigns", "safe_harbor_media", server_default="sound:ccd-safe-harbor")
