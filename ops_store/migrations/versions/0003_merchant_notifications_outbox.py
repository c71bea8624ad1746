"""merchant notifications outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 22:10:11.592329
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ops_store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("merchant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("dedup_key", sa.String(length=200), nullable=False),
        sa.Column("target", sa.String(length=2000), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachments", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", ops_store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sent_at", ops_store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", ops_store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", ops_store.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel IN ('email','webhook')", name=op.f("ck_notifications_channel_known")),
        sa.CheckConstraint("status IN ('pending','sent','failed','dead')", name=op.f("ck_notifications_status_known")),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"], name=op.f("fk_notifications_merchant_id_merchants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedup_key", name=op.f("uq_notifications_dedup_key")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notifications_merchant_id"), ["merchant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_notifications_updated_at"), ["updated_at"], unique=False)

    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=10), server_default="en", nullable=False))
        batch_op.add_column(sa.Column("notify_email", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("webhook_url", sa.String(length=2000), nullable=True))
        batch_op.add_column(sa.Column("webhook_secret_enc", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_column("webhook_secret_enc")
        batch_op.drop_column("webhook_url")
        batch_op.drop_column("notify_email")
        batch_op.drop_column("locale")

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_updated_at"))
        batch_op.drop_index(batch_op.f("ix_notifications_status"))
        batch_op.drop_index(batch_op.f("ix_notifications_merchant_id"))

    op.drop_table("notifications")
