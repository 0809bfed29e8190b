"""trained_models: CV spread over folds, the deployment's decision threshold, cached model insights

`cv_std` is the standard deviation of the CV metric over folds and `cv_fold_scores` the fold figures
themselves (NULL for models stored before this revision). `threshold` is the binary decision threshold saved
with a deployment (NULL: the default rule, the most probable class). `insights` caches the model page's
insights (SHAP summary, partial dependence, calibration, lift, threshold table), computed once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 19:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('trained_models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cv_std', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('cv_fold_scores', JSON, nullable=True))
        batch_op.add_column(sa.Column('threshold', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('insights', JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trained_models', schema=None) as batch_op:
        batch_op.drop_column('insights')
        batch_op.drop_column('threshold')
        batch_op.drop_column('cv_fold_scores')
        batch_op.drop_column('cv_std')
