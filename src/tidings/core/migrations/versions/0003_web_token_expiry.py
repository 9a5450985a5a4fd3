"""core: API tokens may expire (the short-lived credential of a web session)

Revision ID: 0003_token_expiry
Revises: 0002_ai
Create Date: 2026-12-02 01:30:00

Revision id with a suffix: other branches may add their own 0003.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_token_expiry"
down_revision: str | None = "0002_ai"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_token") as batch:
        batch.drop_column("expires_at")
