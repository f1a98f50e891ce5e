"""ticket indexes for KPI cohorts (creation time; customer and creation time)

Revision ID: 8c41d2e9a7b3
Revises: 69258f7ee15c
Create Date: 2026-12-01 21:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "8c41d2e9a7b3"
down_revision: str | None = "69258f7ee15c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tickets_created_ms", "tickets", ["created_ms"], unique=False)
    op.create_index(
        "ix_tickets_customer_created", "tickets", ["customer_id", "created_ms"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_customer_created", table_name="tickets")
    op.drop_index("ix_tickets_created_ms", table_name="tickets")
