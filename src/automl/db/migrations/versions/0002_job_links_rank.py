"""job foreign keys, stored leaderboard rank, progress kept on the job only

Experiments and batch predictions point at their job (they were found by searching the job's JSON payload);
an experiment's progress moves onto its job; each model's leaderboard rank is stored. Existing rows keep
their data: the links and ranks are filled in from what is there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 00:55:25
"""
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
# Metrics as of this revision whose larger value is better; every other one is a loss.
MAXIMIZED = {"roc_auc", "accuracy", "balanced_accuracy", "precision_macro", "recall_macro", "f1_macro", "mcc", "r2"}

jobs = sa.table('jobs', sa.column('id', sa.Integer), sa.column('kind', sa.String), sa.column('payload', JSON),
                sa.column('progress', JSON))
experiments = sa.table('experiments', sa.column('id', sa.Integer), sa.column('metric', sa.String),
                       sa.column('job_id', sa.Integer), sa.column('progress', JSON))
batches = sa.table('batch_predictions', sa.column('id', sa.Integer), sa.column('job_id', sa.Integer))
models = sa.table('trained_models', sa.column('id', sa.Integer), sa.column('experiment_id', sa.Integer),
                  sa.column('cv_score', sa.Float), sa.column('predict_ms_per_row', sa.Float),
                  sa.column('rank', sa.Integer))


def _add_job_link(table: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column('job_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f(f'ix_{table}_job_id'), ['job_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f(f'fk_{table}_job_id_jobs'), 'jobs', ['job_id'], ['id'],
                                    ondelete='SET NULL')


def _latest_jobs(conn: Any, kind: str, key: str) -> dict[int, int]:
    """domain row id -> its newest job's id, read from the payloads."""
    out: dict[int, int] = {}
    for job_id, payload in conn.execute(sa.select(jobs.c.id, jobs.c.payload).where(jobs.c.kind == kind)):
        row_id = (payload or {}).get(key)
        if isinstance(row_id, int):
            out[row_id] = max(job_id, out.get(row_id, 0))
    return out


def _link(conn: Any, table: Any, links: dict[int, int]) -> None:
    for row_id, job_id in links.items():
        conn.execute(sa.update(table).where(table.c.id == row_id).values(job_id=job_id))


def _move_progress(conn: Any) -> None:
    """The experiment's last progress (it said Done / Failed / Cancelled at the end) onto its job."""
    rows = conn.execute(sa.select(experiments.c.job_id, experiments.c.progress).where(experiments.c.job_id.is_not(None)))
    for job_id, progress in rows:
        if progress:
            conn.execute(sa.update(jobs).where(jobs.c.id == job_id).values(progress=progress))


def _rank(conn: Any) -> None:
    """Loss (the score, negated where larger is better), then prediction time, then id; unscored models last."""
    metric_of = dict(conn.execute(sa.select(experiments.c.id, experiments.c.metric)).all())
    by_exp: dict[int, list[Any]] = {}
    for row in conn.execute(sa.select(models.c.id, models.c.experiment_id, models.c.cv_score,
                                      models.c.predict_ms_per_row)):
        by_exp.setdefault(row.experiment_id, []).append(row)
    for exp_id, rows in by_exp.items():
        sign = -1.0 if metric_of.get(exp_id) in MAXIMIZED else 1.0

        def key(r: Any, sign: float = sign) -> tuple[Any, ...]:
            scored = r.cv_score is not None
            return (not scored, sign * r.cv_score if scored else 0.0, r.predict_ms_per_row or 0.0, r.id)

        for rank, r in enumerate(sorted(rows, key=key), start=1):
            conn.execute(sa.update(models).where(models.c.id == r.id).values(rank=rank))


def upgrade() -> None:
    conn = op.get_bind()
    _add_job_link('experiments')
    _add_job_link('batch_predictions')
    with op.batch_alter_table('trained_models', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rank', sa.Integer(), nullable=True))
    _link(conn, experiments, _latest_jobs(conn, 'experiment', 'experiment_id'))
    _link(conn, batches, _latest_jobs(conn, 'batch_prediction', 'batch_prediction_id'))
    _move_progress(conn)
    _rank(conn)
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.drop_column('progress')


def downgrade() -> None:
    conn = op.get_bind()
    with op.batch_alter_table('experiments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('progress', JSON, nullable=False, server_default='{}'))
    rows = conn.execute(sa.select(experiments.c.id, jobs.c.progress).join(jobs, jobs.c.id == experiments.c.job_id))
    for exp_id, progress in rows.all():
        conn.execute(sa.update(experiments).where(experiments.c.id == exp_id).values(progress=progress or {}))
    with op.batch_alter_table('trained_models', schema=None) as batch_op:
        batch_op.drop_column('rank')
    for table in ('experiments', 'batch_predictions'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_job_id_jobs'), type_='foreignkey')
            batch_op.drop_index(batch_op.f(f'ix_{table}_job_id'))
            batch_op.drop_column('job_id')
