"""mailing messages: one foreign key (mailing, variant) instead of two

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 07:20:00

Each foreign key of mailing_messages costs a lookup per row written, and planning writes a row
per contact (1 M for a large base). The pair (mailing_id, variant_id) -> mailing_variants
checks both in one lookup, and checks more than the two keys did: the variant belongs to the
message's own mailing (the mailing itself is covered through the variant's key).
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_unique_constraint(
        op.f("uq_mailing_variants_mailing_id_id"), "mailing_variants", ["mailing_id", "id"]
    )
    op.drop_constraint(
        "fk_mailing_messages_mailing_id_mailings", "mailing_messages", type_="foreignkey"
    )
    op.drop_constraint(
        "fk_mailing_messages_variant_id_mailing_variants", "mailing_messages", type_="foreignkey"
    )
    op.alter_column("mailing_messages", "variant_id", nullable=False)
    op.create_foreign_key(
        op.f("fk_mailing_messages_mailing_id_mailing_variants"), "mailing_messages",
        "mailing_variants", ["mailing_id", "variant_id"], ["mailing_id", "id"],
        ondelete="CASCADE",
    )  # fmt: skip


def downgrade() -> None:
    op.drop_constraint(
        "fk_mailing_messages_mailing_id_mailing_variants", "mailing_messages", type_="foreignkey"
    )
    op.alter_column("mailing_messages", "variant_id", nullable=True)
    op.create_foreign_key(
        op.f("fk_mailing_messages_variant_id_mailing_variants"), "mailing_messages",
        "mailing_variants", ["variant_id"], ["id"], ondelete="CASCADE",
    )  # fmt: skip
    op.create_foreign_key(
        op.f("fk_mailing_messages_mailing_id_mailings"), "mailing_messages", "mailings",
        ["mailing_id"], ["id"], ondelete="CASCADE",
    )  # fmt: skip
    op.drop_constraint(
        op.f("uq_mailing_variants_mailing_id_id"), "mailing_variants", type_="unique"
    )
