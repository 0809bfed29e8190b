"""datasets: the sha256 of the stored Parquet, checked whenever it is read from the store

The existing `sha256` is the uploaded file's, as the client sent it; reads of the Parquet (from a local folder or
an object store, AUTOML_STORAGE_URL) check this one. Rows stored before this revision have NULL: read unchecked.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 11:50:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('parquet_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('datasets', schema=None) as batch_op:
        batch_op.drop_column('parquet_sha256')
