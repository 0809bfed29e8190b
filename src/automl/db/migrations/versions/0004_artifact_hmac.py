"""artifact signatures: an HMAC-SHA256 of each model artifact's sha256 under the server's secret key

Rows trained before this revision have no signature (NULL): their artifacts are refused before any unpickling
until `automl model sign` checks their sha256 and signs them with this server's key (see docs/security.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 08:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('trained_models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('artifact_hmac', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trained_models', schema=None) as batch_op:
        batch_op.drop_column('artifact_hmac')
